"""Tests of analysis/studies/difficulty.py: memorization scores by hand and on the sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import analysis
from analysis.errors import ValidationError
from analysis.studies import difficulty_scores
from analysis.studies.difficulty import memorization_from


def test_memorization_by_hand() -> None:
    probs = np.array([[0.9, 0.5, 0.4], [0.3, 0.5, 0.6], [0.6, 0.1, 0.2]])
    members = np.array([[True, True, True], [False, True, True], [True, False, True]])
    scores = memorization_from(probs, members)
    assert scores[0] == pytest.approx((0.9 + 0.6) / 2 - 0.3)
    assert scores[1] == pytest.approx(0.5 - 0.1)
    assert np.isnan(scores[2])  # every reference trained on it: no OUT estimate
    with pytest.raises(ValidationError, match=r"^members: expected a boolean array of shape"):
        memorization_from(probs, members[:2])


def test_sample_scores_rank_atypical_samples_first(sample_ws: Path) -> None:
    exp = analysis.load_experiment(sample_ws)
    scores = difficulty_scores(exp, device="cpu")
    assert scores.shape == (len(exp.dataset("train")),)
    finite = scores[np.isfinite(scores)]
    assert len(finite) > 0.9 * len(scores) and finite.min() >= -1 and finite.max() <= 1
    # the references get the top-ranked samples right mostly when they trained on them
    assert np.percentile(finite, 99) > 0.5 > abs(np.median(finite))


def test_memorization_needs_reference_models(mlp_ws: Path) -> None:
    exp = analysis.load_experiment(mlp_ws)
    with pytest.raises(ValidationError, match=r"^score: expected at least two reference models"):
        difficulty_scores(exp)
    with pytest.raises(ValidationError, match=r"^score: expected one of"):
        difficulty_scores(exp, "loss")
