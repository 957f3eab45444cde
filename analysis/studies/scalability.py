"""Scalability sweep: how a method behaves as the forget set grows (MUSE's scalability).

For each forget size (fractions of the training set, or 1..k classes) the study adds one
scenario, trains its retrain model, and applies every method with every seed to the base model
(default ``original``). The result shows UA, RA/TRA, PS, the MIA audit's headline and run time
against forget size, per method, with the seeds' spread as error bars.

Example:
    >>> study = ScalabilityStudy(name="grow", methods=("ga", "ft"), sizes=(0.05, 0.1, 0.2))
    >>> len(study.jobs())  # per size: one retrain + 2 methods x 1 seed
    9
    >>> study.counts(1000, 10)
    [50, 100, 200]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, ClassVar

from analysis.errors import ValidationError, describe
from analysis.runs.jobs import RunJob
from analysis.studies.base import (
    Step,
    Study,
    _check_count,
    _check_fraction,
    register_study,
    sample_count,
)

__all__ = ["ScalabilityStudy"]


@register_study
@dataclass(frozen=True, kw_only=True)
class ScalabilityStudy(Study):
    """Forget sets of growing size, each with its retrain model (see the module docstring).

    Attributes:
        sizes: Increasing forget sizes: fractions in (0, 1) of the training samples for
            ``forget="random"``, numbers of classes for ``forget="classes"``. Larger forget
            sets contain the smaller ones (prefixes of one seeded order).
    """

    kind: ClassVar[str] = "scalability"
    display_name: ClassVar[str] = "Scalability sweep"

    sizes: tuple[Any, ...]

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "sizes", tuple(self.sizes) if isinstance(self.sizes, list | tuple) else self.sizes
        )
        super().__post_init__()

    @property
    def x_label(self) -> str:
        """``forget fraction`` or ``forget classes``."""
        return "forget fraction" if self.forget == "random" else "forget classes"

    def _validate(self) -> None:
        if not isinstance(self.sizes, tuple) or not self.sizes:
            raise ValidationError(describe("sizes", "a non-empty list of forget sizes", self.sizes))
        check = _check_fraction if self.forget == "random" else _check_count
        values = [check("sizes", v) for v in self.sizes]
        if any(b <= a for a, b in itertools.pairwise(values)):
            raise ValidationError(describe("sizes", "strictly increasing sizes", list(self.sizes)))
        if self.classes is not None and values[-1] > len(self.classes):
            raise ValidationError(
                describe(
                    "classes",
                    f"at least {values[-1]} classes (the largest size)",
                    list(self.classes),
                )
            )

    def steps(self) -> list[Step]:
        """One step per size: scenario ``<name>_f<fraction>`` or ``<name>_c<classes>``."""
        if self.forget == "random":
            return [Step(self.scenario(f"f{float(v):g}"), float(v)) for v in self.sizes]
        return [Step(self.scenario(f"c{int(v)}"), float(v), count=int(v)) for v in self.sizes]

    def counts(self, n_train: int, n_classes: int) -> list[int]:
        """Forget-set sizes in samples (random) or classes.

        Raises:
            ValidationError: Two fractions give the same number of samples, or the largest
                size leaves nothing to retain.
        """
        if self.forget == "classes":
            counts = [int(v) for v in self.sizes]
            if counts[-1] >= n_classes:
                raise ValidationError(
                    describe("sizes", f"fewer than the {n_classes} classes", list(self.sizes))
                )
            return counts
        counts = [sample_count(float(v), n_train) for v in self.sizes]
        if len(set(counts)) != len(counts):
            raise ValidationError(
                describe(
                    "sizes",
                    f"fractions giving distinct sample counts of the {n_train} training samples",
                    list(self.sizes),
                )
            )
        if counts[-1] >= n_train:
            raise ValidationError(
                describe("sizes", "fractions leaving training samples", list(self.sizes))
            )
        return counts

    def jobs(self) -> list[RunJob]:
        """Per size: its retrain model, then every method × seed from the base model."""
        jobs: list[RunJob] = []
        for step in self.steps():
            jobs.append(self.retrain_job(step))
            for method in self.methods:
                for seed in self.seeds:
                    jobs.append(self.unlearn_job(step, method, seed, base=self.base))
        return jobs
