"""dashboard/cached.py: the registry signature that tells the app's caches to refresh (finished
runs, scenarios), the background executor and its progress records, and the progress
placeholder a page shows while its results compute."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from analysis.errors import ValidationError
from analysis.runs import RunRegistry, add_scenario, grid_jobs, submit
from analysis.runs.worker import work
from dashboard import cached
from tests.dashboard.views.apptest_pages import APP, open_page
from tests.dashboard.views.run_workspaces import runnable_tiny
from tests.fixtures import make_tiny_workspace


def test_signature_changes_only_when_done_runs_or_scenarios_change(tmp_path: Path) -> None:
    ws = runnable_tiny(tmp_path / "ws")
    empty = cached.runs_signature(str(ws))
    RunRegistry(ws / "runs.sqlite").list()  # a read creates nothing
    (run_id,) = submit(ws, grid_jobs("ga", params={"epochs": 1, "batch_size": 8}))
    queued = cached.runs_signature(str(ws))
    assert queued == empty  # a queued run is not a model yet: no refresh
    work(ws, device="cpu")
    done = cached.runs_signature(str(ws))
    assert done != queued and done[0] == ((run_id, "ga_classwise_1"),)
    add_scenario(ws, "c2", classes=[2])
    assert cached.runs_signature(str(ws))[1] == ("c2",)


# --------------------------------------------------------------------------- background work


def _runner() -> cached.Background:
    return cached.Background({})


def test_two_requests_for_the_same_work_share_one_task() -> None:
    runner, calls, gate = _runner(), [], threading.Event()

    def work(report: cached.Report) -> str:
        calls.append(1)
        report("half way", 0.5)
        gate.wait(10)
        return "result"

    first = runner.submit(("k",), "Working", work)
    second = runner.submit(("k",), "Working", work)
    assert second is first
    _wait_for(lambda: first.fraction == 0.5)
    assert first.stage == "half way" and "50 %" in first.text()
    gate.set()
    assert first.done.wait(10) and runner.take(first) == "result"
    assert calls == [1] and runner.store[("k",)] == "result" and runner.get(("k",)) is None
    first.report("late", 0.1)
    assert first.fraction == 0.5  # the bar never goes back


def test_a_failed_task_raises_once_in_the_page_then_computes_again() -> None:
    runner, attempts = _runner(), []

    def work(report: cached.Report) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValidationError("weights: expected a readable file, received junk")
        return "fixed"

    task = runner.submit(("k",), "Working", work)
    assert task.done.wait(10)
    assert runner.get(("k",)) is task  # kept until a page takes the error
    with pytest.raises(ValidationError, match="weights"):
        runner.take(task)
    again = runner.submit(("k",), "Working", work)
    assert again is not task and again.done.wait(10) and runner.take(again) == "fixed"


def test_a_newer_guess_replaces_queued_speculative_work_and_clear_discards_results() -> None:
    runner, gate = _runner(), threading.Event()
    busy = runner.submit(("busy",), "Busy", lambda r: gate.wait(10), lane="slow")
    old = runner.submit(("old",), "Old", lambda r: "old", lane="slow", speculative=True)
    new = runner.submit(("new",), "New", lambda r: "new", lane="slow", speculative=True)
    assert runner.get(("old",)) is None and old.future is not None and old.future.cancelled()
    wanted = runner.submit(("new",), "New", lambda r: "new", lane="slow")  # now requested
    assert wanted is new and not new.speculative
    runner.clear()  # e.g. a run finished: every in-memory copy is stale
    gate.set()
    assert busy.done.wait(10)
    assert ("busy",) not in runner.store  # computed before the clear: discarded


def test_following_a_precompute_task_reports_its_progress_until_its_part_is_done(
    tmp_path: Path,
) -> None:
    from analysis.runs.precompute import PrecomputeJob, precompute_queue

    ws = runnable_tiny(tmp_path / "ws")
    queue = precompute_queue(ws)
    job = PrecomputeJob(scenario="classwise", a="x", b="y")
    task = queue.add("precompute", job.to_dict(), scenario="classwise")

    def follow(part: str, pair: tuple[str, str] | None) -> list[tuple[str, float]]:
        seen: list[tuple[str, float]] = []
        cached._follow_precompute(str(ws), "classwise", part, pair, lambda *r: seen.append(r))
        return seen

    assert follow("table", None) == []  # queued: its worker may take seconds to start
    queue.claim(pid=os.getpid())
    queue.report(task.id, stage="comparison: privacy audit", fraction=0.4, parts=["table"])

    def finish_comparison_later() -> None:
        time.sleep(0.6)
        queue.report(task.id, stage="embedding", fraction=0.5, parts=["table", "comparison"])

    threading.Thread(target=finish_comparison_later).start()
    start = time.monotonic()
    seen = follow("comparison", ("x", "y"))
    assert 0.5 <= time.monotonic() - start < 5
    # 0.4 of the task is 0.8 of the way to the comparison (which ends at 0.5)
    assert seen[0] == ("background precompute, comparison: privacy audit", 0.8)
    # another pair, a part done, a part not started yet: nothing to wait for
    assert follow("comparison", ("x", "z")) == follow("table", None) == []
    queue.report(task.id, parts=["table"])  # (pretend the comparison is running again)
    assert follow("embedding", ("x", "y")) == []


def test_the_app_precompute_starts_niced_once_the_first_page_is_drawn(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Started at once, the pool (torch import, model evaluation) took the cores from the first
    # page: the first chart came 2 s later than with the precompute turned off.
    calls: list[tuple[str, Any]] = []
    monkeypatch.setattr("analysis.runs.submit_precompute", lambda w, job: calls.append(("q", w)))
    monkeypatch.setattr("analysis.runs.ensure_workers", lambda w, **k: calls.append(("pool", k)))
    monkeypatch.setenv(cached.READY_ENV, str(tmp_path / "ready"))
    monkeypatch.setattr(cached, "_PAGE_DRAWN", threading.Event())
    monkeypatch.setattr(cached, "_RELEASE", [])
    monkeypatch.setattr(cached, "BROWSER_SECONDS", 0.5)  # the browser renders the page
    cached.start_precompute(str(tmp_path / "ws"), "drawn-first")
    time.sleep(0.5)
    assert calls == [] and not (tmp_path / "ready").exists()
    drawn = time.monotonic()
    cached.page_drawn()
    cached.page_drawn()  # another session's page: one release
    _wait_for(lambda: len(calls) == 2)
    assert time.monotonic() - drawn >= 0.5
    assert (tmp_path / "ready").exists()  # `ulens dashboard`'s watcher may start too
    assert calls[0] == ("q", str(tmp_path / "ws"))
    assert calls[1][1]["nice"] == cached.PRECOMPUTE_NICE > 0


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


# --------------------------------------------------------------------------- the placeholder


class _Slow:
    """A computation that reports progress, then waits for the test before doing the real work."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real, self.gate, self.started = real, threading.Event(), threading.Event()

    def __call__(self, *args: Any, progress: Any = None, **kwargs: Any) -> Any:
        self.started.set()
        progress("forward pass (train)", 0.4)
        assert self.gate.wait(60)
        return self.real(*args, progress=progress, **kwargs)


