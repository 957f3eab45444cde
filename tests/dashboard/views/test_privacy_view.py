"""AppTest of the Privacy page on the tiny workspace (the whole app: sidebar, navigation, page).

Pages are ``st.Page(callable)``: ``AppTest.switch_page`` only finds file pages, so
:func:`open_page` selects the registered page whose URL path matches (after a first run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import analysis
from analysis.mia import threshold_max_attack
from dashboard.figures import privacy as figs
from dashboard.theme import ROLE_COLORS
from dashboard.views.privacy import (
    EXPOSED_TABLE,
    clicked_sample,
    clicked_threshold,
    custom_after_click,
    summary_line,
)
from tests.dashboard.views.apptest_pages import APP, charts, decode, open_page

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _vline_x(chart: dict[str, Any]) -> float:
    return next(s["x0"] for s in chart["layout"]["shapes"] if s["x0"] == s["x1"])


@pytest.fixture
def app(tiny_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The default pair: A = fine-tuning, B = gradient ascent (two attackable models)."""
    monkeypatch.setenv("ULENS_WORKSPACE", str(tiny_workspace))
    return open_page(AppTest.from_file(APP, default_timeout=60), "privacy")


@pytest.fixture
def cmp(tiny_workspace: Path) -> analysis.Comparison:
    """The comparison behind the default pair (the page's, computed again)."""
    exp = analysis.load_experiment(tiny_workspace)
    return analysis.compare(exp, "finetune_classwise", "gradascent_classwise")


def test_default_pair_opens_two_attackable_models(app: AppTest) -> None:
    assert not app.exception and not app.error
    assert (app.selectbox(key="a").value, app.selectbox(key="b").value) == (
        "finetune_classwise",
        "gradascent_classwise",
    )
    assert not app.info  # no "is the retrain model" box: both halves attack a model
    assert [h.value for h in app.header] == ["Privacy"]
    assert [s.value for s in app.subheader] == [
        "Forget samples the attack gets right and wrong",
        "Audit: every membership-inference attack",
        "Most exposed forget samples",
    ]
    labels = ["PS at t", "PS", "Attack score"]
    labels += ["Success rate", "FPR", "FNR"]
    assert [m.label for m in app.metric] == labels * 2
    keys = set(charts(app))
    assert {"prv_dist_a", "prv_dist_b", "prv_curves_a", "prv_ps", "prv_grid_a_1"} <= keys
    roc = app.button_group(key="prv_roc_attack")
    offered = {label.removeprefix("ROC: ") for label in roc.options}
    assert {figs.ROC_ATTACKS[a] for a in ("lira", "rmia", "lira_online")} <= offered
    assert figs.ROC_ATTACKS["ulira"] not in offered  # no shadow models here
    drawn = {k for k in keys if k.startswith("prv_roc_")}
    assert drawn == {f"prv_roc_{roc.value}"}  # one curve drawn at a time, like a tab
    roc.set_value("rmia").run()
    assert {k for k in charts(app) if k.startswith("prv_roc_")} == {"prv_roc_rmia"}
    assert any("U-LiRA needs shadow models" in c.value for c in app.caption)


def test_the_retrain_model_as_a_gets_a_note(app: AppTest) -> None:
    app.selectbox(key="a").set_value("retrain_classwise").run()
    assert not app.exception
    assert any("is the retrain model" in i.value for i in app.info)
    keys = set(charts(app))
    assert "prv_dist_a" not in keys and "prv_dist_b" in keys


def test_a_and_b_share_their_axes(app: AppTest) -> None:
    for metric in ("entropy", "confidence"):
        app.radio(key="prv_metric").set_value(metric).run()
        for style in ("butterfly", "histogram"):
            app.radio(key="prv_style").set_value(style).run()
            a, b = (charts(app)[k]["layout"] for k in ("prv_dist_a", "prv_dist_b"))
            assert a["xaxis"]["range"] == b["xaxis"]["range"], (metric, style)
            assert a["yaxis"]["range"] == b["yaxis"]["range"], (metric, style)
        a, b = (charts(app)[k]["layout"] for k in ("prv_curves_a", "prv_curves_b"))
        assert a["xaxis"]["range"] == b["xaxis"]["range"]


