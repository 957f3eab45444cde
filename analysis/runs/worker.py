"""Workers: processes that claim queued runs from the registry and execute them.

* :func:`execute_run` runs one claimed run: progress and heartbeat go to the registry (at most
  every :data:`REPORT_INTERVAL` seconds, plus every stage and evaluated epoch), the cancel flag
  is read with each of those writes (so a cancel takes effect within that interval, at the
  next optimiser step), and the outcome is recorded (``done`` with files and metrics,
  ``failed`` with the error text, ``cancelled`` with nothing left on disk).
* :func:`work` is a worker's loop: claim, execute, repeat until nothing is left. Queued tasks
  (:mod:`analysis.runs.tasks`, e.g. precomputing a scenario's results) go before runs.
* ``python -m analysis.runs.worker WORKSPACE --workers N`` is the detached background pool the
  app starts (:func:`analysis.runs.ensure_workers`): it holds a lock file in the workspace cache
  so one pool runs per workspace, and exits once the queue has been empty for ``--idle``
  seconds.

Every worker fixes ``torch.set_num_threads`` (default 1: on a 2-core machine shared by all
workers one thread each is fastest, see ``bench/runs.py``) so results do not depend on how
many workers run. Workers ignore SIGINT: the parent cancels through the registry.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from analysis.runs.execute import RunCancelled, output_paths, run_job
from analysis.runs.jobs import RunJob, TrainJob, UnlearnJob, job_from_dict
from analysis.runs.registry import REGISTRY_FILE, RunRecord, RunRegistry
from analysis.runs.tasks import TaskQueue
from analysis.training import ProgressEvent

__all__ = [
    "DEFAULT_THREADS",
    "POOL_LOCK",
    "REPORT_INTERVAL",
    "RegistrySink",
    "execute_run",
    "main",
    "pool_lock",
    "work",
]

REPORT_INTERVAL = 0.5
"""Seconds between a running run's progress writes (and cancel checks)."""
HEARTBEAT_INTERVAL = 5.0
"""Seconds between heartbeats while a run is between progress events."""
DEFAULT_THREADS = 1
POOL_LOCK = ".ulens_cache/runs/pool.lock"
"""The background pool's lock/pid file, relative to the workspace."""


class RegistrySink:
    """Progress sink writing a run's progress to the registry; raises RunCancelled on cancel.

    Attributes:
        registry_seconds: Time spent in registry calls (the bookkeeping overhead).
    """

    def __init__(self, registry: RunRegistry, record: RunRecord) -> None:
        self.registry = registry
        self.run_id = record.id
        self.registry_seconds = 0.0
        self.history: list[dict[str, Any]] = []
        self._last = 0.0
        self._cancel = False
        self._lock = threading.Lock()
        self._event: ProgressEvent | None = None
        self._values: dict[str, Any] = {}  # the last evaluated metrics (UA, RA...)

    def _report(self, **fields: Any) -> None:
        start = time.perf_counter()
        with self._lock:
            cancel = self.registry.report(self.run_id, **fields)
        self.registry_seconds += time.perf_counter() - start
        self._last = time.monotonic()
        self._cancel = self._cancel or cancel
        if self._cancel:
            raise RunCancelled(f"run {self.run_id} was cancelled")

    def stage(self, name: str) -> None:
        self._report(stage=name)

    def _position(self) -> dict[str, Any]:
        event = self._event
        if event is None:
            return {}
        return {
            "step": event.step,
            "steps": event.steps,
            "epoch": event.epoch,
            "epochs": event.epochs,
        }

    def step(self, event: ProgressEvent) -> None:
        if self._cancel:
            raise RunCancelled(f"run {self.run_id} was cancelled")
        self._event = event
        if time.monotonic() - self._last < REPORT_INTERVAL and event.step < event.steps:
            return
        self._report(**self._position(), current={**self._values, **event.metrics})

    def epoch(self, row: Mapping[str, Any]) -> None:
        self.history.append(dict(row))
        self._values = {k: v for k, v in row.items() if k != "epoch" and v is not None}
        self._report(**self._position(), current=self._values, history_data=self.history)

    def beat(self) -> None:
        """A heartbeat from the background thread (remembers a cancel for the next step)."""
        start = time.perf_counter()
        with self._lock:
            cancel = self.registry.report(self.run_id)
        self.registry_seconds += time.perf_counter() - start
        self._cancel = self._cancel or cancel


