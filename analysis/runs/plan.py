"""Submission: jobs resolved against a workspace and queued in its run registry.

:func:`submit` validates every job first (scenario, base model, method and hyperparameters,
recipe), so bad input queues nothing; then it inserts one queued run per model to produce, each
with its fully resolved job. Names are unique even with concurrent submitters (the registry's
UNIQUE constraint decides; a loser takes the next free name).

Names and files (``models/runs/NAME.*``):

* ``train``: ``original`` / ``retrain_<S>`` (``_2``, ``_3``... when taken). When
  ``experiment.toml`` declares a model of that role (and scenario) whose weights file does not
  exist yet, the run trains *that* model: it keeps its TOML name and writes its TOML file.
  The recipe is the ``train`` table of the role's TOML model, else the original's, else the
  :class:`~analysis.training.TrainConfig` defaults; ``recipe`` overrides fields.
* ``unlearn``: ``<method>_<S>_<n>``; params stored in full (the method's defaults included).
  Its ``base`` may be a run queued by an earlier job of the same :func:`submit` call (given by
  its fixed ``name``): a chain of runs, each waiting for the previous one.
* ``references --count K --seed s0``: ``ref_s<s0>_<kkk>`` for the K smallest free ``k``.
* ``shadows --count K --method M --scenario S --seed s0`` (U-LiRA; helper E reads this), for
  k in 0..K-1 with ``members_k`` = a random half (``n // 2``) drawn by
  ``numpy.random.default_rng([s0, k])`` and ``forget_k = members_k ∩ F_S``:

  - ``ref_s<s0>_<kkk>`` — trained from scratch on ``members_k`` with the original's recipe,
    role ``reference``, ``members`` = members_k (shared with ``references``, so shadow bases
    also serve offline LiRA/RMIA);
  - ``shadow_<M>_<S>_s<s0>_<kkk>[_<hash>]`` — M applied to the base with forget =
    train[forget_k], retain = train[members_k \\ forget_k]; role ``shadow``, method M,
    base = the ref's name, ``members`` = members_k, ``forget_mask`` = forget_k, forget = S
    (``_<hash>``: 6 hex digits of the explicit params, when any are given);
  - ``shadow_retrain_<S>_s<s0>_<kkk>`` — trained from scratch on ``members_k \\ forget_k``;
    role ``shadow``, method ``retrain``, ``members`` = members_k & ~forget_k,
    ``forget_mask`` = forget_k, forget = S.

  Masks are boolean ``.npy`` files of length n_train (``allow_pickle=False``). Bases and
  retrain shadows that already exist (queued, running or done) are reused, not retrained;
  failed/cancelled/interrupted ones are queued again.

Example:
    >>> import shutil, tempfile
    >>> ws = shutil.copytree("sample_data/digits", tempfile.mkdtemp() + "/ws")
    >>> ids = submit(ws, [UnlearnJob("ga", params={"epochs": 1})])
    >>> from analysis.runs.registry import RunRegistry
    >>> RunRegistry(f"{ws}/runs.sqlite").get_id(ids[0]).name
    'ga_classwise_1'
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import uuid
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from analysis.errors import ValidationError, describe
from analysis.experiment import Experiment, load_experiment
from analysis.runs.execute import output_paths
from analysis.runs.jobs import (
    Job,
    ReferencesJob,
    RunJob,
    ShadowsJob,
    Subset,
    TrainJob,
    UnlearnJob,
    job_to_dict,
)
from analysis.runs.registry import REGISTRY_FILE, RunRecord, RunRegistry
from analysis.spec import find_spec_file
from analysis.training import TrainConfig

__all__ = ["resolve_recipe", "submit", "workspace_root"]

_DEAD = ("failed", "cancelled", "interrupted")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def workspace_root(workspace: str | Path) -> Path:
    """The workspace folder of a folder or ``experiment.toml`` path.

    Raises:
        SpecError: No ``experiment.toml`` there.
    """
    return find_spec_file(workspace).parent


def _slug(text: str) -> str:
    return _SAFE.sub("-", text).strip("-.") or "run"


class _Context:
    """What submission needs to know about a workspace (loaded once per :func:`submit`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.exp = load_experiment(root)
        self.registry = RunRegistry(root / REGISTRY_FILE)
        self.records = {r.name: r for r in self.registry.list()}
        self.planned: set[str] = set()  # fixed names queued earlier in the same submission

    @property
    def models(self) -> dict[str, Any]:
        return dict(self.exp.spec.models)

    def scenario(self, name: str | None) -> str:
        if name is None:
            return self.exp.scenarios[0]
        if name not in self.exp.spec.scenarios:
            raise ValidationError(
                describe("scenario", f"one of {list(self.exp.spec.scenarios)}", name)
            )
        return name

    def taken(self, name: str) -> bool:
        return name in self.models or name in self.registry.names()

    def alive(self, name: str) -> RunRecord | None:
        record = self.registry.get(name)
        return record if record is not None and record.state not in _DEAD else None

    def dependency(self, base: str) -> str | None:
        """``None`` when ``base`` is a ready model, its name when it is a queued/running run
        (or a run an earlier job of the same submission queues)."""
        if base in self.planned:
            return base
        record = self.registry.get(base)
        if base in self.models and (record is None or record.state == "done"):
            return None
        if record is not None and record.state in ("queued", "running"):
            return base
        if record is not None:
            raise ValidationError(
                describe("base", "a model with weights", f"run {base!r} ({record.state})", raw=True)
            )
        available = sorted(
            set(self.models) | {r.name for r in self.registry.list(states=("queued", "running"))}
        )
        raise ValidationError(describe("base", f"a model among {available}", base))


def resolve_recipe(
    exp: Experiment, role: str, scenario: str | None, overrides: Any = None
) -> dict[str, Any]:
    """The training recipe of a role: its TOML model's ``train`` table, else the original's,
    else the :class:`TrainConfig` defaults; then ``overrides``. Validated (errors name the
    table); ``seed`` included.

    Example:
        >>> resolve_recipe(load_experiment("sample_data/digits"), "reference", None)["epochs"]
        15
    """
    models = list(exp.spec.models.values())
    own = [
        m
        for m in models
        if m.role == role and m.train and (role != "retrain" or m.forget == scenario)
    ]
    originals = [m for m in models if m.role == "original" and m.train]
    source = own[0] if own and role in ("original", "retrain") else None
    source = source or (originals[0] if originals else None)
    recipe = dict(source.train) if source is not None else {}
    where = f"models.{source.name}.train" if source is not None else "recipe"
    accepted = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(recipe) - accepted)
    if unknown:  # provenance notes such as "steps" are allowed, but said to be ignored
        warnings.warn(
            f"{where}: {unknown} are not recipe fields ({sorted(accepted)}); ignored",
            RuntimeWarning,
            stacklevel=2,
        )
        recipe = {k: v for k, v in recipe.items() if k in accepted}
    recipe.update(dict(overrides or {}))
    try:
        config = TrainConfig(**recipe)
    except (TypeError, ValidationError) as exc:
        raise ValidationError(f"{where}: {exc}") from exc
    return dataclasses.asdict(config)


