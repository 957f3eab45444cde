"""Unlearning Lens dashboard: page config, the global sidebar and navigation. Nothing else.

Run with ``ulens dashboard [WORKSPACE]`` (sets ``ULENS_WORKSPACE``) or
``streamlit run dashboard/app.py``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import streamlit as st

from analysis.errors import UlensError
from analysis.experiment import Experiment
from analysis.spec import AUXILIARY_ROLES
from dashboard import cached, messages, state, theme
from dashboard.views import classes, export, instances, layers, models, notices, privacy

_PRESENTATION_CSS = """
<style>
html { font-size: 21px !important; }  /* Streamlit sizes text in rem: everything scales */
header[data-testid="stHeader"], [data-testid="stToolbar"], footer,
[data-testid="stDecoration"], [data-testid="stStatusWidget"] { display: none !important; }
.block-container { padding-top: 1rem; max-width: 100%; }
</style>
"""


def _workspace_choice() -> str:
    """The workspace picked in the switcher (or the URL), among the allowed ones only.

    A ``?ws=`` naming anything else — another folder, a path, a typo — opens the launch
    workspace with a one-line notice that does not repeat what the URL said.
    """
    labels = state.workspace_labels(state.allowed_workspaces())
    options = list(labels)
    requested = state.bind("ws", options[0])
    if requested not in labels:
        messages.error(
            "The workspace named in the link is not one this dashboard was started with; "
            f"showing {options[0]!r}.",
            sidebar=True,
        )
        state.set_value("ws", options[0])
    label = st.sidebar.selectbox("Workspace", options, key="ws")
    return labels[label]


def sidebar() -> state.Context | None:
    """Workspace, scenario, Model A / Model B and presentation mode; None if unusable."""
    st.sidebar.title("Unlearning Lens")
    workspace = _workspace_choice()
    base = cached.experiment(workspace, None)
    scenario = st.sidebar.selectbox(
        "Scenario (forget set)",
        base.scenarios,
        key=_bound_choice("scenario", base.scenarios),
        format_func=lambda s: _scenario_label(base, s),
    )
    exp = cached.experiment(workspace, scenario)
    names = [n for n, m in exp.models.items() if m.role not in AUXILIARY_ROLES]
    roles = {n: exp.models[n].role for n in names}
    if len(names) < 2:
        notices.too_few_models(workspace, exp)
        return None
    default_a, default_b = exp.default_pair()
    a = st.sidebar.selectbox(
        "Model A",
        names,
        key=_bound_choice("a", names, default_a),
        format_func=lambda n: f"{n} ({roles[n]})",
    )
    b_options = [n for n in names if n != a]
    b = st.sidebar.selectbox(
        "Model B",
        b_options,
        key=_bound_choice("b", b_options, default_b),
        format_func=lambda n: f"{n} ({roles[n]})",
    )
    presentation = st.sidebar.toggle(
        "Presentation mode",
        key=_bound_flag("present"),
        help="Larger type and no chrome, for a projector.",
    )
    st.sidebar.caption(
        f"Model A is blue, Model B is vermillion, retrain grey. "
        f"Forget classes/samples are marked ✖. Workspace: {Path(workspace).name}"
    )
    return state.Context(workspace, exp, a, b, presentation)


def _scenario_label(exp: Experiment, scenario: str) -> str:
    spec = exp.spec.scenarios[scenario]
    if "classes" in spec:
        return f"{scenario}: classes {spec['classes']}"
    if "random" in spec:
        return f"{scenario}: random {spec['random']:.0%}"
    return f"{scenario}: listed indices"


def _bound_choice(key: str, options: list[str], default: str | None = None) -> str:
    """Bind ``key`` to the URL and keep its value inside ``options``."""
    value = state.bind(key, default or options[0])
    if value not in options:
        state.set_value(key, default if default in options else options[0])
    return key


def _bound_flag(key: str) -> str:
    state.bind(key, False)
    return key


def _pages() -> list[Any]:
    return [
        st.Page(
            models.render,
            title="Models",
            url_path="models",
            default=True,
            icon=":material/table_chart:",
        ),
        st.Page(classes.render, title="Classes", url_path="classes", icon=":material/category:"),
        st.Page(layers.render, title="Layers", url_path="layers", icon=":material/layers:"),
        st.Page(
            instances.render,
            title="Instances",
            url_path="instances",
            icon=":material/scatter_plot:",
        ),
        st.Page(privacy.render, title="Privacy", url_path="privacy", icon=":material/shield:"),
        st.Page(export.render, title="Export", url_path="export", icon=":material/download:"),
    ]


def _run() -> None:
    try:
        ctx = sidebar()
    except UlensError as exc:
        messages.error(
            f"Could not open the workspace: {exc}. Fix experiment.toml or choose another "
            "workspace; nothing was changed."
        )
        ctx = None
    page = st.navigation(_pages())
    if ctx is None:
        return
    if ctx.presentation:
        st.markdown(_PRESENTATION_CSS, unsafe_allow_html=True)
    state.set_context(ctx)
    notices.no_retrain(ctx)
    with contextlib.suppress(cached.Pending):  # a progress placeholder: redrawn when ready
        page.run()
    state.sync()


def main() -> None:
    """Build the page: sidebar, then the selected page, then mirror the state into the URL.

    An unexpected exception is shown scrubbed of server paths (the full traceback goes to the
    server's log); the page icon is drawn locally (a material icon would be fetched online).
    """
    st.set_page_config(page_title="Unlearning Lens", page_icon=theme.app_icon(), layout="wide")
    try:
        _run()
    except Exception as exc:  # shown (scrubbed) and logged, never swallowed silently
        messages.show_exception(exc)


main()