@contextlib.contextmanager
def heartbeat(beat: Callable[[], Any]) -> Iterator[None]:
    """Call ``beat()`` every :data:`HEARTBEAT_INTERVAL` seconds in a thread while inside."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(HEARTBEAT_INTERVAL):
            with contextlib.suppress(Exception):  # a locked registry: try again next beat
                beat()

    thread = threading.Thread(target=loop, name="ulens-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=HEARTBEAT_INTERVAL)


def remove_outputs(root: Path, job: RunJob) -> None:
    """Delete the files (and temporaries) a run of ``job`` would write."""
    for rel in output_paths(job).values():
        if rel is None:
            continue
        path = (root / rel).resolve()
        if not path.is_relative_to(root):
            continue
        with contextlib.suppress(OSError):
            path.unlink()
        for tmp in path.parent.glob(f".{path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()


def _job_of(record: RunRecord) -> RunJob:
    job = job_from_dict(record.job)
    if not isinstance(job, TrainJob | UnlearnJob):
        raise TypeError(f"run {record.name} holds a {type(job).__name__}, not a run job")
    return job


def execute_run(
    registry: RunRegistry, record: RunRecord, *, device: str = "auto", claim_seconds: float = 0.0
) -> RunRecord | None:
    """Execute a claimed (``running``) run and record its outcome; returns the final record.

    Never raises for a failing run: the error text goes to the registry (``failed``). A
    cancelled run leaves no files. A done run's ``current`` keeps its bookkeeping cost:
    ``registry_seconds`` (claim, progress, heartbeats, finish) and ``wall_seconds``.
    """
    sink = RegistrySink(registry, record)
    root = registry.root
    try:
        job = _job_of(record)
    except Exception as exc:  # a corrupt or foreign job: fail the run, keep the worker
        return registry.finish(record.id, "failed", error=f"{type(exc).__name__}: {exc}")
    start = time.perf_counter()
    try:
        with heartbeat(sink.beat):
            output = run_job(root, job, device=device, sink=sink)
    except RunCancelled:
        remove_outputs(root, job)
        return registry.finish(record.id, "cancelled", error="cancelled by the user")
    except BaseException as exc:
        remove_outputs(root, job)
        text = f"{type(exc).__name__}: {exc}".strip()
        if not isinstance(exc, ValueError):
            text += "\n" + "".join(traceback.format_exception(exc, limit=-3))
        registry.finish(record.id, "failed", error=text)
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return registry.get_id(record.id)
    metrics = {**dict(output.metrics), "stopped_early": output.stopped_early}
    finishing = time.perf_counter()
    finished = registry.finish(
        record.id,
        "done",
        metrics=metrics,
        rt=output.rt,
        files=list(output.files),
        history_data=list(output.history),
    )
    if finished is None:  # marked interrupted or deleted meanwhile: discard the outcome
        remove_outputs(root, job)
        return None
    end = time.perf_counter()
    with contextlib.suppress(Exception):
        spent = sink.registry_seconds + claim_seconds + (end - finishing)
        overhead = {"registry_seconds": spent, "wall_seconds": end - start + claim_seconds}
        registry._update("id = ?", (record.id,), {"current": _json(overhead)})
    return registry.get_id(record.id)


def _json(value: Mapping[str, Any]) -> str:
    import json

    return json.dumps(dict(value))


def _reap(registry: RunRegistry) -> None:
    from analysis.runs.api import reap

    reap(registry)


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(int(threads))


def work(
    workspace: str | Path,
    *,
    ids: Sequence[int] | None = None,
    device: str = "auto",
    threads: int | None = DEFAULT_THREADS,
    idle_exit: float = 0.0,
    tasks: bool = True,
) -> int:
    """Claim and execute queued tasks and runs until none is left; return how many ran.

    Tasks (:mod:`analysis.runs.tasks`: precomputing results someone is about to look at, short)
    are claimed before runs (training, unlearning: minutes).

    Args:
        workspace: The workspace folder.
        ids: Only these runs, and no task (None: any queued task or run of the workspace).
        device: Device of every run and task.
        threads: ``torch.set_num_threads`` of this process (None: leave it).
        idle_exit: Keep polling for new runs this many seconds before exiting (while runs the
            worker may claim later are still pending, e.g. waiting for their base, it waits).
        tasks: Also execute queued tasks (only when ``ids`` is None).
    """
    from analysis.runs.precompute import execute_task

    _set_threads(threads)
    registry = RunRegistry(Path(workspace) / REGISTRY_FILE)
    queue = TaskQueue(registry) if tasks and ids is None else None
    done = 0
    idle_since = time.monotonic()
    while True:
        _reap(registry)
        if queue is not None:
            queue.reap()
            task = queue.claim(pid=os.getpid())
            if task is not None:
                execute_task(queue, task, device=device)
                done += 1
                idle_since = time.monotonic()
                continue
        start = time.perf_counter()
        record = registry.claim(ids=ids, pid=os.getpid(), device=device)
        if record is not None:
            claim = time.perf_counter() - start
            execute_run(registry, record, device=device, claim_seconds=claim)
            done += 1
            idle_since = time.monotonic()
            continue
        waiting = registry.pending(ids) + (queue.pending() if queue is not None else 0)
        if waiting == 0 and time.monotonic() - idle_since >= idle_exit:
            return done
        time.sleep(0.2)


def _worker_entry(
    workspace: str, ids: list[int] | None, device: str, threads: int | None, idle: float
) -> None:
    """Target of a spawned worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    work(workspace, ids=ids, device=device, threads=threads, idle_exit=idle)


