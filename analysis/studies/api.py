"""The studies API the CLI and the app call: submit, run, watch, cancel, results, delete.

A study lives in the workspace's run registry (``studies`` table: name, kind, spec, created,
batch); its scenarios are added to the registry's scenarios and its runs carry the study's
``batch``. Submission is all or nothing: when a job does not fit the workspace (unknown method,
base, hyperparameter...), the study, its scenarios and their index files are removed again and
nothing is queued. Each scenario records its study as its origin (:func:`study_scenarios`;
the dashboard's scenario selector hides them by default). :func:`delete_study` removes a study
with its runs, their files and the scenarios nothing else uses.

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
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from analysis.errors import UlensError, ValidationError, describe
from analysis.runs.api import add_scenario, list_runs, reap, remove_files
from analysis.runs.executors import Update, make_executor
from analysis.runs.plan import submit, workspace_root
from analysis.runs.registry import (
    REGISTRY_FILE,
    RUN_STATES,
    RunRecord,
    RunRegistry,
    StudyRecord,
)
from analysis.runs.worker import DEFAULT_THREADS, pool_running
from analysis.studies.base import STUDY_METRICS, Study, StudyResult, study_from_dict
from analysis.trust import confine

__all__ = [
    "STALL_SECONDS",
    "StudyDeletion",
    "StudyStatus",
    "cancel_study",
    "collect_runs",
    "delete_study",
    "list_studies",
    "load_study",
    "run_study",
    "study_results",
    "study_runs",
    "study_scenarios",
    "study_status",
    "submit_study",
]

STALL_SECONDS = 60.0
"""How long :func:`run_study` waits for a run outside the study (e.g. its base, queued in another
batch) that no worker claims before it gives up with an error."""
_ORIGIN = "study:"


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
            add_scenario(root, scenario, **table, origin=study_origin(study.name))
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
    stall_timeout: float = STALL_SECONDS,
) -> list[RunRecord]:
    """Execute the study's queued runs in the foreground (local processes or Ray) and return
    the final records of all its runs. Ctrl-C cancels them.

    A run of the study may wait for a run outside it (its ``base`` queued in another batch):
    while nothing runs in the workspace and no background pool serves it, that run is never
    claimed, so after ``stall_timeout`` seconds of that the call stops with an error naming it
    (the study's runs stay queued; start the workspace's background pool,
    :func:`analysis.runs.ensure_workers`, or cancel the other run, then call again).

    Raises:
        ValidationError: No study called ``name``, bad ``executor``, ``workers`` or
            ``stall_timeout``, or the runs wait for a run nobody executes (see above).
    """
    _validate_stall_timeout(stall_timeout)
    runner = make_executor(executor, workers=workers, device=device, threads=threads)
    root = workspace_root(workspace)
    runs = study_runs(workspace, name)
    queued = [r.id for r in runs if r.state == "queued"]
    if not queued:
        return runs
    watch = _StallWatch(root, name, float(stall_timeout))
    while watch.stalled():  # before any worker starts: wait for the other run's worker
        time.sleep(min(0.25, float(stall_timeout) / 4))

    def update(records: list[RunRecord]) -> None:
        watch.stalled()
        if on_update is not None:
            on_update(records)

    runner.run(root, queued, on_update=update)
    return study_runs(workspace, name)


def _validate_stall_timeout(value: Any) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not value > 0:
        raise ValidationError(describe("stall_timeout", "a positive number of seconds", value))


class _StallWatch:
    """Raises once the study's queued runs have waited ``limit`` seconds for runs outside the
    study that are queued while no worker could claim them (no pool, nothing running)."""

    def __init__(self, root: Path, name: str, limit: float) -> None:
        self.root, self.name, self.limit = root, name, limit
        self.registry = RunRegistry(root / REGISTRY_FILE)
        self.batch = _record(root, name).batch
        self.since: float | None = None
        self.checked = 0.0

    def stalled(self) -> bool:
        """Whether the runs are blocked right now (raises past the limit)."""
        now = time.monotonic()
        if self.since is None and now - self.checked < 0.2:
            return False
        self.checked = now
        blockers = self._blockers()
        if not blockers:
            self.since = None
            return False
        self.since = now if self.since is None else self.since
        if now - self.since >= self.limit:
            raise ValidationError(
                describe(
                    "study",
                    "runs whose bases some worker executes (they wait for "
                    f"{blockers}, queued outside the study with no worker claiming them for "
                    f"{self.limit:g} s; start the workspace's background pool (the app's Run "
                    "button, or python -m analysis.runs.worker WORKSPACE) or cancel them, then "
                    "run the study again)",
                    self.name,
                )
            )
        return True

    def _blockers(self) -> list[str]:
        """Runs outside the study its queued runs wait for, when nothing can progress: no
        run of the study can start or is running, nothing runs in the workspace and no
        background pool serves it."""
        records = self.registry.list()
        by_name = {r.name: r for r in records}
        mine = [r for r in records if r.batch == self.batch]
        queued = [r for r in mine if r.state == "queued"]

        def ready(record: RunRecord) -> bool:
            base = by_name.get(record.depends_on or "")
            return record.depends_on is None or base is None or base.state == "done"

        if not queued or any(ready(r) for r in queued):
            return []
        if any(r.state == "running" for r in records) or pool_running(self.root):
            return []
        names = {r.name for r in mine}
        outside = {r.depends_on for r in queued if r.depends_on and r.depends_on not in names}
        return sorted(n for n in outside if n in by_name and by_name[n].state == "queued")


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


# --------------------------------------------------------------------------- scenarios, deletion


def study_origin(name: str) -> str:
    """The origin the registry records for study ``name``'s scenarios."""
    return f"{_ORIGIN}{name}"


