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
from dashboard.views.privacy import (
    EXPOSED_TABLE,
    clicked_threshold,
    custom_after_click,
    summary_line,
)
from tests.dashboard.views.apptest_pages import APP, charts, open_page

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _vline_x(chart: dict[str, Any]) -> float:
    return next(s["x0"] for s in chart["layout"]["shapes"] if s["x0"] == s["x1"])


@pytest.fixture
def app(tiny_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The default pair: A = the retrain model, B = fine-tuning."""
    monkeypatch.setenv("ULENS_WORKSPACE", str(tiny_workspace))
    return open_page(AppTest.from_file(APP, default_timeout=60), "privacy")


@pytest.fixture
def app2(app: AppTest) -> AppTest:
    """Two unlearned models: A = fine-tuning, B = gradient ascent."""
    app.selectbox(key="b").set_value("gradascent_classwise").run()
    app.selectbox(key="a").set_value("finetune_classwise").run()
    assert (app.selectbox(key="a").value, app.selectbox(key="b").value) == (
        "finetune_classwise",
        "gradascent_classwise",
    )
    return app


def test_page_renders_attack_and_audit(app: AppTest) -> None:
    assert not app.exception and not app.error
    assert [h.value for h in app.header] == ["Privacy"]
    assert [s.value for s in app.subheader] == [
        "Forget samples the attack gets right and wrong",
        "Audit: every membership-inference attack",
        "Most exposed forget samples",
    ]
    # A is the retrain model: a note instead of a trivial attack on itself
    assert [m.label for m in app.metric] == ["Attack score", "Success rate", "FPR", "FNR"]
    assert any("is the retrain model" in i.value for i in app.info)
    keys = set(charts(app))
    assert {"prv_dist_b", "prv_curves_b", "prv_ps", "prv_grid_b_1", "prv_roc_lira"} <= keys
    assert {"prv_roc_rmia", "prv_roc_lira_online"} <= keys
    assert "prv_dist_a" not in keys and "prv_roc_ulira" not in keys  # no shadow models here
    assert len(app.dataframe) == 4  # audit, reference-attack details, TPR at low FPR, exposed
    audit = app.dataframe[0].value
    assert "retrain target (retrain_classwise)" in audit.columns
    assert any("U-LiRA needs shadow models" in c.value for c in app.caption)


def test_custom_strategy_slider_moves_the_threshold(app: AppTest) -> None:
    assert not app.slider  # sliders only for the custom strategy
    app.selectbox(key="prv_strategy").set_value("custom").run()
    slider = app.slider(key="prv_thr_b")
    target = slider.min + 0.25 * (slider.max - slider.min)
    slider.set_value(target).run()
    assert not app.exception
    assert _vline_x(charts(app)["prv_curves_b"]) == pytest.approx(target, rel=1e-6)
    assert app.query_params["prv_strategy"] in ("custom", ["custom"])  # mirrored into the URL


def test_worst_case_button_and_metric_toggle(app: AppTest) -> None:
    app.button(key="prv_worst").click().run()
    assert app.selectbox(key="prv_strategy").value == "worst_case"
    app.selectbox(key="prv_strategy").set_value("max_attack").run()
    app.radio(key="prv_metric").set_value("confidence").run()
    title = charts(app)["prv_dist_b"]["layout"]["yaxis"]["title"]["text"]
    assert "logit confidence" in title
    app.radio(key="prv_style").set_value("histogram").run()
    bars = charts(app)["prv_dist_b"]["data"]
    assert all(b.get("orientation") != "h" for b in bars)
    assert not app.exception


def test_direction_choice_reaches_the_curves(app: AppTest) -> None:
    app.selectbox(key="prv_direction").set_value("model_positive").run()
    title = charts(app)["prv_curves_b"]["layout"]["title"]["text"]
    assert "value ≥ t → the model)" in title


def test_two_unlearned_models_get_a_panel_each(app2: AppTest) -> None:
    assert not app2.exception and not app2.info
    assert len(app2.metric) == 8
    assert {"prv_dist_a", "prv_dist_b", "prv_grid_a_0"} <= set(charts(app2))


def test_clicking_a_curve_point_sets_a_custom_threshold(app2: AppTest) -> None:
    x = _vline_x(charts(app2)["prv_curves_a"])
    clicked = _vline_x(charts(app2)["prv_curves_b"]) + 1e-3
    app2.session_state["prv_curves_b"] = {"selection": {"points": [{"x": clicked, "y": 0.1}]}}
    app2.run()
    assert not app2.exception
    assert app2.selectbox(key="prv_strategy").value == "custom"
    assert app2.slider(key="prv_thr_b").value == pytest.approx(clicked)
    assert app2.slider(key="prv_thr_a").value == pytest.approx(x)  # A keeps its threshold
    assert _vline_x(charts(app2)["prv_curves_b"]) == pytest.approx(clicked)


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
    assert (app.selectbox(key="a").value, app.selectbox(key="b").value) == ("retrain", "ft")
    assert "prv_roc_ulira" in set(charts(app))
    audit = app.dataframe[0].value.set_index("metric")
    cell = audit.loc["U-LiRA AUC (model vs retrain, ideal 0.5)", "ft (Model B)"]
    assert cell[0].isdigit() and "[" in cell  # a number with its interval, not N/A


# ------------------------------------------------------------------------- most exposed


def _exposed(app: AppTest) -> Any:
    return next(d.value for d in app.dataframe if "rank" in d.value.columns)


def test_most_exposed_list_ranks_the_chosen_models_forget_samples(
    app: AppTest, tiny_workspace: Path
) -> None:
    assert "Most exposed forget samples" in [s.value for s in app.subheader]
    assert app.selectbox(key="prv_exp_model").value == "finetune_classwise"  # Model B
    assert app.selectbox(key="prv_exp_attack").value == "lira_offline"
    cmp = analysis.compare(
        analysis.load_experiment(tiny_workspace), "retrain_classwise", "finetune_classwise"
    )
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
    assert f"Sample #{first}" in [s.value for s in app.subheader]
    assert "prv_card_probs" in set(charts(app))
    assert any("member-like when" in d.value.columns for d in app.dataframe)
    app.button(key="prv_close").click().run()
    assert app.session_state["inst_card"] == -1
    assert f"Sample #{first}" not in [s.value for s in app.subheader]


def test_open_button_switches_to_the_instances_page_with_the_card(app: AppTest) -> None:
    app.session_state[EXPOSED_TABLE] = {"selection": {"rows": [0], "columns": []}}
    app.run()
    sample = app.session_state["inst_card"]
    app.button(key="prv_open_instances").click().run()
    assert not app.exception
    assert [h.value for h in app.header] == ["Instances"]
    assert f"Sample #{sample}" in [s.value for s in app.subheader]
