"""Jobs: frozen, JSON-serialisable descriptions of long work on a workspace.

Four kinds, submitted alike by the CLI, the app and the Python API (:func:`analysis.runs.submit`):

* :class:`TrainJob` — train a model from scratch with a recipe: an ``original`` (all training
  samples) or a ``retrain`` (the scenario's retain samples); with a :class:`Subset`, a
  ``reference`` or ``shadow`` model on a seeded random half.
* :class:`UnlearnJob` — apply a method with hyperparameters and a seed to a base model on a
  scenario (optionally stopping once the forget accuracy reaches ``stop_at_ua``).
* :class:`ReferencesJob` — K reference models on seeded random halves (membership masks).
* :class:`ShadowsJob` — K shadow triples for U-LiRA (see :mod:`analysis.runs.plan`).

``ReferencesJob`` and ``ShadowsJob`` expand into ``TrainJob`` / ``UnlearnJob`` runs when
submitted; every run stores its fully resolved job (name, recipe, seed...) in the registry, and
executing it is a pure function of the workspace and that job
(:func:`analysis.runs.execute.run_job`).

Hyperparameters typed on the command line (``--param lr=0.01``) are parsed against the method's
``Params`` dataclass (:func:`parse_params`), recipes against :class:`~analysis.training.TrainConfig`
(:func:`parse_recipe`); both errors name the field.

Example:
    >>> jobs = grid_jobs("ga", params={"epochs": 2}, grid={"lr": [0.01, 0.02]}, seeds=[0, 1])
    >>> len(jobs), dict(jobs[0].params), jobs[3].seed
    (4, {'epochs': 2, 'lr': 0.01}, 1)
    >>> job_from_dict(job_to_dict(jobs[0])) == jobs[0]
    True
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args, get_origin

from analysis.errors import MethodError, ValidationError, describe
from analysis.training import TrainConfig

__all__ = [
    "JOB_KINDS",
    "Job",
    "ParamField",
    "ReferencesJob",
    "RunJob",
    "ShadowsJob",
    "Subset",
    "TrainJob",
    "UnlearnJob",
    "grid_jobs",
    "job_from_dict",
    "job_to_dict",
    "method_fields",
    "parse_grid",
    "parse_params",
    "parse_recipe",
    "parse_value",
]

JOB_KINDS = ("train", "unlearn", "references", "shadows")
"""The kinds of job (and the ``kind`` column of their runs)."""
TRAIN_ROLES = ("original", "retrain", "reference", "shadow")
RUN_OPTIONS = ("stop_at_ua",)
"""Keys accepted beside a method's hyperparameters (``--param stop_at_ua=0.05``)."""


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Subset:
    """A seeded random half of the training set (reference and shadow models).

    ``members`` = ``n // 2`` indices drawn by ``numpy.random.default_rng([seed, index])``;
    with ``scenario``, ``forget = members ∩ F_scenario``; with ``drop_forget`` the model is
    trained on ``members \\ forget`` (a shadow retrain).

    Attributes:
        seed: The shadow/reference seed ``s0``.
        index: ``k``.
        scenario: Scenario whose forget set defines ``forget`` (shadows), else None.
        drop_forget: Train on ``members \\ forget`` instead of ``members``.
    """

    seed: int
    index: int
    scenario: str | None = None
    drop_forget: bool = False


@dataclass(frozen=True)
class TrainJob:
    """Train a model from scratch with a recipe.

    Attributes:
        role: ``original`` (all training samples), ``retrain`` (the scenario's retain samples),
            ``reference`` / ``shadow`` (a :class:`Subset`).
        scenario: The forget scenario (retrain, shadow; also the scenario per-epoch UA/RA
            refer to). None: the workspace's first scenario.
        name: Model name (None: chosen at submission).
        recipe: :class:`~analysis.training.TrainConfig` fields overriding the recipe in
            ``experiment.toml`` (the ``train`` table of the role's model, else the original's).
        seed: Seed (None: the recipe's ``seed``, else 0).
        subset: The random half of a reference or shadow model.
        file: Workspace-relative weights path (None: ``models/runs/NAME.safetensors``).
        eval_every: Evaluate UA/RA/TUA/TRA/PS every this many epochs (0: only at the end).
        kind: The kind of job it came from (``train``, ``references``, ``shadows``).
        manipulation: A :class:`~analysis.manipulation.Manipulation` (as JSON data) applied to
            the training split before training (corrective studies), else None.
    """

    role: str = "original"
    scenario: str | None = None
    name: str | None = None
    recipe: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    subset: Subset | None = None
    file: str | None = None
    eval_every: int = 1
    kind: str = "train"
    manipulation: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "recipe", _frozen(self.recipe))
        object.__setattr__(self, "manipulation", _manipulation(self.manipulation))
        if self.role not in TRAIN_ROLES:
            raise ValidationError(describe("role", f"one of {list(TRAIN_ROLES)}", self.role))
        if (self.role in ("reference", "shadow")) != (self.subset is not None):
            raise ValidationError(
                describe("subset", "a Subset exactly for reference and shadow roles", self.subset)
            )
        _check_common(self.seed, self.eval_every, allow_none_seed=True)