# --------------------------------------------------------------------------- resolution


@dataclasses.dataclass(frozen=True)
class _Planned:
    """One run to insert: its job (name possibly a prefix) and how to name it."""

    job: RunJob
    naming: str  # "fixed" (exact name, error if taken), "numbered", "reuse" (idempotent)
    depends_on: str | None = None
    replace_dead: bool = False


def _plan_train(ctx: _Context, job: TrainJob) -> list[_Planned]:
    scenario = ctx.scenario(job.scenario) if job.role in ("retrain", "shadow") else None
    if job.scenario is not None:
        ctx.scenario(job.scenario)
    recipe = resolve_recipe(ctx.exp, job.role, scenario, job.recipe)
    seed = job.seed if job.seed is not None else int(recipe["seed"])
    recipe.pop("seed")
    resolved = replace(job, recipe=recipe, seed=seed, scenario=scenario or job.scenario)
    if job.name is not None:
        return [_Planned(resolved, "fixed")]
    target = _declared_target(ctx, job.role, scenario)
    if target is not None:
        name, file = target
        return [_Planned(replace(resolved, name=name, file=file), "fixed", replace_dead=True)]
    prefix = "original" if job.role == "original" else f"{job.role}_{scenario}"
    return [_Planned(replace(resolved, name=prefix), "numbered")]


def _declared_target(ctx: _Context, role: str, scenario: str | None) -> tuple[str, str] | None:
    """A TOML model of the role (and scenario) without weights yet: the run produces it."""
    for entry in ctx.exp.spec.models.values():
        if entry.role != role or entry.forget != scenario or entry.file.exists():
            continue
        if ctx.alive(entry.name) is not None:
            continue
        if entry.file.resolve().is_relative_to(ctx.root):
            return entry.name, entry.file.resolve().relative_to(ctx.root).as_posix()
    return None


def _plan_unlearn(ctx: _Context, job: UnlearnJob) -> list[_Planned]:
    from analysis.unlearn import make_method

    scenario = ctx.scenario(job.scenario)
    make_method(job.method, dict(job.params), workspace=ctx.root)  # validates fields and ranges
    if job.forgotten is not None:
        _check_forgotten(ctx, scenario, job.forgotten)
    depends = ctx.dependency(job.base)
    prefix = job.name or f"{_slug(job.method)}_{scenario}"
    resolved = replace(job, scenario=scenario, name=prefix)
    return [_Planned(resolved, "fixed" if job.name else "numbered", depends)]


