"""The Run panel's form logic, without Streamlit: typed fields, grid values, jobs, run counts.

The panel (:mod:`dashboard.views.runs_panel`) draws one widget per field of
:func:`fields_for` and hands the values to :func:`build_jobs`, which returns the same job objects
the CLI and the Python API submit (:mod:`analysis.runs`). Bad values raise
:class:`~analysis.errors.UlensError` naming the field; the panel shows them with ``st.error``.

Example:
    >>> values = {"lr": parse_field_values(field("lr", "float", 0.01), "0.01, 0.02")}
    >>> jobs = build_jobs(RunRequest("unlearn", method="ga", values=values, seeds=[0, 1]))
    >>> len(jobs), sorted({j.params["lr"] for j in jobs}), run_count(jobs)
    (4, [0.01, 0.02], 4)
"""

from __future__ import annotations

import dataclasses
import itertools
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Literal, get_args, get_origin

from analysis.errors import ValidationError, describe
from analysis.runs.jobs import (
    Job,
    ParamField,
    ReferencesJob,
    ShadowsJob,
    TrainJob,
    grid_jobs,
    method_fields,
    parse_value,
)
from analysis.runs.plan import run_count as _plan_run_count
from analysis.training import TrainConfig

__all__ = [
    "JOB_KINDS",
    "MAX_GRID_VALUES",
    "MAX_RUNS",
    "MAX_SEEDS",
    "RunRequest",
    "build_jobs",
    "field",
    "field_bounds",
    "fields_for",
    "format_values",
    "grid_summary",
    "parse_field_values",
    "parse_seeds",
    "recipe_fields",
    "run_count",
]

JOB_KINDS = {
    "unlearn": "Unlearn: a method on a base model",
    "train": "Train: the original or a retrain model",
    "references": "References: K models on random halves (LiRA / RMIA)",
    "shadows": "Shadows: K shadow triples (U-LiRA)",
}
"""Job kinds of the panel and their labels."""
MAX_GRID_VALUES = 5
"""Values per hyperparameter in grid mode."""
MAX_SEEDS = 20
"""Seeds per submission."""
MAX_RUNS = 500
"""Runs one Start may queue (a grid is counted before any job is built)."""
GRID_KINDS = ("unlearn", "train")
"""Kinds with a grid mode (the others take one value per field)."""


def field(name: str, kind: str, default: Any, choices: Sequence[Any] = ()) -> ParamField:
    """A :class:`~analysis.runs.ParamField` (shorthand for tests and recipes)."""
    return ParamField(name, kind, default, tuple(choices))


def field_bounds(spec: ParamField) -> tuple[float | None, float | None]:
    """``(low, high)`` of a numeric field when its ``ParamField`` declares them, else Nones.

    ``analysis.runs.ParamField`` may carry ``bounds`` (or ``low`` / ``high``); methods whose
    ``Params`` check ranges in ``__post_init__`` only are validated when the jobs are built.
    """
    bounds = getattr(spec, "bounds", None)
    if isinstance(bounds, tuple | list) and len(bounds) == 2:
        return bounds[0], bounds[1]
    return getattr(spec, "low", None), getattr(spec, "high", None)


def _kind_of(hint: Any) -> tuple[str, tuple[Any, ...]]:
    if get_origin(hint) is Literal:
        return "choice", tuple(get_args(hint))
    for kind in (bool, int, float, str):
        if hint is kind:
            return kind.__name__, ()
    return "str", ()


def recipe_fields(recipe: Mapping[str, Any] | None = None) -> list[ParamField]:
    """The training recipe's typed fields (:class:`~analysis.training.TrainConfig`, seed
    excluded: seeds are chosen separately), with ``recipe``'s values as defaults.

    Example:
        >>> [(f.name, f.type, f.default) for f in recipe_fields({"epochs": 3})][:2]
        [('epochs', 'int', 3), ('lr', 'float', 0.05)]
    """
    hints = typing.get_type_hints(TrainConfig)
    given = dict(recipe or {})
    out = []
    for f in dataclasses.fields(TrainConfig):
        if f.name == "seed":
            continue
        kind, choices = _kind_of(hints[f.name])
        out.append(ParamField(f.name, kind, given.get(f.name, f.default), choices))
    return out