def _progress_texts(at: AppTest) -> list[str]:
    return [e.proto.text for e in at.get("progress")]


@pytest.fixture
def background_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The app on a tiny mlp workspace, with the real (non-blocking) placeholder."""
    monkeypatch.setattr(cached, "FOREGROUND", False)
    monkeypatch.setenv("ULENS_WORKSPACE", str(make_tiny_workspace(tmp_path / "ws")))
    cached.clear()
    return AppTest.from_file(APP, default_timeout=60)


def test_a_cold_pair_shows_determinate_progress_instead_of_the_old_pairs_charts(
    background_app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = background_app
    at.session_state["a"], at.session_state["b"] = "retrain_classwise", "finetune_classwise"
    open_page(at, "classes")
    for _ in range(100):  # the first pair: wait for its charts (placeholder polls meanwhile)
        if at.get("plotly_chart"):
            break
        time.sleep(0.1)
        at.run()
    assert at.get("plotly_chart") and not _progress_texts(at)
    slow = _Slow(cached.compare)
    monkeypatch.setattr(cached, "compare", slow)
    at.sidebar.selectbox(key="b").select("gradascent_classwise").run()
    assert slow.started.is_set()
    (text,) = _progress_texts(at)
    assert text.startswith("Comparing retrain_classwise and gradascent_classwise: ")
    assert "forward pass (train) · 40 % · " in text and ("ETA" in text or "estimating" in text)
    assert not at.get("plotly_chart")  # no chart of the old pair left on the page
    assert not at.exception and at.sidebar.selectbox(key="a").value == "retrain_classwise"
    slow.gate.set()
    _wait_for(lambda: not any(t.key[0] == "cmp" for t in cached.background().tasks.values()), 60)
    at.run()
    assert at.get("plotly_chart") and not _progress_texts(at)


def test_instances_waits_for_the_embedding_with_its_own_progress(
    background_app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = _Slow(cached.pair_embedding)
    monkeypatch.setattr(cached, "pair_embedding", slow)
    at = background_app
    open_page(at, "instances")
    for _ in range(100):  # the comparison first, then the (held) embedding
        texts = _progress_texts(at)
        if texts and texts[0].startswith("Embedding"):
            break
        time.sleep(0.1)
        at.run()
    (text,) = _progress_texts(at)
    assert "(UMAP): forward pass (train) · 40 %" in text and not at.get("plotly_chart")
    open_page(at, "classes")  # the pages that need no maps are ready meanwhile
    assert at.get("plotly_chart") and not _progress_texts(at)
    slow.gate.set()
    _wait_for(lambda: not any(t.key[0] == "emb" for t in cached.background().tasks.values()), 60)
    open_page(at, "instances")
    assert at.get("plotly_chart") and not _progress_texts(at)


def test_a_failure_in_background_work_is_shown_on_the_page_and_the_app_keeps_running(
    background_app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValidationError(f"weights: expected a readable file, received {Path.cwd()}/x.pt")

    monkeypatch.setattr(cached, "compare", broken)
    at = background_app
    open_page(at, "layers")
    for _ in range(50):
        if at.error:
            break
        time.sleep(0.1)
        at.run()
    (error,) = at.error
    assert "Could not compare" in error.value and str(Path.cwd()) not in error.value
    assert not at.exception and not _progress_texts(at)


def test_a_sessions_first_page_waits_a_little_longer_before_a_placeholder(
    background_app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A warm result slow to load the first time in a process (0.2-0.5 s) drew a placeholder,
    # then, after a poll, a second run: ~0.8 s later on the first page a user sees.
    def slowly(real: Callable[..., Any]) -> Callable[..., Any]:
        def work(*args: Any, **kwargs: Any) -> Any:
            time.sleep(0.4)
            return real(*args, **kwargs)

        return work

    from analysis.experiment import load_experiment

    exp = load_experiment(os.environ["ULENS_WORKSPACE"], scenario="classwise")
    cached.models_table(exp)  # warm on disk, not in the app's memory
    monkeypatch.setattr(cached, "models_table", slowly(cached.models_table))
    at = background_app
    at.run()
    assert not at.exception and not _progress_texts(at) and len(at.dataframe) == 1
    monkeypatch.setattr(cached, "compare", slowly(cached.compare))
    open_page(at, "classes")  # the session has a page: a placeholder after the usual grace
    assert _progress_texts(at) and not at.get("plotly_chart")


def test_export_figures_are_built_once_per_comparison_and_registry_state(
    tmp_path: Path,
) -> None:
    # The Export page built every page's figures again at each visit (~1 s of CPU).
    ws = runnable_tiny(tmp_path / "ws")
    cached.clear()
    builds: list[int] = []

    def build() -> list[int]:
        builds.append(1)
        return [len(builds)]

    cmp_a, cmp_b = object(), object()
    key = (str(ws), "classwise", "a", "b", False, ("models",))
    first = cached.export_figures(key, cmp_a, build)  # type: ignore[arg-type]
    assert cached.export_figures(key, cmp_a, build) is first and len(builds) == 1  # type: ignore[arg-type]
    cached.export_figures(key, cmp_b, build)  # type: ignore[arg-type]  # another comparison
    cached.export_figures((*key[:4], True, key[5]), cmp_b, build)  # type: ignore[arg-type]
    assert len(builds) == 3
    submit(ws, grid_jobs("ga", params={"epochs": 1, "batch_size": 8}))
    work(ws, device="cpu")  # a finished run: the studies and histories may have changed
    cached.export_figures(key, cmp_b, build)  # type: ignore[arg-type]
    assert len(builds) == 4
    cached.clear()
    cached.export_figures(key, cmp_b, build)  # type: ignore[arg-type]
    assert len(builds) == 5