def _check_forgotten(ctx: _Context, scenario: str, forgotten: str) -> None:
    """A sequential request's ``forgotten`` scenario must be a strict subset of ``scenario``."""
    ctx.scenario(forgotten)
    before = ctx.exp.with_scenario(forgotten).forget_indices
    now = ctx.exp.with_scenario(scenario).forget_indices
    if forgotten == scenario or len(before) >= len(now) or not np.isin(before, now).all():
        raise ValidationError(
            describe(
                "forgotten",
                f"a scenario whose forget set is a strict subset of {scenario!r}'s",
                forgotten,
            )
        )


def _reference_job(
    seed: int, k: int, recipe: dict[str, Any], eval_every: int, kind: str
) -> TrainJob:
    subset = Subset(seed, k)
    from analysis.runs.execute import _subset_seed

    return TrainJob(
        role="reference",
        name=f"ref_s{seed}_{k:03d}",
        recipe=recipe,
        seed=_subset_seed(subset),
        subset=subset,
        eval_every=eval_every,
        kind=kind,
    )


def _plan_references(ctx: _Context, job: ReferencesJob) -> list[_Planned]:
    recipe = resolve_recipe(ctx.exp, "reference", None, job.recipe)
    recipe.pop("seed")
    planned: list[_Planned] = []
    k = 0
    while len(planned) < job.count:
        ref = _reference_job(job.seed, k, recipe, job.eval_every, "references")
        if not ctx.taken(str(ref.name)):
            planned.append(_Planned(ref, "next_k"))
        k += 1
    return planned


def _params_tag(job: ShadowsJob) -> str:
    if not job.params and job.stop_at_ua is None:
        return ""
    text = json.dumps({"params": dict(job.params), "stop": job.stop_at_ua}, sort_keys=True)
    return "_" + hashlib.sha256(text.encode()).hexdigest()[:6]


def _plan_shadows(ctx: _Context, job: ShadowsJob) -> list[_Planned]:
    from analysis.unlearn import make_method

    scenario = ctx.scenario(job.scenario)
    make_method(job.method, dict(job.params), workspace=ctx.root)
    recipe = resolve_recipe(ctx.exp, "reference", None, job.recipe)
    recipe.pop("seed")
    planned: list[_Planned] = []
    for k in range(job.count):
        base = _reference_job(job.seed, k, recipe, job.eval_every, "shadows")
        subset = Subset(job.seed, k, scenario)
        retrain = TrainJob(
            role="shadow",
            scenario=scenario,
            name=f"shadow_retrain_{scenario}_s{job.seed}_{k:03d}",
            recipe=recipe,
            seed=base.seed,
            subset=replace(subset, drop_forget=True),
            eval_every=job.eval_every,
            kind="shadows",
        )
        unlearned = UnlearnJob(
            method=job.method,
            base=str(base.name),
            scenario=scenario,
            params=dict(job.params),
            seed=base.seed or 0,
            stop_at_ua=job.stop_at_ua,
            eval_every=job.eval_every,
            name=f"shadow_{_slug(job.method)}_{scenario}_s{job.seed}_{k:03d}{_params_tag(job)}",
            subset=subset,
            kind="shadows",
        )
        planned += [
            _Planned(base, "reuse"),
            _Planned(unlearned, "reuse", depends_on=str(base.name)),
            _Planned(retrain, "reuse"),
        ]
    return planned


def _plan(ctx: _Context, job: Job) -> list[_Planned]:
    if isinstance(job, TrainJob):
        return _plan_train(ctx, job)
    if isinstance(job, UnlearnJob):
        return _plan_unlearn(ctx, job)
    if isinstance(job, ReferencesJob):
        return _plan_references(ctx, job)
    if isinstance(job, ShadowsJob):
        return _plan_shadows(ctx, job)
    raise ValidationError(
        describe(
            "job",
            "a TrainJob, UnlearnJob, ReferencesJob or ShadowsJob",
            type(job).__name__,
            raw=True,
        )
    )


# --------------------------------------------------------------------------- insertion


def _record_fields(ctx: _Context, job: RunJob) -> dict[str, Any]:
    paths = output_paths(job)
    common = {
        "file": paths["file"],
        "history": paths["history"],
        "members": paths["members"],
        "forget_mask": paths["forget_mask"],
        "state": "queued",
        "kind": job.kind,
        "job": job_to_dict(job),
        "seed": job.seed,
    }
    if isinstance(job, TrainJob):
        train = {**dict(job.recipe), "seed": job.seed}
        scenario = job.scenario if job.role in ("retrain", "shadow") else None
        method = "retrain" if job.role == "shadow" else None
        return {**common, "role": job.role, "forget": scenario, "train": train, "method": method}
    from analysis.unlearn import make_method

    runner = make_method(job.method, dict(job.params), workspace=ctx.root)
    params = dataclasses.asdict(runner.params)
    if job.stop_at_ua is not None:
        params["stop_at_ua"] = job.stop_at_ua
    return {
        **common,
        "role": job.role,
        "forget": job.scenario,
        "method": job.method,
        "base": job.base,
        "params": params,
    }


