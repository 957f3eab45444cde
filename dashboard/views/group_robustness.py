"""The Classes page's group-robustness section (issue 9): per-group accuracy and PS before and
after unlearning, and each model's worst-group gap to the retrain model.

Groups are the dataset's user-given group column when the workspace declares one (``[dataset]
groups``, or ``groups_train`` / ``groups_test`` in an npz dataset: see
:mod:`analysis.group_robustness`), else the classes. The models are the original ("before"),
Model A, Model B and the scenario's retrain model (:func:`dashboard.figures.groups.group_models`);
the metrics come from :func:`analysis.group_robustness_table`, computed off the script thread
(:func:`dashboard.cached.group_table`), so the section is drawn last on the page.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from analysis.errors import UlensError
from dashboard import cached, messages, state
from dashboard.figures import groups as figs

__all__ = ["render", "worst_display"]

_KEY = "cls_groups"


def worst_display(table: pd.DataFrame, models: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    """One row per model (in ``models`` order): its role, worst-group gap to retrain with the
    group, worst-group test accuracy with the group; "N/A" where undefined.

    Example:
        >>> t = pd.DataFrame({"model": ["m", "m"], "name": ["x", "y"],
        ...     "TA": [0.9, 0.6], "TA_gap": [0.05, -0.2]})
        >>> worst_display(t, (("m", "B"),)).iloc[0].tolist()
        ['B', 'm', '0.200 (y)', '0.600 (y)']
    """
    worst = {str(r["model"]): r for r in figs.worst_groups(table).to_dict("records")}
    rows = []
    for model, role in models:
        if model not in worst:
            continue
        w = worst[model]
        rows.append(
            {
                "role": figs.ROLE_TITLES[role],
                "model": model,
                "worst-group gap to retrain": _value(w["worst_gap"], w["worst_group"]),
                "worst-group test accuracy": _value(w["worst_acc"], w["worst_acc_group"]),
            }
        )
    return pd.DataFrame(rows)


def _value(value: Any, group: Any) -> str:
    return "N/A" if pd.isna(value) else f"{value:.3f} ({group})"


def render(ctx: state.Context) -> None:
    """Draw the section (raises :class:`dashboard.cached.Pending` while it computes)."""
    exp = ctx.experiment
    models = figs.group_models(ctx.a, ctx.b, original=exp.original_name, retrain=exp.retrain_name)
    st.subheader("Group robustness")
    try:
        result = cached.group_table(ctx.workspace, ctx.scenario, tuple(m for m, _ in models))
    except UlensError as exc:
        messages.error(
            f"Could not compute the per-group metrics: {exc}. Fix the dataset's groups in "
            "experiment.toml; the rest of the page is unaffected."
        )
        return
    st.plotly_chart(
        figs.group_figure(
            result.table,
            models,
            retrain=exp.retrain_name,
            source=result.source,
            presentation=ctx.presentation,
        ),
        width="stretch",
        theme=None,
        key=f"{_KEY}_fig",
    )
    st.dataframe(worst_display(result.table, models), hide_index=True, key=f"{_KEY}_worst")
    if not ctx.presentation:
        _caption(result)


def _caption(result: cached.GroupTable) -> None:
    where = (
        "the classes" if result.source == "classes" else f"the dataset's groups ({result.source})"
    )
    st.caption(
        f"Groups: {where}. Worst-group gap = the largest |test accuracy − the retrain model's| "
        "over the groups; PS is computed on each group's forget samples only (N/A for a group "
        "without forget samples). Export and the HTML report include this figure."
    )
    for note in result.notes:
        st.caption(f"Note: {note}.")
