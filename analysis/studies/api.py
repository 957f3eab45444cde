"""The studies API the CLI (and later the app) calls: submit, run, watch, cancel, results.

A study lives in the workspace's run registry (``studies`` table: name, kind, spec, created,
batch); its scenarios are added to the registry's scenarios and its runs carry the study's
``batch``. Submission is all or nothing: when a job does not fit the workspace (unknown method,
base, hyperparameter...), the study, its scenarios and their index files are removed again and
nothing is queued.

Example:
    >>> import shutil, tempfile
    >>> from analysis.studies import SustainabilityStudy
    >>> ws = shutil.copytree("sample_data/digits", tempfile.mkdtemp() + "/ws")
    >>> record = submit_study(ws, SustainabilityStudy(name="seq", methods=("ft",), requests=2,
    ...                                               size=0.05))
    >>> [s.name for s in list_studies(ws)], study_status(ws, "seq").total
    (['seq'], 4)
    >>> len(cancel_study(ws, "seq"))
    4
"""

from __future__ import annotations

import contextlib
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from analysis.errors import ValidationError, describe
from analysis.runs.api import add_scenario, list_runs
from analysis.runs.executors import Update, make_executor
from analysis.runs.plan import submit, workspace_root
from analysis.runs.registry import (
    REGISTRY_FILE,
    RUN_STATES,
    RunRecord,
    RunRegistry,
    StudyRecord,
)
from analysis.runs.worker import DEFAULT_THREADS
from analysis.studies.base import STUDY_METRICS, Study, StudyResult, study_from_dict

__all__ = [
    "StudyStatus",
    "cancel_study",
    "collect_runs",
    "list_studies",
    "load_study",
    "run_study",
    "study_results",
    "study_runs",
    "study_status",
    "submit_study",
]


@dataclass(frozen=True)
class StudyStatus:
    """How far a study's runs are.

    Attributes:
        name: The study.
        kind: Its family.
        counts: Runs per state (every state of :data:`analysis.runs.RUN_STATES`, zeros
            included).
        total: Number of runs.
        fraction: Mean progress of the runs (1 once all finished).
    """

    name: str
    kind: str
    counts: dict[str, int]
    total: int
    fraction: float

    @property
    def finished(self) -> bool:
        """Whether no run is queued or running."""
        return self.counts["queued"] + self.counts["running"] == 0


def _registry(workspace: str | Path) -> RunRegistry:
    return RunRegistry(workspace_root(workspace) / REGISTRY_FILE)


def _validate_study(study: Any) -> Study:
    if not isinstance(study, Study):
        raise ValidationError(
            describe("study", "a Study (e.g. ScalabilityStudy)", type(study).__name__, raw=True)
        )
    return study


def submit_study(workspace: str | Path, study: Study) -> StudyRecord:
    """Add the study's scenarios and queue its runs (nothing runs here).

    Args:
        workspace: The workspace folder (or its ``experiment.toml``).
        study: The study.

    Returns:
        The stored study.

    Raises:
        ValidationError: Not a study, its name (or one of its scenario names) is taken, a size
            the dataset cannot provide, or a job that does not fit the workspace; nothing is
            left behind then.
        ReadOnlyWorkspaceError: The workspace cannot be written.
    """
    from analysis.experiment import load_experiment

    _validate_study(study)
    root = workspace_root(workspace)
    registry = RunRegistry(root / REGISTRY_FILE)
    if registry.get_study(study.name) is not None:
        raise ValidationError(
            describe("name", "a name not already used by another study", study.name)
        )
    exp = load_experiment(root)
    taken = [s.scenario for s in study.steps() if s.scenario in exp.spec.scenarios]
    if taken:
        raise ValidationError(
            describe("name", f"a study name whose scenarios are free ({taken} exist)", study.name)
        )
    tables = study.scenario_tables(exp)
    batch = f"study-{uuid.uuid4().hex[:12]}"
    record = registry.add_study(study.name, kind=study.kind, spec=study.to_dict(), batch=batch)
    added: list[str] = []
    try:
        for scenario, table in tables.items():
            add_scenario(root, scenario, **table)
            added.append(scenario)
        submit(root, study.jobs(), batch=batch)
    except BaseException:
        _undo(root, registry, study.name, added)
        raise
    return record


def _undo(root: Path, registry: RunRegistry, name: str, scenarios: Sequence[str]) -> None:
    """Remove a half-submitted study: its scenarios (and index files) and its record."""
    stored = registry.scenarios()
    for scenario in scenarios:
        indices = stored.get(scenario, {}).get("indices")
        if isinstance(indices, str):
            path = (root / indices).resolve()
            if path.is_relative_to(root):
                with contextlib.suppress(OSError):
                    path.unlink()
        registry.remove_scenario(scenario)
    registry.remove_study(name)


def list_studies(workspace: str | Path) -> list[StudyRecord]:
    """Every study of the workspace, oldest first (none for a registry of an older version)."""
    return _registry(workspace).studies()


def _record(workspace: str | Path, name: str) -> StudyRecord:
    registry = _registry(workspace)
    record = registry.get_study(name)
    if record is None:
        names = [s.name for s in registry.studies()]
        raise ValidationError(describe("study", f"a study of the workspace among {names}", name))
    return record