def fields_for(
    kind: str, *, method: str | None = None, recipe: Mapping[str, Any] | None = None
) -> list[ParamField]:
    """The typed fields of a job kind: the method's ``Params`` (unlearn, shadows) or the
    training recipe (train, references).

    Raises:
        MethodError: Unknown method.
        ValidationError: Unknown kind.
    """
    if kind in ("unlearn", "shadows"):
        if not method:
            raise ValidationError(describe("method", "a method name", method))
        return method_fields(method)
    if kind in ("train", "references"):
        return recipe_fields(recipe)
    raise ValidationError(describe("job kind", f"one of {list(JOB_KINDS)}", kind))


def format_values(values: Sequence[Any]) -> str:
    """Values as the comma-separated text a grid field shows.

    Example:
        >>> format_values([0.0005, 3, True, "cosine"])
        '0.0005, 3, true, cosine'
    """
    return ", ".join(
        ("true" if v else "false")
        if isinstance(v, bool)
        else f"{v:g}"
        if isinstance(v, float)
        else str(v)
        for v in values
    )


def parse_field_values(spec: ParamField, text: str) -> list[Any]:
    """Comma-separated ``text`` as up to :data:`MAX_GRID_VALUES` distinct typed values.

    Raises:
        MethodError: A value of the wrong type (the field is named).
        ValidationError: No value, too many values, a value twice, or out of declared bounds.

    Example:
        >>> parse_field_values(field("epochs", "int", 5), "1, 2")
        [1, 2]
    """
    hint: Any = {"int": int, "float": float, "bool": bool}.get(spec.type, str)
    if spec.type == "choice":
        hint = Literal[spec.choices]
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts) or any(not p for p in parts):
        raise ValidationError(
            describe(spec.name, "comma-separated values without empty entries", text)
        )
    values = [parse_value(p, hint, argument=spec.name) for p in parts]
    if len(values) > MAX_GRID_VALUES:
        raise ValidationError(
            describe(spec.name, f"at most {MAX_GRID_VALUES} values", f"{len(values)} values")
        )
    if len(set(map(repr, values))) != len(values):
        raise ValidationError(describe(spec.name, "distinct values", text))
    _check_bounds(spec, values)
    return values


def _check_bounds(spec: ParamField, values: Sequence[Any]) -> None:
    low, high = field_bounds(spec)
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValidationError(describe(spec.name, _range_text(low, high), value))


def _range_text(low: float | None, high: float | None) -> str:
    if high is None:
        return f"a value ≥ {low}"
    return f"a value ≤ {high}" if low is None else f"a value in [{low}, {high}]"


def parse_seeds(text: str) -> list[int]:
    """Comma-separated distinct integer seeds (at most :data:`MAX_SEEDS`).

    Raises:
        ValidationError: Not integers, none, duplicates or too many.

    Example:
        >>> parse_seeds("0, 1,2")
        [0, 1, 2]
    """
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        seeds = [int(p) for p in parts]
    except ValueError as exc:
        raise ValidationError(describe("seeds", "comma-separated integers", text)) from exc
    if not seeds:
        raise ValidationError(describe("seeds", "at least one integer", text))
    if len(set(seeds)) != len(seeds):
        raise ValidationError(describe("seeds", "distinct seeds", text))
    if len(seeds) > MAX_SEEDS:
        raise ValidationError(describe("seeds", f"at most {MAX_SEEDS} seeds", len(seeds)))
    return seeds


@dataclass(frozen=True)
class RunRequest:
    """What the panel's form holds.

    Attributes:
        kind: One of :data:`JOB_KINDS`.
        method: Unlearning method (unlearn, shadows).
        base: Base model (unlearn).
        scenario: Forget scenario (unlearn, retrain, shadows; None: the first).
        role: ``original`` or ``retrain`` (train).
        values: Field name -> its values (one value, or up to five in grid mode).
        seeds: Seeds (one run per seed; ``s0`` of references and shadows is the first).
        count: K (references, shadows).
        stop_at_ua: Stopping rule of unlearning runs (None: every epoch).
        eval_every: Evaluate UA/RA/TUA/TRA/PS every this many epochs.
    """

    kind: str
    method: str | None = None
    base: str = "original"
    scenario: str | None = None
    role: str = "original"
    values: Mapping[str, Sequence[Any]] = dc_field(default_factory=dict)
    seeds: Sequence[int] = (0,)
    count: int = 1
    stop_at_ua: float | None = None
    eval_every: int = 1


