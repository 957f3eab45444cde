"""The Models page: every model's accuracy, time and privacy; choose Model A and Model B.

* the heat-coloured models table (filter by method and role, sort by any column, or one row
  per seed group with mean ± std); select a row and press "Set as Model A" / "Set as Model B";
  a registry run's row also offers its downloads and deletion (:mod:`~dashboard.views.run_actions`);
* adding models: upload weights (:mod:`dashboard.uploads`), run experiments with a live queue
  (:mod:`~dashboard.views.runs_panel`), add a forget scenario
  (:mod:`~dashboard.views.scenario_panel`);
* the trade-off scatter (accuracy gap vs PS vs RT, Pareto front, seed groups with error bars)
  where clicking a point makes that model Model B;
* the comparison of two seed groups (:mod:`~dashboard.views.groups_panel`);
* the per-epoch curves of A and B on one chart (:mod:`~dashboard.views.curves`).

The selection logic is in plain functions (:func:`assign`, :func:`selected_name`,
:func:`bound_options`) so it is tested without Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

import analysis.runs as runs_api
from analysis.errors import UlensError
from analysis.runs.registry import RunRecord
from dashboard import cached, messages, state, uploads
from dashboard.figures import models as figs
from dashboard.messages import md
from dashboard.views import curves, groups_panel, run_actions, runs_panel, scenario_panel

_SORT_KEY, _DESC_KEY = "mdl_sort", "mdl_desc"
_METHODS_KEY, _ROLES_KEY, _COLUMNS_KEY = "mdl_methods", "mdl_roles", "mdl_cols"
_TABLE_KEY, _SCATTER_KEY = "mdl_table", "mdl_scatter"
_UNSORTED = ""


# --------------------------------------------------------------------------- pure logic


def assign(role: str, name: str, *, a: str, b: str) -> tuple[str, str]:
    """New (A, B) after making ``name`` Model ``role``; A and B swap if it was the other one.

    Example:
        >>> assign("B", "ga", a="retrain", b="ft"), assign("A", "ft", a="retrain", b="ft")
        (('retrain', 'ga'), ('ft', 'retrain'))
    """
    if role == "A":
        return name, (a if name == b else b)
    if role == "B":
        return (b if name == a else a), name
    raise ValueError(f"role: expected 'A' or 'B', received {role!r}")


def selected_name(shown: pd.DataFrame, rows: Sequence[int]) -> str | None:
    """Model name of the first selected display row (positions into ``shown``), or None.

    Example:
        >>> selected_name(pd.DataFrame({"name": ["a", "b"]}), [1])
        'b'
    """
    valid = [r for r in rows if 0 <= r < len(shown)]
    return str(shown["name"].iloc[valid[0]]) if valid else None


PRESENTATION_HIDDEN = ("hyperparameters",)
"""Columns the presentation table leaves out unless chosen: its long text wrapped into rows
~150 px tall and pushed the table past the right edge at 1366 px."""


def shown_columns(chosen: Sequence[str], *, presentation: bool = False) -> list[str]:
    """The app table's columns in display order: the pair marker and the name, then the
    chosen optional columns (none chosen = all of them, but for
    :data:`PRESENTATION_HIDDEN` in presentation mode).

    Example:
        >>> shown_columns(["RT", "UA"])
        ['pair', 'name', 'UA', 'RT']
        >>> "hyperparameters" in shown_columns([], presentation=True)
        False
    """
    hidden = PRESENTATION_HIDDEN if presentation else ()
    keep = set(chosen) if chosen else set(figs.APP_COLUMNS) - set(hidden)
    return [c for c in figs.APP_COLUMNS if c in figs.ALWAYS_SHOWN or c in keep]


def bound_options(text: str, options: Sequence[str]) -> list[str]:
    """Comma-separated URL text -> the listed options it names (unknown names dropped).

    Example:
        >>> bound_options("ga,nope,ft", ["ft", "ga"])
        ['ga', 'ft']
    """
    return [v for v in text.split(",") if v in options]


# --------------------------------------------------------------------------- callbacks


def _apply(role: str, name: str) -> None:
    """Make ``name`` Model ``role`` (a callback: runs before the sidebar widgets exist)."""
    a, b = assign(role, name, a=st.session_state.get("a", ""), b=st.session_state.get("b", ""))
    state.set_value("a", a)
    state.set_value("b", b)
    st.toast(f"Model A = {a}, Model B = {b}")


def _on_scatter() -> None:
    names = figs.names_from_selection(st.session_state.get(_SCATTER_KEY))
    if names:
        _apply("B", names[0])


def _sync_list(key: str) -> None:
    state.set_value(key, ",".join(st.session_state.get(f"{key}_w", [])))


# --------------------------------------------------------------------------- page


def render() -> None:
    """Draw the page."""
    ctx = state.context()
    st.header("Models")
    try:
        table = cached.table(ctx.workspace, ctx.scenario)
    except UlensError as exc:
        messages.error(
            f"Could not evaluate the models of scenario {ctx.scenario!r}: {exc}. Check the "
            "weights files and experiment.toml, or choose another scenario."
        )
        return
    records = _records(ctx)
    grouped = groups_panel.grouped_table(ctx, table, records)
    groups = groups_panel.groups_of(grouped)
    _table_section(ctx, figs.display_table(table), groups, records)
    uploads.render(ctx)
    runs_panel.render(ctx)
    scenario_panel.render(ctx)
    _tradeoff_section(ctx, table, groups)
    groups_panel.render_comparison(grouped, groups)
    curves.render(ctx, records)


def _records(ctx: state.Context) -> dict[str, RunRecord]:
    """The workspace's registry runs by name (empty when the registry cannot be read)."""
    try:
        return {r.name: r for r in runs_api.list_runs(ctx.workspace)}
    except UlensError:
        return {}


