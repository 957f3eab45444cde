"""Corrective unlearning: remove the effect of a manipulated subset when only part of it is known.

A seeded fraction of the training set is manipulated (label flips, or a trigger patch with a
target label: :class:`~analysis.manipulation.Manipulation`, applied by the worker to the
training split of every job of the study). The study trains its own original on the
manipulated data (``<name>_original``), a retrain model without *all* manipulated samples
(scenario ``<name>_all``, run ``<name>_all_retrain``), and for each known fraction f gives every
method only a known subset — the first ``max(1, round(f * m))`` of the m manipulated samples in
a ``forget_seed`` permutation, so larger known sets contain the smaller ones — as its forget set
(scenario ``<name>_k<f>``, runs ``<name>_k<f>_<method>_s<seed>``), starting from the poisoned
original.

Per model (:func:`~analysis.manipulation.corrective_metrics`): ``clean_acc`` (clean test
accuracy), ``attack`` (attack success: share of the manipulated training samples predicted as
their manipulated label, or of triggered non-target test inputs classified as the target) and
``UA`` (share of the known subset predicted as its manipulated label). The original ("before")
and the retrain model do not depend on f; their rows are repeated at each f (with ``UA`` on that
f's known subset) so they plot as reference lines. ``<metric>_gap`` = value − the retrain
model's value at the same f. Each model's predictions are cached in the workspace's result cache
under its weights' content hash (with the architecture, dataset and manipulation), so a later
aggregation, in any process, runs no model unless its weights file changed.

Example:
    >>> study = CorrectiveStudy(name="fix", methods=("ga",), known=(0.5, 1.0),
    ...                         manipulation={"kind": "label_flip", "fraction": 0.1})
    >>> [j.name for j in study.jobs()]
    ['fix_all_retrain', 'fix_original', 'fix_k0.5_ga_s0', 'fix_k1_ga_s0']
    >>> study.counts(1000, 10)
    [50, 100]
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from analysis.errors import ValidationError, describe
from analysis.manipulation import Manipulation, corrective_predictions, metrics_from_predictions
from analysis.runs.jobs import RunJob, TrainJob
from analysis.studies.base import (
    Step,
    Study,
    StudyResult,
    _validate_runs,
    register_study,
    sample_count,
)

__all__ = ["CORRECTIVE_METRICS", "CorrectiveStudy"]

_PREDICTION_KEYS = {"indices", "labels", "train", "test", "test_labels", "attack"}

CORRECTIVE_METRICS = (
    "clean_acc",
    "attack",
    "UA",
    "clean_acc_gap",
    "attack_gap",
    "UA_gap",
    "RT",
)
"""Per-run metrics of a corrective study (gaps: value − the retrain model's, same x)."""
_RAW = ("clean_acc", "attack", "UA")


@register_study
@dataclass(frozen=True, kw_only=True)
class CorrectiveStudy(Study):
    """A manipulated training set, a poisoned original, and known subsets to unlearn.

    Attributes:
        manipulation: The :class:`~analysis.manipulation.Manipulation` (or its JSON data).
        known: Increasing known fractions of the manipulated samples, in (0, 1].

    ``forget`` must be ``random`` and ``base`` ``original``: the study trains its own base.
    """

    kind: ClassVar[str] = "corrective"
    display_name: ClassVar[str] = "Corrective unlearning"

    manipulation: Any
    known: tuple[Any, ...] = (0.1, 0.5, 1.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "manipulation", Manipulation.from_dict(self.manipulation))
        if isinstance(self.known, list | tuple):
            object.__setattr__(self, "known", tuple(self.known))
        super().__post_init__()

    @property
    def x_label(self) -> str:
        """``known fraction``."""
        return "known fraction"

    @property
    def original_name(self) -> str:
        """The poisoned original's run name."""
        return f"{self.name}_original"

    @property
    def all_step(self) -> Step:
        """The scenario of every manipulated sample (the retrain model's)."""
        return Step(self.scenario("all"), 1.0)

    def _validate(self) -> None:
        if self.forget != "random":
            raise ValidationError(
                describe("forget", "'random' (known subsets are sets of samples)", self.forget)
            )
        if self.base != "original":
            raise ValidationError(
                describe("base", "'original' (the study trains its own poisoned base)", self.base)
            )
        if not isinstance(self.known, tuple) or not self.known:
            raise ValidationError(describe("known", "a non-empty list of fractions", self.known))
        for value in self.known:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not math.isfinite(float(value)) or not 0 < float(value) <= 1:
                raise ValidationError(describe("known", "fractions in (0, 1]", list(self.known)))
        if any(float(b) <= float(a) for a, b in itertools.pairwise(self.known)):
            raise ValidationError(
                describe("known", "strictly increasing fractions", list(self.known))
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON data (the manipulation as a mapping)."""
        out = super().to_dict()
        out["manipulation"] = self.manipulation.to_dict()
        return out

    def steps(self) -> list[Step]:
        """One step per known fraction: scenario ``<name>_k<f>``."""
        return [Step(self.scenario(f"k{float(f):g}"), float(f)) for f in self.known]

    def counts(self, n_train: int, n_classes: int) -> list[int]:
        """Known samples per step (of the ``max(1, round(fraction * n_train))`` manipulated).

        Raises:
            ValidationError: Two fractions give the same number of samples.
        """
        manipulated = sample_count(float(self.manipulation.fraction), n_train)
        counts = [sample_count(float(f), manipulated) for f in self.known]
        if len(set(counts)) != len(counts):
            raise ValidationError(
                describe(
                    "known",
                    f"fractions giving distinct counts of the {manipulated} manipulated samples",
                    list(self.known),
                )
            )
        return counts

    def forget_tables(self, labels: np.ndarray) -> dict[str, dict[str, Any]]:
        """``<name>_all`` (every manipulated sample) and the known subsets, as index tables.

        Example:
            >>> s = CorrectiveStudy(name="c", methods=("ga",), known=(0.5, 1.0),
            ...     manipulation={"kind": "label_flip", "fraction": 0.4})
            >>> t = s.forget_tables(np.arange(10) % 2)
            >>> len(t["c_all"]["indices"]), len(t["c_k0.5"]["indices"])
            (4, 2)
        """
        labels = np.asarray(labels)
        manipulated = self.manipulation.indices(labels)
        counts = self.counts(len(labels), len(np.unique(labels)))
        perm = np.random.default_rng(self.forget_seed).permutation(len(manipulated))
        tables: dict[str, dict[str, Any]] = {self.all_step.scenario: {"indices": manipulated}}
        for step, count in zip(self.steps(), counts, strict=True):
            tables[step.scenario] = {"indices": np.sort(manipulated[perm[:count]])}
        return tables

    def scenario_tables(self, exp: Any) -> dict[str, dict[str, Any]]:
        """The tables of the workspace's dataset (the manipulation is checked against it)."""
        self.manipulation.apply(exp.data)  # target class, patch size: errors before submission
        return self.forget_tables(exp.dataset("train").targets)

    def jobs(self) -> list[RunJob]:
        """The retrain model (without every manipulated sample), the poisoned original, then
        every method × seed on each known subset, starting from the poisoned original."""
        data = self.manipulation.to_dict()
        retrain = replace(self.retrain_job(self.all_step), manipulation=data)
        original = TrainJob(
            role="original",
            scenario=self.all_step.scenario,
            name=self.original_name,
            recipe=dict(self.recipe),
            eval_every=self.eval_every,
            manipulation=data,
        )
        jobs: list[RunJob] = [retrain, original]
        for step in self.steps():
            for method in self.methods:
                for seed in self.seeds:
                    job = self.unlearn_job(step, method, seed, base=self.original_name)
                    jobs.append(replace(job, manipulation=data))
        return jobs

    # ------------------------------------------------------------------ results

    def collect(self, workspace: Any, runs: Sequence[Any], *, device: Any = "auto") -> pd.DataFrame:
        """One row per (run, step) with :data:`CORRECTIVE_METRICS`' raw values (done runs;
        NaN otherwise): the original and the retrain model get a row at every step."""
        from analysis.experiment import load_experiment
        from analysis.runs.plan import workspace_root

        exp = load_experiment(workspace_root(workspace))
        preds = {r.name: self._predict(exp, r.name, device) for r in runs if r.state == "done"}
        rows: list[dict[str, Any]] = []
        shared = [
            r for r in runs if r.name in (self.original_name, f"{self.all_step.scenario}_retrain")
        ]
        for step in self.steps():
            if step.scenario not in exp.spec.scenarios:
                continue
            known = exp.with_scenario(step.scenario).forget_indices
            mine = [r for r in runs if r.forget == step.scenario and r.role == "unlearned"]
            for record in [*shared, *mine]:
                rows.append(self._row(record, step, known, preds.get(record.name)))
        columns = ["name", "scenario", "method", "seed", "state", "role", "n_forget"]
        return pd.DataFrame(rows, columns=[*columns, "n_manipulated", *_RAW, "RT"])

    def _predict(self, exp: Any, name: str, device: Any) -> dict[str, np.ndarray] | None:
        """The model's corrective predictions, from the workspace's result cache when its
        weights (by content), architecture, dataset and manipulation are unchanged."""
        from analysis.models import load_weights_into

        entry = exp.spec.models.get(name)
        if entry is None:
            return None
        key = self._predictions_key(exp, entry)
        cached = exp.cache.get(key)
        if isinstance(cached, dict) and set(cached) >= _PREDICTION_KEYS:
            return cached
        model = exp.build(entry.architecture)
        load_weights_into(model, entry.file, num_classes=exp.num_classes)
        preds = corrective_predictions(model, exp.data, self.manipulation, device=device)
        exp.cache.put(key, preds)
        return preds

    def _predictions_key(self, exp: Any, entry: Any) -> str:
        from analysis.compare import _data_hash, _entry_hash  # the comparisons' digests
        from analysis.store import cache_key

        return cache_key(
            kind="corrective-predictions",
            model=_entry_hash(entry),
            data=_data_hash(exp),
            manipulation=self.manipulation.to_dict(),
        )

    def _row(
        self, record: Any, step: Step, known: np.ndarray, preds: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        method = {"original": "original", "retrain": "retrain"}.get(record.role, record.method)
        row: dict[str, Any] = {
            "name": record.name,
            "scenario": step.scenario,
            "method": method,
            "seed": record.seed,
            "state": record.state,
            "role": record.role,
            "n_forget": len(known),
        }
        values = metrics_from_predictions(preds, known) if preds is not None else None
        row["n_manipulated"] = values.n_manipulated if values else math.nan
        for metric in _RAW:
            row[metric] = getattr(values, metric) if values else math.nan
        row["RT"] = float(record.rt) if record.rt is not None else math.nan
        return row

    def aggregate(self, runs: pd.DataFrame) -> StudyResult:
        """Per-run corrective metrics -> gaps to the retrain model and mean ± std over seeds.

        Args:
            runs: One row per (run, step): ``name``, ``scenario`` (a known-subset scenario),
                ``method`` (``original``, ``retrain`` or a method), ``seed``, ``state`` and
                ``clean_acc``, ``attack``, ``UA`` (``RT`` optional). Gaps are computed here
                from the done retrain row of the same scenario (NaN without one).

        Returns:
            The :class:`~analysis.studies.StudyResult` (``metrics`` =
            :data:`CORRECTIVE_METRICS`), rows ordered original, retrain, then the methods.

        Example:
            >>> s = CorrectiveStudy(name="c", methods=("ga",), known=(0.5,),
            ...     manipulation={"kind": "label_flip", "fraction": 0.1})
            >>> runs = pd.DataFrame({"name": ["r", "g"], "scenario": ["c_k0.5"] * 2,
            ...     "method": ["retrain", "ga"], "seed": [0, 0], "state": ["done"] * 2,
            ...     "clean_acc": [0.9, 0.8], "attack": [0.1, 0.3], "UA": [0.0, 0.2]})
            >>> round(float(s.aggregate(runs).summary.iloc[1]["attack_gap_mean"]), 3)
            0.2
        """
        frame = _validate_runs(runs).copy()
        xs = {s.scenario: s.x for s in self.steps()}
        outside = sorted(set(frame["scenario"]) - set(xs))
        if outside:
            warnings.warn(
                f"runs: dropped runs of scenarios outside study {self.name!r}: {outside}",
                RuntimeWarning,
                stacklevel=2,
            )
            frame = frame[frame["scenario"].isin(list(xs))].copy()
        for metric in (*_RAW, "RT"):
            frame[metric] = (
                pd.to_numeric(frame[metric], errors="coerce") if metric in frame else math.nan
            )
        retrain = frame[(frame["method"] == "retrain") & (frame["state"] == "done")]
        reference = retrain.groupby("scenario")[list(_RAW)].mean()
        for metric in _RAW:
            target = frame["scenario"].map(reference[metric]) if len(reference) else math.nan
            frame[f"{metric}_gap"] = frame[metric] - target
        frame["x"] = frame["scenario"].map(xs).astype(float)
        frame["point"] = ""
        return self._result(frame, ("original", "retrain"), CORRECTIVE_METRICS)
