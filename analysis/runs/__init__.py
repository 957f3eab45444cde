"""Experiments: jobs, the run registry, executors (local process pool, Ray) and workers.

Front ends (CLI, app, notebooks) build jobs (:class:`TrainJob`, :class:`UnlearnJob`,
:class:`ReferencesJob`, :class:`ShadowsJob`; :func:`grid_jobs` for grids × seeds), queue them
with :func:`submit`, and either execute them in the foreground (:func:`run_jobs`, the CLI) or
let the detached background pool do it (:func:`ensure_workers`, the app), watching with
:func:`list_runs` and stopping with :func:`cancel`. Finished runs appear as models of their
role in :func:`analysis.load_experiment`.

Work that produces no model is a *task* (:mod:`~analysis.runs.tasks`), queued in the same
registry and executed by the same workers before any run: :class:`PrecomputeJob` warms a
scenario's result cache (:func:`submit_precompute`; :func:`run_precompute` in the foreground),
with its progress readable from :class:`TaskQueue` (:func:`precompute_queue`).

Modules: :mod:`~analysis.runs.jobs` (job dataclasses, typed parameter parsing),
:mod:`~analysis.runs.registry` (SQLite registry), :mod:`~analysis.runs.plan` (submission and
names), :mod:`~analysis.runs.execute` (one run: a pure function of workspace and job),
:mod:`~analysis.runs.worker` (worker loop, background pool), :mod:`~analysis.runs.executors`
(:class:`LocalExecutor`, :class:`RayExecutor`), :mod:`~analysis.runs.api`.

Example:
    >>> import shutil, tempfile
    >>> from analysis.runs import grid_jobs, list_runs, submit
    >>> ws = shutil.copytree("sample_data/digits", tempfile.mkdtemp() + "/ws")
    >>> ids = submit(ws, grid_jobs("ga", grid={"lr": [0.005, 0.01]}, seeds=[0]))
    >>> [(r.name, r.state) for r in list_runs(ws)]
    [('ga_classwise_1', 'queued'), ('ga_classwise_2', 'queued')]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from analysis.runs.registry import (
    REGISTRY_FILE,
    RUN_STATES,
    TERMINAL_STATES,
    ReadOnlyWorkspaceError,
    RegistryLockedError,
    RunRecord,
    RunRegistry,
)

if TYPE_CHECKING:
    from analysis.runs.api import (
        add_scenario,
        cancel,
        delete_run,
        ensure_workers,
        list_runs,
        run_jobs,
        workers_running,
    )
    from analysis.runs.execute import RunOutput, run_job
    from analysis.runs.executors import LocalExecutor, RayExecutor, make_executor, ray_available
    from analysis.runs.jobs import (
        Job,
        ParamField,
        ReferencesJob,
        ShadowsJob,
        Subset,
        TrainJob,
        UnlearnJob,
        grid_jobs,
        job_from_dict,
        job_to_dict,
        method_fields,
        parse_grid,
        parse_params,
        parse_recipe,
    )
    from analysis.runs.plan import submit
    from analysis.runs.precompute import (
        PrecomputeJob,
        WarningTally,
        precompute_queue,
        run_precompute,
        submit_precompute,
    )
    from analysis.runs.tasks import TaskQueue, TaskRecord

__all__ = [
    "REGISTRY_FILE",
    "RUN_STATES",
    "TERMINAL_STATES",
    "Job",
    "LocalExecutor",
    "ParamField",
    "PrecomputeJob",
    "RayExecutor",
    "ReadOnlyWorkspaceError",
    "ReferencesJob",
    "RegistryLockedError",
    "RunOutput",
    "RunRecord",
    "RunRegistry",
    "ShadowsJob",
    "Subset",
    "TaskQueue",
    "TaskRecord",
    "TrainJob",
    "UnlearnJob",
    "WarningTally",
    "add_scenario",
    "cancel",
    "delete_run",
    "ensure_workers",
    "grid_jobs",
    "job_from_dict",
    "job_to_dict",
    "list_runs",
    "make_executor",
    "method_fields",
    "parse_grid",
    "parse_params",
    "parse_recipe",
    "precompute_queue",
    "ray_available",
    "run_job",
    "run_jobs",
    "run_precompute",
    "submit",
    "submit_precompute",
    "workers_running",
]

_LAZY = {
    "add_scenario": "api",
    "cancel": "api",
    "delete_run": "api",
    "ensure_workers": "api",
    "list_runs": "api",
    "run_jobs": "api",
    "workers_running": "api",
    "RunOutput": "execute",
    "run_job": "execute",
    "LocalExecutor": "executors",
    "RayExecutor": "executors",
    "make_executor": "executors",
    "ray_available": "executors",
    "Job": "jobs",
    "ParamField": "jobs",
    "ReferencesJob": "jobs",
    "ShadowsJob": "jobs",
    "Subset": "jobs",
    "TrainJob": "jobs",
    "UnlearnJob": "jobs",
    "grid_jobs": "jobs",
    "job_from_dict": "jobs",
    "job_to_dict": "jobs",
    "method_fields": "jobs",
    "parse_grid": "jobs",
    "parse_params": "jobs",
    "parse_recipe": "jobs",
    "submit": "plan",
    "PrecomputeJob": "precompute",
    "WarningTally": "precompute",
    "precompute_queue": "precompute",
    "run_precompute": "precompute",
    "submit_precompute": "precompute",
    "TaskQueue": "tasks",
    "TaskRecord": "tasks",
}


def __getattr__(name: str) -> Any:
    """Import the heavier submodules on first use (``analysis.store`` imports the registry,
    and the rest of this package imports the experiment machinery)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'analysis.runs' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"analysis.runs.{module}"), name)
    globals()[name] = value
    return value
