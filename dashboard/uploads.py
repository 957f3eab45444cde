"""The "add a model" panel of the Models page: upload ``.safetensors`` weights into the workspace.

Only ``.safetensors`` is accepted (nothing is unpickled), with a size limit; the weights are
validated against the experiment's architecture before anything is written.
"""

from __future__ import annotations

import streamlit as st

from analysis.errors import UlensError
from analysis.workspace import MAX_UPLOAD_BYTES, add_model_bytes
from dashboard import cached
from dashboard.state import Context

ROLES = ("unlearned", "retrain", "original")


def render(ctx: Context) -> None:
    """Draw the upload panel; on success clear the caches and rerun."""
    exp = ctx.experiment
    with st.expander("➕ Add a model (upload .safetensors weights)"):
        st.caption(
            f"Architecture: {exp.spec.architecture.name}; {exp.num_classes} classes; "
            f"at most {MAX_UPLOAD_BYTES // 2**20} MiB. The weights are checked before "
            "anything is saved; the model joins scenario "
            f"{exp.scenario!r} and survives reloads (runs.sqlite)."
        )
        upload = st.file_uploader("Weights", type=["safetensors"], key="upload_file")
        cols = st.columns(4)
        name = cols[0].text_input("Name", key="upload_name", placeholder="e.g. salun_lr0.01")
        role = cols[1].selectbox("Role", ROLES, key="upload_role")
        method = cols[2].text_input("Method", key="upload_method", placeholder="e.g. salun")
        bases = exp.names_with_role("original") or [""]
        base = cols[3].selectbox("Base", bases, key="upload_base")
        if st.button("Add model", key="upload_add", disabled=upload is None or not name):
            _add(
                ctx,
                upload.getvalue() if upload else b"",
                name.strip(),
                role,
                method.strip() or None,
                base or None,
            )


def _add(
    ctx: Context, data: bytes, name: str, role: str, method: str | None, base: str | None
) -> None:
    try:
        add_model_bytes(
            ctx.experiment,
            data,
            name=name,
            role=role,
            method=method if role == "unlearned" else None,
            base=base if role == "unlearned" else None,
        )
    except UlensError as exc:
        st.error(
            f"Not added: {exc}. Check that the file holds weights of "
            f"{ctx.experiment.spec.architecture.name} for this dataset; nothing was saved."
        )
        return
    cached.clear()
    st.success(f"Added {name!r}.")
    st.rerun()
