"""AppTest of the Layers page on the tiny workspace (the whole app: sidebar, navigation, page).

Pages are ``st.Page(callable)``: ``AppTest.switch_page`` only finds file pages, so
:func:`open_page` selects the registered page whose URL path matches (after a first run).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.views.apptest_pages import APP, charts, decode, open_page


@pytest.fixture
def app(tiny_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("ULENS_WORKSPACE", str(tiny_workspace))
    at = AppTest.from_file(APP, default_timeout=60)
    # the pair these tests were written for (the default pair is two unlearned models)
    at.query_params.update({"a": "retrain_classwise", "b": "finetune_classwise"})
    return open_page(at, "layers")


def test_page_renders_all_sections(app: AppTest) -> None:
    assert not app.exception
    assert [h.value for h in app.header] == ["Layers"]
    assert [s.value for s in app.subheader] == [
        "CKA per layer",
        "Layer × layer CKA of A vs B",
        "Weight change per layer",
    ]
    assert {"lay_lines_chart", "lay_heatmap_chart", "lay_weights_chart"} <= set(charts(app))
    # A is the retrain model, so the lines start against the original model: A and B,
    # forget and retain.
    assert app.radio(key="lay_against").value == "original"
    assert len(charts(app)["lay_lines_chart"]["data"]) == 4


def test_against_toggle_changes_the_lines(app: AppTest) -> None:
    app.radio(key="lay_against").set_value("retrain").run()
    assert not app.exception
    lines = charts(app)["lay_lines_chart"]
    assert len(lines["data"]) == 2  # only B: A is the retrain model itself
    assert all(t["name"].startswith("B:") for t in lines["data"])
    assert "retrain" in lines["layout"]["title"]["text"]
    assert any("is the retrain_classwise model itself" in i.value for i in app.info)


def test_split_and_group_toggles_change_the_heatmap(app: AppTest) -> None:
    before = charts(app)["lay_heatmap_chart"]
    app.radio(key="lay_split").set_value("test").run()
    app.radio(key="lay_group").set_value("retain").run()
    assert not app.exception
    after = charts(app)["lay_heatmap_chart"]
    assert "retain samples, test split" in after["layout"]["title"]["text"]
    assert not np.allclose(
        decode(before["data"][0]["z"]).astype(float), decode(after["data"][0]["z"]).astype(float)
    )


def test_random_scenario_says_there_are_no_test_forget_samples(app: AppTest) -> None:
    app.selectbox(key="scenario").set_value("random").run()
    app.radio(key="lay_split").set_value("test").run()
    assert not app.exception
    messages = " ".join(i.value for i in app.info)
    assert "No test forget samples" in messages
    assert "No forget samples on the test split" in messages
