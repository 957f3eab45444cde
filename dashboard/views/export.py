"""The Export page: every figure as PNG / SVG / PDF and its data as CSV, and the HTML report.

Downloads are generated when clicked (deferred), so listing the figures costs only building
them. PNG/SVG/PDF need kaleido with a Chromium-based browser; without one the page says what to
install and still offers CSV and the HTML report.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import streamlit as st

from analysis.compare import Comparison
from analysis.errors import UlensError
from dashboard import cached, export, messages, state
from dashboard.figures import FigureSpec


def render() -> None:
    """Draw the page."""
    ctx = state.context()
    st.header("Export")
    try:
        cmp = cached.comparison(ctx.workspace, ctx.scenario, ctx.a, ctx.b, embedding=True)
    except UlensError as exc:
        messages.error(
            f"Could not compare {ctx.a} and {ctx.b}: {exc}. Choose another pair in the "
            "sidebar, or fix the models' entries in experiment.toml."
        )
        return
    available = export.available_pages()
    if not available:
        st.info("No page offers exportable figures yet.")
        return
    pages = _page_choice(available)
    context = _context(ctx, cmp)
    problem = export.renderer_problem()
    if problem:
        messages.error(problem)
    size = _size_controls()
    collected = cached.export_figures(
        (ctx.workspace, ctx.scenario, ctx.a, ctx.b, ctx.presentation, tuple(pages)),
        cmp,
        lambda: export.collect_figures(cmp, pages, presentation=ctx.presentation, context=context),
    )
    _report_section(cmp, pages, context, ctx.presentation)
    _zip_section(cmp, collected, size, disabled=problem is not None)
    for page, result in collected.items():
        _page_section(cmp, page, result, size, images_ok=problem is None)


def selected_pages(value: Any, available: Sequence[str]) -> list[str]:
    """The known pages among ``value`` (a list or comma-separated text), in page order.

    Example:
        >>> selected_pages("privacy,models,nope", ["models", "privacy"])
        ['models', 'privacy']
    """
    wanted = value.split(",") if isinstance(value, str) else list(value or [])
    return [p for p in available if p in wanted]


def _page_choice(available: list[str]) -> list[str]:
    state.bind("exp_pages", ",".join(available))
    if "_exp_pages_ms" not in st.session_state:
        chosen = selected_pages(st.session_state.get("exp_pages"), available)
        st.session_state["_exp_pages_ms"] = chosen or available
    picked = st.multiselect(
        "Pages", available, format_func=lambda p: export.PAGES.get(p, p), key="_exp_pages_ms"
    )
    st.session_state["exp_pages"] = ",".join(picked)
    return picked


def _context(ctx: state.Context, cmp: Comparison) -> dict[str, Any]:
    try:
        table = cached.table(ctx.workspace, ctx.scenario)
    except UlensError:
        table = None
    try:
        studies = cached.study_results_all(ctx.workspace)
        study_groups = cached.study_groups_all(ctx.workspace, list(studies))
    except UlensError:
        studies, study_groups = {}, {}
    return export.default_context(
        ctx.experiment,
        cmp,
        table=table,
        studies=studies,
        groups=_groups(ctx),
        study_groups=study_groups,
    )


def _groups(ctx: state.Context) -> Any:
    from dashboard.figures.groups import GroupInput, group_models

    exp = ctx.experiment
    models = group_models(ctx.a, ctx.b, original=exp.original_name, retrain=exp.retrain_name)
    try:
        result = cached.group_table(ctx.workspace, ctx.scenario, tuple(m for m, _ in models))
    except UlensError:
        return False  # shown on the Classes page; not computed again for the export
    return GroupInput(result.table, models, exp.retrain_name, result.source)


def _size_controls() -> dict[str, Any]:
    cols = st.columns(3)
    state.bind("exp_width", 0)
    state.bind("exp_height", 0)
    state.bind("exp_scale", 2)
    width = cols[0].number_input(
        "Image width (px, 0 = the figure's own)",
        min_value=0,
        max_value=4000,
        step=50,
        key="exp_width",
    )
    height = cols[1].number_input(
        "Image height (px, 0 = the figure's own)",
        min_value=0,
        max_value=4000,
        step=50,
        key="exp_height",
    )
    scale = cols[2].number_input(
        "PNG scale (pixel density)", min_value=1, max_value=6, key="exp_scale"
    )
    return {"width": int(width) or None, "height": int(height) or None, "scale": float(scale)}


def _report_section(
    cmp: Comparison, pages: list[str], context: dict[str, Any], presentation: bool
) -> None:
    st.subheader("One-file HTML report")
    st.caption(
        "Interactive figures, works offline (plotly.js is embedded once): the header, "
        "the summary numbers and the figures of the chosen pages for this pair."
    )
    state.bind("exp_title", "")
    title = st.text_input("Report title (empty = experiment, scenario and pair)", key="exp_title")
    build = partial(
        export.build_report,
        cmp,
        pages,
        title=title or None,
        presentation=presentation,
        context=context,
    )
    st.download_button(
        "Download HTML report",
        data=build,
        on_click="ignore",
        file_name=export.file_name(cmp.experiment, cmp.scenario, cmp.a, cmp.b, "report", "html"),
        mime="text/html",
        key="exp_report",
        disabled=not pages,
        type="primary",
    )


def _zip_section(
    cmp: Comparison,
    collected: dict[str, list[FigureSpec] | str],
    size: dict[str, Any],
    *,
    disabled: bool,
) -> None:
    specs = [s for r in collected.values() if not isinstance(r, str) for s in r]
    st.subheader("Figures")
    st.download_button(
        f"Download all {len(specs)} figures (PNG, SVG, PDF and CSV) as ZIP",
        data=partial(export.zip_bytes, cmp, specs, **size),
        on_click="ignore",
        file_name=export.file_name(cmp.experiment, cmp.scenario, cmp.a, cmp.b, "figures", "zip"),
        mime="application/zip",
        key="exp_zip",
        disabled=disabled or not specs,
    )


def _page_section(
    cmp: Comparison,
    page: str,
    result: list[FigureSpec] | str,
    size: dict[str, Any],
    *,
    images_ok: bool,
) -> None:
    st.markdown(f"#### {export.PAGES.get(page, page)}")
    if isinstance(result, str):
        messages.error(f"The {page} figures could not be built: {result}")
        return
    if not result:
        st.caption("No figures on this page.")
    for spec in result:
        _figure_row(cmp, spec, size, images_ok=images_ok)


def _figure_row(
    cmp: Comparison, spec: FigureSpec, size: dict[str, Any], *, images_ok: bool
) -> None:
    cols = st.columns([4, 1, 1, 1, 1])
    cols[0].markdown(spec.title)
    for col, fmt in zip(cols[1:4], export.FORMATS, strict=True):
        col.download_button(
            fmt.upper(),
            data=partial(export.figure_bytes, spec.figure, fmt, **size),
            file_name=export.spec_file_name(cmp, spec, fmt),
            mime=export.FORMATS[fmt],
            key=f"exp_{spec.key}_{fmt}",
            on_click="ignore",
            disabled=not images_ok,
        )
    cols[4].download_button(
        "CSV",
        data=partial(export.csv_bytes, spec.data),
        file_name=export.spec_file_name(cmp, spec, "csv"),
        mime="text/csv",
        key=f"exp_{spec.key}_csv",
        on_click="ignore",
    )