def test_custom_strategy_slider_moves_the_threshold(app: AppTest) -> None:
    assert not app.slider  # sliders only for the custom strategy
    app.selectbox(key="prv_strategy").set_value("custom").run()
    slider = app.slider(key="prv_thr_b")
    target = slider.min + 0.25 * (slider.max - slider.min)
    slider.set_value(target).run()
    assert not app.exception
    assert _vline_x(charts(app)["prv_curves_b"]) == pytest.approx(target, rel=1e-6)
    assert app.query_params["prv_strategy"] in ("custom", ["custom"])  # mirrored into the URL


def test_worst_case_follows_the_metric_radio(app: AppTest, cmp: analysis.Comparison) -> None:
    worst = figs.worst_signal(figs.sides(cmp))
    other = next(s for s in figs.SIGNALS.values() if s != worst)
    metric = {v: k for k, v in figs.SIGNALS.items()}
    app.radio(key="prv_metric").set_value(metric[other]).run()
    app.button(key="prv_worst").click().run()
    # the button sets the Metric to the signal behind the lowest PS (the Comparator's way)
    assert app.selectbox(key="prv_strategy").value == "worst_case"
    assert app.radio(key="prv_metric").value == metric[worst]
    captions = [c.value for c in app.caption]
    assert any(c.startswith(f"worst_case · {metric[worst]} ({worst})") for c in captions)
    # the radio then drives the worst case: captions, threshold and numbers follow it
    app.radio(key="prv_metric").set_value(metric[other]).run()
    assert not app.exception
    captions = [c.value for c in app.caption]
    lines = [c for c in captions if c.startswith("worst_case · ")]
    assert len(lines) == 2 and all(f"{metric[other]} ({other})" in c for c in lines)
    assert not any(worst in c for c in lines)
    b = next(s for s in figs.sides(cmp) if s.role == "B")
    want = threshold_max_attack(b.ps, signal=other)
    assert f"t = {want.threshold:.4g}" in lines[1]
    assert _vline_x(charts(app)["prv_curves_b"]) == pytest.approx(want.threshold)
    title = charts(app)["prv_dist_b"]["layout"]["yaxis"]["title"]["text"]
    assert ("logit confidence" if other == "logit_conf" else "entropy") in title
    shown = [m.value for m in app.metric if m.label == "Attack score"]
    assert shown[1] == f"{want.attack_score:.3f}"
    if b.ps.worst_signal != other:
        assert any("PS's worst case is on" in c for c in captions)


def test_histogram_style(app: AppTest) -> None:
    app.radio(key="prv_style").set_value("histogram").run()
    bars = charts(app)["prv_dist_b"]["data"]
    assert bars and all(b["type"] == "bar" and b.get("orientation") != "h" for b in bars)
    assert not app.exception


def test_direction_choice_reaches_the_curves(app: AppTest) -> None:
    app.selectbox(key="prv_direction").set_value("model_positive").run()
    title = charts(app)["prv_curves_b"]["layout"]["title"]["text"]
    assert title.endswith("(≥ t → gradascent_classwise)")


def test_clicking_a_curve_point_sets_a_custom_threshold(app: AppTest) -> None:
    x = _vline_x(charts(app)["prv_curves_a"])
    clicked = _vline_x(charts(app)["prv_curves_b"]) + 1e-3
    app.session_state["prv_curves_b"] = {"selection": {"points": [{"x": clicked, "y": 0.1}]}}
    app.run()
    assert not app.exception
    assert app.selectbox(key="prv_strategy").value == "custom"
    assert app.slider(key="prv_thr_b").value == pytest.approx(clicked)
    assert app.slider(key="prv_thr_a").value == pytest.approx(x)  # A keeps its threshold
    assert _vline_x(charts(app)["prv_curves_b"]) == pytest.approx(clicked)


