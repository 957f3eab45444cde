"""The Classes page: per-class accuracy B − A, the prediction matrices of A and B, and group
robustness (per-group accuracy / PS before and after unlearning: :mod:`.group_robustness`).

Clicking a matrix cell outlines that true class's row in both matrices and lists the samples of
that true class that A or B predicts as the cell's column. The chosen cell is kept under the
bound key ``cls_cell`` (URL ``?cls_cell=true,pred``); the split and the heatmap/bubble mode under
``cls_split`` and ``cls_mode``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from analysis.compare import Comparison
from analysis.errors import UlensError
from dashboard import cached, messages, state
from dashboard.figures import classes as figs
from dashboard.messages import md
from dashboard.views import group_robustness

_SPLIT_KEY, _MODE_KEY, _CELL_KEY = "cls_split", "cls_mode", "cls_cell"
_MATRIX_KEY = "cls_matrix"
MODE_LABELS = {"heatmap": "Heatmap", "bubble": "Bubble"}
SPLIT_LABELS = {"train": "Train", "test": "Test"}


# --------------------------------------------------------------------------- pure logic


def valid_cell(value: Any, n_classes: int) -> tuple[int, int] | None:
    """``[true, pred]`` (e.g. from the URL) as a tuple if both are classes, else None.

    Example:
        >>> valid_cell([3, 1], 4), valid_cell([3, 9], 4), valid_cell([], 4)
        ((3, 1), None, None)
    """
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        return None
    try:
        true, pred = int(value[0]), int(value[1])
    except (TypeError, ValueError):
        return None
    return (true, pred) if 0 <= true < n_classes and 0 <= pred < n_classes else None


def cell_title(cmp: Comparison, split: str, cell: tuple[int, int]) -> str:
    """Heading of the sample list of a chosen cell.

    Example:
        >>> # 'Train samples of true class ✖ 8 (forget) predicted as 1 by A (retrain) or B (ga)'
    """
    labels = figs.class_labels(cmp)
    return (
        f"{SPLIT_LABELS[split]} samples of true class {labels[cell[0]]} predicted as "
        f"{labels[cell[1]]} by A ({cmp.a}) or B ({cmp.b})"
    )


# --------------------------------------------------------------------------- callbacks


def _on_cell() -> None:
    cell = figs.cell_from_selection(st.session_state.get(_MATRIX_KEY))
    if cell is not None:
        state.set_value(_CELL_KEY, list(cell))


def _clear_cell() -> None:
    state.set_value(_CELL_KEY, [])


# --------------------------------------------------------------------------- page


def render() -> None:
    """Draw the page."""
    ctx = state.context()
    st.header("Classes")
    try:
        cmp = cached.comparison(ctx.workspace, ctx.scenario, ctx.a, ctx.b)
    except UlensError as exc:
        messages.error(
            f"Could not compare {ctx.a} and {ctx.b}: {exc}. Choose another pair in the "
            "sidebar, or check both models' weights and experiment.toml."
        )
        return
    st.plotly_chart(
        figs.class_diff_figure(cmp, presentation=ctx.presentation),
        width="stretch",
        theme=None,
        key="cls_diff",
    )
    if not ctx.presentation:
        st.caption(
            "Bars point towards the more accurate model: right (vermillion) where B is "
            "more accurate, left (blue) where A is. ✖ / hatched = forget class; the dashed "
            "line is the mean difference over the retain classes."
        )
    split, mode = _controls()
    raw_cell = state.bind(_CELL_KEY, [])
    cell = valid_cell(raw_cell, len(cmp.class_names))
    if cell is None and raw_cell:  # e.g. a link naming a class this dataset lacks
        state.set_value(_CELL_KEY, [])
    fig = figs.prediction_matrix_figure(
        cmp, split=split, mode=mode, cell=cell, presentation=ctx.presentation
    )
    st.plotly_chart(
        fig,
        width="stretch",
        theme=None,
        key=_MATRIX_KEY,
        on_select=_on_cell,
        selection_mode="points",
    )
    if not ctx.presentation:
        st.caption(
            "Rows: true class; columns: predicted class. Click a cell to outline its row in "
            "both matrices and list its samples below."
        )
    _samples(cmp, split, cell)
    group_robustness.render(ctx)  # last: it may still be computing (Pending stops here)


def _controls() -> tuple[str, str]:
    state.bind(_MODE_KEY, "heatmap")
    state.bind(_SPLIT_KEY, "train")
    for key, options in ((_MODE_KEY, figs.MODES), (_SPLIT_KEY, figs.SPLITS)):
        if st.session_state[key] not in options:
            state.set_value(key, options[0])
    c1, c2 = st.columns(2)
    with c1:
        mode = st.segmented_control(
            "Matrix view",
            list(figs.MODES),
            key=_MODE_KEY,
            format_func=MODE_LABELS.__getitem__,
            required=True,
        )
    with c2:
        split = st.segmented_control(
            "Split",
            list(figs.SPLITS),
            key=_SPLIT_KEY,
            format_func=SPLIT_LABELS.__getitem__,
            required=True,
        )
    return split or "train", mode or "heatmap"


def _samples(cmp: Comparison, split: str, cell: tuple[int, int] | None) -> None:
    if cell is None:
        return
    st.subheader(md(cell_title(cmp, split, cell)))
    rows = figs.cell_samples(cmp, split, *cell)
    if rows.empty:
        st.info("Neither model predicts any sample of this true class as this column.")
    else:
        prob = {
            c: st.column_config.NumberColumn(c, format="%.3f")
            for c in rows.columns
            if c.endswith("P(true)")
        }
        st.dataframe(rows, hide_index=True, key="cls_samples", column_config=prob)
        st.caption(
            f"{len(rows)} sample(s); index = position in the {split} split; "
            "P(true) = the model's softmax probability of the true class."
        )
    st.button("Clear the selected cell", key="cls_clear", on_click=_clear_cell)
