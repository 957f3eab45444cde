"""AppTest of the Models page (the default page) on a tiny workspace, plus its pure logic.

Streamlit cannot set a plotly chart's selection in AppTest, so the scatter click is covered by
:func:`dashboard.figures.models.names_from_selection` and :func:`assign`; the table selection
is set through ``at.session_state`` (dataframe selections accept writes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis.errors import ValidationError
from dashboard import cached
from dashboard.views import models as view
from tests.dashboard.views.apptest_pages import APP
from tests.fixtures import make_tiny_workspace

A, B = "retrain_classwise", "finetune_classwise"  # pinned in the URL (app fixture)
GA = "gradascent_classwise"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_workspace(tmp_path_factory.mktemp("models_view"))


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


def _names(at: AppTest) -> list[str]:
    return at.dataframe[0].value["name"].tolist()


# --------------------------------------------------------------------------- pure logic


@pytest.mark.parametrize(
    ("role", "name", "expected"),
    [
        ("A", "x", ("x", "b")),
        ("B", "x", ("a", "x")),
        ("A", "b", ("b", "a")),  # the other one: swap, A and B stay distinct
        ("B", "a", ("b", "a")),
    ],
)
def test_assign(role: str, name: str, expected: tuple[str, str]) -> None:
    assert view.assign(role, name, a="a", b="b") == expected


def test_assign_rejects_unknown_role() -> None:
    with pytest.raises(ValueError, match="role"):
        view.assign("C", "x", a="a", b="b")


def test_selected_name_and_bound_options() -> None:
    shown = pd.DataFrame({"name": ["p", "q"]})
    assert view.selected_name(shown, []) is None
    assert view.selected_name(shown, [5]) is None
    assert view.selected_name(shown, [1, 0]) == "q"
    assert view.bound_options("", ["a"]) == []
    assert view.bound_options("b,zz,a", ["a", "b"]) == ["b", "a"]


# --------------------------------------------------------------------------- page


def test_page_renders_table_scatter_and_history_note(app: AppTest) -> None:
    app.run()
    assert not app.exception
    assert [h.value for h in app.header] == ["Models"]
    assert [s.value for s in app.subheader] == [
        "All models",
        "Runs",
        "Trade-off",
        "Per-epoch curves of A and B",
    ]
    assert sorted(_names(app)) == sorted(["original", A, B, GA])
    labels = [b.label for b in app.button]
    assert labels[:3] == ["Set as Model A", "Set as Model B", "Add model"]
    assert {"Start", "Cancel all", "Add scenario"} <= set(labels)
    assert all(b.disabled for b in app.button[:2])  # nothing selected yet
    assert any("same as retrain" in m.value for m in app.markdown)  # colour legend
    assert any("No per-epoch history" in i.value for i in app.info)
    scatter = _chart(app, "mdl_scatter")
    names = {t["name"] for t in scatter["data"]}
    assert {f"Model A: {A}", f"Model B: {B}", "Retrain (target)"} <= names


def test_filter_and_sort_change_the_table_and_the_url(app: AppTest) -> None:
    app.run()
    app.multiselect(key="mdl_methods_w").set_value(["gradient_ascent"]).run()
    assert _names(app) == [GA]
    assert app.query_params["mdl_methods"] == "gradient_ascent"
    app.multiselect(key="mdl_methods_w").set_value([]).run()
    app.multiselect(key="mdl_roles_w").set_value(["unlearned", "retrain"]).run()
    assert sorted(_names(app)) == sorted([A, B, GA])
    app.selectbox(key="mdl_sort").set_value("RT").run()
    app.toggle(key="mdl_desc").set_value(True).run()
    rt = app.dataframe[0].value["RT"].tolist()
    assert rt == sorted(rt, reverse=True)
    assert app.query_params["mdl_sort"] == "RT"


def test_filters_reopen_from_the_url(app: AppTest) -> None:
    app.query_params["mdl_roles"] = "retrain,bogus"
    app.run()
    assert not app.exception
    assert app.multiselect(key="mdl_roles_w").value == ["retrain"]
    assert _names(app) == [A]
    (toast,) = [t.value for t in app.toast]  # the dropped name is reported, once
    assert "`mdl_roles=retrain,bogus`" in toast and "'retrain'" in toast


def test_selecting_a_row_and_set_as_b_changes_the_pair(app: AppTest) -> None:
    app.run()
    row = _names(app).index(GA)
    app.session_state["mdl_table"] = {"selection": {"rows": [row], "columns": []}}
    app.run()
    assert not app.button(key="mdl_set_b").disabled
    app.button(key="mdl_set_b").click().run()
    assert not app.exception
    assert (app.session_state["a"], app.session_state["b"]) == (A, GA)
    assert app.sidebar.selectbox(key="b").value == GA
    # mirrored into the URL, where a default is left out (GA is the default Model B)
    assert app.query_params.get("b", GA) == GA and app.query_params["a"] == A
    names = {t["name"] for t in _chart(app, "mdl_scatter")["data"]}
    assert f"Model B: {GA}" in names  # the ring followed
    app.button(key="mdl_set_a").click().run()  # A := the selected GA, B := old A (swap)
    assert (app.session_state["a"], app.session_state["b"]) == (GA, A)


def test_history_curves_are_drawn_when_declared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = make_tiny_workspace(tmp_path / "ws")
    (ws / "models" / "r.json").write_text(
        json.dumps([{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.4}])
    )
    toml = (ws / "experiment.toml").read_text()
    toml = toml.replace(
        "[models.retrain_classwise]\n", '[models.retrain_classwise]\nhistory = "models/r.json"\n'
    )
    (ws / "experiment.toml").write_text(toml)
    monkeypatch.setenv("ULENS_WORKSPACE", str(ws))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"a": A, "b": B})  # the pair these tests use (not the default)
    at.run()
    assert not at.exception
    history = _chart(at, "mdl_history")
    assert [t["name"] for t in history["data"]] == [f"Objective (loss) · A: {A}"]
    assert "none recorded for finetune_classwise" in history["layout"]["title"]["text"]


def test_failing_table_shows_an_error_and_the_app_keeps_running(
    app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise ValidationError("weights: expected a model of this architecture, received junk")

    monkeypatch.setattr(cached, "table", broken)
    app.run()
    assert not app.exception
    assert "Could not evaluate the models" in app.error[0].value
    assert app.sidebar.selectbox(key="a").value == A


def test_scenario_switch_and_stale_filters(app: AppTest) -> None:
    app.run()
    app.session_state["mdl_methods_w"] = ["bogus"]  # e.g. left over from another workspace
    app.sidebar.selectbox(key="scenario").set_value("random").run()
    assert not app.exception
    assert app.multiselect(key="mdl_methods_w").value == []
    assert sorted(_names(app)) == sorted(
        ["original", "retrain_random", "finetune_random", "gradascent_random"]
    )


# --------------------------------------------------------------------------- issue 11: the table


def test_table_marks_a_and_b_pins_them_and_shows_na(app: AppTest) -> None:
    app.run()
    app.sidebar.selectbox(key="scenario").set_value("random").run()  # TUA is N/A here
    assert not app.exception
    a, b = app.session_state["a"], app.session_state["b"]
    frame = app.dataframe[0]
    marks = dict(zip(frame.value["name"], frame.value["pair"], strict=True))
    assert marks[a] == "A" and marks[b] == "B"
    assert {m for n, m in marks.items() if n not in (a, b)} == {""}
    assert frame.value["TUA"].isna().all()
    assert frame.proto.placeholder == "N/A"  # never "None"
    order = list(frame.proto.column_order)
    assert order[:8] == ["pair", "name", "UA", "RA", "TUA", "TRA", "PS", "mia_efficacy"]
    assert order.index("hyperparameters") == len(order) - 1  # long text last
    config = json.loads(frame.proto.columns)
    assert config["pair"]["pinned"] and config["name"]["pinned"]
    assert config["mia_efficacy"]["label"] == "MIA eff."  # compact header, meaning in help
    assert "population attack" in config["mia_efficacy"]["help"]
    other = next(n for n in app.sidebar.selectbox(key="b").options if n.split(" (")[0] != b)
    other = other.split(" (")[0]  # options read "name (role)"
    app.sidebar.selectbox(key="b").set_value(other).run()
    marks = dict(zip(app.dataframe[0].value["name"], app.dataframe[0].value["pair"], strict=True))
    assert marks[other] == "B" and marks[b] == ""  # follows the sidebar


def test_column_picker_keeps_the_marker_and_name(app: AppTest) -> None:
    app.run()
    app.multiselect(key="mdl_cols_w").set_value(["PS", "UA"]).run()
    assert list(app.dataframe[0].proto.column_order) == ["pair", "name", "UA", "PS"]
    assert app.query_params["mdl_cols"] == "PS,UA"


def test_selected_row_shows_its_full_hyperparameters(app: AppTest) -> None:
    app.run()
    row = _names(app).index(GA)
    app.session_state["mdl_table"] = {"selection": {"rows": [row], "columns": []}}
    app.run()
    assert any(c.value.startswith("Hyperparameters of") and "lr=" in c.value for c in app.caption)


def test_presentation_shows_a_static_table_with_the_same_marks(app: AppTest) -> None:
    app.query_params["present"] = "1"
    app.run()
    assert not app.exception
    assert not [d for d in app.dataframe if d.proto.id.endswith("mdl_table")]
    table = app.table[0].value
    assert "A/B" in table.columns and "MIA eff." in table.columns
    assert sorted(table["A/B"]) == ["", "", "A", "B"]


def test_presentation_table_leaves_out_the_hyperparameters_unless_chosen(app: AppTest) -> None:
    """At 1366 px the static table's hyperparameter text wrapped into rows ~150 px tall and
    pushed the table past the right edge; the projector table keeps the metrics."""
    app.query_params["present"] = "1"
    app.run()
    columns = list(app.table[0].value.columns)
    assert "Hyperparameters" not in columns
    assert {"A/B", "name", "UA", "PS", "MIA eff.", "role", "method"} <= set(columns)
    app.multiselect(key="mdl_cols_w").set_value(["UA", "hyperparameters"]).run()
    assert list(app.table[0].value.columns) == ["A/B", "name", "UA", "Hyperparameters"]


def test_metric_headers_fit_their_columns(app: AppTest) -> None:
    """ "Forget AUC" read "Forget AU" in a 64 px column: every fixed-width header fits
    (about 6.5 px per character at the table's 14 px plus the cell padding)."""
    app.run()
    config = json.loads(app.dataframe[0].proto.columns)
    fixed = {c: v for c, v in config.items() if isinstance(v.get("width"), int)}
    assert {"forget_auc", "rmia_offline_auc", "mia_efficacy"} <= set(fixed)
    for column, spec in fixed.items():
        assert spec["width"] >= 6.5 * len(spec["label"]) + 10, (column, spec)


def test_presentation_table_offers_no_row_selection_it_cannot_do(app: AppTest) -> None:
    """The static presentation table has no row checkboxes, yet the page said "Select a row
    (left edge)" above two disabled buttons."""
    app.query_params["present"] = "1"
    app.run()
    assert not [b for b in app.button if b.label.startswith("Set as Model")]
    text = " ".join(m.value for m in app.markdown)
    assert "Select a row" not in text
    assert "Model A = **retrain\\_classwise**" in text and "sidebar" in text
    # (normal mode keeps both buttons: test_selecting_a_row_and_set_as_b_changes_the_pair)
