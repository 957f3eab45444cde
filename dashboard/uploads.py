"""The "add a model" panel of the Models page: upload ``.safetensors`` weights into the workspace.

Only ``.safetensors`` is accepted (nothing is unpickled), with a size limit (``ulens dashboard
--max-upload-mb``, default 200 MiB; the server refuses a larger body while it streams in); the
name becomes a file name, so it is checked first; the weights are validated against the
experiment's architecture before anything is written. After each attempt the uploaded bytes
are dropped from the server's memory and the uploader starts empty.
"""

from __future__ import annotations

import os
import re

import streamlit as st
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.uploaded_file_manager import UploadedFile

from analysis.errors import UlensError, ValidationError, describe
from analysis.workspace import add_model_bytes
from dashboard import cached, messages
from dashboard.state import MAX_UPLOAD_ENV, Context

ROLES = ("unlearned", "retrain", "original")
DEFAULT_MAX_UPLOAD_MB = 200
SUFFIX = ".safetensors"
_NAME = re.compile(r"^\w[\w.+-]*$")
_GENERATION = "_upload_generation"
_FLASH = "_upload_flash"


def max_upload_mb() -> int:
    """The upload limit in MiB: ``ULENS_MAX_UPLOAD_MB`` when it is a positive integer, else 200.

    Example:
        >>> isinstance(max_upload_mb(), int) and max_upload_mb() > 0
        True
    """
    raw = os.environ.get(MAX_UPLOAD_ENV, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_UPLOAD_MB


def _name_max(folder: str) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def validate_name(name: str, folder: str) -> str:
    """The model name, checked as the file name ``NAME.safetensors`` it becomes in ``folder``.

    Raises:
        ValidationError: Empty, not letters/digits/``_.+-``, or longer than the file system
            allows for a file name.

    Example:
        >>> validate_name("salun_lr0.01", ".")
        'salun_lr0.01'
    """
    name = name.strip()
    if not _NAME.match(name):
        raise ValidationError(
            describe("name", "letters, digits and '_.+-' (starting with a letter or digit)", name)
        )
    limit = _name_max(folder)
    size = len((name + SUFFIX).encode("utf-8"))
    if size > limit:
        raise ValidationError(
            describe(
                "name",
                f"at most {limit - len(SUFFIX)} bytes (the file system's file-name limit)",
                f"{len(name.encode('utf-8'))} bytes ({name[:24]}...)",
                raw=True,
            )
        )
    return name


def render(ctx: Context) -> None:
    """Draw the upload panel; on success clear the caches and rerun."""
    exp = ctx.experiment
    limit = max_upload_mb()
    in_use = any(st.session_state.get(k) for k in (_uploader_key(), "upload_name", _FLASH))
    with st.expander(
        "Add a model (upload .safetensors weights)", expanded=in_use, icon=":material/add:"
    ):
        _show_flash()
        st.caption(
            f"Architecture: {messages.md(exp.spec.architecture.name)}; {exp.num_classes} "
            f"classes; at most {limit} MiB. The weights are checked before anything is saved; "
            f"the model joins scenario {messages.md(repr(exp.scenario))} and survives reloads "
            "(runs.sqlite)."
        )
        upload = st.file_uploader(
            "Weights",
            type=["safetensors"],
            key=_uploader_key(),
            max_upload_size=limit,
        )
        cols = st.columns(4)
        name = cols[0].text_input("Name", key="upload_name", placeholder="e.g. salun_lr0.01")
        role = cols[1].selectbox("Role", ROLES, key="upload_role")
        method = cols[2].text_input("Method", key="upload_method", placeholder="e.g. salun")
        bases = exp.names_with_role("original") or [""]
        base = cols[3].selectbox("Base", bases, key="upload_base")
        clicked = st.button("Add model", key="upload_add", disabled=upload is None or not name)
        if clicked and upload is not None:
            try:
                _add(ctx, upload, name, role, method.strip() or None, base or None, limit)
            finally:
                _forget(upload)
            st.rerun()


def _uploader_key() -> str:
    return f"upload_file_{st.session_state.get(_GENERATION, 0)}"


def _show_flash() -> None:
    flash = st.session_state.pop(_FLASH, None)
    if flash is None:
        return
    kind, text = flash
    if kind == "error":
        messages.error(text)
    else:
        st.success(text)


def _forget(upload: UploadedFile) -> None:
    """Drop the uploaded bytes from the server's memory and give the next run an empty uploader."""
    script = get_script_run_ctx()
    manager = script.uploaded_file_mgr if script is not None else None
    if script is not None and isinstance(manager, MemoryUploadedFileManager):
        manager.remove_file(session_id=script.session_id, file_id=upload.file_id)
    st.session_state[_GENERATION] = st.session_state.get(_GENERATION, 0) + 1


def _add(
    ctx: Context,
    upload: UploadedFile,
    name: str,
    role: str,
    method: str | None,
    base: str | None,
    limit_mb: int,
) -> None:
    exp = ctx.experiment
    try:
        if upload.size > limit_mb * 2**20:
            raise ValidationError(
                describe(
                    "weights",
                    f"at most {limit_mb} MiB",
                    f"{upload.size / 2**20:.1f} MiB ({upload.name})",
                    raw=True,
                )
            )
        name = validate_name(name, str(exp.root))
        add_model_bytes(
            exp,
            upload.getvalue(),
            name=name,
            role=role,
            method=method if role == "unlearned" else None,
            base=base if role == "unlearned" else None,
            max_bytes=max_upload_mb() * 2**20,
        )
    except UlensError as exc:
        st.session_state[_FLASH] = (
            "error",
            f"Not added ({upload.name!r} as {name!r}): {exc}. Check that the file holds "
            f"weights of {exp.spec.architecture.name} for this dataset; nothing was saved.",
        )
        return
    cached.clear()
    st.session_state[_FLASH] = ("success", f"Added {name!r}.")
