"""AppTest of the Export page on the tiny workspace (the whole app: sidebar, navigation, page)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import export
from dashboard.views.export import selected_pages
from tests.dashboard.views.apptest_pages import APP, open_page

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def buttons(at: AppTest) -> list[tuple[str, bool]]:
    """(label, disabled) of every download button."""
    return [(b.proto.label, b.proto.disabled) for b in at.get("download_button")]


@pytest.fixture
def app(tiny_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("ULENS_WORKSPACE", str(tiny_workspace))
    return AppTest.from_file(APP, default_timeout=60)


def test_every_figure_has_four_downloads(app: AppTest) -> None:
    open_page(app, "export")
    assert not app.exception
    assert [h.value for h in app.header] == ["Export"]
    assert [s.value for s in app.subheader] == ["One-file HTML report", "Figures"]
    labels = [label for label, _ in buttons(app)]
    assert labels[0] == "Download HTML report" and labels[1].endswith("as ZIP")
    per_figure = labels[2:]
    assert len(per_figure) % 4 == 0 and per_figure[:4] == ["PNG", "SVG", "PDF", "CSV"]
    titles = [m.value for m in app.markdown]
    assert "#### Privacy" in titles and any("value distribution" in t for t in titles)
    # the Classes page's group-robustness figure (from the cached per-group table)
    assert any("Group robustness: per-group accuracy" in t for t in titles), titles


def test_choosing_pages_limits_the_list(app: AppTest) -> None:
    open_page(app, "export")
    before = len(buttons(app))
    app.multiselect(key="_exp_pages_ms").set_value(["privacy"]).run()
    assert not app.exception
    assert 2 < len(buttons(app)) < before
    assert [m.value for m in app.markdown if m.value.startswith("####")] == ["#### Privacy"]
    assert app.session_state["exp_pages"] == "privacy"


def test_missing_browser_shows_what_to_install_and_keeps_csv(
    app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "browser_path", lambda: None)
    open_page(app, "export")
    assert not app.exception
    assert any("apt-get install -y chromium" in e.value for e in app.error)
    state = buttons(app)
    assert all(disabled for label, disabled in state if label in ("PNG", "SVG", "PDF"))
    assert not any(disabled for label, disabled in state if label == "CSV")
    assert state[0] == ("Download HTML report", False)


def test_selected_pages_keeps_page_order() -> None:
    assert selected_pages("privacy,models", ["models", "classes", "privacy"]) == [
        "models",
        "privacy",
    ]
    assert selected_pages(["classes", "zz"], ["models", "classes"]) == ["classes"]
    assert selected_pages(None, ["models"]) == []
