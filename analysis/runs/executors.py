"""Executors: run queued runs in the foreground with progress, locally or on Ray.

Both executors run the same runs with the same code (:func:`analysis.runs.worker.work` /
:func:`~analysis.runs.worker.execute_run`) against the same registry, so their runs, registry
entries and metrics are equal for equal seeds.

* :class:`LocalExecutor` — ``workers`` spawned processes claim the given runs from the
  registry. A worker that dies (kill -9, out of memory) leaves its run ``interrupted`` (no
  weights) and is replaced while runs remain.
* :class:`RayExecutor` — one Ray task per run, at most ``workers`` at a time, on a local Ray
  instance (``ray.init(num_cpus=2, include_dashboard=False)``) or on the cluster named by
  ``RAY_ADDRESS``. Cluster workers must see the workspace at the same path (a shared file
  system). The trust policy (``ULENS_ALLOW_CODE``, ``ULENS_ALLOW_OUTSIDE``) and ``PYTHONPATH``
  reach the tasks through ``runtime_env``. ``ray.shutdown()`` is always called.

:meth:`run` polls the registry every ``poll`` seconds and passes the runs' records to
``on_update`` (the CLI's progress bars). Ctrl-C (KeyboardInterrupt) cancels the runs through the
registry and waits for the workers to stop (a second Ctrl-C stops them at once: their runs
become ``interrupted``).

Example:
    >>> import shutil, tempfile
    >>> from analysis.runs import UnlearnJob, submit
    >>> ws = shutil.copytree("sample_data/digits", tempfile.mkdtemp() + "/ws")
    >>> ids = submit(ws, [UnlearnJob("ga", params={"epochs": 1})])
    >>> [r.state for r in LocalExecutor(workers=1).run(ws, ids)]  # doctest: +SKIP
    ['done']
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from analysis.errors import ValidationError, describe
from analysis.runs.registry import REGISTRY_FILE, RunRecord, RunRegistry
from analysis.runs.worker import DEFAULT_THREADS, spawn_workers, work
from analysis.trust import ALLOW_CODE_ENV, ALLOW_OUTSIDE_ENV

__all__ = ["EXECUTORS", "LocalExecutor", "RayExecutor", "make_executor", "ray_available"]

EXECUTORS = ("local", "ray")
Update = Callable[[list[RunRecord]], None]
_PROJECT_ROOT = str(Path(__file__).resolve().parents[2])
_MAX_RESPAWNS = 8


def _validate_workers(workers: Any) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValidationError(describe("workers", "a positive integer", workers))
    return workers


def _reap(registry: RunRegistry, stale: float | None) -> None:
    from analysis.runs.api import reap

    reap(registry, stale_seconds=stale)


class _Supervisor:
    """Shared foreground loop: poll, report, cancel on Ctrl-C."""

    def __init__(self, workspace: str | Path, ids: Sequence[int], poll: float) -> None:
        self.registry = RunRegistry(Path(workspace) / REGISTRY_FILE)
        self.ids = [int(i) for i in ids]
        self.poll = poll
        self.cancelled = False

    def records(self) -> list[RunRecord]:
        return self.registry.list(ids=self.ids)

    def loop(
        self, tick: Callable[[], None], update: Update | None, stop_now: Callable[[], None]
    ) -> list[RunRecord]:
        interrupts = 0
        while True:
            try:
                tick()
                records = self.records()
                if update is not None:
                    update(records)
                if all(r.finished for r in records):
                    return records
                time.sleep(self.poll)
            except KeyboardInterrupt:
                interrupts += 1
                self.cancelled = True
                if interrupts == 1:
                    self.registry.request_cancel(self.ids)
                else:
                    stop_now()
                    _reap(self.registry, float("inf"))


class LocalExecutor:
    """A pool of spawned worker processes for the given runs.

    Args:
        workers: Number of processes (at most one per run is started).
        device: Device of every run (``auto``, ``cpu``, ``cuda[:N]``).
        threads: ``torch.set_num_threads`` of each worker.
        poll: Seconds between registry polls of :meth:`run`.

    Example:
        >>> LocalExecutor(workers=2).workers
        2
    """

    name = "local"

    def __init__(
        self,
        workers: int = 1,
        *,
        device: str = "auto",
        threads: int | None = DEFAULT_THREADS,
        poll: float = 0.25,
    ) -> None:
        self.workers = _validate_workers(workers)
        self.device = device
        self.threads = threads
        self.poll = poll

    def run(
        self, workspace: str | Path, ids: Sequence[int], *, on_update: Update | None = None
    ) -> list[RunRecord]:
        """Execute the runs ``ids`` (queued by :func:`analysis.runs.submit`) and return their
        final records."""
        sup = _Supervisor(workspace, ids, self.poll)
        if not ids:
            return []
        count = min(self.workers, len(ids))
        procs = spawn_workers(workspace, count, ids=ids, device=self.device, threads=self.threads)
        respawns = [0]

        def tick() -> None:
            alive = [p for p in procs if p.is_alive()]
            dead = [p for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
            if not dead:
                return
            _reap(sup.registry, float("inf"))
            procs[:] = alive
            pending = sup.registry.pending(ids)
            while (
                pending and len(procs) < count and respawns[0] < _MAX_RESPAWNS and not sup.cancelled
            ):
                respawns[0] += 1
                procs.extend(
                    spawn_workers(workspace, 1, ids=ids, device=self.device, threads=self.threads)
                )

        def stop_now() -> None:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.join(timeout=10)

        try:
            records = sup.loop(tick, on_update, stop_now)
        except Exception:  # the caller's update gave up (e.g. a stalled study): stop at once
            stop_now()
            raise
        finally:
            for proc in procs:
                proc.join(timeout=30)
                if proc.is_alive():
                    proc.terminate()
                    proc.join(timeout=5)
            _reap(sup.registry, float("inf"))
        return sup.records() if sup.cancelled else records


def ray_available() -> bool:
    """Whether the optional ``ray`` extra imports."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ValidationError(
            describe(
                "--executor ray",
                "the optional Ray extra (install it with pip install -e '.[ray]' or "
                "pip install 'ray>=2.9')",
                "ray is not installed",
                raw=True,
            )
        ) from exc
    return ray


