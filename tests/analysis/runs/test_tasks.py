"""Tests of analysis/runs/tasks.py: the registry's task queue (dedupe, claim, progress, cancel,
reap) and that tasks never become models or runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import analysis
from analysis.errors import ValidationError
from analysis.runs import list_runs
from analysis.runs.registry import REGISTRY_FILE, RunRegistry
from analysis.runs.tasks import TaskQueue


def _queue(ws: Path) -> TaskQueue:
    return TaskQueue(RunRegistry(ws / REGISTRY_FILE))


def test_reading_creates_nothing_and_an_identical_active_task_is_shared(tmp_path: Path) -> None:
    queue = _queue(tmp_path)
    assert queue.list() == [] and queue.pending() == 0
    assert not (tmp_path / REGISTRY_FILE).exists()
    first = queue.add("precompute", {"scenario": "c", "a": "x", "b": "y"}, scenario="c")
    again = queue.add("precompute", {"b": "y", "a": "x", "scenario": "c"})
    other = queue.add("precompute", {"scenario": "c", "a": "x", "b": "z"})
    assert again.id == first.id and other.id != first.id
    assert [t.state for t in queue.list()] == ["queued", "queued"]
    with pytest.raises(ValidationError, match=r"^kind:"):
        queue.add("train", {})


def test_claim_report_finish_and_eta(tmp_path: Path) -> None:
    queue = _queue(tmp_path)
    task = queue.add("precompute", {"scenario": "c"})
    claimed = queue.claim(pid=12345)
    assert claimed is not None and claimed.id == task.id and claimed.state == "running"
    assert queue.claim(pid=12345) is None  # nothing else queued
    assert queue.report(task.id, stage="models table", fraction=0.25, parts=[]) is False
    running = queue.get(task.id)
    assert running is not None and (running.stage, running.fraction) == ("models table", 0.25)
    eta = running.eta(now=running.started_at + 10.0)  # type: ignore[operator]
    assert eta == pytest.approx(30.0)  # 10 s for 25 %: 30 s left
    # once done, an identical job is queued anew (the cache may have been cleared since)
    done = queue.finish(task.id, "done", warnings={"RuntimeWarning: w": 3})
    assert done is not None and done.fraction == 1.0 and done.warnings == {"RuntimeWarning: w": 3}
    assert queue.finish(task.id, "failed") is None  # ended already
    assert queue.add("precompute", {"scenario": "c"}).id != task.id


def test_cancel_reaches_a_running_task_through_its_next_report(tmp_path: Path) -> None:
    queue = _queue(tmp_path)
    task = queue.add("precompute", {"n": 1})
    queued = queue.add("precompute", {"n": 2})
    queue.claim(pid=1)
    assert sorted(queue.cancel()) == [task.id, queued.id]
    assert queue.get(queued.id).state == "cancelled"  # type: ignore[union-attr]
    assert queue.report(task.id, stage="x") is True  # the worker must stop


def test_a_task_whose_worker_died_is_interrupted(tmp_path: Path) -> None:
    queue = _queue(tmp_path)
    task = queue.add("precompute", {"n": 1})
    queue.claim(pid=2**22 + 7)  # no such process
    (reaped,) = queue.reap()
    assert reaped.id == task.id and reaped.state == "interrupted"
    stale = queue.add("precompute", {"n": 2})
    queue.claim(pid=1)  # alive (init), but silent for longer than stale_seconds
    time.sleep(0.05)
    assert [t.id for t in queue.reap(stale_seconds=0.01)] == [stale.id]


def test_tasks_are_not_models_or_runs(tiny_workspace_factory) -> None:  # type: ignore[no-untyped-def]
    ws = tiny_workspace_factory()
    before = set(analysis.load_experiment(ws).models)
    queue = _queue(ws)
    task = queue.add("precompute", {"scenario": "classwise"})
    queue.claim(pid=1)
    queue.finish(task.id, "done")
    assert set(analysis.load_experiment(ws).models) == before
    assert list_runs(ws) == []
