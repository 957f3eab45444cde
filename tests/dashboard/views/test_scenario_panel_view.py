"""AppTest of the "New forget scenario" panel, the retrain offer, and the notices every page
shows for a scenario without a retrain model (never an error)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import analysis
import analysis.runs as runs_api
from analysis.runs import RunRegistry, list_runs
from analysis.runs.worker import work
from dashboard.views import scenario_panel
from tests.dashboard.views.apptest_pages import APP, open_page
from tests.dashboard.views.run_workspaces import copy_workspace, runnable_tiny, warm_sample

PAGES = ("", "classes", "layers", "instances", "privacy", "export")


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return warm_sample(tmp_path_factory.mktemp("warm") / "digits")


@pytest.fixture
def launches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def record(workspace: str, **_: Any) -> bool:
        calls.append(str(workspace))
        return True

    monkeypatch.setattr(runs_api, "ensure_workers", record)
    return calls


def _app(ws: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("ULENS_WORKSPACE", str(ws))
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception, at.exception
    return at


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def _add(at: AppTest, name: str, kind: str, **inputs: Any) -> AppTest:
    at.text_input(key="scn_name").set_value(name)
    at.radio(key="scn_kind").set_value(kind).run()
    if kind == "classes":
        at.multiselect(key="scn_classes").set_value(inputs["classes"])
    elif kind == "random":
        at.number_input(key="scn_share").set_value(inputs["share"])
        at.number_input(key="scn_seed").set_value(inputs["seed"])
    else:
        at.file_uploader(key="scn_file").set_value(("idx.npy", inputs["data"], "application/npy"))
    at.run()
    if at.button(key="scn_add").disabled:  # incomplete or unreadable input: nothing to click
        return at
    return at.button(key="scn_add").click().run()


def test_read_indices_never_unpickles() -> None:
    assert scenario_panel.read_indices(_npy(np.array([1, 2]))).tolist() == [1, 2]
    with pytest.raises(analysis.ValidationError, match="integer"):
        scenario_panel.read_indices(_npy(np.array([0.5])))
    with pytest.raises(analysis.ValidationError, match="unreadable"):
        scenario_panel.read_indices(_npy(np.array([{"a": 1}], dtype=object)))
    with pytest.raises(analysis.ValidationError, match="unreadable"):
        scenario_panel.read_indices(b"junk")


def test_three_kinds_of_scenario_are_added(
    warm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = copy_workspace(warm, tmp_path / "digits")
    at = _app(ws, monkeypatch)
    _add(at, "forget_3_5", "classes", classes=[3, 5])
    added = [s.value for s in at.success if s.value.startswith("Added scenario")]
    assert not at.exception and added and "forget\\_3\\_5" in added[0], added
    assert at.button(key="scn_retrain").label == "Queue the retrain model for forget_3_5"
    _add(at, "rand20", "random", share=0.2, seed=3)
    _add(at, "listed", "indices", data=_npy(np.arange(0, 300, 3)))
    assert not at.error, [e.value for e in at.error]
    stored = RunRegistry(ws / "runs.sqlite").scenarios()
    assert stored["forget_3_5"] == {"classes": [3, 5]}
    assert stored["rand20"] == {"random": 0.2, "seed": 3}
    assert np.load(ws / stored["listed"]["indices"]).tolist() == list(range(0, 300, 3))
    exp = analysis.load_experiment(ws, scenario="listed")
    assert exp.forget_indices.tolist() == list(range(0, 300, 3))
    options = at.sidebar.selectbox(key="scenario").options
    assert {o.split(":")[0] for o in options} >= {"forget_3_5", "rand20", "listed"}


def test_bad_scenarios_show_errors_and_save_nothing(
    warm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = copy_workspace(warm, tmp_path / "digits")
    at = _app(ws, monkeypatch)
    _add(at, "classwise", "classes", classes=[1])  # the name is taken
    assert any("Scenario not added" in e.value for e in at.error)
    _add(at, "pickled", "indices", data=_npy(np.array([{"x": 1}], dtype=object)))
    assert any("unreadable" in e.value for e in at.error)
    assert at.button(key="scn_add").disabled
    _add(at, "too_big", "indices", data=_npy(np.array([10**7])))
    assert any("Scenario not added" in e.value for e in at.error)
    assert not at.exception
    assert set(RunRegistry(ws / "runs.sqlite").scenarios()) == set()
    assert not (ws / "scenarios" / "too_big.npy").exists()


def test_a_new_scenario_gets_a_notice_then_its_retrain_and_then_the_pages(
    warm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, launches: list[str]
) -> None:
    ws = copy_workspace(warm, tmp_path / "digits")
    at = _app(ws, monkeypatch)
    _add(at, "forget_3", "classes", classes=[3])
    at.button(key="scn_retrain").click().run()
    assert launches == [str(ws)]
    (run,) = list_runs(ws)
    assert (run.role, run.forget, run.state) == ("retrain", "forget_3", "queued")
    # the new scenario has one model (the original): a notice, the queue, no error
    at.sidebar.selectbox(key="scenario").set_value("forget_3").run()
    assert not at.exception and not at.error
    notes = " ".join(i.value for i in at.info)
    assert "has 1 model(s) to compare (original)" in notes
    assert f"run {run.name} is queued" in notes
    work(ws, device="cpu")  # the retrain trains (the real worker function)
    at.run()
    assert not at.exception and not at.error
    assert at.sidebar.selectbox(key="a").options == ["original (original)", f"{run.name} (retrain)"]
    assert [h.value for h in at.header] == ["Models"]
    assert not any("no retrain model" in i.value for i in at.info)


def test_every_page_shows_a_notice_without_a_retrain_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, launches: list[str]
) -> None:
    ws = runnable_tiny(tmp_path / "tiny")
    toml = ws / "experiment.toml"
    toml.write_text(re.sub(r"\[models\.retrain_classwise\]\n(.+\n)+?\n", "", toml.read_text()))
    monkeypatch.setenv("ULENS_WORKSPACE", str(ws))
    at = AppTest.from_file(APP, default_timeout=180)
    for page in PAGES:
        open_page(at, page)
        assert not at.exception, (page, at.exception)
        assert not at.error, (page, [e.value for e in at.error])
        assert any("has no retrain model" in i.value for i in at.info), page
    at.button(key="notice_retrain").click().run()
    (run,) = list_runs(ws)
    assert (run.role, run.forget) == ("retrain", "classwise")
    assert any(f"run {run.name} is queued" in i.value for i in at.info)
    work(ws, device="cpu")
    at.run()
    assert not at.exception
    assert not any("has no retrain model" in i.value for i in at.info)