@dataclass(frozen=True)
class UnlearnJob:
    """Apply an unlearning method to a base model on a scenario.

    Attributes:
        method: Registry name, entry point or ``module:Class`` of the method.
        base: The model the method starts from (a TOML model or a registry run, even a queued
            one: the run then waits for it).
        scenario: The forget scenario (None: the workspace's first scenario).
        params: Hyperparameters (fields of the method's ``Params``).
        seed: Seed of the method run.
        stop_at_ua: End the run at the first evaluated epoch whose forget accuracy (UA) is at
            most this value (None: run every epoch).
        eval_every: Evaluate every this many epochs (0: only at the end).
        name: Model name (None: chosen at submission).
        subset: A shadow run's random half (forget = members ∩ F, retain = members \\ F).
        kind: ``unlearn`` or ``shadows``.
        forgotten: A scenario the base model has already forgotten (a sequence of deletion
            requests): the method's forget set is the scenario's forget samples minus that
            scenario's (which must be a strict subset of them); the retain set stays the
            complement of the scenario, and the run is evaluated on the whole scenario.
        manipulation: A manipulation of the training split (see :class:`TrainJob`).
    """

    method: str
    base: str = "original"
    scenario: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    stop_at_ua: float | None = None
    eval_every: int = 1
    name: str | None = None
    subset: Subset | None = None
    kind: str = "unlearn"
    forgotten: str | None = None
    manipulation: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _frozen(self.params))
        object.__setattr__(self, "manipulation", _manipulation(self.manipulation))
        if not isinstance(self.method, str) or not self.method.strip():
            raise MethodError(describe("method", "a method name", self.method))
        if not isinstance(self.base, str) or not self.base:
            raise ValidationError(describe("base", "a model name", self.base))
        if self.forgotten is not None and (
            not isinstance(self.forgotten, str) or not self.forgotten or self.subset is not None
        ):
            raise ValidationError(
                describe("forgotten", "a scenario name (and no subset) or None", self.forgotten)
            )
        _check_common(self.seed, self.eval_every, allow_none_seed=False)
        _check_stop(self.stop_at_ua)

    @property
    def role(self) -> str:
        """``shadow`` for a shadow run, else ``unlearned``."""
        return "shadow" if self.subset is not None else "unlearned"


@dataclass(frozen=True)
class ReferencesJob:
    """K reference models, each trained with the original's recipe on a seeded random half.

    Attributes:
        count: K (at least 1).
        seed: ``s0``; the k-th reference uses ``Subset(seed, k)``. The K smallest ``k`` not
            used yet by a registry run are taken, so names never clash with existing models.
        recipe: Recipe overrides (see :class:`TrainJob`).
        eval_every: See :class:`TrainJob`.
    """

    count: int
    seed: int = 0
    recipe: Mapping[str, Any] = field(default_factory=dict)
    eval_every: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "recipe", _frozen(self.recipe))
        _check_count(self.count)
        _check_common(self.seed, self.eval_every, allow_none_seed=False)