def spawn_workers(
    workspace: str | Path,
    count: int,
    *,
    ids: Sequence[int] | None = None,
    device: str = "auto",
    threads: int | None = DEFAULT_THREADS,
    idle_exit: float = 0.0,
) -> list[multiprocessing.process.BaseProcess]:
    """Start ``count`` worker processes (spawn start method) and return them."""
    context = multiprocessing.get_context("spawn")
    procs: list[multiprocessing.process.BaseProcess] = []
    for _ in range(count):
        proc = context.Process(
            target=_worker_entry,
            args=(str(workspace), None if ids is None else list(ids), device, threads, idle_exit),
            daemon=False,
        )
        proc.start()
        procs.append(proc)
    return procs


@contextlib.contextmanager
def pool_lock(workspace: str | Path) -> Iterator[bool]:
    """Hold the workspace's pool lock while inside; yields False when another pool has it."""
    path = Path(workspace) / POOL_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield True
        finally:
            with contextlib.suppress(OSError):
                handle.seek(0)
                handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


def pool_running(workspace: str | Path) -> bool:
    """Whether a background pool holds the workspace's lock."""
    path = Path(workspace) / POOL_LOCK
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False


def run_pool(
    workspace: str | Path,
    *,
    workers: int = 1,
    executor: str = "local",
    device: str = "auto",
    threads: int | None = DEFAULT_THREADS,
    idle: float = 30.0,
) -> int:
    """The background pool: run queued runs with ``workers`` processes until idle; returns
    0, or 3 when another pool already serves the workspace."""
    with pool_lock(workspace) as mine:
        if not mine:
            return 3
        if executor == "ray":
            from analysis.runs.executors import RayExecutor

            RayExecutor(workers=workers, device=device, threads=threads).serve(workspace, idle=idle)
            return 0
        procs = spawn_workers(workspace, workers, device=device, threads=threads, idle_exit=idle)
        try:
            for proc in procs:
                proc.join()
        finally:  # SIGTERM: stop the workers too (their runs become interrupted)
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
                    proc.join(timeout=10)
            _reap(RunRegistry(Path(workspace) / REGISTRY_FILE))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m analysis.runs.worker WORKSPACE [--workers N] [--executor local|ray]``."""
    parser = argparse.ArgumentParser(prog="python -m analysis.runs.worker")
    parser.add_argument("workspace")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--idle", type=float, default=30.0, help="exit after this many idle s")
    parser.add_argument("--nice", type=int, default=0, help="raise this pool's niceness by N")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.nice > 0 and hasattr(os, "nice"):  # inherited by the pool's worker processes
        os.nice(args.nice)
    return run_pool(
        args.workspace,
        workers=max(1, args.workers),
        executor=args.executor,
        device=args.device,
        threads=args.threads,
        idle=args.idle,
    )


if __name__ == "__main__":
    raise SystemExit(main())
