"""Unlearning Lens dashboard: page config, the global sidebar and navigation. Nothing else.

Run with ``ulens dashboard [WORKSPACE]`` (sets ``ULENS_WORKSPACE``) or
``streamlit run dashboard/app.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

import dashboard.frontend as frontend  # never waits for the server's preload (dashboard.serve)

# First, before the imports below wait for the server's preload of torch & co: the browser
# fetches, compiles and runs the chart and table code meanwhile.
frontend.preload_chunks()

from analysis.errors import UlensError
from analysis.experiment import Experiment
from analysis.spec import AUXILIARY_ROLES
from dashboard import cached, messages, state, theme
from dashboard.views import (
    classes,
    export,
    instances,
    layers,
    models,
    notices,
    privacy,
    studies,
)

_CHROME_CSS = """
<style>
[data-testid="stAppDeployButton"] { display: none !important; }  /* also under streamlit run */
</style>
"""
# Presentation: larger type, no toolbar or decoration; the header stays (transparent) only for
# the sidebar's expand button, so the sidebar (and the presentation toggle) stays reachable.
_PRESENTATION_CSS = """
<style>
html { font-size: 21px !important; }  /* Streamlit sizes text in rem: everything scales */
header[data-testid="stHeader"] { background: transparent !important; }
[data-testid="stToolbarActions"], [data-testid="stMainMenu"], footer,
[data-testid="stDecoration"], [data-testid="stStatusWidget"] { display: none !important; }
.block-container { padding-top: 1.5rem; max-width: 100%; }
</style>
"""
# Emitted on every run: collapses the sidebar once per page load when presentation mode is on,
# and opens it again once when the mode is switched off (a window flag makes it idempotent, so
# reruns, page switches and a redirect that drops a run do not fight the user's own clicks).
_SIDEBAR_SCRIPT = """
<script>
(() => {
  const w = window.parent || window, doc = w.document, flag = "__ulensPresentationCollapsed";
  const present = PRESENT;
  if (present === Boolean(w[flag])) return;
  w[flag] = present;
  const sidebar = doc.querySelector('[data-testid="stSidebar"]');
  const open = sidebar && sidebar.getAttribute("data-collapsed") !== "true";
  const button = open
    ? doc.querySelector('[data-testid="stSidebarCollapseButton"] button')
    : doc.querySelector('[data-testid="stExpandSidebarButton"]');
  if (!button || open !== present) return;
  // Streamlit remembers a click in localStorage; keep the user's own choice, not this one.
  const store = w.localStorage, prefix = "stSidebarCollapsed-", before = {};
  for (let i = 0; i < store.length; i++) {
    const k = store.key(i);
    if (k.startsWith(prefix)) before[k] = store.getItem(k);
  }
  button.click();
  for (const k of Object.keys(store)) {
    if (!k.startsWith(prefix)) continue;
    if (k in before) store.setItem(k, before[k]); else store.removeItem(k);
  }
})();
</script>
"""
APP_TITLE = "Unlearning Lens"


def _workspace_choice() -> str:
    """The workspace picked in the switcher (or the URL), among the allowed ones only.

    A ``?ws=`` naming anything else — another folder, a path, a typo — opens the launch
    workspace; the toast about it (:func:`dashboard.state.sync`) does not repeat the link.
    """
    labels = state.workspace_labels(state.allowed_workspaces())
    options = list(labels)
    requested = state.bind(
        "ws", options[0], echo=False, reason="not one this dashboard was started with"
    )
    if requested not in labels:
        state.set_value("ws", options[0])
    label = st.sidebar.selectbox("Workspace", options, key="ws")
    return labels[label]


def sidebar() -> state.Context | None:
    """Workspace, scenario, Model A / Model B and presentation mode; None if unusable."""
    workspace = _workspace_choice()
    base = cached.experiment(workspace, None)
    options, hidden = _scenario_options(workspace, base.scenarios)
    scenario = st.sidebar.selectbox(
        "Scenario (forget set)",
        options,
        key=_bound_choice("scenario", options),
        format_func=lambda s: _scenario_label(base, s),
    )
    if hidden:
        st.sidebar.toggle(
            f"Show study scenarios ({hidden})",
            key="study_scenarios",
            help="Forget sets that studies created (Studies page); hidden here by default.",
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


def _scenario_options(workspace: str, scenarios: list[str]) -> tuple[list[str], int]:
    """The scenarios the selector offers and how many belong to studies: those only when
    shown, or when one is the current choice (a link to a study's scenario keeps working)."""
    from analysis.studies import study_scenarios

    try:
        owned = set(study_scenarios(workspace)) & set(scenarios)
    except UlensError:  # an unreadable registry: every scenario, as before
        owned = set()
    visible = [s for s in scenarios if s not in owned] or scenarios
    show = bool(state.bind("study_scenarios", False))
    current = state.bind("scenario", visible[0])
    return [s for s in scenarios if show or s in visible or s == current], len(owned)


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
    """The pages in navigation order, then a hidden ``/models`` that opens the Models page
    (the default page is served at ``/``; its own name would otherwise be "Page not found")."""
    home = st.Page(
        models.render,
        title="Models",
        url_path="",
        default=True,
        icon=":material/table_chart:",
    )
    return [
        home,
        st.Page(classes.render, title="Classes", url_path="classes", icon=":material/category:"),
        st.Page(layers.render, title="Layers", url_path="layers", icon=":material/layers:"),
        st.Page(
            instances.render,
            title="Instances",
            url_path="instances",
            icon=":material/scatter_plot:",
        ),
        st.Page(privacy.render, title="Privacy", url_path="privacy", icon=":material/shield:"),
        st.Page(studies.render, title="Studies", url_path="studies", icon=":material/monitoring:"),
        st.Page(export.render, title="Export", url_path="export", icon=":material/download:"),
        st.Page(
            lambda: st.switch_page(home, query_params=st.query_params.to_dict()),
            title="Models",
            url_path="models",
            visibility="hidden",
        ),
    ]


def _navigation() -> Any:
    """Register the pages and draw the sidebar's head: the app title, then the page links."""
    pages = _pages()
    page = st.navigation(pages, position="hidden")
    st.sidebar.markdown(f"## {APP_TITLE}")
    for link in pages:
        if link.visibility == "visible":
            st.sidebar.page_link(link)
    st.sidebar.divider()
    return page


def _presentation_chrome(presentation: bool) -> None:
    """Presentation mode: larger type and no chrome; the sidebar collapses once when the mode
    is on (and opens again when it is switched off); its expand button stays."""
    if presentation:
        st.html(_PRESENTATION_CSS)
    script = _SIDEBAR_SCRIPT.replace("PRESENT", "true" if presentation else "false")
    st.sidebar.html(script, unsafe_allow_javascript=True)


def _run() -> None:
    st.html(_CHROME_CSS)
    page = _navigation()
    try:
        ctx = sidebar()
    except UlensError as exc:
        messages.error(
            f"Could not open the workspace: {exc}. Fix experiment.toml or choose another "
            "workspace; nothing was changed."
        )
        ctx = None
    if ctx is None:
        state.sync()
        return
    _presentation_chrome(ctx.presentation)
    state.set_context(ctx)
    notices.no_retrain(ctx)
    try:
        page.run()
    except cached.Pending:  # a progress placeholder: redrawn when ready
        pass
    else:
        cached.page_drawn()
    state.sync()


def main() -> None:
    """Build the page: sidebar, then the selected page, then mirror the state into the URL.

    An unexpected exception is shown scrubbed of server paths (the full traceback goes to the
    server's log); the page icon is drawn locally (a material icon would be fetched online).
    """
    st.set_page_config(page_title=APP_TITLE, page_icon=theme.app_icon(), layout="wide")
    try:
        _run()
    except Exception as exc:  # shown (scrubbed) and logged, never swallowed silently
        messages.show_exception(exc)


main()