def _runtime_env() -> dict[str, Any]:
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [_PROJECT_ROOT, os.environ.get("PYTHONPATH")]))
    }
    for key in (ALLOW_CODE_ENV, ALLOW_OUTSIDE_ENV, "ULENS_CONFIG"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    return {"env_vars": env}


def _ray_task(workspace: str, run_id: int, device: str, threads: int | None) -> int:
    """One run inside a Ray worker (waits for its base run, claims, executes)."""
    return work(workspace, ids=[run_id], device=device, threads=threads)


class RayExecutor:
    """Run each run as a Ray task (a local instance, or ``RAY_ADDRESS``'s cluster).

    Args:
        workers: Tasks in flight at most.
        device: Device of every run.
        threads: ``torch.set_num_threads`` inside each task.
        address: Cluster address (default: ``RAY_ADDRESS``, else a local instance with
            ``num_cpus=2``).
        poll: Seconds between registry polls.

    Raises:
        ValidationError: Ray is not installed (the message says how to install it).
    """

    name = "ray"

    def __init__(
        self,
        workers: int = 2,
        *,
        device: str = "auto",
        threads: int | None = DEFAULT_THREADS,
        address: str | None = None,
        poll: float = 0.25,
    ) -> None:
        self.ray = _import_ray()
        self.workers = _validate_workers(workers)
        self.device = device
        self.threads = threads
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.poll = poll

    @contextlib.contextmanager
    def _session(self) -> Any:
        ray = self.ray
        options: dict[str, Any] = {
            "runtime_env": _runtime_env(),
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
            "ignore_reinit_error": True,
        }
        if self.address:
            options["address"] = self.address
        else:
            options["num_cpus"] = 2
        ray.init(**options)
        try:
            yield ray.remote(num_cpus=1, max_retries=0)(_ray_task)
        finally:
            ray.shutdown()

    def run(
        self, workspace: str | Path, ids: Sequence[int], *, on_update: Update | None = None
    ) -> list[RunRecord]:
        """Execute the runs ``ids`` as Ray tasks and return their final records."""
        sup = _Supervisor(workspace, ids, self.poll)
        if not ids:
            return []
        root = str(Path(workspace).resolve())
        with self._session() as task:
            waiting = sorted(int(i) for i in ids)
            flight: list[Any] = []

            def tick() -> None:
                if flight:
                    done, rest = self.ray.wait(flight, num_returns=len(flight), timeout=0)
                    for ref in done:
                        with contextlib.suppress(Exception):  # a crashed task: reaped below
                            self.ray.get(ref)
                    flight[:] = rest
                    if done:
                        _reap(sup.registry, None)
                while waiting and len(flight) < self.workers and not sup.cancelled:
                    flight.append(task.remote(root, waiting.pop(0), self.device, self.threads))

            def stop_now() -> None:
                for ref in flight:
                    with contextlib.suppress(Exception):
                        self.ray.cancel(ref, force=True)

            records = sup.loop(tick, on_update, stop_now)
            with contextlib.suppress(Exception):
                self.ray.wait(flight, num_returns=len(flight), timeout=30)
        return sup.records() if sup.cancelled else records

    def serve(self, workspace: str | Path, *, idle: float = 30.0) -> None:
        """Background pool on Ray: run every queued run of the workspace until idle."""
        registry = RunRegistry(Path(workspace) / REGISTRY_FILE)
        root = str(Path(workspace).resolve())
        with self._session() as task:
            flight: dict[Any, int] = {}
            launched: set[int] = set()
            idle_since = time.monotonic()
            while True:
                if flight:
                    done, _ = self.ray.wait(list(flight), num_returns=len(flight), timeout=0)
                    for ref in done:
                        flight.pop(ref)
                queued = [r.id for r in registry.list(states=("queued",)) if r.id not in launched]
                for run_id in queued[: max(0, self.workers - len(flight))]:
                    launched.add(run_id)
                    flight[task.remote(root, run_id, self.device, self.threads)] = run_id
                if flight or queued:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since >= idle:
                    return
                time.sleep(self.poll)


def make_executor(
    name: str, *, workers: int = 1, device: str = "auto", threads: int | None = DEFAULT_THREADS
) -> LocalExecutor | RayExecutor:
    """The executor called ``name`` (``local`` or ``ray``).

    Raises:
        ValidationError: Unknown name, bad ``workers``, or Ray missing for ``ray``.
    """
    if name == "local":
        return LocalExecutor(workers, device=device, threads=threads)
    if name == "ray":
        return RayExecutor(workers, device=device, threads=threads)
    raise ValidationError(describe("executor", f"one of {list(EXECUTORS)}", name))