@dataclass(frozen=True)
class ShadowsJob:
    """K shadow triples for U-LiRA (format in :mod:`analysis.runs.plan`).

    Attributes:
        count: K (at least 1).
        method: The unlearning method applied to each shadow base.
        params: Its hyperparameters.
        scenario: The forget scenario S (None: the first one).
        seed: ``s0``.
        recipe: Recipe overrides of the base and retrain shadows.
        stop_at_ua: Stopping rule of the unlearning shadows.
        eval_every: See :class:`TrainJob`.
    """

    count: int
    method: str
    params: Mapping[str, Any] = field(default_factory=dict)
    scenario: str | None = None
    seed: int = 0
    recipe: Mapping[str, Any] = field(default_factory=dict)
    stop_at_ua: float | None = None
    eval_every: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _frozen(self.params))
        object.__setattr__(self, "recipe", _frozen(self.recipe))
        _check_count(self.count)
        if not isinstance(self.method, str) or not self.method.strip():
            raise MethodError(describe("method", "a method name", self.method))
        _check_common(self.seed, self.eval_every, allow_none_seed=False)
        _check_stop(self.stop_at_ua)


RunJob = TrainJob | UnlearnJob
"""A job that produces exactly one model (one registry run)."""
Job = TrainJob | UnlearnJob | ReferencesJob | ShadowsJob
"""Anything :func:`analysis.runs.submit` accepts."""

