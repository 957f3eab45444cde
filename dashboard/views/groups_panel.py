"""Seed groups on the Models page: mean ± std per group, and a two-group significance test.

Models that differ only by their seed form a group (:mod:`analysis.groups`). The models table
can show one row per group (mean ± sample standard deviation of each metric); the comparison
reports, for PS and UA, Welch's two-sided t-test (unequal variances,
``scipy.stats.ttest_ind(equal_var=False)``) with its p-value and both group sizes, and says
when a group has fewer than two seeds and cannot be tested.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from analysis.groups import assign_groups, compare_groups, group_table, model_seeds
from analysis.runs.registry import RunRecord
from dashboard import state
from dashboard.figures import runs as run_figs

TOGGLE_KEY = "mdl_groups"
_FIRST, _SECOND = "grp_first", "grp_second"
TEST_TEXT = (
    "Welch's two-sided t-test (unequal variances; scipy.stats.ttest_ind with "
    "equal_var=False) over the seeds of each group; n = seeds with a value. Significant means "
    "p < 0.05 for that metric alone (no correction for testing two metrics)."
)


def grouped_table(
    ctx: state.Context, table: pd.DataFrame, records: Mapping[str, RunRecord]
) -> pd.DataFrame:
    """The models table with ``seed`` and ``group`` columns (seeds of runs from ``records``,
    the registry's runs by name)."""
    seeds = model_seeds(ctx.experiment.models, {n: r.seed for n, r in records.items()})
    return assign_groups(table, seeds, scenario=ctx.scenario)


def groups_of(grouped: pd.DataFrame) -> pd.DataFrame:
    """One row per group (:func:`analysis.groups.group_table`)."""
    return group_table(grouped)


def toggle() -> bool:
    """The "mean ± std per seed group" toggle (mirrored in the URL)."""
    state.bind(TOGGLE_KEY, False)
    return bool(
        st.toggle(
            "Mean ± std per seed group",
            key=TOGGLE_KEY,
            help="One row per group of models that differ only by their seed",
        )
    )


def render_table(groups: pd.DataFrame) -> None:
    """The models table as one row per seed group."""
    st.dataframe(run_figs.group_display(groups), hide_index=True, key="mdl_group_table")
    st.caption(
        "mean ± sample standard deviation (n − 1) over the group's seeds; one value without ± "
        "when a group has one model. Turn the toggle off to select single models."
    )


def render_comparison(grouped: pd.DataFrame, groups: pd.DataFrame) -> None:
    """Choose two groups; report Welch's t-test of PS and UA between them (the section appears
    once some group has two or more seeds: run a grid with several seeds)."""
    if len(groups) < 2 or int(groups["n"].max()) < 2:
        return
    st.subheader("Compare two seed groups")
    labels = dict(zip(groups["group"], run_figs.short_labels(list(groups["group"])), strict=True))
    sizes = dict(zip(groups["group"], groups["n"], strict=True))
    order = list(groups.sort_values("n", ascending=False, kind="stable")["group"])
    c1, c2 = st.columns(2)

    def label(g: str) -> str:
        return f"{labels[g]} — {sizes[g]} seed(s)"

    first = c1.selectbox("Group 1", order, format_func=label, key=_FIRST)
    rest = [g for g in order if g != first]
    second = c2.selectbox("Group 2", rest, format_func=label, key=_SECOND)
    tests = compare_groups(grouped, first, second, metrics=("PS", "UA"))
    st.dataframe(
        run_figs.welch_display(tests, labels[first], labels[second]),
        hide_index=True,
        key="grp_welch",
    )
    st.caption(TEST_TEXT)