def _single(values: Mapping[str, Sequence[Any]], kind: str) -> dict[str, Any]:
    several = sorted(k for k, v in values.items() if len(v) != 1)
    if several:
        raise ValidationError(
            describe(f"{kind} job", "one value per field (grids are for unlearn / train)", several)
        )
    return {k: v[0] for k, v in values.items()}


def _train_jobs(request: RunRequest) -> list[TrainJob]:
    keys = list(request.values)
    jobs = []
    for combo in itertools.product(*(list(request.values[k]) for k in keys)):
        recipe = dict(zip(keys, combo, strict=True))
        TrainConfig(**recipe)  # validates ranges, naming the field
        scenario = request.scenario if request.role == "retrain" else None
        jobs += [
            TrainJob(
                role=request.role,
                scenario=scenario,
                recipe=recipe,
                seed=seed,
                eval_every=request.eval_every,
            )
            for seed in request.seeds
        ]
    return jobs


def _check_size(request: RunRequest) -> None:
    size = len(request.seeds)
    for values in request.values.values():
        size *= max(1, len(values))
    if request.kind in GRID_KINDS and size > MAX_RUNS:
        raise ValidationError(
            describe("grid", f"at most {MAX_RUNS} runs per start", f"{size} runs", raw=True)
        )


def build_jobs(request: RunRequest) -> list[Job]:
    """The jobs of a form (a grid × seeds for unlearn and train).

    Raises:
        UlensError: Unknown method, a bad value or combination (the field is named), or more
            than :data:`MAX_RUNS` runs.
    """
    _check_size(request)
    if request.kind == "unlearn":
        if not request.method:
            raise ValidationError(describe("method", "a method name", request.method))
        grid = {k: list(v) for k, v in request.values.items()}
        return list(
            grid_jobs(
                request.method,
                base=request.base,
                scenario=request.scenario,
                grid=grid,
                seeds=list(request.seeds),
                stop_at_ua=request.stop_at_ua,
                eval_every=request.eval_every,
            )
        )
    if request.kind == "train":
        return list(_train_jobs(request))
    if request.kind == "references":
        recipe = _single(request.values, "references")
        TrainConfig(**recipe)
        return [ReferencesJob(request.count, int(request.seeds[0]), recipe, request.eval_every)]
    if request.kind == "shadows":
        params = _single(request.values, "shadows")
        grid_jobs(str(request.method), params=params)  # validates the hyperparameters
        return [
            ShadowsJob(
                count=request.count,
                method=str(request.method),
                params=params,
                scenario=request.scenario,
                seed=int(request.seeds[0]),
                stop_at_ua=request.stop_at_ua,
                eval_every=request.eval_every,
            )
        ]
    raise ValidationError(describe("job kind", f"one of {list(JOB_KINDS)}", request.kind))


def run_count(jobs: Sequence[Job]) -> int:
    """How many runs ``jobs`` queue at most (K per references job, 3K per shadows job)."""
    return _plan_run_count(jobs)


def grid_summary(request: RunRequest, jobs: Sequence[Job]) -> str:
    """One line saying what Start will queue, e.g. ``"4 runs: lr (2 values) × 2 seeds"``.

    Example:
        >>> req = RunRequest("unlearn", method="ga", values={"lr": [0.1, 0.2]}, seeds=[0, 1])
        >>> grid_summary(req, build_jobs(req))
        '4 runs: ga on the first scenario from original, lr (2 values) × 2 seeds'
    """
    n = run_count(jobs)
    runs = f"{n} run{'s' if n != 1 else ''}"
    scenario = request.scenario or "the first scenario"
    if request.kind == "references":
        return f"{runs}: {request.count} reference model(s), seed {request.seeds[0]}"
    if request.kind == "shadows":
        return (
            f"up to {runs}: {request.count} shadow triple(s) of {request.method} on {scenario} "
            "(existing reference bases are reused)"
        )
    what = (
        f"{request.method} on {scenario} from {request.base}"
        if request.kind == "unlearn"
        else f"{request.role}" + (f" for {scenario}" if request.role == "retrain" else "")
    )
    axes = [f"{k} ({len(v)} values)" for k, v in request.values.items() if len(v) > 1]
    seeds = len(request.seeds)
    factors = [*axes, f"{seeds} seed{'s' if seeds != 1 else ''}"]
    return f"{runs}: {what}, " + " × ".join(factors)