def load_study(record: StudyRecord) -> Study:
    """The study object of a registry record.

    Raises:
        ValidationError: The stored spec is not a valid study (written by another version).
    """
    return study_from_dict({**dict(record.spec), "kind": record.kind})


def study_runs(workspace: str | Path, name: str) -> list[RunRecord]:
    """The runs of study ``name``, oldest first (runs whose worker died marked first)."""
    record = _record(workspace, name)
    return [r for r in list_runs(workspace) if r.batch == record.batch]


def study_status(workspace: str | Path, name: str) -> StudyStatus:
    """Counts of the study's runs per state and its overall progress.

    Raises:
        ValidationError: No study called ``name``.
    """
    record = _record(workspace, name)
    runs = study_runs(workspace, name)
    counts = {state: sum(r.state == state for r in runs) for state in RUN_STATES}
    fraction = sum(r.fraction for r in runs) / len(runs) if runs else 1.0
    return StudyStatus(record.name, record.kind, counts, len(runs), fraction)


def cancel_study(workspace: str | Path, name: str) -> list[int]:
    """Cancel the study's queued and running runs; return the ids affected.

    Raises:
        ValidationError: No study called ``name``.
    """
    ids = [r.id for r in study_runs(workspace, name) if not r.finished]
    return _registry(workspace).request_cancel(ids) if ids else []


def run_study(
    workspace: str | Path,
    name: str,
    *,
    executor: str = "local",
    workers: int = 1,
    device: str = "auto",
    threads: int | None = DEFAULT_THREADS,
    on_update: Update | None = None,
) -> list[RunRecord]:
    """Execute the study's queued runs in the foreground (local processes or Ray) and return
    the final records of all its runs. Ctrl-C cancels them.

    Raises:
        ValidationError: No study called ``name``, bad ``executor`` or ``workers``.
    """
    runner = make_executor(executor, workers=workers, device=device, threads=threads)
    runs = study_runs(workspace, name)
    queued = [r.id for r in runs if r.state == "queued"]
    if queued:
        runner.run(workspace_root(workspace), queued, on_update=on_update)
    return study_runs(workspace, name)


def collect_runs(
    workspace: str | Path,
    study: Study,
    runs: Sequence[RunRecord],
    *,
    device: str | torch.device = "auto",
) -> pd.DataFrame:
    """One row per study run with the models table's metrics (done runs; NaN otherwise).

    Every scenario with a finished run gets one :func:`analysis.compare.models_table` (cached
    on disk, like the Models page's), so the numbers are the ones the dashboard shows.

    Returns:
        Columns ``name``, ``scenario``, ``method`` (``retrain`` for retrain models), ``seed``,
        ``state``, ``role``, ``n_forget`` and :data:`~analysis.studies.STUDY_METRICS`.
    """
    from analysis.compare import models_table
    from analysis.experiment import load_experiment

    base = load_experiment(workspace_root(workspace))
    rows: list[dict[str, Any]] = []
    for step in study.steps():
        mine = [r for r in runs if r.forget == step.scenario]
        if not mine or step.scenario not in base.spec.scenarios:
            continue
        exp = base.with_scenario(step.scenario)
        done = [r.name for r in mine if r.state == "done" and r.name in exp.models]
        table = models_table(exp, device=device).set_index("name") if done else None
        for record in mine:
            row: dict[str, Any] = {
                "name": record.name,
                "scenario": step.scenario,
                "method": "retrain" if record.role == "retrain" else record.method,
                "seed": record.seed,
                "state": record.state,
                "role": record.role,
                "n_forget": len(exp.forget_indices),
            }
            values: Any = {}
            if table is not None and record.name in done:
                values = table.loc[record.name]
            row.update({m: _number(values.get(m)) for m in STUDY_METRICS})
            row["UA_gap"] = row["UA"] - _retrain_ua(table, exp.retrain_name)
            rows.append(row)
    columns = ["name", "scenario", "method", "seed", "state", "role", "n_forget", *STUDY_METRICS]
    return pd.DataFrame(rows, columns=columns)


def _retrain_ua(table: pd.DataFrame | None, retrain: str | None) -> float:
    if table is None or retrain is None or retrain not in table.index:
        return float("nan")
    return _number(table.loc[retrain, "UA"])


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def study_results(
    workspace: str | Path, name: str, *, device: str | torch.device = "auto"
) -> StudyResult:
    """The study's aggregated metrics (see :meth:`Study.aggregate`).

    Runs not done yet count in ``runs`` but not in the means; a warning says how many.

    Raises:
        ValidationError: No study called ``name``.
    """
    record = _record(workspace, name)
    study = load_study(record)
    runs = study_runs(workspace, name)
    pending = [r for r in runs if r.state != "done"]
    if pending:
        warnings.warn(
            f"study {name!r}: {len(pending)} of {len(runs)} runs are not done "
            f"({sorted({r.state for r in pending})}); the means leave them out",
            RuntimeWarning,
            stacklevel=2,
        )
    return study.aggregate(study.collect(workspace, runs, device=device))
