"""AppTest of the Classes page on a tiny workspace, plus its pure logic.

Pages are ``st.Page(callable)``: ``AppTest.switch_page`` only finds file pages, so
:func:`open_page` selects the registered page whose URL path is ``classes`` (after a first
run). A matrix click cannot be simulated (plotly selections are read-only in AppTest): the
click -> cell step is :func:`dashboard.figures.classes.cell_from_selection` (tested with the
figures); here the chosen cell is set the way the click callback sets it, through ``cls_cell``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import analysis
from analysis.errors import ValidationError
from analysis.group_robustness import load_groups
from analysis.training import predict_logits
from dashboard import cached
from dashboard.views import classes as view
from tests.dashboard.views.apptest_pages import APP, open_page
from tests.dashboard.views.run_workspaces import SAMPLE, copy_workspace
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
    assert [h.value for h in app.subheader] == ["Group robustness"]  # no cell: no sample list


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
    assert [h.value for h in app.subheader] == ["Group robustness"]
    assert "cls_cell" not in app.query_params
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
    assert [h.value for h in app.subheader] == ["Group robustness"]
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


# --------------------------------------------------------------------------- group robustness


def _worst_rows(at: AppTest) -> dict[str, dict[str, str]]:
    (table,) = [d.value for d in at.dataframe if "worst-group gap to retrain" in d.value.columns]
    return {row["model"]: row for row in table.to_dict("records")}


def _hand_worst(workspace: Path, scenario: str, model: str) -> tuple[float, str]:
    """The worst-group gap straight from the definition: max over groups of |TA − retrain TA|,
    with per-group test accuracies computed here from the models' predictions."""
    exp = analysis.load_experiment(workspace, scenario=scenario)
    groups = load_groups(exp).test
    y = exp.dataset("test").targets
    acc = {}
    for name in (model, exp.retrain_name):
        logits = predict_logits(exp.load_model(name, device="cpu"), exp.dataset("test"))
        ok = logits.numpy().argmax(1) == y
        acc[name] = {int(g): ok[groups == g].mean() for g in np.unique(groups)}
    gaps = {g: abs(acc[model][g] - acc[exp.retrain_name][g]) for g in acc[model]}
    worst = max(gaps, key=lambda g: gaps[g])
    return gaps[worst], load_groups(exp).names[worst]


def test_group_section_shows_per_class_metrics_and_the_worst_group_gap(
    app: AppTest, workspace: Path
) -> None:
    open_page(app, "classes")
    assert not app.exception
    spec = _chart(app, "cls_groups_fig")
    acc = {t["legendgroup"]: t for t in spec["data"] if t.get("yaxis", "y") == "y"}
    # the original ("before"), A (= the retrain model, the reference) and B
    assert set(acc) == {"original", A, B}
    assert [t["name"] for t in spec["data"] if t["legendgroup"] == A] == [f"A = retrain ({A})"]
    assert "(classes)" in spec["layout"]["title"]["text"]
    rows = _worst_rows(app)
    assert [r["role"] for r in rows.values()] == ["A", "before", "B"]
    gap, group = _hand_worst(workspace, "classwise", B)
    assert rows[B]["worst-group gap to retrain"] == f"{gap:.3f} ({group})"
    assert rows[A]["worst-group gap to retrain"] == f"{0:.3f} (class_0)"  # A is the retrain
    captions = " ".join(c.value for c in app.caption)
    assert "Groups: the classes" in captions and "without forget samples" in captions


def test_group_section_uses_the_datasets_group_column(tmp_path: Path, workspace: Path) -> None:
    ws = Path(shutil.copytree(workspace, tmp_path / "grouped"))
    names = np.array(["left", "middle", "right"])
    np.savez(
        ws / "g.npz",
        groups_train=np.arange(120) % 3,
        groups_test=np.arange(60) % 3,
        group_names=names,
    )
    toml = ws / "experiment.toml"
    toml.write_text(toml.read_text().replace("[dataset]\n", '[dataset]\ngroups = "g.npz"\n', 1))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"a": "finetune_classwise", "b": "gradascent_classwise"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ULENS_WORKSPACE", str(ws))
        open_page(at, "classes")
    assert not at.exception, at.exception
    spec = _chart(at, "cls_groups_fig")
    bars = [t for t in spec["data"] if t["legendgroup"] == "gradascent_classwise"]
    assert [list(t["x"]) for t in bars] == [list(names)] * 3  # accuracy, PS, gap
    assert "g.npz" in spec["layout"]["title"]["text"]
    rows = _worst_rows(at)
    ga = "gradascent_classwise"
    assert list(rows) == ["retrain_classwise", "original", "finetune_classwise", ga]
    assert rows["retrain_classwise"]["role"] == "retrain"
    gap, group = _hand_worst(ws, "classwise", ga)
    assert group in names and rows[ga]["worst-group gap to retrain"] == f"{gap:.3f} ({group})"
    assert any("g.npz" in c.value for c in at.caption)


def test_bad_groups_file_is_an_error_and_the_rest_of_the_page_stays(
    tmp_path: Path, workspace: Path
) -> None:
    ws = Path(shutil.copytree(workspace, tmp_path / "bad"))
    np.savez(ws / "g.npz", groups_train=np.zeros(5, dtype=np.int64), groups_test=np.zeros(60))
    toml = ws / "experiment.toml"
    toml.write_text(toml.read_text().replace("[dataset]\n", '[dataset]\ngroups = "g.npz"\n', 1))
    at = AppTest.from_file(APP, default_timeout=60)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ULENS_WORKSPACE", str(ws))
        open_page(at, "classes")
    assert not at.exception
    assert any("per-group metrics" in e.value and "groups" in e.value for e in at.error)
    _chart(at, "cls_diff")  # the page above the section is drawn
    assert not [e for e in at.get("plotly_chart") if e.proto.id.endswith("cls_groups_fig")]


def test_group_section_on_the_sample(tmp_path: Path) -> None:
    ws = copy_workspace(SAMPLE, tmp_path / "digits")
    at = AppTest.from_file(APP, default_timeout=300)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ULENS_WORKSPACE", str(ws))
        open_page(at, "classes")
    assert not at.exception, at.exception
    spec = _chart(at, "cls_groups_fig")
    acc = [t for t in spec["data"] if t.get("yaxis", "y") == "y"]
    assert all(len(t["x"]) == 10 for t in acc)  # one bar per digit
    exp = analysis.load_experiment(ws)
    a, b = at.sidebar.selectbox(key="a").value, at.sidebar.selectbox(key="b").value
    rows = _worst_rows(at)
    assert set(rows) == {a, b, exp.original_name, exp.retrain_name}
    unlearned = next(m for m in (a, b) if m != exp.retrain_name)
    gap, group = _hand_worst(ws, exp.scenario, unlearned)
    assert rows[unlearned]["worst-group gap to retrain"] == f"{gap:.3f} ({group})"
