"""The Instances page: its pure selection functions, and an AppTest of the whole app on it.

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
from dashboard.views import instances as view
from tests.dashboard.views.apptest_pages import APP, charts, decode, open_page


def ring(spec: dict[str, Any]) -> list[int]:
    """Sample indices drawn with the selection ring in a map."""
    for trace in spec["data"]:
        if str(trace.get("name", "")).startswith("selected"):
            return sorted(int(i) for i in decode(trace["customdata"]).ravel())
    return []


# --------------------------------------------------------------------------- pure functions


def test_selected_indices_reads_customdata() -> None:
    event = {
        "selection": {
            "points": [
                {"customdata": [9], "curve_number": 1},
                {"customdata": 2},
                {"customdata": [9]},
                {"customdata": {"0": 4}},  # what the browser sends for typed arrays
                {"x": 1.0},
            ]
        }
    }
    assert view.selected_indices(event) == [2, 4, 9]
    assert view.selected_indices(None) == []
    assert view.selected_indices({"selection": {"points": []}}) == []


def test_table_rows_maps_positions_to_indices() -> None:
    assert view.table_rows({"selection": {"rows": [0, 2]}}, [10, 11, 12]) == [10, 12]
    assert view.table_rows({"selection": {"rows": [5]}}, [10]) == []  # stale row: ignored
    assert view.table_rows(None, [1]) == []


def test_fresh_events_ignores_resets_and_repeats() -> None:
    seen = {"inst_map_a": [1, 2], "inst_map_b": [], "inst_top_table": [7]}
    now = {"inst_map_a": [], "inst_map_b": [3, 4], "inst_top_table": [7]}
    assert view.fresh_events(now, seen) == {"inst_map_b": [3, 4]}
    assert view.fresh_events(seen, seen) == {}


def test_apply_events_selects_in_both_maps_and_opens_cards() -> None:
    assert view.apply_events({"inst_map_a": [5, 3]}, [1], -1) == ([3, 5], -1)
    assert view.apply_events({"inst_map_b": [8]}, [1], 2) == ([8], 8)  # a click
    assert view.apply_events({"inst_sel_table": [3]}, [3, 5], -1) == ([3, 5], 3)
    assert view.apply_events({}, [4], 6) == ([4], 6)


# --------------------------------------------------------------------------- the page


@pytest.fixture
def app(tiny_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("ULENS_WORKSPACE", str(tiny_workspace))
    at = AppTest.from_file(APP, default_timeout=60)
    # the pair these tests were written for (the default pair is two unlearned models)
    at.query_params.update({"a": "retrain_classwise", "b": "finetune_classwise"})
    return open_page(at, "instances")


def test_page_renders_maps_and_lists(app: AppTest) -> None:
    assert not app.exception
    assert [h.value for h in app.header] == ["Instances"]
    found = charts(app)
    assert {"inst_map_a", "inst_map_b"} <= set(found)
    assert ring(found["inst_map_a"]) == ring(found["inst_map_b"]) == []
    assert any("Nothing selected" in i.value for i in app.info)
    assert "Most changed samples" in [s.value for s in app.subheader]
    top = app.dataframe[0].value
    assert len(top) == view.TOP_K and top["KL(A‖B)"].is_monotonic_decreasing


def test_maps_box_select_on_drag(app: AppTest) -> None:
    found = charts(app)
    for key in ("inst_map_a", "inst_map_b"):
        assert found[key]["layout"]["dragmode"] == "select"  # pan stays in the modebar
    maps = [e for e in app.get("plotly_chart") if e.proto.id.endswith(("inst_map_a", "map_b"))]
    assert all(set(e.proto.selection_mode) >= {0, 1} for e in maps)  # points and box


def test_a_click_in_select_mode_still_selects(app: AppTest) -> None:
    # Streamlit turns click-selection off while a chart box-selects; the page's watcher
    # re-emits a click on either map as a one-point selection (checked in a real browser by
    # tests/browser/test_dashboard_browser.py).
    scripts = [h.proto.body for h in app.get("html") if "plotly_click" in h.proto.body]
    assert len(scripts) == 1
    assert '["inst_map_a", "inst_map_b"]' in scripts[0] and "plotly_selected" in scripts[0]


def _dialogs(at: AppTest) -> list[Any]:
    found = []

    def walk(node: Any) -> None:
        if getattr(node, "type", None) == "dialog":
            found.append(node)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return found


def test_card_opens_in_a_drawer_beside_the_maps(app: AppTest) -> None:
    app.session_state["inst_card"] = 4
    app.run()
    (dialog,) = _dialogs(app)
    assert dialog.proto.dialog.title == "Instance card"
    assert "Sample #4" in [s.value for s in dialog.get("subheader")]
    assert {"inst_card_image", "inst_card_probs"} <= {
        e.proto.id.rsplit("-", 1)[-1] for e in dialog.get("plotly_chart")
    }
    app.button(key="inst_close").click().run()
    assert not _dialogs(app) and app.session_state["inst_card"] == -1


def test_selection_is_drawn_in_both_maps_with_breakdown_and_table(app: AppTest) -> None:
    app.session_state["inst_sel"] = [0, 3, 5]
    app.run()
    assert not app.exception
    found = charts(app)
    assert ring(found["inst_map_a"]) == ring(found["inst_map_b"]) == [0, 3, 5]
    assert "inst_breakdown_chart" in found
    assert "n = 3" in found["inst_breakdown_chart"]["layout"]["title"]["text"]
    table = app.dataframe[0].value
    assert sorted(table["index"]) == [0, 3, 5]
    app.button(key="inst_clear").click().run()
    assert app.session_state["inst_sel"] == []
    assert ring(charts(app)["inst_map_b"]) == []


def test_highlight_mode_dims_the_other_samples(app: AppTest) -> None:
    def opacities(at: AppTest) -> np.ndarray:
        traces = charts(at)["inst_map_b"]["data"]
        return np.concatenate(
            [
                decode(t["marker"]["opacity"]).ravel()
                for t in traces
                if isinstance(t.get("marker", {}).get("opacity"), (dict, list))
            ]
        )

    assert (opacities(app) > 0.5).all()
    app.radio(key="inst_mode").set_value("forget").run()
    assert not app.exception
    assert any("Every forget sample" in c.value for c in app.caption)
    dimmed = opacities(app)
    assert 0 < (dimmed > 0.5).sum() < len(dimmed)


def test_card_shows_image_predictions_and_probabilities(app: AppTest, tiny_workspace: Path) -> None:
    cmp = analysis.compare(
        analysis.load_experiment(tiny_workspace), "retrain_classwise", "gradascent_classwise"
    )
    row = cmp.instances[(cmp.instances["split"] == "train") & (cmp.instances["index"] == 4)]
    app.session_state["inst_card"] = 4
    app.run()
    assert not app.exception
    assert "Sample #4" in [s.value for s in app.subheader]
    found = charts(app)
    for key in ("inst_map_a", "inst_map_b"):  # the card's sample is framed in both maps
        assert any(t.get("name") == "card: sample #4" for t in found[key]["data"])
    assert "inst_card_image" in found
    probs = found["inst_card_probs"]
    # A is the retrain model, so two models: A and B, probabilities summing to 1.
    assert [t["name"].split(":")[0] for t in probs["data"]] == ["A", "B"]
    label = int(row["label"].iloc[0])
    for trace, name in zip(probs["data"], (cmp.a, cmp.b), strict=True):
        p = decode(trace["y"]).astype(float)
        assert p.sum() == pytest.approx(1.0, abs=1e-6)
        # The card's one-sample forward pass agrees with the engine's batched one.
        assert p[label] == pytest.approx(float(row[f"{name}__true_prob"].iloc[0]), abs=1e-5)
    assert any("True label" in m.value for m in app.markdown)
    app.button(key="inst_close").click().run()
    assert "Sample #4" not in [s.value for s in app.subheader]


def test_card_of_a_forget_sample_lists_every_attacks_score(
    app: AppTest, tiny_workspace: Path
) -> None:
    cmp = analysis.compare(
        analysis.load_experiment(tiny_workspace), app.session_state["a"], app.session_state["b"]
    )
    sample = int(cmp.sets.forget[0])
    app.session_state["inst_card"] = sample
    app.run()
    assert not app.exception
    tables = [d.value for d in app.dataframe if "member-like when" in d.value.columns]
    assert len(tables) == 1
    table = tables[0].set_index("attack")
    train = cmp.instances[cmp.instances["split"] == "train"].set_index("index")
    expected = train.loc[sample, f"{cmp.b}__mia_lira_offline"]
    assert table.loc["Offline LiRA (z)", f"B ({cmp.b})"] == pytest.approx(expected)
    assert table.loc["Loss (threshold attack; lower = exposed)", "member-like when"] == "lower"