def test_selection_helpers() -> None:
    assert clicked_threshold({"selection": {"points": [{"y": 1}, {"x": 2, "y": 3}]}}) == 2.0
    assert clicked_threshold(None) is None
    assert clicked_threshold({"selection": {"points": [{"x": "a"}]}}) is None
    assert custom_after_click("A", 1.0, {"A": 0.0, "B": 2.0}) == {"A": 1.0, "B": 2.0}
    assert custom_after_click("B", 1.0, {}) == {"B": 1.0}
    assert callable(summary_line)


def test_shadow_models_bring_a_ulira_row_and_roc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.analysis.shadow_workspace import make_shadow_workspace

    monkeypatch.setenv("ULENS_WORKSPACE", str(make_shadow_workspace(tmp_path, n_shadows=3)))
    app = open_page(AppTest.from_file(APP, default_timeout=120), "privacy")
    assert not app.exception and not app.error
    assert (app.selectbox(key="a").value, app.selectbox(key="b").value) == ("ft", "noop_ft")
    assert f"ROC: {figs.ROC_ATTACKS['ulira']}" in app.button_group(key="prv_roc_attack").options
    app.button_group(key="prv_roc_attack").set_value("ulira").run()
    assert "prv_roc_ulira" in set(charts(app))
    audit = app.table[0].value.set_index("metric")
    cell = audit.loc["U-LiRA AUC (model vs retrain, ideal 0.5)", "ft (Model A)"]
    assert cell[0].isdigit() and "[" in cell  # a number with its interval, not N/A


# ------------------------------------------------------------------------- most exposed


def _exposed(app: AppTest) -> Any:
    return next(d.value for d in app.dataframe if "rank" in d.value.columns)


def test_most_exposed_list_ranks_the_chosen_models_forget_samples(
    app: AppTest, cmp: analysis.Comparison
) -> None:
    assert "Most exposed forget samples" in [s.value for s in app.subheader]
    assert app.selectbox(key="prv_exp_model").value == "gradascent_classwise"  # Model B
    assert app.selectbox(key="prv_exp_attack").value == "lira_offline"
    expected = analysis.most_exposed(
        cmp.instances, cmp.b, "lira_offline", retrain=cmp.retrain, k=20
    )
    shown = _exposed(app)
    assert shown["sample"].tolist() == expected["index"].tolist()
    np.testing.assert_allclose(shown["score"], expected["score"])
    np.testing.assert_allclose(shown["retrain (retrain_classwise)"], expected["retrain_score"])
    app.selectbox(key="prv_exp_attack").set_value("loss").run()
    by_loss = analysis.most_exposed(cmp.instances, cmp.b, "loss", retrain=cmp.retrain, k=20)
    assert _exposed(app)["sample"].tolist() == by_loss["index"].tolist()
    assert app.query_params["prv_exp_attack"] in ("loss", ["loss"])  # mirrored into the URL


def test_selecting_a_row_opens_the_instance_card_shared_with_the_instances_page(
    app: AppTest,
) -> None:
    first = int(_exposed(app)["sample"].iloc[2])
    app.session_state[EXPOSED_TABLE] = {"selection": {"rows": [2], "columns": []}}
    app.run()
    assert not app.exception
    assert app.session_state["inst_card"] == first  # the key the Instances page's card reads
    assert app.session_state["inst_sel"] == [first]  # and selected on its maps
    assert f"Sample #{first}" in [s.value for s in app.subheader]
    assert "prv_card_probs" in set(charts(app))
    assert any("member-like when" in d.value.columns for d in app.dataframe)
    app.button(key="prv_close").click().run()
    assert app.session_state["inst_card"] == -1
    assert f"Sample #{first}" not in [s.value for s in app.subheader]


def test_another_list_under_a_selected_row_opens_no_card(app: AppTest) -> None:
    app.session_state[EXPOSED_TABLE] = {"selection": {"rows": [1], "columns": []}}
    app.run()
    first = app.session_state["inst_card"]
    app.button(key="prv_close").click().run()
    # the table keeps its selected row (Streamlit keys a dataframe's selection by its key, not
    # its data): under another attack, row 1 is another sample
    app.session_state[EXPOSED_TABLE] = {"selection": {"rows": [1], "columns": []}}
    app.selectbox(key="prv_exp_attack").set_value("loss").run()
    app.session_state[EXPOSED_TABLE] = {"selection": {"rows": [1], "columns": []}}
    app.run()  # any later run (a slider moved elsewhere): still no new click
    assert not app.exception
    assert not [s.value for s in app.subheader if s.value.startswith("Sample #")]
    assert app.session_state["inst_card"] == -1 and int(_exposed(app)["sample"].iloc[1]) != first


