"""Per-epoch curves of Model A and Model B on the Models page: one chart, shared metrics.

Histories come from the run registry for registry runs (recorded while they run) and from the
``history`` JSON file of hand-written models (see :mod:`dashboard.figures.history`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from analysis.runs.registry import RunRecord
from dashboard import messages, state
from dashboard.figures import history as figs
from dashboard.messages import md


def model_history(
    ctx: state.Context, name: str, records: Mapping[str, RunRecord]
) -> pd.DataFrame | None:
    """A model's history: its run's recorded rows, else its ``history`` file.

    Raises:
        ValueError, OSError: The history file is malformed or unreadable.
    """
    record = records.get(name)
    if record is not None and record.history_data:
        return figs.history_from_rows(record.history_data)
    entry = ctx.experiment.models.get(name)
    return figs.load_history(entry.history if entry is not None else None)


def render(ctx: state.Context, records: Mapping[str, RunRecord]) -> None:
    """Draw the section: a metric choice (shared metrics by default) and the chart."""
    st.subheader("Per-epoch curves of A and B")
    histories: dict[str, pd.DataFrame | None] = {}
    for name in (ctx.a, ctx.b):
        try:
            histories[name] = model_history(ctx, name, records)
        except (ValueError, OSError) as exc:
            histories[name] = None
            messages.warning(
                f"Could not read the history of {md(name)} ({exc}); fix or remove the `history` "
                "entry in experiment.toml."
            )
    shared, every = figs.history_metrics(histories)
    if not every:
        st.info(
            f"No per-epoch history recorded for {md(ctx.a)} or {md(ctx.b)}: runs started "
            "from the Run panel record one; for hand-written models add "
            '`history = "models/<name>.history.json"` to their entries in experiment.toml.'
        )
        return
    chosen = st.multiselect(
        "Metrics",
        every,
        default=shared or every,
        format_func=figs.metric_label,
        key=f"mdl_hist_metrics_{ctx.a}_{ctx.b}",
        help="By default the metrics recorded for both models",
    )
    roles = {ctx.a: "A", ctx.b: "B"}
    fig = figs.history_figure(histories, roles=roles, metrics=chosen, presentation=ctx.presentation)
    st.plotly_chart(fig, width="stretch", theme=None, key="mdl_history")
    if not ctx.presentation:
        only = [m for m in every if m not in shared]
        note = f" Recorded for one model only: {', '.join(only)}." if only else ""
        st.caption(
            "Both models on one epoch axis; colour = model, dash = metric. Rates (UA, RA, TUA, "
            "TRA, PS) on the left axis, losses on the right. Epoch 0 of a run = its base model "
            "before unlearning. A hand-written `train_loss` is shown as the objective (loss)."
            + note
        )
