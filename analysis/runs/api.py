"""The runs API the CLI and the app call: submit, run, watch, cancel, delete, scenarios.

The Streamlit script thread only calls the quick functions here (:func:`submit`,
:func:`ensure_workers`, :func:`list_runs`, :func:`cancel`, :func:`delete_run`); the work happens
in a detached background pool (``python -m analysis.runs.worker``) that keeps going across page
reloads and browser sessions. The CLI and notebooks use :func:`run_jobs` (submit + a foreground
executor with progress).

Example:
    >>> import shutil, tempfile
    >>> ws = shutil.copytree("sample_data/digits", tempfile.mkdtemp() + "/ws")
    >>> ids = submit(ws, grid_jobs("ga", params={"epochs": 1}, seeds=[0, 1]))
    >>> [r.state for r in list_runs(ws)]
    ['queued', 'queued']
    >>> cancel(ws) == ids
    True
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis.errors import CacheError, ValidationError, describe
from analysis.runs.executors import Update, make_executor
from analysis.runs.jobs import Job, TrainJob, UnlearnJob, job_from_dict
from analysis.runs.plan import submit, workspace_root
from analysis.runs.registry import REGISTRY_FILE, RunRecord, RunRegistry
from analysis.runs.worker import DEFAULT_THREADS, pool_running, remove_outputs
from analysis.trust import confine

__all__ = [
    "SCENARIO_FOLDER",
    "add_scenario",
    "cancel",
    "delete_run",
    "ensure_workers",
    "list_runs",
    "reap",
    "remove_files",
    "run_jobs",
    "submit",
    "workers_running",
]

SCENARIO_FOLDER = "scenarios"
"""Where ``add_scenario(indices=...)`` copies index files (relative to the workspace)."""
_LOG = ".ulens_cache/runs/pool.log"
_PROJECT_ROOT = str(Path(__file__).resolve().parents[2])


def _registry(workspace: str | Path) -> RunRegistry:
    return RunRegistry(workspace_root(workspace) / REGISTRY_FILE)


def list_runs(
    workspace: str | Path, *, ids: Sequence[int] | None = None, scenario: str | None = None
) -> list[RunRecord]:
    """Every run of the workspace (or ``ids``), oldest first.

    Runs whose worker died are marked ``interrupted`` first (a write only when there are some).
    """
    registry = _registry(workspace)
    with contextlib.suppress(CacheError):  # a locked or read-only registry: list as it is
        reap(registry)
    return registry.list(scenario, ids=ids)


def reap(registry: RunRegistry, *, stale_seconds: float | None = None) -> list[RunRecord]:
    """Mark runs whose worker died ``interrupted`` and delete whatever they left on disk
    (temporaries, or outputs written before the worker died)."""
    kwargs = {} if stale_seconds is None else {"stale_seconds": stale_seconds}
    reaped = registry.reap(**kwargs)
    for record in reaped:
        remove_files(registry.root, record)
    return reaped


def cancel(workspace: str | Path, run_id: int | None = None) -> list[int]:
    """Cancel one run (queued: at once; running: its worker stops at its next step), or every
    queued and running run when ``run_id`` is None. Returns the ids affected."""
    return _registry(workspace).request_cancel(None if run_id is None else [run_id])


def remove_files(root: Path, record: RunRecord) -> None:
    """Delete the files a run produced or would produce, with their temporaries (never
    anything outside the workspace ``root``)."""
    with contextlib.suppress(ValidationError):
        job = job_from_dict(record.job)
        if isinstance(job, TrainJob | UnlearnJob) and job.name is not None:
            remove_outputs(root, job)
    for path in (record.file, record.history, record.members, record.forget_mask, *record.files):
        if path is not None and Path(path).resolve().is_relative_to(root):
            with contextlib.suppress(OSError):
                Path(path).unlink()


def delete_run(workspace: str | Path, run_id: int) -> RunRecord:
    """Delete a run and its files (weights, history, masks).

    Raises:
        ValidationError: Unknown id, a running run (cancel it first), or a run other runs or
            models name as their base (delete those first).
    """
    registry = _registry(workspace)
    record = registry.get_id(run_id)
    if record is None:
        raise ValidationError(describe("run", "the id of a run in the registry", run_id))
    if record.state == "running":
        raise ValidationError(
            describe("run", "a run that is not running (cancel it first)", record.name)
        )
    users = registry.dependents(record.name)
    if users:
        raise ValidationError(
            describe(
                "run",
                f"a run no other model uses as its base (delete {users} first)",
                record.name,
            )
        )
    remove_files(registry.root, record)
    registry.remove(record.name)
    return record


def run_jobs(
    workspace: str | Path,
    jobs: Sequence[Job],
    *,
    executor: str = "local",
    workers: int = 1,
    device: str = "auto",
    threads: int | None = DEFAULT_THREADS,
    on_update: Update | None = None,
) -> list[RunRecord]:
    """Submit ``jobs`` and execute their runs in the foreground; return the final records.

    Ctrl-C cancels them (see :mod:`analysis.runs.executors`).
    """
    runner = make_executor(executor, workers=workers, device=device, threads=threads)
    ids = submit(workspace, jobs)
    return runner.run(workspace_root(workspace), ids, on_update=on_update)


def workers_running(workspace: str | Path) -> bool:
    """Whether a background pool serves the workspace."""
    return pool_running(workspace_root(workspace))


def ensure_workers(
    workspace: str | Path,
    *,
    executor: str = "local",
    workers: int = 1,
    device: str = "auto",
    threads: int | None = DEFAULT_THREADS,
    idle: float = 30.0,
    nice: int = 0,
) -> bool:
    """Start the detached background pool of the workspace unless one is running.

    The pool (``python -m analysis.runs.worker``) runs every queued run and exits after
    ``idle`` seconds without work; its log is ``.ulens_cache/runs/pool.log``. The trust policy
    and ``PYTHONPATH`` of this process are passed on. ``nice`` > 0 lowers the pool's CPU
    priority (POSIX), e.g. below an interactive dashboard's.

    Returns:
        True when a pool was started, False when one was already running.

    Raises:
        ValidationError: Bad ``executor`` or ``workers``, or Ray missing for ``ray``.
    """
    if executor not in ("local", "ray"):
        raise ValidationError(describe("executor", "'local' or 'ray'", executor))
    if executor == "ray":
        make_executor("ray", workers=workers)  # fails early, with the install hint
    root = workspace_root(workspace)
    if pool_running(root):
        return False
    log = root / _LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PROJECT_ROOT, env.get("PYTHONPATH")]))
    cmd = [
        sys.executable,
        "-m",
        "analysis.runs.worker",
        str(root),
        "--workers",
        str(int(workers)),
        "--executor",
        executor,
        "--device",
        device,
        "--idle",
        str(float(idle)),
    ]
    if threads:
        cmd += ["--threads", str(int(threads))]
    if nice:
        cmd += ["--nice", str(int(nice))]
    with open(log, "ab") as out:
        subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            cwd=str(root),
            start_new_session=True,
        )
    return True


# --------------------------------------------------------------------------- scenarios


def add_scenario(
    workspace: str | Path,
    name: str,
    *,
    classes: Sequence[int] | None = None,
    random: float | None = None,
    seed: int = 0,
    indices: str | Path | np.ndarray | None = None,
    origin: str = "",
) -> dict[str, Any]:
    """Add a forget scenario to the workspace's registry (``experiment.toml`` is untouched).

    Exactly one of ``classes`` (class-wise), ``random`` (a share with ``seed``) or ``indices``
    (a ``.npy`` file of training indices, or an array; copied to ``scenarios/NAME.npy``).
    The scenario is validated against the dataset before it is stored and is merged into the
    experiment on load. ``origin`` records who made it (``study:NAME`` for a study's; the
    dashboard's scenario selector hides those by default).

    Returns:
        The stored scenario table.

    Raises:
        ValidationError: Zero or several kinds, a name already used, classes or indices not in
            the dataset, a forget set covering every sample or class.
    """
    from analysis.data import resolve_forget_set
    from analysis.experiment import load_experiment

    root = workspace_root(workspace)
    exp = load_experiment(root)
    given = [
        k
        for k, v in (("classes", classes), ("random", random), ("indices", indices))
        if v is not None
    ]
    if len(given) != 1:
        raise ValidationError(
            describe("scenario", "exactly one of --classes, --random, --indices", given or "none")
        )
    if name in exp.spec.scenarios:
        raise ValidationError(describe("scenario", "a name not used by another scenario", name))
    registry = RunRegistry(root / REGISTRY_FILE)
    if classes is not None:
        spec: dict[str, Any] = {"classes": [int(c) for c in classes]}
    elif random is not None:
        spec = {"random": float(random), "seed": int(seed)}
    else:
        spec = {"indices": _store_indices(root, name, indices)}
    try:
        forget = resolve_forget_set(name, spec, exp.dataset("train").targets, root=root)
        _check_not_everything(forget.indices, forget.classes, exp)
        registry.add_scenario(name, spec, origin=origin)
    except BaseException:
        if "indices" in spec:
            with contextlib.suppress(OSError):
                (root / spec["indices"]).unlink()
        raise
    return spec


def _store_indices(root: Path, name: str, indices: Any) -> str:
    if isinstance(indices, np.ndarray):
        array = indices
    else:
        source = (
            confine(indices, Path.cwd(), argument="--indices")
            if not Path(indices).is_absolute()
            else Path(indices)
        )
        try:
            array = np.load(source, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValidationError(
                describe(
                    "--indices",
                    "a readable .npy of integers",
                    f"{Path(indices).name} ({exc})",
                    raw=True,
                )
            ) from exc
    rel = f"{SCENARIO_FOLDER}/{name}.npy"
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise ValidationError(describe("scenario", "a name without an index file yet", name))
    with open(target, "xb") as handle:
        np.save(handle, np.asarray(array), allow_pickle=False)
    return rel


def _check_not_everything(indices: np.ndarray, classes: Any, exp: Any) -> None:
    n = len(exp.dataset("train"))
    everything = len(indices) >= n or (classes is not None and len(classes) >= exp.num_classes)
    if everything:
        raise ValidationError(
            describe(
                "scenario",
                "a forget set leaving some training samples and classes",
                "all of them",
                raw=True,
            )
        )