def _multiselect(
    label: str, key: str, options: list[str], format_func: Any = str, help: str | None = None
) -> list[str]:
    """A multiselect of strings mirrored in the URL as comma-separated text under ``key``
    (names the URL gives that are not options are dropped, and the toast says so)."""
    text = state.bind(key, "")
    widget = f"{key}_w"
    if widget not in st.session_state:
        st.session_state[widget] = bound_options(text, options)
        if text and ",".join(st.session_state[widget]) != text:
            _sync_list(key)
    elif any(v not in options for v in st.session_state[widget]):  # another workspace/scenario
        st.session_state[widget] = [v for v in st.session_state[widget] if v in options]
        _sync_list(key)
    chosen: list[str] = st.multiselect(
        label,
        options,
        key=widget,
        on_change=_sync_list,
        args=(key,),
        placeholder="all",
        format_func=format_func,
        help=help,
    )
    return chosen


def _column_picker(presentation: bool) -> list[str]:
    """The table's optional columns the user keeps (a popover; none chosen = all)."""
    optional = [c for c in figs.APP_COLUMNS if c not in figs.ALWAYS_SHOWN]
    with st.popover("Columns", icon=":material/view_column:"):
        chosen = _multiselect(
            "Columns shown",
            _COLUMNS_KEY,
            optional,
            format_func=lambda c: figs.COLUMN_LABELS.get(c, c),
            help=(
                "Model A/B and the name are always shown; none chosen = every column "
                "(in presentation mode every column but Hyperparameters)."
            ),
        )
    return shown_columns(chosen, presentation=presentation)


def _filters(full: pd.DataFrame, presentation: bool) -> tuple[dict[str, Any], list[str]]:
    """The filter row: method, role, sort column, direction and the column picker."""
    c1, c2, c3, c4, c5 = st.columns([3, 3, 3, 2, 2], vertical_alignment="bottom")
    with c1:
        methods = _multiselect(
            "Method", _METHODS_KEY, sorted(m for m in full["method"].unique() if m)
        )
    with c2:
        roles = _multiselect("Role", _ROLES_KEY, sorted(full["role"].unique()))
    sortable = [c for c in figs.TABLE_COLUMNS if c not in ("hyperparameters", "base")]
    state.bind(_SORT_KEY, _UNSORTED)
    if st.session_state[_SORT_KEY] not in [_UNSORTED, *sortable]:
        state.set_value(_SORT_KEY, _UNSORTED)
    with c3:
        sort_by = st.selectbox(
            "Sort by",
            [_UNSORTED, *sortable],
            key=_SORT_KEY,
            format_func=lambda c: (
                "(table order)" if c == _UNSORTED else figs.COLUMN_LABELS.get(c, c)
            ),
        )
    state.bind(_DESC_KEY, False)
    with c4:
        desc = st.toggle("Descending", key=_DESC_KEY)
    with c5:
        columns = _column_picker(presentation)
    filters = {"methods": methods, "roles": roles, "sort_by": sort_by or None, "descending": desc}
    return filters, columns


_COLUMN_WIDTHS: dict[str, Any] = {
    figs.PAIR_COLUMN: 44,
    "name": None,
    "role": None,
    "method": None,
    "base": None,
    "hyperparameters": "large",
    "pareto": 40,
    "forget_auc": 80,  # "Forget AUC" was cut to "Forget AU" at the metric width
}
_METRIC_WIDTH = 64  # px: "0.000" plus padding


