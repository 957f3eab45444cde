"""The study protocol: a named set of jobs on forget sets of its own, plus an aggregation.

A study family is one subclass of :class:`Study` (a frozen dataclass of its parameters) that
says which forget sets it needs (:meth:`Study.steps`: one scenario per point of its x axis,
resolved against the dataset's labels by :meth:`Study.forget_tables`) and which jobs it runs on
them (:meth:`Study.jobs`: retrain models and unlearning runs, named after the study).
:meth:`Study.aggregate` turns the per-run metrics into a :class:`StudyResult`: one row per run
and one per (method, x) with the mean and standard deviation over seeds.

Forget sets are drawn once from the study's ``forget_seed``: ``random`` takes prefixes of one
seeded permutation of the training indices (so larger sets contain the smaller ones, and
successive requests are disjoint); ``classes`` takes prefixes of a class order (``classes``,
else a seeded permutation of the classes). The ``seeds`` are the unlearning runs' seeds: the
error bars show the methods' run-to-run spread on fixed forget sets, and each forget set has one
retrain model (the recipe's seed).

Names (``S`` = the study's name, ``tag`` = the point, e.g. ``f0.05``, ``c2``, ``r1``): scenario
``S_tag``, retrain run ``S_tag_retrain``, unlearning runs ``S_tag_<method>_s<seed>``.

Example:
    >>> from analysis.studies import ScalabilityStudy
    >>> study = ScalabilityStudy(name="sc", methods=("ga",), sizes=(0.05, 0.1), seeds=(0, 1))
    >>> [s.scenario for s in study.steps()]
    ['sc_f0.05', 'sc_f0.1']
    >>> [j.name for j in study.jobs()][:3]
    ['sc_f0.05_retrain', 'sc_f0.05_ga_s0', 'sc_f0.05_ga_s1']
"""

from __future__ import annotations

import abc
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from analysis.errors import ValidationError, describe
from analysis.runs.jobs import RunJob, TrainJob, UnlearnJob
from analysis.runs.registry import validate_name

__all__ = [
    "FORGET_KINDS",
    "STUDY_KINDS",
    "STUDY_METRICS",
    "Step",
    "Study",
    "StudyResult",
    "register_study",
    "study_from_dict",
    "summarise",
]

FORGET_KINDS = ("random", "classes")
"""How a study draws its forget sets: random training samples, or whole classes."""
STUDY_METRICS = (
    "UA",
    "RA",
    "TUA",
    "TRA",
    "PS",
    "mia_efficacy",
    "forget_auc",
    "privleak",
    "RT",
    "acc_gap",
    "UA_gap",
)
"""The per-run metrics a study aggregates: the models table's columns (DESIGN §3):
accuracies, PS, the MIA audit's headline numbers (SVC MIA-efficacy, forget-vs-holdout AUC,
PrivLeak), run time, the mean absolute accuracy gap to the step's retrain model (``acc_gap``)
and the signed forget-accuracy gap ``UA_gap`` = UA − the retrain model's UA (> 0: forgets
less than the retrain model)."""
RUN_COLUMNS = ("name", "scenario", "method", "seed", "state")
"""Columns :meth:`Study.aggregate` needs besides the metrics."""
STUDY_KINDS: dict[str, type[Study]] = {}
"""Study kind -> class (filled by :func:`register_study`)."""
_MAX_NAME = 48
_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def register_study(cls: type[Study]) -> type[Study]:
    """Class decorator: make a study family known to :func:`study_from_dict` by its ``kind``."""
    STUDY_KINDS[cls.kind] = cls
    return cls


@dataclass(frozen=True)
class Step:
    """One point of a study's x axis: a forget scenario and its place in the study.

    Attributes:
        scenario: The scenario's name (``<study>_<tag>``).
        x: The x value (forget fraction, number of classes, or request number).
        count: Cumulative size of the forget set in the study's unit (samples or classes);
            for ``random`` studies this is resolved with the dataset (None until then).
        forgotten: The previous step's scenario, whose samples the base already forgot
            (sequential requests), else None.
        label: A name for a categorical point (``worst``, ``random``); empty: ``x`` says it.
    """

    scenario: str
    x: float
    count: int | None = None
    forgotten: str | None = None
    label: str = ""


