"""The Models page's "New forget scenario" panel, and the offer to queue its retrain model.

A scenario is forget classes, a random share of the training samples with a seed, or an
uploaded ``.npy`` of training indices (read with ``numpy.load(allow_pickle=False)``: nothing is
unpickled). It is validated against the dataset and stored in the workspace's registry by
:func:`analysis.runs.add_scenario` (``experiment.toml`` stays untouched). Afterwards the panel
offers to queue the retrain model of the new scenario (a ``TrainJob`` with role ``retrain``).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import streamlit as st

import analysis.runs as runs_api
from analysis.errors import UlensError, ValidationError, describe
from dashboard import cached, messages, state
from dashboard.messages import md
from dashboard.views import notices

MAX_INDEX_BYTES = 64 * 2**20
"""Largest index file accepted (64 MiB: 8 million int64 indices)."""
KINDS = {
    "classes": "Forget classes",
    "random": "Random share of samples",
    "indices": "Index file (.npy)",
}
_PENDING = "scn_pending_retrain"
_FLASH = "scn_flash"


def read_indices(data: bytes) -> np.ndarray:
    """The integer array of an uploaded ``.npy`` file (never unpickled).

    Raises:
        ValidationError: Too large, not a ``.npy`` file, an object array, or not integers.

    Example:
        >>> buf = io.BytesIO(); np.save(buf, np.array([3, 5])); read_indices(buf.getvalue())
        array([3, 5])
    """
    if len(data) > MAX_INDEX_BYTES:
        raise ValidationError(
            describe("index file", f"at most {MAX_INDEX_BYTES // 2**20} MiB", len(data))
        )
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ValidationError(
            describe(
                "index file", "a .npy file of integer indices", f"unreadable ({exc})", raw=True
            )
        ) from exc
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.integer):
        kind = getattr(array, "dtype", type(array).__name__)
        raise ValidationError(describe("index file", "integer indices", f"dtype {kind}", raw=True))
    return array


def _spec(kind: str, class_names: list[str]) -> dict[str, Any]:
    """The kind's inputs as ``add_scenario`` keyword arguments (empty when incomplete)."""
    if kind == "classes":
        chosen = st.multiselect(
            "Classes to forget",
            list(range(len(class_names))),
            format_func=lambda c: f"{c}: {class_names[c]}",
            key="scn_classes",
        )
        return {"classes": chosen} if chosen else {}
    if kind == "random":
        c1, c2 = st.columns(2)
        share = c1.number_input("Share of training samples", 0.001, 0.999, 0.1, key="scn_share")
        seed = c2.number_input("Seed", value=0, step=1, key="scn_seed")
        return {"random": float(share), "seed": int(seed)}
    upload = st.file_uploader("Training indices (.npy, integers)", type=["npy"], key="scn_file")
    if upload is None:
        return {}
    return {"indices": read_indices(upload.getvalue())}


def render(ctx: state.Context) -> None:
    """Draw the panel and, after a scenario was added, the retrain offer."""
    flash = st.session_state.pop(_FLASH, None)
    with st.expander("New forget scenario", key="scn_open"):
        st.caption(
            "Stored in the workspace's runs.sqlite (experiment.toml is not changed); "
            "every page can use it once it has models."
        )
        name = st.text_input("Name", key="scn_name", placeholder="e.g. classes_3_5")
        kind = st.radio(
            "Forget", list(KINDS), format_func=lambda k: KINDS[k], key="scn_kind", horizontal=True
        )
        try:
            spec = _spec(kind, list(ctx.experiment.class_names))
        except UlensError as exc:
            messages.error(f"{exc}. Choose another file.")
            spec = {}
        if st.button("Add scenario", key="scn_add", disabled=not (name.strip() and spec)):
            _add(ctx.workspace, name.strip(), spec)
    if flash:
        st.success(flash)
    pending = st.session_state.get(_PENDING)
    if pending in ctx.experiment.scenarios:
        notices.offer_retrain(ctx.workspace, pending, key="scn_retrain")


def _add(workspace: str, name: str, spec: dict[str, Any]) -> None:
    try:
        runs_api.add_scenario(workspace, name, **spec)
    except UlensError as exc:
        messages.error(f"Scenario not added: {exc}. Nothing was saved.")
        return
    cached.clear()
    st.session_state[_PENDING] = name
    st.session_state[_FLASH] = (
        f"Added scenario {md(name)}: it is in the sidebar's scenario list; queue its retrain "
        "model below, and unlearning runs with the Run panel."
    )
    st.rerun()  # the sidebar and the Run panel list the new scenario