def _column_config() -> dict[str, Any]:
    """Compact headers (full meaning in the help), narrow metric columns, the pair marker and
    the name pinned left so they stay in view while the table scrolls."""
    return {
        c: st.column_config.Column(
            figs.APP_LABELS.get(c, c),
            help=figs.APP_HELP.get(c) or figs.COLUMN_HELP[c],
            width=_COLUMN_WIDTHS.get(c, _METRIC_WIDTH),
            pinned=c in figs.ALWAYS_SHOWN,
        )
        for c in figs.APP_COLUMNS
    }


def _table_section(
    ctx: state.Context,
    full: pd.DataFrame,
    groups: pd.DataFrame,
    records: Mapping[str, RunRecord],
) -> None:
    st.subheader("All models")
    retrain = ctx.experiment.retrain_name
    if groups_panel.toggle():
        groups_panel.render_table(groups)
        return
    filters, columns = _filters(full, ctx.presentation)
    shown = figs.filter_table(full, **filters)
    if shown.empty:
        st.info("No model matches the filters: clear the Method / Role filters.")
        return
    rows = figs.app_rows(shown, a=ctx.a, b=ctx.b)
    if ctx.presentation:  # a static table: its type scales with presentation mode
        styler = figs.styled_table(rows[columns], full, retrain, labels=figs.APP_LABELS)
        st.table(styler.hide(axis="index"))
        selected: list[int] = []
    else:
        event = st.dataframe(
            figs.styled_table(rows, full, retrain),
            key=_TABLE_KEY,
            on_select="rerun",
            selection_mode="single-row",
            hide_index=True,
            column_order=columns,
            column_config=_column_config(),
            placeholder=figs.NA_TEXT,
        )
        selected = list(event.selection.rows)
    from dashboard.views import intervals_panel  # on-demand bootstrap intervals

    if st.toggle("Intervals for every model", key="mdl_ci", help=intervals_panel.HELP):
        intervals_panel.render(ctx)
    st.markdown(figs.legend_html(retrain is not None), unsafe_allow_html=True)
    if not ctx.presentation:
        st.caption(figs.LEGEND_TEXT if retrain is not None else figs.LEGEND_TEXT_NO_RETRAIN)
    name = selected_name(shown, selected)
    _assign_buttons(ctx, name, _hyperparameters(shown, name))
    run_actions.render(ctx, records.get(name) if name else None, name)


def _hyperparameters(shown: pd.DataFrame, name: str | None) -> str:
    if not name:
        return ""
    rows = shown.loc[shown["name"] == name, "hyperparameters"]
    return str(rows.iloc[0]) if len(rows) else ""


def _assign_buttons(ctx: state.Context, name: str | None, params: str = "") -> None:
    pair = f"Model A = **{md(ctx.a)}**, Model B = **{md(ctx.b)}**."
    if ctx.presentation:  # a static table: no row to select, so no (always disabled) buttons
        st.markdown(f"Now: {pair} The sidebar changes them.")
        return
    c1, c2, c3 = st.columns([1, 1, 3], vertical_alignment="center")
    c1.button(
        "Set as Model A",
        key="mdl_set_a",
        disabled=name is None or name == ctx.a,
        on_click=_apply,
        args=("A", name),
        type="primary",
    )
    c2.button(
        "Set as Model B",
        key="mdl_set_b",
        disabled=name is None or name == ctx.b,
        on_click=_apply,
        args=("B", name),
        type="primary",
    )
    hint = f"Selected: **{md(name)}**. " if name else "Select a row (left edge) to choose it. "
    c3.markdown(f"{hint}Now: {pair}")
    if name and params:
        st.caption(f"Hyperparameters of {md(name)}: {md(params)}")


def _tradeoff_section(ctx: state.Context, table: pd.DataFrame, groups: pd.DataFrame) -> None:
    st.subheader("Trade-off")
    fig = figs.tradeoff_figure(
        table, a=ctx.a, b=ctx.b, presentation=ctx.presentation, groups=groups
    )
    st.plotly_chart(
        fig,
        width="stretch",
        theme=None,
        key=_SCATTER_KEY,
        on_select=_on_scatter,
        selection_mode="points",
    )
    if not ctx.presentation:
        st.caption(
            "Click a point to make that model Model B. Lower-left is the goal for "
            "accuracy, top for privacy; colour is the method's run time. The Pareto front "
            "joins unlearned models no other unlearned model beats on all three. Open squares "
            "with error bars: seed groups (mean ± 1 sample std over their seeds)."
        )
