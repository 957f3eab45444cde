"""Worst-case forget sets: the hardest forget set of a given size vs a random one.

The search is a documented ranking, not an optimisation: every training sample in scope (one
class, or the whole training set) is scored by its difficulty
(:mod:`analysis.studies.difficulty`: by default its memorization estimated from the
workspace's reference models), and the worst-case forget set is the ``size`` highest-scoring
samples (ties: lower index first). The random forget set has the same size, drawn from the same
scope with ``forget_seed``. Each gets its retrain model and every method × seed; the result
compares each method on ``random`` and ``worst`` (UA gap to the retrain model, PS, ...): a
method whose gap grows on the worst set fails on exactly the samples the literature finds
hardest (Zhao et al., NeurIPS 2024; Fan et al., "Challenging Forgets", ECCV 2024, search the
same space by optimisation).

Example:
    >>> import numpy as np
    >>> study = WorstCaseStudy(name="hard", methods=("ga",), size=2, within=1)
    >>> labels = np.array([0, 1, 1, 1, 0, 1])
    >>> scores = np.array([0.9, 0.1, 0.5, 0.3, 0.8, 0.7])
    >>> study.forget_tables(labels, scores)["hard_worst"]["indices"].tolist()
    [2, 5]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from analysis.errors import ValidationError, describe
from analysis.runs.jobs import RunJob
from analysis.studies.base import Step, Study, _is_int, register_study
from analysis.studies.difficulty import DIFFICULTY_SCORES, difficulty_scores

__all__ = ["WorstCaseStudy"]


@register_study
@dataclass(frozen=True, kw_only=True)
class WorstCaseStudy(Study):
    """The ``size`` hardest samples (by a difficulty score) vs ``size`` random ones.

    Attributes:
        size: Samples in each forget set.
        within: A class id: both sets come from that class; None: from the whole training set.
        score: The difficulty score ranking the samples (:data:`DIFFICULTY_SCORES`).
    """

    kind: ClassVar[str] = "worst_case"
    display_name: ClassVar[str] = "Worst-case forget set"

    size: int
    within: int | None = None
    score: str = "memorization"

    @property
    def x_label(self) -> str:
        """``forget set`` (``random`` at x = 0, ``worst`` at x = 1)."""
        return "forget set"

    def _validate(self) -> None:
        if self.forget != "random":
            raise ValidationError(
                describe("forget", "'random' (worst-case sets are sets of samples)", self.forget)
            )
        if not _is_int(self.size) or self.size < 1:
            raise ValidationError(describe("size", "a positive number of samples", self.size))
        if self.within is not None and (not _is_int(self.within) or self.within < 0):
            raise ValidationError(describe("within", "a class id or None", self.within))
        if self.score not in DIFFICULTY_SCORES:
            raise ValidationError(
                describe("score", f"one of {list(DIFFICULTY_SCORES)}", self.score)
            )

    def steps(self) -> list[Step]:
        """``<name>_random`` (x = 0) and ``<name>_worst`` (x = 1)."""
        return [
            Step(self.scenario("random"), 0.0, count=int(self.size), label="random"),
            Step(self.scenario("worst"), 1.0, count=int(self.size), label="worst"),
        ]

    def counts(self, n_train: int, n_classes: int) -> list[int]:
        """Both sets have ``size`` samples.

        Raises:
            ValidationError: ``size`` leaves no training sample.
        """
        if self.size >= n_train:
            raise ValidationError(
                describe("size", f"fewer than the {n_train} training samples", self.size)
            )
        return [int(self.size), int(self.size)]

    def forget_tables(
        self, labels: np.ndarray, scores: np.ndarray | None = None
    ) -> dict[str, dict[str, Any]]:
        """The random and the worst-case forget sets as index tables.

        Args:
            labels: Training labels.
            scores: Difficulty per training sample (NaN: unscored, never chosen as worst).

        Raises:
            ValidationError: No scores, a class without samples, or fewer scored samples in
                scope than ``size`` (or not more samples than ``size``).
        """
        labels = np.asarray(labels)
        if scores is None or np.shape(scores) != labels.shape:
            raise ValidationError(
                describe(
                    "scores",
                    f"one difficulty score per training sample ({labels.shape[0]})",
                    None if scores is None else np.shape(scores),
                )
            )
        scope = self._scope(labels)
        self.counts(len(labels), len(np.unique(labels)))
        values = np.asarray(scores, dtype=np.float64)[scope]
        scored = scope[np.isfinite(values)]
        if len(scored) < self.size:
            raise ValidationError(
                describe(
                    "size",
                    f"at most the {len(scored)} scored samples in scope",
                    self.size,
                )
            )
        order = np.argsort(-values[np.isfinite(values)], kind="stable")
        worst = np.sort(scored[order[: self.size]])
        rng = np.random.default_rng(self.forget_seed)
        random = np.sort(rng.choice(scope, size=self.size, replace=False))
        return {
            self.scenario("random"): {"indices": random.astype(np.int64)},
            self.scenario("worst"): {"indices": worst.astype(np.int64)},
        }

    def _scope(self, labels: np.ndarray) -> np.ndarray:
        if self.within is None:
            return np.arange(len(labels))
        scope = np.flatnonzero(labels == self.within)
        if len(scope) == 0:
            raise ValidationError(
                describe("within", f"a class among {np.unique(labels).tolist()}", self.within)
            )
        if self.size >= len(scope):
            raise ValidationError(
                describe(
                    "size",
                    f"fewer than the {len(scope)} samples of class {self.within}",
                    self.size,
                )
            )
        return scope

    def scenario_tables(self, exp: Any) -> dict[str, dict[str, Any]]:
        """The forget sets of the workspace: its training samples scored by ``score``."""
        scores = difficulty_scores(exp, self.score)
        return self.forget_tables(exp.dataset("train").targets, scores)

    def jobs(self) -> list[RunJob]:
        """Per forget set: its retrain model, then every method × seed from the base model."""
        jobs: list[RunJob] = []
        for step in self.steps():
            jobs.append(self.retrain_job(step))
            for method in self.methods:
                for seed in self.seeds:
                    jobs.append(self.unlearn_job(step, method, seed, base=self.base))
        return jobs
