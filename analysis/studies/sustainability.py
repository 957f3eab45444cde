"""Sustainability sweep: k successive deletion requests (MUSE's sustainability).

Request k forgets a new forget set D_k, disjoint from the earlier ones, starting from the model
request k-1 produced (request 1 starts from the base model). Its run sees forget = D_k and
retain = the training set minus D_1 ∪ … ∪ D_k (the samples deleted earlier are neither forgotten
again nor learnt back), through :attr:`analysis.runs.UnlearnJob.forgotten`. After each request
the model is evaluated on everything removed so far (scenario ``<name>_r<k>`` = D_1 ∪ … ∪ D_k)
against a retrain model trained without all of it.

Example:
    >>> study = SustainabilityStudy(name="seq", methods=("ga",), requests=3, size=0.05)
    >>> [(s.scenario, s.forgotten) for s in study.steps()]
    [('seq_r1', None), ('seq_r2', 'seq_r1'), ('seq_r3', 'seq_r2')]
    >>> [j.base for j in study.jobs() if j.kind == "unlearn"]
    ['original', 'seq_r1_ga_s0', 'seq_r2_ga_s0']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from analysis.errors import ValidationError, describe
from analysis.runs.jobs import RunJob
from analysis.studies.base import (
    Step,
    Study,
    _check_count,
    _check_fraction,
    _is_int,
    register_study,
    sample_count,
)

__all__ = ["SustainabilityStudy"]


@register_study
@dataclass(frozen=True, kw_only=True)
class SustainabilityStudy(Study):
    """Successive deletion requests on disjoint forget sets (see the module docstring).

    Attributes:
        requests: Number of requests k (at least 1).
        size: Size of each request: a fraction in (0, 1) of the training samples for
            ``forget="random"``, a number of classes for ``forget="classes"``.
    """

    kind: ClassVar[str] = "sustainability"
    display_name: ClassVar[str] = "Sustainability sweep"

    requests: int
    size: Any

    @property
    def x_label(self) -> str:
        """``deletion request``."""
        return "deletion request"

    def _validate(self) -> None:
        if not _is_int(self.requests) or self.requests < 1:
            raise ValidationError(
                describe("requests", "a positive number of deletion requests", self.requests)
            )
        check = _check_fraction if self.forget == "random" else _check_count
        size = check("size", self.size)
        if self.forget == "random" and size * self.requests >= 1.0:
            raise ValidationError(
                describe(
                    "size",
                    f"a fraction below 1/{self.requests} (requests x size must leave samples)",
                    self.size,
                )
            )
        needed = int(size) * self.requests
        if self.classes is not None and self.forget == "classes" and needed > len(self.classes):
            raise ValidationError(
                describe(
                    "classes", f"at least {needed} classes (requests x size)", list(self.classes)
                )
            )

    def steps(self) -> list[Step]:
        """One step per request: scenario ``<name>_r<k>`` = everything removed up to k."""
        out: list[Step] = []
        for k in range(1, self.requests + 1):
            count = k * int(self.size) if self.forget == "classes" else None
            previous = out[-1].scenario if out else None
            out.append(Step(self.scenario(f"r{k}"), float(k), count=count, forgotten=previous))
        return out

    def counts(self, n_train: int, n_classes: int) -> list[int]:
        """Cumulative samples (random) or classes removed after each request.

        Raises:
            ValidationError: All requests together leave nothing to retain.
        """
        unit = int(self.size) if self.forget == "classes" else sample_count(self.size, n_train)
        total = n_classes if self.forget == "classes" else n_train
        counts = [k * unit for k in range(1, self.requests + 1)]
        if counts[-1] >= total:
            what = "classes" if self.forget == "classes" else "training samples"
            raise ValidationError(
                describe(
                    "size",
                    f"requests x size below the {total} {what}",
                    f"{self.requests} x {self.size} = {counts[-1]}",
                    raw=True,
                )
            )
        return counts

    def jobs(self) -> list[RunJob]:
        """Per request: its retrain model, then each method × seed chain's next run."""
        jobs: list[RunJob] = []
        previous: dict[tuple[str, int], str] = {}
        for step in self.steps():
            jobs.append(self.retrain_job(step))
            for method in self.methods:
                for seed in self.seeds:
                    base = previous.get((method, seed), self.base)
                    job = self.unlearn_job(step, method, seed, base=base, forgotten=step.forgotten)
                    previous[(method, seed)] = str(job.name)
                    jobs.append(job)
        return jobs
