"""Tests of analysis/runs/worker.py with real worker processes: cancel, kill -9, failures,
the detached background pool."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from analysis.runs import api
from analysis.runs.jobs import UnlearnJob, grid_jobs
from analysis.runs.plan import submit
from analysis.runs.registry import REGISTRY_FILE, RunRecord, RunRegistry
from analysis.runs.worker import pool_running, spawn_workers, work

LONG = {"epochs": 400}  # ft on the sample's retain set: minutes, far longer than any test waits


def _wait(predicate: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def _record(ws: Path, run_id: int) -> RunRecord:
    record = RunRegistry(ws / REGISTRY_FILE).get_id(run_id)
    assert record is not None
    return record


def _leftovers(ws: Path, name: str) -> list[str]:
    return sorted(p.name for p in (ws / "models" / "runs").glob(f"*{name}*"))


def test_cancel_mid_run_leaves_no_weights(sample_ws: Path) -> None:
    (run_id,) = submit(sample_ws, [UnlearnJob("ft", params=LONG, name="long")])
    (proc,) = spawn_workers(sample_ws, 1, ids=[run_id], device="cpu")
    try:
        _wait(lambda: _record(sample_ws, run_id).step > 0)
        assert api.cancel(sample_ws, run_id) == [run_id]
        proc.join(timeout=60)
    finally:
        proc.kill()
    record = _record(sample_ws, run_id)
    assert record.state == "cancelled" and record.finished_at is not None
    assert _leftovers(sample_ws, "long") == []
    assert "long" not in __import__("analysis").load_experiment(sample_ws).models


def test_kill_9_marks_the_run_interrupted_and_leaves_nothing(sample_ws: Path) -> None:
    (run_id,) = submit(sample_ws, [UnlearnJob("ft", params=LONG, name="victim")])
    (proc,) = spawn_workers(sample_ws, 1, ids=[run_id], device="cpu")
    _wait(lambda: _record(sample_ws, run_id).step > 0)
    pid = _record(sample_ws, run_id).pid
    assert pid == proc.pid
    os.kill(pid, signal.SIGKILL)
    proc.join(timeout=30)
    assert _record(sample_ws, run_id).state == "running"  # nobody noticed yet
    (listed,) = api.list_runs(sample_ws, ids=[run_id])  # the next look reaps it
    assert listed.state == "interrupted" and "worker" in listed.error
    assert _leftovers(sample_ws, "victim") == []


def test_a_failing_run_does_not_stop_the_others(sample_ws: Path) -> None:
    jobs = grid_jobs("ga", params={"epochs": 1}, grid={"lr": [0.005, 1e30, 0.01]})
    ids = submit(sample_ws, jobs)
    assert work(sample_ws, ids=ids, device="cpu") == 3
    records = api.list_runs(sample_ws, ids=ids)
    assert [r.state for r in records] == ["done", "failed", "done"]
    assert "diverged" in records[1].error and records[1].metrics == {}
    assert _leftovers(sample_ws, records[1].name) == []
    assert all(Path(p).exists() for r in (records[0], records[2]) for p in r.files)


def test_background_pool_runs_the_queue_once_per_workspace_and_exits(sample_ws: Path) -> None:
    ids = submit(sample_ws, grid_jobs("ga", params={"epochs": 1}, seeds=[0, 1]))
    assert api.ensure_workers(sample_ws, workers=1, device="cpu", idle=1.0) is True
    _wait(lambda: pool_running(sample_ws), timeout=30)
    assert api.ensure_workers(sample_ws, workers=1, device="cpu", idle=1.0) is False
    _wait(lambda: all(r.finished for r in api.list_runs(sample_ws, ids=ids)))
    assert [r.state for r in api.list_runs(sample_ws, ids=ids)] == ["done", "done"]
    _wait(lambda: not pool_running(sample_ws), timeout=60)
    log = (sample_ws / ".ulens_cache" / "runs" / "pool.log").read_text()
    assert "Traceback" not in log


def test_delete_run_removes_its_files(sample_ws: Path) -> None:
    ids = submit(sample_ws, [UnlearnJob("ga", params={"epochs": 1}, name="gone")])
    work(sample_ws, ids=ids, device="cpu")
    record = _record(sample_ws, ids[0])
    assert record.files and all(Path(p).exists() for p in record.files)
    api.delete_run(sample_ws, ids[0])
    assert _leftovers(sample_ws, "gone") == [] and api.list_runs(sample_ws) == []
    with pytest.raises(ValueError, match=r"^run: expected the id of a run"):
        api.delete_run(sample_ws, ids[0])


def test_a_pool_started_for_background_work_runs_niced(
    sample_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    from analysis.runs import worker

    commands: list[list[str]] = []
    monkeypatch.setattr(subprocess, "Popen", lambda cmd, **kwargs: commands.append(cmd))
    assert api.ensure_workers(sample_ws, device="cpu", nice=10) is True
    assert commands[0][commands[0].index("--nice") + 1] == "10"
    niced: list[int] = []
    monkeypatch.setattr(os, "nice", niced.append)
    monkeypatch.setattr(signal, "signal", lambda *args: None)
    monkeypatch.setattr(worker, "run_pool", lambda *args, **kwargs: 0)
    assert worker.main([str(sample_ws), "--nice", "10"]) == 0
    assert niced == [10]
    assert worker.main([str(sample_ws)]) == 0 and niced == [10]  # by default: not niced