_TYPES: dict[str, type[Any]] = {
    "train": TrainJob,
    "unlearn": UnlearnJob,
    "references": ReferencesJob,
    "shadows": ShadowsJob,
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _manipulation(value: Any) -> Mapping[str, Any] | None:
    """A job's manipulation validated and frozen as JSON data (None stays None)."""
    if value is None:
        return None
    from analysis.manipulation import Manipulation

    return _frozen(Manipulation.from_dict(value).to_dict())


def _check_common(seed: Any, eval_every: Any, *, allow_none_seed: bool) -> None:
    if not (_is_int(seed) or (allow_none_seed and seed is None)):
        raise ValidationError(describe("seed", "an integer", seed))
    if not _is_int(eval_every) or eval_every < 0:
        raise ValidationError(describe("eval_every", "a non-negative integer", eval_every))


def _check_count(count: Any) -> None:
    if not _is_int(count) or count < 1:
        raise ValidationError(describe("count", "a positive integer (K >= 1)", count))


def _check_stop(stop: Any) -> None:
    ok = stop is None or (
        isinstance(stop, int | float)
        and not isinstance(stop, bool)
        and math.isfinite(stop)
        and 0 <= stop <= 1
    )
    if not ok:
        raise ValidationError(describe("stop_at_ua", "a forget accuracy in [0, 1]", stop))


# --------------------------------------------------------------------------- JSON


def job_to_dict(job: Job) -> dict[str, Any]:
    """A job as plain JSON data with a ``type`` key (see :func:`job_from_dict`).

    Example:
        >>> job_to_dict(ReferencesJob(count=2))["type"]
        'references'
    """
    kind = next((k for k, cls in _TYPES.items() if type(job) is cls), None)
    if kind is None:
        raise ValidationError(
            describe(
                "job",
                "a TrainJob, UnlearnJob, ReferencesJob or ShadowsJob",
                type(job).__name__,
                raw=True,
            )
        )
    out: dict[str, Any] = {"type": kind}
    for f in fields(job):
        value = getattr(job, f.name)
        if isinstance(value, Subset):
            value = dataclasses.asdict(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        out[f.name] = value
    return out


def job_from_dict(data: Mapping[str, Any]) -> Job:
    """Rebuild a job from :func:`job_to_dict`'s output.

    Raises:
        ValidationError: Unknown type or fields, or invalid values.
    """
    if not isinstance(data, Mapping) or data.get("type") not in _TYPES:
        raise ValidationError(describe("job", f"a mapping with type among {list(_TYPES)}", data))
    cls = _TYPES[str(data["type"])]
    values = {k: v for k, v in data.items() if k != "type"}
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValidationError(
            describe(f"{data['type']} job", f"fields among {sorted(known)}", unknown)
        )
    if isinstance(values.get("subset"), Mapping):
        values["subset"] = Subset(**values["subset"])
    try:
        return typing.cast(Job, cls(**values))
    except TypeError as exc:
        raise ValidationError(
            describe(f"{data['type']} job", "valid fields", str(exc), raw=True)
        ) from exc


# --------------------------------------------------------------------------- typed values


@dataclass(frozen=True)
class ParamField:
    """One hyperparameter of a method (drives the app's form and the CLI's parsing).

    Attributes:
        name: Field name.
        type: ``int``, ``float``, ``bool``, ``str`` or ``choice``.
        default: Default value.
        choices: Allowed values of a ``choice`` field.
        bounds: Inclusive (low, high) of a numeric field from the method's ``Params.BOUNDS``
            (None: open on that side); the ``Params`` validation stays the authority.
    """

    name: str
    type: str
    default: Any
    choices: tuple[Any, ...] = ()
    bounds: tuple[float | None, float | None] = (None, None)


def _hint_kind(hint: Any) -> str:
    if get_origin(hint) is Literal:
        return "choice"
    for kind in (bool, int, float, str):
        if hint is kind:
            return kind.__name__
    return "str"


def method_fields(method: str, *, workspace: str | Path | None = None) -> list[ParamField]:
    """The typed hyperparameters of a method, in declaration order.

    Raises:
        MethodError: Unknown method.

    Example:
        >>> [(f.name, f.type) for f in method_fields("ga")][:2]
        [('epochs', 'int'), ('lr', 'float')]
    """
    from analysis.unlearn import get_method
    from analysis.unlearn.base import param_bounds

    cls = get_method(method, workspace=workspace)
    hints = typing.get_type_hints(cls.Params)
    bounds = param_bounds(cls.Params)
    out = []
    for f in fields(cls.Params):
        hint = hints.get(f.name, str)
        default = f.default if f.default is not dataclasses.MISSING else None
        choices = tuple(get_args(hint)) if get_origin(hint) is Literal else ()
        limits = bounds.get(f.name, (None, None))
        out.append(ParamField(f.name, _hint_kind(hint), default, choices, limits))
    return out


_TRUE = ("true", "yes", "1", "on")
_FALSE = ("false", "no", "0", "off")


def parse_value(text: str, hint: Any, *, argument: str) -> Any:
    """Parse command-line ``text`` as a value of the annotation ``hint``.

    ``int``, ``float`` (``1e-3`` accepted), ``bool`` (true/false/yes/no/1/0), ``str`` and
    ``Literal[...]`` annotations are understood; anything else stays text.

    Raises:
        MethodError: The text is not a value of that type (the message names ``argument``).

    Example:
        >>> parse_value("1e-3", float, argument="lr"), parse_value("yes", bool, argument="b")
        (0.001, True)
    """
    raw = text.strip()
    kind = _hint_kind(hint)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError(raw)
            return value
        if kind == "bool":
            if raw.lower() in _TRUE + _FALSE:
                return raw.lower() in _TRUE
            raise ValueError(raw)
    except ValueError as exc:
        raise MethodError(describe(argument, f"a value of type {kind}", text)) from exc
    if kind == "choice":
        for choice in get_args(hint):
            if str(choice) == raw:
                return choice
        raise MethodError(describe(argument, f"one of {list(get_args(hint))}", text))
    return raw


def _split_assignment(item: str, option: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise MethodError(describe(option, "KEY=VALUE", item))
    return key.strip(), value.strip()


def parse_params(
    method: str, items: Sequence[str], *, workspace: str | Path | None = None
) -> dict[str, Any]:
    """Parse ``["lr=0.01", "epochs=3"]`` against the method's ``Params`` field types.

    ``stop_at_ua`` is accepted too (the stopping rule of any unlearning run).

    Raises:
        MethodError: Unknown method or field (the accepted ones are listed), bad syntax or a
            value of the wrong type (the field is named).

    Example:
        >>> parse_params("ga", ["lr=0.02", "epochs=3"])
        {'lr': 0.02, 'epochs': 3}
    """
    hints = _method_hints(method, workspace)
    out: dict[str, Any] = {}
    for item in items:
        key, text = _split_assignment(item, "--param")
        out[key] = parse_value(
            text, _hint_for(method, hints, key), argument=f"{method} hyperparameter {key!r}"
        )
    return out


def _method_hints(method: str, workspace: str | Path | None) -> dict[str, Any]:
    from analysis.unlearn import get_method

    cls = get_method(method, workspace=workspace)
    hints = typing.get_type_hints(cls.Params)
    return {f.name: hints.get(f.name, str) for f in fields(cls.Params)} | {"stop_at_ua": float}


def _hint_for(method: str, hints: Mapping[str, Any], key: str) -> Any:
    if key not in hints:
        raise MethodError(
            describe(
                f"{method} hyperparameter {key!r}",
                f"one of the accepted hyperparameters {list(hints)}",
                key,
            )
        )
    return hints[key]


def parse_grid(
    method: str, items: Sequence[str], *, workspace: str | Path | None = None
) -> dict[str, list[Any]]:
    """Parse ``["lr=0.01,0.02"]`` (comma-separated values per field) into typed lists.

    Raises:
        MethodError: Bad syntax (``KEY=V1,V2``), an empty value, an unknown field, a value of
            the wrong type, or a field given twice.

    Example:
        >>> parse_grid("ga", ["lr=0.01,0.02", "epochs=1"])
        {'lr': [0.01, 0.02], 'epochs': [1]}
    """
    hints = _method_hints(method, workspace)
    out: dict[str, list[Any]] = {}
    for item in items:
        key, text = _split_assignment(item, "--grid")
        parts = [p.strip() for p in text.split(",")]
        if any(not p for p in parts):
            raise MethodError(describe("--grid", "KEY=V1,V2,... without empty values", item))
        if key in out:
            raise MethodError(describe("--grid", "each hyperparameter once", key))
        hint = _hint_for(method, hints, key)
        out[key] = [
            parse_value(p, hint, argument=f"{method} hyperparameter {key!r}") for p in parts
        ]
    return out


def parse_recipe(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``["epochs=2", "optimizer=adam"]`` against :class:`TrainConfig`'s field types.

    Raises:
        ValidationError: Unknown field, bad syntax or a value of the wrong type.

    Example:
        >>> parse_recipe(["epochs=2", "lr=0.1"])
        {'epochs': 2, 'lr': 0.1}
    """
    hints = typing.get_type_hints(TrainConfig)
    accepted = [f.name for f in fields(TrainConfig)]
    out: dict[str, Any] = {}
    for item in items:
        try:
            key, text = _split_assignment(item, "--recipe")
            if key not in accepted:
                raise MethodError(describe(f"recipe field {key!r}", f"one of {accepted}", key))
            out[key] = parse_value(text, hints[key], argument=f"recipe field {key!r}")
        except MethodError as exc:
            raise ValidationError(str(exc)) from exc
    return out


def grid_jobs(
    method: str,
    *,
    base: str = "original",
    scenario: str | None = None,
    params: Mapping[str, Any] | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    seeds: Sequence[int] = (0,),
    stop_at_ua: float | None = None,
    eval_every: int = 1,
    workspace: str | Path | None = None,
) -> list[UnlearnJob]:
    """The Cartesian product of ``grid`` × ``seeds`` as :class:`UnlearnJob` s.

    ``params`` are shared by every job; grid values override them. A ``stop_at_ua`` key in
    ``params`` or ``grid`` sets the stopping rule. Hyperparameters are validated by building
    the method's ``Params`` for every combination.

    Raises:
        MethodError: Unknown method, unknown or invalid hyperparameter.
        ValidationError: No seeds, an empty grid axis, a bad seed.

    Example:
        >>> [j.params["lr"] for j in grid_jobs("ga", grid={"lr": [0.1, 0.2]})]
        [0.1, 0.2]
    """
    from analysis.unlearn import make_method

    grid = dict(grid or {})
    if not seeds or not all(_is_int(s) for s in seeds):
        raise ValidationError(describe("seeds", "a non-empty list of integers", list(seeds)))
    if len(set(seeds)) != len(seeds):
        raise ValidationError(describe("seeds", "distinct seeds", list(seeds)))
    empty = [k for k, v in grid.items() if not list(v)]
    if empty:
        raise ValidationError(describe("grid", "at least one value per hyperparameter", empty))
    keys = list(grid)
    jobs = []
    for values in itertools.product(*(list(grid[k]) for k in keys)):
        combo = {**dict(params or {}), **dict(zip(keys, values, strict=True))}
        stop = combo.pop("stop_at_ua", stop_at_ua)
        make_method(
            method, combo, workspace=workspace
        )  # validates every field and range, naming the field
        for seed in seeds:
            jobs.append(
                UnlearnJob(
                    method=method,
                    base=base,
                    scenario=scenario,
                    params=combo,
                    seed=seed,
                    stop_at_ua=stop,
                    eval_every=eval_every,
                )
            )
    return jobs