def test_open_button_switches_to_the_instances_page_with_the_card(app: AppTest) -> None:
    app.session_state[EXPOSED_TABLE] = {"selection": {"rows": [0], "columns": []}}
    app.run()
    sample = app.session_state["inst_card"]
    app.button(key="prv_open_instances").click().run()
    assert not app.exception
    assert [h.value for h in app.header] == ["Instances"]
    assert f"Sample #{sample}" in [s.value for s in app.subheader]
    assert any("1 sample selected" in c.value for c in app.caption)  # ringed in both maps


# ------------------------------------------------------------------- clicks open the card


def _dot(chart: dict[str, Any], index: int) -> dict[str, Any]:
    """The point event of a click on the dot of training sample ``index`` (model side)."""
    for trace in chart["data"]:
        data = decode(trace.get("customdata", [])).reshape(-1, 2) if "customdata" in trace else []
        for row in data:
            if int(row[0]) == index and trace.get("marker", {}).get("symbol") != "circle-open":
                return {"customdata": [int(row[0]), float(row[1])]}
    raise AssertionError(f"no dot of sample {index}")


def test_clicking_a_dot_opens_the_card_next_to_the_plot(
    app: AppTest, cmp: analysis.Comparison
) -> None:
    sample = int(cmp.sets.forget[4])
    event = _dot(charts(app)["prv_dist_b"], sample)
    app.session_state["prv_dist_b"] = {"selection": {"points": [event]}}
    app.run()
    assert not app.exception
    assert app.session_state["inst_card"] == sample and app.session_state["inst_sel"] == [sample]
    assert f"Sample #{sample}" in [s.value for s in app.subheader]  # in the dialog
    assert "prv_card_probs" in set(charts(app))
    # both butterflies ring the sample whose card is open
    for key in ("prv_dist_a", "prv_dist_b"):
        rings = [t for t in charts(app)[key]["data"] if t["name"].startswith(f"train #{sample}")]
        assert len(rings) == 1
    app.run()  # the same selection again is not a new click
    assert f"Sample #{sample}" in [s.value for s in app.subheader]
    app.button(key="prv_close").click().run()
    assert app.session_state["inst_card"] == -1
    assert f"Sample #{sample}" not in [s.value for s in app.subheader]
    # the ring goes with the card (the figure changes, so the chart's selection resets)
    assert not [t for t in charts(app)["prv_dist_b"]["data"] if t["name"].startswith("train #")]


def test_clicking_a_thumbnail_opens_its_card(app: AppTest) -> None:
    grid = charts(app)["prv_grid_a_1"]
    targets = next(t for t in grid["data"] if t["type"] == "scatter")
    sample = int(decode(targets["customdata"]).ravel()[1])
    app.session_state["prv_grid_a_1"] = {"selection": {"points": [{"customdata": [sample]}]}}
    app.run()
    assert not app.exception
    assert app.session_state["inst_card"] == sample
    assert f"Sample #{sample}" in [s.value for s in app.subheader]
    frames = [s for s in charts(app)["prv_grid_a_1"]["layout"]["shapes"] if s["line"]["width"] > 3]
    assert frames  # the open sample is framed, so a second click on it is a new event
    app.button(key="prv_close").click().run()
    assert f"Sample #{sample}" not in [s.value for s in app.subheader]
    assert not [
        s for s in charts(app)["prv_grid_a_1"]["layout"]["shapes"] if s["line"]["width"] > 3
    ]


def test_clicked_sample_takes_the_first_new_source() -> None:
    assert clicked_sample({"prv_grid_a_0": [9], "prv_dist_b": [3]}) == 9
    assert clicked_sample({"prv_dist_b": []}) is None