def study_scenarios(workspace: str | Path) -> dict[str, str]:
    """Scenario -> the study that created it, for every existing study's scenarios.

    Scenarios record their origin when a study adds them; for studies submitted before that,
    the registry's scenarios named like the study's plan count.

    Example:
        >>> import shutil, tempfile
        >>> from analysis.studies import ScalabilityStudy
        >>> ws = shutil.copytree("sample_data/digits", tempfile.mkdtemp() + "/ws")
        >>> _ = submit_study(ws, ScalabilityStudy(name="g", methods=("ga",), sizes=(0.1,)))
        >>> study_scenarios(ws)
        {'g_f0.1': 'g'}
    """
    registry = _registry(workspace)
    origins = registry.scenario_origins()
    out: dict[str, str] = {}
    for record in registry.studies():
        planned = _planned_scenarios(record)
        for scenario, origin in origins.items():
            if origin == study_origin(record.name) or (not origin and scenario in planned):
                out.setdefault(scenario, record.name)
    return out


def _planned_scenarios(record: StudyRecord) -> set[str]:
    try:
        study = load_study(record)
    except ValidationError:
        return set()
    names = {s.scenario for s in study.steps()}
    return names | {str(j.scenario) for j in study.jobs() if getattr(j, "scenario", None)}


@dataclass(frozen=True)
class StudyDeletion:
    """What :func:`delete_study` removed (or, with ``dry_run``, would remove).

    Attributes:
        name: The study.
        runs: Names of the deleted run records (empty with ``runs=False``).
        scenarios: The study's scenarios deleted (with their index files).
        kept: The study's scenarios kept because something outside the study uses them.
        files: Workspace-relative paths of the deleted files (weights, histories, indices).
        cancelled: Ids of the runs cancelled first (``force``).
    """

    name: str
    runs: tuple[str, ...]
    scenarios: tuple[str, ...]
    kept: tuple[str, ...]
    files: tuple[str, ...]
    cancelled: tuple[int, ...] = ()


def delete_study(
    workspace: str | Path,
    name: str,
    *,
    runs: bool = True,
    force: bool = False,
    dry_run: bool = False,
    timeout: float = 60.0,
) -> StudyDeletion:
    """Delete a study: its record and, by default, its runs (records and files) and the
    scenarios only it uses.

    Nothing outside the workspace is touched; a scenario another run, study or the user's
    ``experiment.toml`` uses is kept (``kept``), and a run another run starts from is refused.

    Args:
        workspace: The workspace folder (or its ``experiment.toml``).
        name: The study.
        runs: Also delete its runs and scenarios (False: only the study's record; its runs
            stay as ordinary runs).
        force: Cancel the study's queued and running runs first and wait up to ``timeout``
            seconds for them to stop (without it, a running run refuses the deletion).
        dry_run: Only say what would be deleted.
        timeout: Seconds ``force`` waits for the running runs to stop.

    Returns:
        The :class:`StudyDeletion`.

    Raises:
        ValidationError: No study called ``name``; a run still running (``force`` cancels
            it); a run outside the study starts from one of its runs.

    Example:
        >>> import shutil, tempfile
        >>> from analysis.studies import ScalabilityStudy
        >>> ws = shutil.copytree("sample_data/digits", tempfile.mkdtemp() + "/ws")
        >>> _ = submit_study(ws, ScalabilityStudy(name="g", methods=("ga",), sizes=(0.1,)))
        >>> gone = delete_study(ws, "g")
        >>> gone.runs, gone.scenarios, list_studies(ws)
        (('g_f0.1_retrain', 'g_f0.1_ga_s0'), ('g_f0.1',), [])
    """
    record = _record(workspace, name)
    root = workspace_root(workspace)
    registry = RunRegistry(root / REGISTRY_FILE)
    mine = study_runs(root, name)
    cancelled: tuple[int, ...] = ()
    active = [r for r in mine if r.state == "running"]
    if active and not force:
        raise ValidationError(
            describe(
                "study",
                "a study without running runs (cancel it first, or pass force=True / --force)",
                f"{name} ({len(active)} running)",
            )
        )
    if force and not dry_run:
        cancelled = tuple(cancel_study(root, name))
        mine = _wait_stopped(root, name, timeout)
    plan = _deletion_plan(root, registry, record, mine, runs=runs)
    plan = StudyDeletion(**{**plan.__dict__, "cancelled": cancelled})
    if dry_run:
        return plan
    if runs:
        queued = [r.id for r in mine if r.state == "queued"]
        if queued:  # no worker may claim them while they go
            registry.request_cancel(queued)
        for run in sorted(mine, key=lambda r: r.id, reverse=True):  # users before their bases
            remove_files(root, run)
            registry.remove(run.name)
        for scenario in plan.scenarios:
            _remove_scenario(root, registry, scenario)
    registry.remove_study(name)
    return plan


