"""AppTest of the Classes page on a tiny workspace, plus its pure logic.

Pages are ``st.Page(callable)``: ``AppTest.switch_page`` only finds file pages, so
:func:`open_page` selects the registered page whose URL path is ``classes`` (after a first
run). A matrix click cannot be simulated (plotly selections are read-only in AppTest): the
click -> cell step is :func:`dashboard.figures.classes.cell_from_selection` (tested with the
figures); here the chosen cell is set the way the click callback sets it, through ``cls_cell``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from analysis.errors import ValidationError
from dashboard import cached
from dashboard.views import classes as view
from tests.dashboard.views.apptest_pages import APP, open_page
from tests.fixtures import make_tiny_workspace

A, B = "retrain_classwise", "finetune_classwise"  # pinned in the URL (app fixture)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_workspace(tmp_path_factory.mktemp("classes_view"))


@pytest.fixture
def app(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("ULENS_WORKSPACE", str(workspace))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"a": A, "b": B})  # the pair these tests use (not the default)
    return at


def _chart(at: AppTest, key: str) -> dict[str, Any]:
    found = [e for e in at.get("plotly_chart") if e.proto.id.endswith(key)]
    assert found, f"no chart {key!r}"
    spec: dict[str, Any] = json.loads(found[0].proto.spec)
    return spec


def _trace_types(at: AppTest) -> set[str]:
    return {t.get("type", "scatter") for t in _chart(at, "cls_matrix")["data"]}


# --------------------------------------------------------------------------- pure logic


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([1, 2], (1, 2)),
        ((0, 0), (0, 0)),
        ([1, 4], None),
        ([-1, 0], None),
        ([], None),
        ("12", None),
        (["a", 1], None),
        (None, None),
    ],
)
def test_valid_cell(value: Any, expected: tuple[int, int] | None) -> None:
    assert view.valid_cell(value, 4) == expected


# --------------------------------------------------------------------------- page


def test_page_renders_bars_matrices_and_toggles(app: AppTest) -> None:
    open_page(app, "classes")
    assert not app.exception
    assert [h.value for h in app.header] == ["Classes"]
    diff = _chart(app, "cls_diff")
    assert f"Model B ({B}) − Model A ({A})" in diff["layout"]["title"]["text"]
    assert _trace_types(app) == {"heatmap", "scatter"}
    labels = [getattr(w, "label", None) for w in app.get("button_group")]
    assert labels == ["Matrix view", "Split"]
    assert not app.subheader  # no cell chosen: no sample list


def test_bubble_and_split_toggles_change_the_matrix(app: AppTest) -> None:
    open_page(app, "classes")
    app.button_group(key="cls_mode").set_value("bubble").run()
    assert not app.exception
    assert _trace_types(app) == {"scatter"}
    app.button_group(key="cls_split").set_value("test").run()
    title = _chart(app, "cls_matrix")["layout"]["title"]["text"]
    assert "test split" in title and "bubble area" in title
    assert app.query_params["cls_mode"] == "bubble" and app.query_params["cls_split"] == "test"


def test_chosen_cell_outlines_the_row_and_lists_its_samples(app: AppTest) -> None:
    open_page(app, "classes")
    app.session_state["cls_cell"] = [1, 1]  # what a click on (true 1, predicted 1) stores
    app.run()
    assert not app.exception
    shapes = _chart(app, "cls_matrix")["layout"]["shapes"]
    rows = [s for s in shapes if s["x0"] == -0.5]
    assert sorted(s.get("xref", "x") for s in rows) == ["x", "x2"]
    assert all((s["y0"], s["y1"]) == (0.5, 1.5) for s in rows)
    shown = app.subheader[0].value.replace("\\", "")  # names are markdown-escaped
    assert "true class ✖ class_1 (forget) predicted as ✖ class_1 (forget)" in shown
    table = app.dataframe[0].value
    assert len(table) > 0 and set(table["true class"]) == {"class_1"}
    assert f"A ({A}) P(true)" in table.columns and f"B ({B}) predicted" in table.columns
    assert app.query_params["cls_cell"] == "1,1"
    app.button(key="cls_clear").click().run()
    assert not app.subheader and "cls_cell" not in app.query_params
    assert not [s for s in _chart(app, "cls_matrix")["layout"].get("shapes", [])]


def test_url_reopens_the_view(app: AppTest) -> None:
    app.query_params.update({"cls_cell": "2,0", "cls_mode": "bubble", "cls_split": "test"})
    open_page(app, "classes")
    assert not app.exception
    assert app.button_group(key="cls_mode").value == "bubble"
    assert "test split" in _chart(app, "cls_matrix")["layout"]["title"]["text"]
    assert app.subheader[0].value.replace("\\", "").startswith("Test samples of true class class_2")


def test_bad_url_values_fall_back(app: AppTest) -> None:
    app.query_params.update({"cls_cell": "9,9", "cls_mode": "pie"})
    open_page(app, "classes")
    assert not app.exception
    assert app.button_group(key="cls_mode").value == "heatmap"
    assert not app.subheader
    toasts = " ".join(t.value for t in app.toast)  # each ignored value named, once
    assert "`cls_cell=9,9`" in toasts and "`cls_mode=pie`" in toasts and "'heatmap'" in toasts
    app.run()
    assert not app.toast


def test_failing_comparison_shows_an_error_and_the_app_keeps_running(
    app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise ValidationError("b: expected a model different from Model A, received x")

    monkeypatch.setattr(cached, "comparison", broken)
    open_page(app, "classes")
    assert not app.exception
    assert "Could not compare" in app.error[0].value
    assert app.sidebar.selectbox(key="b").value == B