# ----------------------------------------------------------------------------------- grids


def _hover(app: AppTest, key: str) -> list[str]:
    targets = [t for t in charts(app)[key]["data"] if t["type"] == "scatter"]
    return list(targets[0]["hovertext"]) if targets else []


def test_grid_origin_filter_and_thumbnail_size(app: AppTest) -> None:
    both = _hover(app, "prv_grid_b_1")
    assert any("retrain output" in h for h in both)
    assert any("gradascent_classwise output" in h for h in both)
    app.radio(key="prv_origin").set_value("retrain").run()
    assert not app.exception
    only = _hover(app, "prv_grid_b_1")
    assert only and all("retrain output" in h for h in only)
    tabs = [t.label for t in app.tabs]
    assert any(t.startswith("gradascent_classwise: succeeded (") for t in tabs)
    assert app.query_params["prv_origin"] in ("retrain", ["retrain"])
    width = {}
    for size in ("small", "large"):
        app.select_slider(key="prv_thumb").set_value(size).run()
        layout = charts(app)["prv_grid_b_1"]["layout"]
        width[size] = layout["xaxis"]["range"][1] - layout["xaxis"]["range"][0]
    assert width["small"] > width["large"]  # more per row = smaller thumbnails


def test_grid_borders_are_the_attackers_decision(app: AppTest) -> None:
    grid = charts(app)["prv_grid_a_1"]
    colors = {s["line"]["color"] for s in grid["layout"]["shapes"]}
    # succeeded, both origins: model outputs called the model, retrain outputs called retrain
    assert colors == {ROLE_COLORS["A"], ROLE_COLORS["retrain"]}


# ---------------------------------------------------------------------------------- tables


@pytest.mark.parametrize("present", [False, True])
def test_audit_and_tpr_tables_show_every_row_and_column(
    app: AppTest, cmp: analysis.Comparison, present: bool
) -> None:
    if present:
        app.toggle(key="present").set_value(True).run()
        assert not app.exception
    tables = [t.value for t in app.table]
    audit = next(t for t in tables if "metric" in t.columns)
    tpr = next(t for t in tables if "non-members n" in t.columns)
    # static tables: no fixed height, no scrolling; every cell of the frames is there
    assert audit.shape == figs.audit_frame(cmp).shape and len(audit) == len(figs.AUDIT_METRICS)
    assert tpr.shape == figs.tpr_frame(cmp).shape
    assert list(audit.columns)[-1] == "retrain target (retrain_classwise)"
    assert not any("metric" in d.value.columns for d in app.dataframe)


# ----------------------------------------------------------------- other models and inputs


@pytest.mark.parametrize(
    ("arch", "dataset", "scenario"),
    [("smallcnn", "npz", "classwise"), ("mlp", "npz_flat", "random")],
)
def test_page_works_on_other_architectures_and_inputs(
    tiny_workspace_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
    arch: str,
    dataset: str,
    scenario: str,
) -> None:
    ws = tiny_workspace_factory(arch=arch, dataset=dataset, scenario=scenario, n_reference=2)
    monkeypatch.setenv("ULENS_WORKSPACE", str(ws))
    app = open_page(AppTest.from_file(APP, default_timeout=120), "privacy")
    assert not app.exception and not app.error and not app.info
    assert app.selectbox(key="a").value == f"finetune_{scenario}"
    a, b = (charts(app)[k]["layout"] for k in ("prv_dist_a", "prv_dist_b"))
    assert a["yaxis"]["range"] == b["yaxis"]["range"]
    sample = int(analysis.load_experiment(ws).forget_indices[0])
    app.session_state["prv_dist_a"] = {
        "selection": {"points": [_dot(charts(app)["prv_dist_a"], sample)]}
    }
    app.run()
    assert not app.exception
    assert f"Sample #{sample}" in [s.value for s in app.subheader]
    app.radio(key="prv_origin").set_value("model").run()
    app.select_slider(key="prv_thumb").set_value("large").run()
    assert not app.exception and "prv_grid_b_1" in charts(app)
