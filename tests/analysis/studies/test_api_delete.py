"""Tests of analysis/studies/api.py's housekeeping: deleting a study (its runs, weights and the
scenarios only it uses, nothing outside the workspace), the scenarios' recorded origin, and
run_study giving up on a base no worker executes instead of waiting forever."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import analysis
from analysis.errors import ValidationError
from analysis.runs import TrainJob, UnlearnJob, submit
from analysis.runs.registry import REGISTRY_FILE, RunRegistry
from analysis.studies import (
    ScalabilityStudy,
    delete_study,
    list_studies,
    run_study,
    study_runs,
    study_scenarios,
    study_status,
    submit_study,
)


def _registry(ws: Path) -> RunRegistry:
    return RunRegistry(ws / REGISTRY_FILE)


def _finish(ws: Path, name: str) -> Path:
    """Mark run ``name`` done with a weights file, as a worker would (no training)."""
    registry = _registry(ws)
    record = registry.get(name)
    assert record is not None
    claimed = registry.claim(ids=[record.id], pid=os.getpid())
    assert claimed is not None and claimed.name == name
    claimed.file.parent.mkdir(parents=True, exist_ok=True)
    claimed.file.write_bytes(b"weights of " + name.encode())
    registry.finish(claimed.id, "done", files=[claimed.file])
    return claimed.file


def _grow(ws: Path) -> list[Path]:
    submit_study(ws, ScalabilityStudy(name="g", methods=("ga",), sizes=(0.05, 0.1)))
    return [_finish(ws, r.name) for r in study_runs(ws, "g")]


def test_delete_removes_the_record_runs_weights_and_own_scenarios(sample_ws: Path) -> None:
    analysis.add_scenario(sample_ws, "mine", classes=[2])  # the user's: stays
    weights = _grow(sample_ws)
    other = ScalabilityStudy(name="h", methods=("ga",), sizes=(0.2,))
    submit_study(sample_ws, other)
    assert study_scenarios(sample_ws) == {"g_f0.05": "g", "g_f0.1": "g", "h_f0.2": "h"}
    plan = delete_study(sample_ws, "g", dry_run=True)
    assert all(w.exists() for w in weights) and len(list_studies(sample_ws)) == 2  # a dry run
    gone = delete_study(sample_ws, "g")
    assert gone == plan
    assert gone.runs == ("g_f0.05_retrain", "g_f0.05_ga_s0", "g_f0.1_retrain", "g_f0.1_ga_s0")
    assert gone.scenarios == ("g_f0.05", "g_f0.1") and gone.kept == ()
    assert set(gone.files) >= {"scenarios/g_f0.05.npy", "models/runs/g_f0.1_ga_s0.safetensors"}
    assert not any(w.exists() for w in weights)
    assert not (sample_ws / "scenarios/g_f0.1.npy").exists()
    assert [s.name for s in list_studies(sample_ws)] == ["h"]
    assert {r.name for r in _registry(sample_ws).list()} == {"h_f0.2_retrain", "h_f0.2_ga_s0"}
    exp = analysis.load_experiment(sample_ws)
    assert set(exp.scenarios) == {"classwise", "random", "mine", "h_f0.2"}
    assert (sample_ws / "scenarios/h_f0.2.npy").exists() and exp.models["original"].file.exists()


def test_a_scenario_used_outside_the_study_is_kept_and_files_outside_are_never_touched(
    sample_ws: Path, tmp_path: Path
) -> None:
    _grow(sample_ws)
    submit(sample_ws, [UnlearnJob("ft", scenario="g_f0.1", name="users_ft")])
    outside = tmp_path / "outside.npy"
    np.save(outside, np.arange(3))
    index = sample_ws / "scenarios/g_f0.05.npy"
    index.unlink()
    index.symlink_to(outside)  # an index file resolving outside the workspace
    gone = delete_study(sample_ws, "g")
    assert gone.scenarios == ("g_f0.05",) and gone.kept == ("g_f0.1",)
    assert outside.exists() and np.load(outside).tolist() == [0, 1, 2]
    assert "g_f0.1" in _registry(sample_ws).scenarios()
    assert (sample_ws / "scenarios/g_f0.1.npy").exists()
    assert [r.name for r in _registry(sample_ws).list()] == ["users_ft"]


def test_a_run_built_on_the_study_refuses_the_deletion(sample_ws: Path) -> None:
    _grow(sample_ws)
    submit(sample_ws, [UnlearnJob("ft", base="g_f0.1_ga_s0", scenario="g_f0.1", name="next")])
    with pytest.raises(ValidationError, match=r"^study: expected a study whose runs no other"):
        delete_study(sample_ws, "g")
    assert len(study_runs(sample_ws, "g")) == 4 and list_studies(sample_ws)  # nothing deleted
    kept = delete_study(sample_ws, "g", runs=False)  # the record only: its runs stay
    assert kept.runs == () and list_studies(sample_ws) == []
    assert len(_registry(sample_ws).list()) == 5
    assert study_scenarios(sample_ws) == {}  # no study: its scenarios are the user's now
    assert "g_f0.1" in analysis.load_experiment(sample_ws).scenarios


def test_a_running_study_is_refused_unless_forced(sample_ws: Path) -> None:
    submit_study(sample_ws, ScalabilityStudy(name="g", methods=("ga",), sizes=(0.1,)))
    registry = _registry(sample_ws)
    running = registry.claim(pid=os.getpid())  # a live worker (this process)
    assert running is not None
    with pytest.raises(ValidationError, match=r"^study: .*cancel it first.*g \(1 running\)"):
        delete_study(sample_ws, "g")
    with pytest.raises(ValidationError, match=r"^timeout: .*still running"):
        delete_study(sample_ws, "g", force=True, timeout=0.5)  # nobody stops it

    def worker() -> None:  # stops its run once the cancel flag is up
        while not registry.report(running.id):
            time.sleep(0.05)
        registry.finish(running.id, "cancelled")

    thread = threading.Thread(target=worker)
    thread.start()
    gone = delete_study(sample_ws, "g", force=True, timeout=30)
    thread.join()
    assert list_studies(sample_ws) == [] and registry.list() == []
    assert gone.scenarios == ("g_f0.1",)


def test_unknown_study(sample_ws: Path) -> None:
    with pytest.raises(ValidationError, match=r"^study: expected a study of the workspace"):
        delete_study(sample_ws, "nope")


def test_delete_on_an_mlp_workspace(mlp_ws: Path) -> None:
    submit(mlp_ws, [TrainJob(role="original")])
    _finish(mlp_ws, "original")
    study = ScalabilityStudy(name="m", methods=("ga",), sizes=(1,), forget="classes")
    submit_study(mlp_ws, study)
    weights = [_finish(mlp_ws, r.name) for r in study_runs(mlp_ws, "m")]
    gone = delete_study(mlp_ws, "m")
    assert gone.scenarios == ("m_c1",) and not any(w.exists() for w in weights)
    assert (mlp_ws / "models/original.safetensors").exists()
    assert [r.name for r in _registry(mlp_ws).list()] == ["original"]


def test_older_study_scenarios_without_an_origin_still_count(sample_ws: Path) -> None:
    submit_study(sample_ws, ScalabilityStudy(name="g", methods=("ga",), sizes=(0.1,)))
    with _registry(sample_ws)._write() as conn:  # as written before origins were recorded
        conn.execute("UPDATE scenarios SET origin = ''")
    assert study_scenarios(sample_ws) == {"g_f0.1": "g"}
    assert delete_study(sample_ws, "g").scenarios == ("g_f0.1",)


def test_run_study_stops_on_a_base_no_worker_executes(mlp_ws: Path) -> None:
    submit(mlp_ws, [TrainJob(role="original")], batch="elsewhere")  # queued, nobody runs it
    submit_study(mlp_ws, ScalabilityStudy(name="m", methods=("ga",), sizes=(1,), forget="classes"))
    started = time.monotonic()
    with pytest.raises(ValidationError, match=r"^study: .*\['original'\], queued outside"):
        run_study(mlp_ws, "m", device="cpu", stall_timeout=1.0)
    assert time.monotonic() - started < 120  # the retrain ran, then 1 s of waiting: no hang
    states = {r.name: r.state for r in _registry(mlp_ws).list()}
    assert states == {"original": "queued", "m_c1_retrain": "done", "m_c1_ga_s0": "queued"}
    assert study_status(mlp_ws, "m").counts["queued"] == 1  # run it again once served
    with pytest.raises(ValidationError, match=r"^stall_timeout: expected a positive number"):
        run_study(mlp_ws, "m", stall_timeout=0)
