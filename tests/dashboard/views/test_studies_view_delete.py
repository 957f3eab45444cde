"""AppTest of the Studies page's Delete control (dashboard/views/studies.py, ``_study_row``): a
finished study's row offers Delete behind a confirm popover; confirming removes the study, its
runs, weights and scenarios; a refused deletion is shown and the app keeps running. On the tiny
npz + mlp workspace and on a copy of the digits sample."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import analysis.runs as runs_api
from analysis.runs import UnlearnJob, submit
from analysis.runs.registry import REGISTRY_FILE, RunRegistry
from analysis.studies import (
    ScalabilityStudy,
    cancel_study,
    list_studies,
    study_runs,
    submit_study,
)
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


def _finish(ws: Path, name: str) -> Path:
    """Mark run ``name`` done with a weights file, as a worker would (no training)."""
    registry = RunRegistry(ws / REGISTRY_FILE)
    record = registry.get(name)
    assert record is not None
    claimed = registry.claim(ids=[record.id], pid=os.getpid())
    assert claimed is not None
    claimed.file.parent.mkdir(parents=True, exist_ok=True)
    claimed.file.write_bytes(b"weights")
    registry.finish(claimed.id, "done", files=[claimed.file])
    return claimed.file


def _page(ws: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("ULENS_WORKSPACE", str(ws))
    monkeypatch.setattr(runs_api, "ensure_workers", lambda *a, **k: True)
    at = open_page(AppTest.from_file(APP, default_timeout=240), "studies")
    assert not at.exception, at.exception
    return at


def _delete_buttons(at: AppTest) -> list[str]:
    return [b.key for b in at.button if b.key and b.key.startswith("stu_delete_ok_")]


def test_only_finished_studies_offer_delete_and_confirming_deletes(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit_study(ws, ScalabilityStudy(name="gone", methods=("ga",), sizes=(0.1,)))
    submit_study(ws, ScalabilityStudy(name="live", methods=("ga",), sizes=(0.2,)))
    cancel_study(ws, "gone")  # finished (cancelled); "live" is still queued
    at = _page(ws, monkeypatch)
    assert _delete_buttons(at) == ["stu_delete_ok_gone"]
    at.button(key="stu_delete_ok_gone").click().run()
    assert not at.exception and not at.error, at.error
    assert [s.name for s in list_studies(ws)] == ["live"]
    assert not (ws / "scenarios/gone_f0.1.npy").exists()
    assert {r.name for r in RunRegistry(ws / REGISTRY_FILE).list()} == {
        "live_f0.2_retrain",
        "live_f0.2_ga_s0",
    }
    assert any("Deleted study gone: 2 run(s), 1 scenario(s)" in t.value for t in at.toast)
    assert _delete_buttons(at) == []  # the row is gone


def test_a_refused_deletion_is_shown_and_nothing_goes(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit_study(ws, ScalabilityStudy(name="g", methods=("ga",), sizes=(0.1,)))
    weights = [_finish(ws, r.name) for r in study_runs(ws, "g")]
    submit(ws, [UnlearnJob("ga", base="g_f0.1_ga_s0", scenario="g_f0.1", name="built_on_it")])
    runs_api.cancel(ws)  # finished, but it still names a study run as its base
    at = _page(ws, monkeypatch)
    at.button(key="stu_delete_ok_g").click().run()
    assert not at.exception
    assert any("Could not delete study g" in e.value and "built_on_it" in e.value for e in at.error)
    assert [s.name for s in list_studies(ws)] == ["g"] and all(w.exists() for w in weights)