def _wait_stopped(root: Path, name: str, timeout: float) -> list[RunRecord]:
    deadline = time.monotonic() + max(0.0, float(timeout))
    while True:
        mine = study_runs(root, name)
        running = [r.name for r in mine if r.state == "running"]
        if not running:
            return mine
        if time.monotonic() >= deadline:
            raise ValidationError(
                describe(
                    "timeout",
                    "enough seconds for the cancelled runs to stop (try again later)",
                    f"{timeout:g} s; still running: {running}",
                    raw=True,
                )
            )
        reap(RunRegistry(root / REGISTRY_FILE))
        time.sleep(0.2)


def _deletion_plan(
    root: Path,
    registry: RunRegistry,
    record: StudyRecord,
    mine: Sequence[RunRecord],
    *,
    runs: bool,
) -> StudyDeletion:
    if not runs:
        return StudyDeletion(record.name, (), (), (), ())
    names = {r.name for r in mine}
    users = sorted({d for r in mine for d in registry.dependents(r.name)} - names)
    if users:
        raise ValidationError(
            describe(
                "study",
                f"a study whose runs no other run starts from (delete {users} first, or keep "
                "the runs)",
                record.name,
            )
        )
    owned = [s for s, study in study_scenarios(root).items() if study == record.name]
    used = _used_elsewhere(root, registry, names)
    scenarios = tuple(s for s in owned if s not in used)
    kept = tuple(s for s in owned if s in used)
    files = [p for r in mine for p in _run_files(root, r)]
    stored = registry.scenarios()
    for scenario in scenarios:
        index = _index_file(root, stored.get(scenario, {}))
        if index is not None:
            files.append(index)
    rels = tuple(p.relative_to(root).as_posix() for p in files)
    return StudyDeletion(record.name, tuple(r.name for r in mine), scenarios, kept, rels)


def _used_elsewhere(root: Path, registry: RunRegistry, names: set[str]) -> set[str]:
    """Scenarios a run outside ``names``, or ``experiment.toml`` itself, uses."""
    from analysis.spec import load_spec

    used = {r.forget for r in registry.list() if r.name not in names and r.forget}
    with contextlib.suppress(Exception):  # an unreadable toml keeps nothing extra
        spec = load_spec(root)
        used |= set(spec.scenarios)
        used |= {m.forget for n, m in spec.models.items() if n not in names and m.forget}
    return {str(u) for u in used}


def _run_files(root: Path, run: RunRecord) -> list[Path]:
    paths = (run.file, run.history, run.members, run.forget_mask, *run.files)
    return [p for p in map(_inside, [root] * len(paths), paths) if p is not None and p.is_file()]


def _inside(root: Path, path: Any) -> Path | None:
    """``path`` confined to the workspace, or None (outside, even if allowed, or no path)."""
    if path is None:
        return None
    try:
        resolved = confine(path, root, argument="path")
    except UlensError:  # outside (OutsideWorkspaceError), or no path at all
        return None
    return resolved if resolved.is_relative_to(root) else None


def _index_file(root: Path, spec: Any) -> Path | None:
    indices = spec.get("indices") if isinstance(spec, dict) else None
    if not isinstance(indices, str):
        return None
    path = _inside(root, indices)
    return path if path is not None and path.is_file() else None


def _remove_scenario(root: Path, registry: RunRegistry, scenario: str) -> None:
    index = _index_file(root, registry.scenarios().get(scenario, {}))
    if index is not None:
        with contextlib.suppress(OSError):
            index.unlink()
    registry.remove_scenario(scenario)
