"""Tests of analysis/studies/worst_case.py: the ranking search, its scope, the jobs, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import ValidationError
from analysis.runs.jobs import TrainJob, UnlearnJob
from analysis.studies import WorstCaseStudy

LABELS = np.repeat(np.arange(4), 25)  # 100 samples, 4 classes
SCORES = np.random.default_rng(0).normal(size=100)


def test_the_worst_set_is_the_top_scored_samples_and_the_random_set_matches_its_size() -> None:
    study = WorstCaseStudy(name="h", methods=("ga",), size=10, forget_seed=2)
    tables = study.forget_tables(LABELS, SCORES)
    worst, random = tables["h_worst"]["indices"], tables["h_random"]["indices"]
    assert sorted(worst.tolist()) == sorted(np.argsort(SCORES)[-10:].tolist())
    assert len(random) == 10 == len(set(random.tolist())) and (np.diff(worst) > 0).all()
    assert SCORES[worst].min() >= SCORES[np.setdiff1d(np.arange(100), worst)].max()
    other = WorstCaseStudy(name="h", methods=("ga",), size=10, forget_seed=3)
    again = other.forget_tables(LABELS, SCORES)
    assert np.array_equal(again["h_worst"]["indices"], worst)  # the search is deterministic
    assert not np.array_equal(again["h_random"]["indices"], random)  # the draw follows the seed


def test_within_a_class_both_sets_come_from_it_and_unscored_samples_are_never_worst() -> None:
    scores = SCORES.copy()
    top_of_class = np.flatnonzero(LABELS == 2)[np.argmax(SCORES[LABELS == 2])]
    scores[top_of_class] = np.nan  # no IN or OUT reference: not ranked
    study = WorstCaseStudy(name="h", methods=("ga",), size=5, within=2)
    tables = study.forget_tables(LABELS, scores)
    for table in tables.values():
        assert set(LABELS[table["indices"]].tolist()) == {2}
    worst = tables["h_worst"]["indices"]
    assert top_of_class not in worst
    ranked = np.flatnonzero((LABELS == 2) & np.isfinite(scores))
    expected = ranked[np.argsort(-scores[ranked])[:5]]
    assert sorted(worst.tolist()) == sorted(expected.tolist())


def test_steps_and_jobs() -> None:
    study = WorstCaseStudy(name="h", methods=("ga", "ft"), size=10, seeds=(0, 1))
    assert [(s.scenario, s.x, s.label) for s in study.steps()] == [
        ("h_random", 0.0, "random"),
        ("h_worst", 1.0, "worst"),
    ]
    jobs = study.jobs()
    assert [j.name for j in jobs if isinstance(j, TrainJob)] == [
        "h_random_retrain",
        "h_worst_retrain",
    ]
    runs = [j for j in jobs if isinstance(j, UnlearnJob)]
    assert len(runs) == 2 * 2 * 2 and {j.base for j in runs} == {"original"}
    assert study.x_label == "forget set"


@pytest.mark.parametrize(
    ("fields", "scores", "message"),
    [
        ({"size": 0}, SCORES, r"^size: expected a positive number of samples"),
        ({"size": 5, "within": 7}, SCORES, r"^within: expected a class among \[0, 1, 2, 3\]"),
        (
            {"size": 25, "within": 1},
            SCORES,
            r"^size: expected fewer than the 25 samples of class 1",
        ),
        ({"size": 100}, SCORES, r"^size: expected fewer than the 100 training samples"),
        ({"size": 5}, None, r"^scores: expected one difficulty score per training sample"),
        ({"size": 5}, np.full(100, np.nan), r"^size: expected at most the 0 scored samples"),
        ({"size": 5, "score": "loss"}, SCORES, r"^score: expected one of \['memorization'\]"),
        ({"size": 5, "forget": "classes"}, SCORES, r"^forget: expected 'random'"),
        ({"size": 5, "within": -1}, SCORES, r"^within: expected a class id or None"),
    ],
)
def test_bad_input_names_the_field(
    fields: dict[str, object], scores: np.ndarray | None, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        WorstCaseStudy(name="h", methods=("ga",), **fields).forget_tables(LABELS, scores)  # type: ignore[arg-type]