def _remove_dead(ctx: _Context, name: str) -> None:
    record = ctx.registry.get(name)
    if record is not None and record.state in _DEAD:
        from analysis.runs.api import remove_files

        remove_files(ctx.root, record)
        ctx.registry.remove(name)


def _insert(ctx: _Context, planned: _Planned, batch: str) -> RunRecord | None:
    """Insert one planned run; returns None when an existing run is reused."""
    job = planned.job
    assert job.name is not None
    if planned.naming == "reuse":
        existing = ctx.alive(job.name)
        if existing is not None:  # still queued: the caller must run it (or wait for it)
            return existing if existing.state == "queued" else None
        _remove_dead(ctx, job.name)
    if planned.replace_dead:
        _remove_dead(ctx, job.name)
    candidates: Iterable[RunJob]
    if planned.naming == "numbered":
        candidates = (replace(job, name=_numbered(job, n)) for n in range(1, 100_000))
    elif planned.naming == "next_k":
        candidates = _next_references(job)
    else:
        candidates = [job]
    for candidate in candidates:
        name = str(candidate.name)
        if name in ctx.models and not planned.replace_dead:
            if planned.naming == "fixed":
                raise ValidationError(
                    describe("name", "a name not used by another model or run", name)
                )
            continue
        try:
            return ctx.registry.add(
                name,
                **_record_fields(ctx, candidate),
                depends_on=planned.depends_on,
                batch=batch,
            )
        except ValidationError as exc:
            if not str(exc).startswith("name: expected a name not already"):
                raise
            if planned.naming == "reuse" and ctx.alive(name) is not None:
                return None  # a concurrent submitter queued the same shadow
            if planned.naming == "fixed":
                raise ValidationError(
                    describe("name", "a name not used by another model or run", name)
                ) from exc
    raise ValidationError(describe("name", "a free name", job.name))


def _numbered(job: RunJob, n: int) -> str:
    prefix = str(job.name)
    if isinstance(job, TrainJob):
        return prefix if n == 1 else f"{prefix}_{n}"
    return f"{prefix}_{n}"


def _next_references(job: RunJob) -> Iterable[RunJob]:
    """The reference ``job`` and then the following ``k`` (for concurrent submitters)."""
    assert isinstance(job, TrainJob) and job.subset is not None
    from analysis.runs.execute import _subset_seed

    k = job.subset.index
    while True:
        subset = replace(job.subset, index=k)
        yield replace(
            job, subset=subset, name=f"ref_s{subset.seed}_{k:03d}", seed=_subset_seed(subset)
        )
        k += 1


def submit(workspace: str | Path, jobs: Sequence[Job], *, batch: str | None = None) -> list[int]:
    """Validate ``jobs`` against the workspace and queue their runs (nothing runs here).

    Args:
        workspace: The workspace folder (or its ``experiment.toml``).
        jobs: Jobs to queue (a grid is a list of :class:`UnlearnJob`, see
            :func:`analysis.runs.grid_jobs`).
        batch: An id grouping these runs (default: a fresh one).

    Returns:
        The ids of the runs to execute, in order: the new ones, plus reused runs (shadow
        bases) that are still queued; reused runs that are running or done are left out.

    Raises:
        UlensError: A job does not fit the workspace (unknown scenario, base, method,
            hyperparameter, bad recipe); nothing is queued then.
        ReadOnlyWorkspaceError: The workspace cannot be written.
    """
    root = workspace_root(workspace)
    ctx = _Context(root)
    planned: list[_Planned] = []
    for job in jobs:
        for p in _plan(ctx, job):
            planned.append(p)
            if p.naming == "fixed" and p.job.name:
                ctx.planned.add(p.job.name)
    for p in planned:  # validate every record before inserting any
        _record_fields(ctx, p.job if p.job.name else replace(p.job, name="check"))
    group = batch or uuid.uuid4().hex[:12]
    ids = []
    for p in planned:
        record = _insert(ctx, p, group)
        if record is not None and record.id not in ids:
            ids.append(record.id)
    return ids


def run_count(jobs: Sequence[Job]) -> int:
    """Upper bound of the runs ``jobs`` queue (shadows may reuse some)."""
    counts: dict[type[Any], Callable[[Any], int]] = {
        ReferencesJob: lambda j: j.count,
        ShadowsJob: lambda j: 3 * j.count,
    }
    return sum(counts.get(type(j), lambda _: 1)(j) for j in jobs)
