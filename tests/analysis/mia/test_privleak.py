"""Tests of analysis.mia.privleak: forget-vs-holdout AUC and PrivLeak."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import entropy as scipy_entropy
from sklearn.metrics import roc_auc_score

from analysis.errors import ValidationError
from analysis.mia.privleak import (
    forget_holdout_auc,
    forget_holdout_scores,
    privleak,
    privleak_interval,
)


@pytest.fixture
def sets() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y_f, y_h = rng.integers(0, 4, 80), rng.integers(0, 4, 120)
    forget = rng.normal(size=(80, 4)) + 1.5 * np.eye(4)[y_f]
    holdout = rng.normal(size=(120, 4)) + 0.5 * np.eye(4)[y_h]
    return forget, y_f, holdout, y_h


def test_default_loss_auc_matches_sklearn(sets: tuple[np.ndarray, ...]) -> None:
    forget, y_f, holdout, y_h = sets
    loss = np.r_[
        -np.log(softmax(forget, 1)[np.arange(80), y_f]),
        -np.log(softmax(holdout, 1)[np.arange(120), y_h]),
    ]
    is_forget = np.r_[np.ones(80), np.zeros(120)]
    expected = roc_auc_score(is_forget, -loss)  # lower loss = member
    report = forget_holdout_auc(forget, y_f, holdout, y_h, n_bootstrap=50)
    assert report.auc == pytest.approx(expected)
    assert report.auc > 0.6
    assert report.auc_ci[0] < report.auc < report.auc_ci[1]
    assert (report.n_members, report.n_nonmembers) == (80, 120)


def test_selectable_signals_use_their_direction(sets: tuple[np.ndarray, ...]) -> None:
    forget, y_f, holdout, y_h = sets
    is_forget = np.r_[np.ones(80), np.zeros(120)]
    entropies = scipy_entropy(softmax(np.r_[forget, holdout], 1), axis=1)
    entropy_auc = forget_holdout_auc(forget, y_f, holdout, y_h, signal="entropy", n_bootstrap=0)
    assert entropy_auc.auc == pytest.approx(roc_auc_score(is_forget, -entropies))
    p_y = np.r_[softmax(forget, 1)[np.arange(80), y_f], softmax(holdout, 1)[np.arange(120), y_h]]
    prob_auc = forget_holdout_auc(forget, y_f, holdout, y_h, signal="true_prob", n_bootstrap=0)
    assert prob_auc.auc == pytest.approx(roc_auc_score(is_forget, p_y))


@pytest.mark.parametrize(
    ("model", "retrain", "expected"),
    [(0.6, 0.5, 20.0), (0.5, 0.5, 0.0), (0.4, 0.8, -50.0), (1.0, 0.25, 300.0)],
)
def test_privleak_formula(model: float, retrain: float, expected: float) -> None:
    assert privleak(model, retrain) == pytest.approx(expected)


def test_privleak_degenerate_and_nan() -> None:
    with pytest.warns(RuntimeWarning, match="auc_retrain is 0"):
        assert math.isnan(privleak(0.5, 0.0))
    assert math.isnan(privleak(float("nan"), 0.5))


@pytest.mark.parametrize(
    ("model", "retrain", "argument"),
    [(1.2, 0.5, "auc_model"), (0.5, -0.1, "auc_retrain"), ("0.5", 0.5, "auc_model")],
)
def test_privleak_bad_input(model: object, retrain: object, argument: str) -> None:
    with pytest.raises(ValidationError, match=rf"^{argument}: expected"):
        privleak(model, retrain)  # type: ignore[arg-type]


def test_forget_holdout_bad_input(sets: tuple[np.ndarray, ...]) -> None:
    forget, y_f, holdout, y_h = sets
    with pytest.raises(ValidationError, match=r"^signal: expected one of"):
        forget_holdout_auc(forget, y_f, holdout, y_h, signal="margin")
    with pytest.raises(ValidationError, match=r"^holdout_logits: expected 4 classes"):
        forget_holdout_auc(forget, y_f, holdout[:, :3], y_h % 3)
    with pytest.raises(ValidationError, match=r"^forget_labels: expected"):
        forget_holdout_auc(forget, y_f[:-1], holdout, y_h)


def test_privleak_interval_replicates_use_one_draw_for_both_models() -> None:
    rng = np.random.default_rng(0)
    forget = np.r_[np.ones(60, bool), np.zeros(90, bool)]
    retrain = rng.normal(size=150)
    model = retrain + 1.0 * forget  # forget samples look like members to the model only
    lo, hi = privleak_interval(model, retrain, forget, n_bootstrap=500, seed=2)
    point = privleak(roc_auc_score(forget, model), roc_auc_score(forget, retrain))
    assert 0.0 < lo <= point <= hi
    assert privleak_interval(retrain, retrain, forget, n_bootstrap=200) == (0.0, 0.0)
    assert privleak_interval(model, retrain, forget, n_bootstrap=500, seed=2) == (lo, hi)


def test_privleak_interval_degenerate_and_bad_input() -> None:
    with pytest.warns(RuntimeWarning, match="fewer than 2"):
        lo, _ = privleak_interval(np.zeros(3), np.zeros(3), np.array([True, False, False]))
    assert math.isnan(lo)
    with pytest.raises(ValidationError, match=r"^retrain_scores: expected"):
        privleak_interval(np.zeros(3), np.zeros(4), np.ones(3, bool))


def test_forget_holdout_scores_are_the_auc_inputs(sets: tuple[np.ndarray, ...]) -> None:
    scores, is_forget = forget_holdout_scores(*sets)
    report = forget_holdout_auc(*sets, n_bootstrap=0)
    assert report.auc == pytest.approx(roc_auc_score(is_forget, scores))
