"""AppTest of the sidebar's scenario selector (dashboard/app.py) with studies: the scenarios a
study created are hidden by default, a toggle shows them, and a link naming one still opens it;
on the tiny npz + mlp workspace and on a copy of the digits sample."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.studies import ScalabilityStudy, delete_study, submit_study
from tests.analysis.runs.workspaces import copy_sample
from tests.dashboard.views.apptest_pages import APP, open_page
from tests.dashboard.views.run_workspaces import copy_workspace, runnable_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return runnable_tiny(tmp_path_factory.mktemp("tiny") / "ws")


@pytest.fixture(params=["tiny", "digits"])
def ws(request: pytest.FixtureRequest, tiny: Path, tmp_path: Path) -> Path:
    if request.param == "digits":
        return copy_sample(tmp_path / "digits")
    return copy_workspace(tiny, tmp_path / "ws")


def _names(at: AppTest) -> list[str]:
    """The scenario selector's options by name (they show as ``name: what it forgets``)."""
    return [o.split(":")[0] for o in at.sidebar.selectbox(key="scenario").options]


def _app(ws: Path, monkeypatch: pytest.MonkeyPatch, **params: str) -> AppTest:
    monkeypatch.setenv("ULENS_WORKSPACE", str(ws))
    at = AppTest.from_file(APP, default_timeout=240)
    for key, value in params.items():
        at.query_params[key] = value
    at = open_page(at, "studies")  # a light page: the sidebar is the same on every page
    assert not at.exception, at.exception
    return at


def test_study_scenarios_are_hidden_until_asked_for(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(ws, monkeypatch)
    before = _names(at)
    assert not [t for t in at.sidebar.toggle if t.key == "study_scenarios"]  # no study: no toggle
    submit_study(ws, ScalabilityStudy(name="g", methods=("ga",), sizes=(0.1, 0.2)))
    at = _app(ws, monkeypatch)
    assert _names(at) == before
    toggle = at.sidebar.toggle(key="study_scenarios")
    assert toggle.label == "Show study scenarios (2)" and toggle.value is False
    toggle.set_value(True).run()
    assert _names(at) == [*before, "g_f0.1", "g_f0.2"]
    assert not at.exception


def test_a_link_to_a_study_scenario_still_opens_it(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit_study(ws, ScalabilityStudy(name="g", methods=("ga",), sizes=(0.1, 0.2)))
    at = _app(ws, monkeypatch, scenario="g_f0.2")
    selector = at.sidebar.selectbox(key="scenario")
    assert selector.value == "g_f0.2" and _names(at) == ["classwise", "random", "g_f0.2"]
    assert not at.toast  # the link was honoured, not "ignored"
    assert at.query_params.get("scenario") == "g_f0.2"
    delete_study(ws, "g")  # gone: the link falls back to a scenario of the workspace
    at = _app(ws, monkeypatch, scenario="g_f0.2")
    assert at.sidebar.selectbox(key="scenario").value != "g_f0.2"
    assert not at.exception
