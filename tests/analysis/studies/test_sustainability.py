"""Tests of analysis/studies/sustainability.py: disjoint requests, chained runs, retrains."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from analysis.errors import ValidationError
from analysis.runs.jobs import TrainJob, UnlearnJob
from analysis.studies import SustainabilityStudy

LABELS = np.repeat(np.arange(6), 50)  # 300 samples, 6 classes


def _requests(study: SustainabilityStudy, key: str) -> list[set[int]]:
    tables = study.forget_tables(LABELS)
    cumulative = [set(np.asarray(tables[s.scenario][key]).tolist()) for s in study.steps()]
    return [now - before for before, now in zip([set(), *cumulative], cumulative, strict=False)]


def test_random_requests_are_disjoint_and_each_step_holds_all_removed_so_far() -> None:
    study = SustainabilityStudy(name="seq", methods=("ga",), requests=4, size=0.05)
    tables = study.forget_tables(LABELS)
    cumulative = [set(tables[s.scenario]["indices"].tolist()) for s in study.steps()]
    assert [len(c) for c in cumulative] == [15, 30, 45, 60] == study.counts(300, 6)
    assert all(a < b for a, b in itertools.pairwise(cumulative))
    requests = _requests(study, "indices")
    assert all(len(r) == 15 for r in requests)
    assert all(not (a & b) for i, a in enumerate(requests) for b in requests[i + 1 :])


def test_class_requests_forget_new_classes_each_time() -> None:
    study = SustainabilityStudy(
        name="seq", methods=("ga",), requests=2, size=2, forget="classes", classes=(5, 1, 3, 0)
    )
    assert list(study.forget_tables(LABELS).values()) == [
        {"classes": [5, 1]},
        {"classes": [5, 1, 3, 0]},
    ]
    assert _requests(study, "classes") == [{5, 1}, {3, 0}]


def test_each_request_starts_from_the_previous_output_with_its_own_retrain() -> None:
    study = SustainabilityStudy(
        name="seq", methods=("ga", "ft"), requests=3, size=0.1, seeds=(0, 1), base="original"
    )
    jobs = study.jobs()
    retrains = [j for j in jobs if isinstance(j, TrainJob)]
    assert [(j.scenario, j.name) for j in retrains] == [
        ("seq_r1", "seq_r1_retrain"),
        ("seq_r2", "seq_r2_retrain"),
        ("seq_r3", "seq_r3_retrain"),
    ]
    runs = {j.name: j for j in jobs if isinstance(j, UnlearnJob)}
    assert len(runs) == 3 * 2 * 2
    first, second, third = (runs[f"seq_r{k}_ft_s1"] for k in (1, 2, 3))
    assert (first.base, first.forgotten, first.seed) == ("original", None, 1)
    assert (second.base, second.forgotten, second.scenario) == ("seq_r1_ft_s1", "seq_r1", "seq_r2")
    assert (third.base, third.forgotten) == ("seq_r2_ft_s1", "seq_r2")
    order = [j.name for j in jobs]  # a base is always queued before the run that uses it
    assert all(order.index(j.base) < order.index(j.name) for j in runs.values() if j.base in order)
    assert [s.x for s in study.steps()] == [1.0, 2.0, 3.0]
    assert study.x_label == "deletion request"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"requests": 0, "size": 0.1}, r"^requests: expected a positive number"),
        ({"requests": 2, "size": 0.5}, r"^size: expected a fraction below 1/2"),
        ({"requests": 2, "size": 1.5}, r"^size: expected a fraction in \(0, 1\)"),
        ({"requests": 3, "size": 2, "forget": "classes"}, r"^size: expected requests x size"),
        (
            {"requests": 2, "size": 2, "forget": "classes", "classes": (1, 2, 3)},
            r"^classes: expected at least 4 classes",
        ),
        ({"requests": 2, "size": 0, "forget": "classes"}, r"^size: expected a positive number"),
    ],
)
def test_bad_requests_name_the_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        study = SustainabilityStudy(name="s", methods=("ga",), **fields)  # type: ignore[arg-type]
        study.forget_tables(LABELS)