def _tuple(value: Any) -> Any:
    """Lists become tuples (JSON round trips); anything else is left for validation."""
    return tuple(value) if isinstance(value, list | tuple) else value


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass(frozen=True, kw_only=True)
class Study(abc.ABC):
    """Base class of the study families (subclasses are frozen dataclasses too).

    Attributes:
        name: The study's name (1-48 of ``[A-Za-z0-9_.-]``); it prefixes its scenarios and runs.
        methods: Unlearning methods (registry names, entry points or ``module:Class``).
        params: Hyperparameters per method (``{"ga": {"lr": 0.01}}``; others use defaults).
        seeds: Seeds of the unlearning runs (distinct integers).
        forget: ``random`` (training samples) or ``classes`` (whole classes).
        forget_seed: Seed of the permutation the forget sets are prefixes of.
        classes: ``classes`` studies: the order classes are forgotten in (default: a seeded
            permutation of the classes).
        base: The model the first unlearning run starts from.
        recipe: Recipe overrides of the retrain models (see :class:`~analysis.runs.TrainJob`).
        eval_every: Per-epoch evaluation of the runs (0: only the final model).
    """

    kind: ClassVar[str] = ""
    display_name: ClassVar[str] = ""

    name: str
    methods: tuple[str, ...]
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    forget: str = "random"
    forget_seed: int = 0
    classes: tuple[int, ...] | None = None
    base: str = "original"
    recipe: Mapping[str, Any] = field(default_factory=dict)
    eval_every: int = 0

    def __post_init__(self) -> None:
        for name in ("methods", "seeds", "classes"):
            object.__setattr__(self, name, _tuple(getattr(self, name)))
        if isinstance(self.params, Mapping) and all(
            isinstance(v, Mapping) for v in self.params.values()
        ):
            frozen = {k: MappingProxyType(dict(v)) for k, v in self.params.items()}
            object.__setattr__(self, "params", MappingProxyType(frozen))
        if isinstance(self.recipe, Mapping):
            object.__setattr__(self, "recipe", MappingProxyType(dict(self.recipe)))
        self._validate_common()
        self._validate()
        self._validate_names()

    # ------------------------------------------------------------------ validation

    def _validate_common(self) -> None:
        if not isinstance(self.name, str) or not 1 <= len(self.name) <= _MAX_NAME:
            raise ValidationError(
                describe("name", f"a study name of 1-{_MAX_NAME} characters", self.name)
            )
        validate_name(self.name)
        _validate_methods(self.methods)
        _validate_params(self.params, self.methods)
        _validate_seeds(self.seeds)
        if self.forget not in FORGET_KINDS:
            raise ValidationError(describe("forget", f"one of {list(FORGET_KINDS)}", self.forget))
        if not _is_int(self.forget_seed) or self.forget_seed < 0:
            raise ValidationError(
                describe("forget_seed", "a non-negative integer", self.forget_seed)
            )
        _validate_class_order(self.classes, self.forget)
        if not isinstance(self.base, str) or not self.base:
            raise ValidationError(describe("base", "a model name", self.base))
        if not isinstance(self.recipe, Mapping):
            raise ValidationError(describe("recipe", "a mapping of recipe fields", self.recipe))
        if not _is_int(self.eval_every) or self.eval_every < 0:
            raise ValidationError(describe("eval_every", "a non-negative integer", self.eval_every))

    @abc.abstractmethod
    def _validate(self) -> None:
        """Check the family's own fields (errors name the field)."""

    def _validate_names(self) -> None:
        names = [str(j.name) for j in self.jobs()]
        for name in names:
            try:
                validate_name(name)
            except ValidationError:
                raise ValidationError(
                    describe("name", "a study name short enough for its run names", name)
                ) from None
        if len(set(names)) != len(names):
            raise ValidationError(
                describe("methods", "methods with distinct names", list(self.methods))
            )

    # ------------------------------------------------------------------ the plan

    @property
    def x_label(self) -> str:
        """What the study's x axis measures."""
        return "x"

    @abc.abstractmethod
    def steps(self) -> list[Step]:
        """The study's points, in x order (label-free: sizes as given)."""

    @abc.abstractmethod
    def counts(self, n_train: int, n_classes: int) -> list[int]:
        """Cumulative forget-set size per step, in samples (``random``) or classes.

        Raises:
            ValidationError: A size the dataset cannot provide (the message names the field).
        """

    @abc.abstractmethod
    def jobs(self) -> list[RunJob]:
        """The study's jobs, in the order they should run (bases before their users)."""

    def scenario_tables(self, exp: Any) -> dict[str, dict[str, Any]]:
        """Scenario tables per step for the workspace's experiment (what
        :func:`~analysis.studies.submit_study` adds). Families whose forget sets depend on the
        models (worst-case sets) override this; the others need only the labels."""
        return self.forget_tables(exp.dataset("train").targets)

    def forget_tables(self, labels: np.ndarray) -> dict[str, dict[str, Any]]:
        """Scenario tables per step (:func:`analysis.runs.add_scenario` keyword arguments):
        ``{"indices": array}`` for ``random``, ``{"classes": [...]}`` for ``classes``.

        Raises:
            ValidationError: The dataset cannot provide the sizes, or ``classes`` names a class
                without training samples.

        Example:
            >>> from analysis.studies import ScalabilityStudy
            >>> s = ScalabilityStudy(name="s", methods=("ga",), sizes=(1, 2), forget="classes",
            ...                      classes=(3, 1, 2))
            >>> s.forget_tables(np.array([0, 1, 2, 3] * 5))
            {'s_c1': {'classes': [3]}, 's_c2': {'classes': [3, 1]}}
        """
        labels = np.asarray(labels)
        present = np.unique(labels)
        counts = self.counts(len(labels), len(present))
        steps = self.steps()
        if self.forget == "classes":
            order = self._class_order(present)
            return {s.scenario: {"classes": order[:c]} for s, c in zip(steps, counts, strict=True)}
        perm = np.random.default_rng(self.forget_seed).permutation(len(labels))
        return {
            s.scenario: {"indices": np.sort(perm[:c]).astype(np.int64)}
            for s, c in zip(steps, counts, strict=True)
        }

    def _class_order(self, present: np.ndarray) -> list[int]:
        if self.classes is None:
            rng = np.random.default_rng(self.forget_seed)
            return [int(c) for c in rng.permutation(present)]
        missing = [c for c in self.classes if c not in set(present.tolist())]
        if missing:
            raise ValidationError(
                describe("classes", f"class ids among {present.tolist()}", list(self.classes))
            )
        return [int(c) for c in self.classes]

    def scenario(self, tag: str) -> str:
        """The scenario name of the point ``tag``."""
        return f"{self.name}_{tag}"

    def retrain_job(self, step: Step) -> TrainJob:
        """The retrain model of ``step``: trained from scratch without its forget set."""
        return TrainJob(
            role="retrain",
            scenario=step.scenario,
            name=f"{step.scenario}_retrain",
            recipe=dict(self.recipe),
            eval_every=self.eval_every,
        )

    def unlearn_job(
        self, step: Step, method: str, seed: int, *, base: str, forgotten: str | None = None
    ) -> UnlearnJob:
        """One unlearning run of ``method`` with ``seed`` on ``step``'s scenario."""
        return UnlearnJob(
            method=method,
            base=base,
            scenario=step.scenario,
            params=dict(self.params.get(method, {})),
            seed=int(seed),
            eval_every=self.eval_every,
            name=f"{step.scenario}_{_slug(method)}_s{seed}",
            forgotten=forgotten,
        )

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        """The study's parameters as plain JSON data (``kind`` and ``name`` included).

        Example:
            >>> from analysis.studies import ScalabilityStudy
            >>> ScalabilityStudy(name="s", methods=("ga",), sizes=(0.1,)).to_dict()["sizes"]
            [0.1]
        """
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                value = {k: dict(v) if isinstance(v, Mapping) else v for k, v in value.items()}
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    # ------------------------------------------------------------------ aggregation

    def collect(self, workspace: Any, runs: Sequence[Any], *, device: Any = "auto") -> pd.DataFrame:
        """Per-run metrics of the study's runs (what :meth:`aggregate` takes): by default the
        models table's (:func:`analysis.studies.collect_runs`); families with metrics of their
        own (corrective unlearning) override this."""
        from analysis.studies.api import collect_runs

        return collect_runs(workspace, self, runs, device=device)

    def aggregate(self, runs: pd.DataFrame) -> StudyResult:
        """Per-run metrics -> the study's result (mean and std over seeds per method and x).

        Args:
            runs: One row per run with ``name``, ``scenario``, ``method`` (``retrain`` for the
                retrain models), ``seed``, ``state`` and any of :data:`STUDY_METRICS` (missing
                ones are N/A). Rows of scenarios outside the study are dropped with a warning.

        Returns:
            The :class:`StudyResult`; only ``done`` runs enter the summary.

        Raises:
            ValidationError: ``runs`` is not a DataFrame with the columns above.
        """
        frame = _validate_runs(runs)
        steps = self.steps()
        xs = {s.scenario: s.x for s in steps}
        outside = sorted(set(frame["scenario"]) - set(xs))
        if outside:
            warnings.warn(
                f"runs: dropped runs of scenarios outside study {self.name!r}: {outside}",
                RuntimeWarning,
                stacklevel=2,
            )
            frame = frame[frame["scenario"].isin(list(xs))]
        frame = frame.assign(
            x=frame["scenario"].map(xs).astype(float),
            point=frame["scenario"].map({s.scenario: s.label for s in steps}),
        )
        return self._result(frame, ("retrain",), STUDY_METRICS)

    def _result(
        self, frame: pd.DataFrame, leading: tuple[str, ...], metrics: tuple[str, ...]
    ) -> StudyResult:
        """The :class:`StudyResult` of per-run rows: sorted by method (``leading`` first, then
        this study's methods), x and seed; the identifying columns first."""
        order = {m: i for i, m in enumerate((*leading, *self.methods))}
        frame = frame.assign(_order=frame["method"].map(order).fillna(len(order)))
        frame = frame.sort_values(["_order", "x", "seed"], kind="stable").drop(columns="_order")
        first = ["method", "x", "point", "seed", "name", "scenario", "state"]
        tidy = frame[first + [c for c in frame.columns if c not in first]].reset_index(drop=True)
        return StudyResult(
            name=self.name,
            kind=self.kind,
            x_label=self.x_label,
            metrics=metrics,
            runs=tidy,
            summary=summarise(tidy, metrics),
        )


