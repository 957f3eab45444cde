"""AppTest of the app shell (dashboard/app.py) on tiny workspaces: the sidebar's head, the
``/models`` address, the hidden Deploy button, presentation mode and bad link values; and, on
two architectures, that every chart of the Models, Classes, Layers and Instances pages uses the
app's font scheme (no Streamlit theme) with text of at least 16 px in presentation mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.io as pio
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import theme
from tests.conftest import WorkspaceFactory
from tests.dashboard.views.apptest_pages import APP, open_page

A = "finetune_classwise"  # Model A of the tiny workspace's default pair (its first unlearned model)
PAGES = ("models", "classes", "layers", "instances")


@pytest.fixture
def app(tiny_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("ULENS_WORKSPACE", str(tiny_workspace))
    return AppTest.from_file(APP, default_timeout=120)


def _html(at: AppTest, *, sidebar: bool = False) -> list[str]:
    """Bodies of the ``st.html`` elements (style-only ones live outside the main container)."""
    root = at.sidebar if sidebar else at
    return [h.proto.body for h in root.get("html")]


def _kinds(node: Any) -> list[str]:
    """Element types of a container in order, depth first."""
    out: list[str] = []
    for child in getattr(node, "children", {}).values():
        out.append(child.type)
        out += _kinds(child)
    return out


# --------------------------------------------------------------------------- chrome


def test_models_page_answers_at_root_and_at_models(app: AppTest) -> None:
    app.run()
    paths = {info["url_pathname"] for info in app._registered_pages.values()}
    assert {"", "models", "classes", "instances"} <= paths  # "" = the default page (Models)
    open_page(app, "models")  # the address that used to say "Page not found"
    assert not app.exception
    assert [h.value for h in app.header] == ["Models"]


def test_title_stands_above_the_page_links(app: AppTest) -> None:
    app.run()
    kinds = _kinds(app.sidebar)
    assert kinds.index("markdown") < kinds.index("page_link")
    assert app.sidebar.markdown[0].value == "## Unlearning Lens"
    links = [e.proto.label for e in app.sidebar.get("page_link")]
    assert links == [
        "Models",
        "Classes",
        "Layers",
        "Instances",
        "Privacy",
        "Studies",
        "Export",
    ]
    assert kinds.index("page_link") < kinds.index("selectbox")  # then workspace, models...


def test_deploy_button_is_hidden(app: AppTest) -> None:
    app.run()
    assert any('stAppDeployButton"] { display: none' in body for body in _html(app))


def test_presentation_mode_collapses_the_sidebar_and_keeps_a_way_back(app: AppTest) -> None:
    app.run()
    script = _html(app, sidebar=True)
    assert len(script) == 1 and "const present = false" in script[0]
    assert not any("font-size: 21px" in body for body in _html(app))
    app.sidebar.toggle(key="present").set_value(True).run()
    (script,) = _html(app, sidebar=True)
    assert "const present = true" in script and "stSidebarCollapseButton" in script
    css = next(body for body in _html(app) if "font-size: 21px" in body)
    # the header's toolbar holds the expand button: it must stay, only its actions go
    assert 'data-testid="stToolbar"]' not in css and "stExpandSidebarButton" not in css
    assert app.sidebar.toggle(key="present").value  # the toggle is still in the sidebar
    app.sidebar.toggle(key="present").set_value(False).run()
    assert "const present = false" in _html(app, sidebar=True)[0]  # opens it again


def test_presentation_mode_from_the_link(app: AppTest) -> None:
    app.query_params["present"] = "1"
    app.run()
    assert "const present = true" in _html(app, sidebar=True)[0]
    assert not app.toast


# --------------------------------------------------------------------------- link values


def test_a_bad_model_in_the_link_is_named_once_in_a_toast(app: AppTest) -> None:
    app.query_params["a"] = "nope"
    app.run()
    assert not app.exception
    assert app.sidebar.selectbox(key="a").value == A
    (toast,) = [t.value for t in app.toast]
    assert "`a=nope`" in toast and f"'{A}'" in toast
    app.run()
    assert not app.toast  # once
    assert app.query_params.get("a") is None  # the URL now says what is shown


def test_unparsable_and_unknown_page_values_are_named(app: AppTest) -> None:
    app.query_params.update({"inst_card": "abc", "inst_mode": "rainbow", "present": "maybe"})
    open_page(app, "instances")
    assert not app.exception
    toasts = " ".join(t.value for t in app.toast)
    assert "`inst_card=abc`" in toasts and "not a valid value" in toasts
    assert "`inst_mode=rainbow`" in toasts and "'all'" in toasts
    assert app.radio(key="inst_mode").value == "all"


def test_a_card_of_no_training_sample_is_named(app: AppTest) -> None:
    app.query_params.update({"inst_card": "99999", "inst_sel": "1,99999"})
    open_page(app, "instances")
    assert not app.exception
    toasts = " ".join(t.value for t in app.toast)
    assert "`inst_card=99999`" in toasts and "`inst_sel=1,99999`" in toasts
    assert app.session_state["inst_sel"] == [1] and app.session_state["inst_card"] == -1


def test_a_workspace_link_is_refused_without_echoing_it(app: AppTest, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    app.query_params["ws"] = str(elsewhere)
    app.run()
    assert not app.exception
    (toast,) = [t.value for t in app.toast]
    assert "`ws`" in toast and "elsewhere" not in toast and str(tmp_path) not in toast
    assert "not one this dashboard was started with" in toast
    assert not app.error  # one message, the same kind as every other link value


# --------------------------------------------------------------------------- one font scheme


def _figures(at: AppTest) -> list[tuple[str, Any, Any]]:
    return [
        (e.proto.id.rsplit("-", 1)[-1], e.proto, pio.from_json(e.proto.spec, skip_invalid=True))
        for e in at.get("plotly_chart")
    ]


@pytest.mark.parametrize("arch", ["mlp", "smallcnn"])
def test_every_chart_uses_the_app_fonts_and_presentation_text_is_16px(
    arch: str, tiny_workspace_factory: WorkspaceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ULENS_WORKSPACE", str(tiny_workspace_factory(arch=arch)))
    for presentation in (False, True):
        at = AppTest.from_file(APP, default_timeout=180)
        if presentation:
            at.query_params["present"] = "1"
        at.session_state["inst_card"] = 3  # the card's charts too
        for page in PAGES:
            open_page(at, page)
            assert not at.exception, page
            figures = _figures(at)
            assert figures, page
            if page == "instances":  # the maps and the open card's charts
                assert {"inst_map_a", "inst_card_probs"} <= {key for key, _, _ in figures}
            for key, proto, fig in figures:
                assert proto.theme == "", f"{page}/{key} uses Streamlit's chart theme"
                assert fig.layout.template.layout.font.family == theme.FONT, key
                smallest = theme.smallest_font_size(fig)
                floor = theme.PRESENTATION_MIN_FONT if presentation else 12
                assert smallest >= floor, f"{page}/{key}: {smallest} px"
