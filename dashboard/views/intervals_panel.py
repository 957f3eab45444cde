"""Models page panel: bootstrap intervals of every model's headline numbers, on demand.

Turned on by the models table's "Intervals for every model" toggle: it bootstraps every model
of the scenario once (``[analysis] n_bootstrap`` replicates; results are cached on disk and in
the process, so the comparisons reuse them) and shows ``value [low, high]`` per metric.
"""

from __future__ import annotations

import streamlit as st

from analysis.compare import CompareOptions
from analysis.errors import UlensError
from dashboard import cached, state
from dashboard.figures.intervals import intervals_frame

HELP = (
    "Seeded percentile-bootstrap intervals of UA, RA, TUA, TRA, PS, MIA-efficacy, PrivLeak, "
    "KS and every AUC, for every model (the first time this bootstraps every model)."
)


def render(ctx: state.Context) -> None:
    """Draw the intervals table of every model of the scenario."""
    try:
        table = cached.table_intervals(ctx.workspace, ctx.scenario)
    except UlensError as exc:
        st.error(
            f"Could not compute the intervals: {exc}. Check the models' weights in "
            "experiment.toml, or turn the toggle off."
        )
        return
    options = CompareOptions.from_experiment(ctx.experiment)
    st.dataframe(intervals_frame(table), hide_index=True, width="stretch", key="mdl_ci_table")
    st.caption(
        f"{options.ci_level:.0%} bootstrap intervals [low, high] from "
        f"{options.n_bootstrap} seeded resamples of each number's samples "
        "(percentile; PS and KS: the percentile spread centred on the estimate). N/A: the "
        "number is undefined for that model."
    )