@dataclass(frozen=True)
class StudyResult:
    """A study's aggregated metrics.

    Attributes:
        name: The study.
        kind: Its family.
        x_label: What ``x`` measures (e.g. ``forget fraction``, ``request``).
        metrics: The aggregated metric columns (:data:`STUDY_METRICS`).
        runs: One row per run: ``method`` (``retrain`` for the retrain models), ``x``,
            ``point`` (the step's label, e.g. ``worst``; empty when ``x`` says it), ``seed``,
            ``name``, ``scenario``, ``state`` and the metrics (NaN = N/A or not done),
            plus whatever else the collector added (``n_forget``, ``role``...).
        summary: One row per (method, x): ``runs`` (how many), ``done``, and for each metric
            ``<metric>_mean`` and ``<metric>_std`` over the done runs' seeds (sample standard
            deviation; NaN with a single done run, or when the metric is N/A).
    """

    name: str
    kind: str
    x_label: str
    metrics: tuple[str, ...]
    runs: pd.DataFrame
    summary: pd.DataFrame

    @property
    def methods(self) -> list[str]:
        """Methods in the result, the retrain first."""
        return list(dict.fromkeys(self.summary["method"]))

    def series(self, method: str, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x, mean, std)`` arrays of one method's metric, in x order (for a plot).

        Raises:
            ValidationError: Unknown method or metric.

        Example:
            >>> import pandas as pd
            >>> from analysis.studies import ScalabilityStudy
            >>> study = ScalabilityStudy(name="s", methods=("ga",), sizes=(0.1,), seeds=(0, 1))
            >>> runs = pd.DataFrame({"name": ["a", "b"], "scenario": ["s_f0.1"] * 2,
            ...     "method": ["ga"] * 2, "seed": [0, 1], "state": ["done"] * 2, "UA": [0.2, 0.4]})
            >>> x, mean, std = study.aggregate(runs).series("ga", "UA")
            >>> x.tolist(), mean.round(3).tolist(), std.round(4).tolist()
            ([0.1], [0.3], [0.1414])
        """
        if method not in self.methods:
            raise ValidationError(describe("method", f"one of {self.methods}", method))
        if metric not in self.metrics:
            raise ValidationError(describe("metric", f"one of {list(self.metrics)}", metric))
        rows = self.summary[self.summary["method"] == method].sort_values("x")
        return (
            rows["x"].to_numpy(dtype=float),
            rows[f"{metric}_mean"].to_numpy(dtype=float),
            rows[f"{metric}_std"].to_numpy(dtype=float),
        )


def summarise(runs: pd.DataFrame, metrics: Sequence[str] = STUDY_METRICS) -> pd.DataFrame:
    """Mean and sample std of ``metrics`` over the done runs of each (method, x).

    Args:
        runs: Rows with ``method``, ``x``, ``state`` and the metric columns.
        metrics: Metric columns to aggregate (missing ones are all NaN).

    Returns:
        One row per (method, x) in first-appearance order: ``method``, ``x``, ``point`` and
        ``n_forget`` (when ``runs`` has them), ``runs``, ``done``, then ``<metric>_mean`` and
        ``<metric>_std`` per metric (NaN values are skipped; NaN when no value is left; std
        NaN with one value).

    Example:
        >>> runs = pd.DataFrame({"method": ["ga"] * 3, "x": [0.1] * 3, "seed": [0, 1, 2],
        ...     "state": ["done", "done", "failed"], "UA": [0.2, 0.4, 0.9]})
        >>> row = summarise(runs, ["UA"]).iloc[0]
        >>> int(row["runs"]), int(row["done"]), round(float(row["UA_mean"]), 3)
        (3, 2, 0.3)
    """
    keys = ["method", "x"]
    frame = runs.copy()
    for metric in metrics:
        frame[metric] = (
            pd.to_numeric(frame[metric], errors="coerce") if metric in frame else math.nan
        )
    cells = frame[keys].drop_duplicates()
    done = frame[frame["state"] == "done"]
    stats = done.groupby(keys, sort=False)[list(metrics)].agg(["mean", "std"])
    stats.columns = [f"{pair[0]}_{pair[1]}" for pair in stats.columns]
    counts = frame.groupby(keys, sort=False).size().rename("runs")
    finished = done.groupby(keys, sort=False).size().rename("done")
    table = cells.merge(counts.reset_index(), on=keys, how="left")
    table = table.merge(finished.reset_index(), on=keys, how="left")
    table = table.merge(stats.reset_index(), on=keys, how="left")
    table["done"] = table["done"].fillna(0).astype(int)
    extra = []
    for column in ("point", "n_forget"):  # the same for every run of a cell
        if column in frame:
            first = frame.groupby(keys, sort=False)[column].first().rename(column)
            table = table.merge(first.reset_index(), on=keys, how="left")
            extra.append(column)
    columns = keys + extra + ["runs", "done"]
    columns += [f"{m}_{s}" for m in metrics for s in ("mean", "std")]
    return table.reindex(columns=columns).reset_index(drop=True)


def study_from_dict(data: Mapping[str, Any]) -> Study:
    """Rebuild a study from :meth:`Study.to_dict`'s output (e.g. a registry record's spec).

    Raises:
        ValidationError: Unknown kind or fields, or invalid values.

    Example:
        >>> from analysis.studies import ScalabilityStudy
        >>> s = ScalabilityStudy(name="s", methods=("ga",), sizes=(0.1,))
        >>> study_from_dict(s.to_dict()) == s
        True
    """
    import analysis.studies  # noqa: F401  (registers the built-in families)

    if not isinstance(data, Mapping) or data.get("kind") not in STUDY_KINDS:
        kind = data.get("kind") if isinstance(data, Mapping) else data
        raise ValidationError(describe("kind", f"one of {sorted(STUDY_KINDS)}", kind))
    cls = STUDY_KINDS[str(data["kind"])]
    values = {k: v for k, v in data.items() if k != "kind"}
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValidationError(
            describe(f"{cls.kind} study", f"fields among {sorted(known)}", unknown)
        )
    try:
        return cls(**values)
    except TypeError as exc:
        raise ValidationError(
            describe(f"{cls.kind} study", "valid fields", str(exc), raw=True)
        ) from exc


# --------------------------------------------------------------------------- helpers


def _slug(text: str) -> str:
    return _SLUG.sub("-", text).strip("-.") or "method"


def _validate_methods(methods: Any) -> None:
    ok = (
        isinstance(methods, tuple)
        and len(methods) > 0
        and all(isinstance(m, str) and m.strip() for m in methods)
    )
    if not ok:
        raise ValidationError(describe("methods", "a non-empty list of method names", methods))
    if len(set(methods)) != len(methods):
        raise ValidationError(describe("methods", "distinct methods", list(methods)))


def _validate_params(params: Any, methods: tuple[str, ...]) -> None:
    if not isinstance(params, Mapping) or not all(isinstance(v, Mapping) for v in params.values()):
        raise ValidationError(
            describe("params", "a mapping method -> {hyperparameter: value}", params)
        )
    stray = sorted(set(params) - set(methods))
    if stray:
        raise ValidationError(describe("params", f"keys among the methods {list(methods)}", stray))


def _validate_seeds(seeds: Any) -> None:
    if not isinstance(seeds, tuple) or not seeds or not all(_is_int(s) for s in seeds):
        raise ValidationError(describe("seeds", "a non-empty list of integers", seeds))
    if len(set(seeds)) != len(seeds):
        raise ValidationError(describe("seeds", "distinct seeds", list(seeds)))


def _validate_class_order(classes: Any, forget: str) -> None:
    if classes is None:
        return
    if forget != "classes":
        raise ValidationError(
            describe("classes", "no class order for a random study", list(classes))
        )
    ok = isinstance(classes, tuple) and classes and all(_is_int(c) and c >= 0 for c in classes)
    if not ok or len(set(classes)) != len(classes):
        raise ValidationError(describe("classes", "distinct non-negative class ids", classes))


def _validate_runs(runs: Any) -> pd.DataFrame:
    if not isinstance(runs, pd.DataFrame):
        raise ValidationError(describe("runs", "a pandas DataFrame", type(runs).__name__, raw=True))
    missing = [c for c in RUN_COLUMNS if c not in runs.columns]
    if missing:
        raise ValidationError(describe("runs", f"the columns {list(RUN_COLUMNS)}", missing))
    return runs


def _check_fraction(argument: str, value: Any) -> float:
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or not 0.0 < float(value) < 1.0:
        raise ValidationError(describe(argument, "a fraction in (0, 1)", value))
    return float(value)


def _check_count(argument: str, value: Any) -> int:
    if not _is_int(value) or value < 1:
        raise ValidationError(describe(argument, "a positive number of classes", value))
    return int(value)


def sample_count(fraction: float, n: int) -> int:
    """Samples in a fraction of ``n`` (at least one), as scenarios count them."""
    return max(1, round(fraction * n))
