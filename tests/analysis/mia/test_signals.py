"""Tests of analysis.mia.signals against direct scipy/numpy formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import softmax
from scipy.stats import entropy as scipy_entropy

from analysis.errors import ValidationError
from analysis.mia.signals import (
    SIGNAL_DIRECTIONS,
    SIGNAL_NAMES,
    entropy_at_temperature,
    logit_confidence,
    member_score,
    signals_from_logits,
)


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(scale=3.0, size=(60, 7)), rng.integers(0, 7, size=60)


def test_signals_match_scipy_formulas(data: tuple[np.ndarray, np.ndarray]) -> None:
    logits, labels = data
    p = softmax(logits, axis=1)
    rows = np.arange(len(labels))
    p_y, p_max = p[rows, labels], p.max(axis=1)
    s = signals_from_logits(logits, labels)
    np.testing.assert_array_equal(s.pred, logits.argmax(axis=1))
    np.testing.assert_allclose(s.true_prob, p_y, rtol=1e-12)
    np.testing.assert_allclose(s.max_prob, p_max, rtol=1e-12)
    np.testing.assert_allclose(s.entropy, scipy_entropy(p, axis=1), rtol=1e-10)
    np.testing.assert_allclose(s.loss, -np.log(p_y), rtol=1e-10)
    p2 = softmax(logits / 2.0, axis=1)
    np.testing.assert_allclose(s.entropy_t2, scipy_entropy(p2, axis=1), rtol=1e-10)
    np.testing.assert_allclose(s.logit_conf, np.log(p_max) - np.log1p(-p_max), rtol=1e-9)
    others = p.sum(axis=1) - p_y
    np.testing.assert_allclose(s.lira_phi, np.log(p_y) - np.log(others), rtol=1e-9, atol=1e-12)


def test_modified_entropy_matches_literal_formula_loop() -> None:
    logits = np.array([[2.0, 0.5, -1.0], [0.0, 3.0, 1.0], [1.0, 1.0, 1.0], [-2.0, 0.0, 5.0]])
    labels = np.array([0, 0, 2, 2])
    expected = []
    for row, y in zip(softmax(logits, axis=1), labels, strict=True):
        value = -(1 - row[y]) * math.log(max(row[y], 1e-30))
        for i, p_i in enumerate(row):
            if i != y:
                value -= p_i * math.log(max(1 - p_i, 1e-30))
        expected.append(value)
    actual = signals_from_logits(logits, labels).modified_entropy
    np.testing.assert_allclose(actual, expected, rtol=1e-12)


def test_modified_entropy_clips_probabilities_at_1e30() -> None:
    # p_y = 0 and p_0 = 1 in float64: both logs are clipped at log(1e-30) = -69.0776
    s = signals_from_logits(np.array([[1e4, -1e4, 0.0]]), np.array([1]))
    assert s.modified_entropy[0] == pytest.approx(-2 * math.log(1e-30), rel=1e-12)


def test_extreme_logits_stay_finite_and_exact() -> None:
    logits = np.array([[1e4, -1e4, 0.0], [1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]])
    s = signals_from_logits(logits, np.array([0, 1, 2]))
    for name in SIGNAL_NAMES:
        assert np.isfinite(s.get(name)).all(), name
    np.testing.assert_allclose(s.loss, [0.0, 2e4, math.log(2)], rtol=1e-12)
    np.testing.assert_allclose(s.logit_conf, [1e4, 1e4, 0.0], atol=1e-9)
    np.testing.assert_allclose(s.lira_phi, [1e4, -2e4, 0.0], atol=1e-9)
    np.testing.assert_allclose(s.entropy, [0.0, 0.0, math.log(2)], atol=1e-12)


def test_logit_conf_exact_where_max_prob_rounds_to_one() -> None:
    # p_max = 1 - e^-40 rounds to 1.0, a probability-based formula would give inf
    assert softmax(np.array([40.0, 0.0]))[0] == 1.0
    assert logit_confidence(np.array([[40.0, 0.0]]))[0] == pytest.approx(40.0, abs=1e-12)
    assert logit_confidence(np.array([[40.0, 0.0, 0.0]]))[0] == pytest.approx(40 - math.log(2))


def test_shift_invariance(data: tuple[np.ndarray, np.ndarray]) -> None:
    logits, labels = data
    base, shifted = signals_from_logits(logits, labels), signals_from_logits(logits + 123.0, labels)
    for name in SIGNAL_NAMES:
        np.testing.assert_allclose(shifted.get(name), base.get(name), rtol=1e-9, atol=1e-9)


def test_member_score_orients_every_signal() -> None:
    # sample 0: confident and correct (member-like); sample 1: unsure and wrong
    s = signals_from_logits(np.array([[6.0, 0.0, 0.0], [0.5, 1.0, 0.8]]), np.array([0, 0]))
    assert set(SIGNAL_DIRECTIONS) == set(SIGNAL_NAMES)
    for name in SIGNAL_NAMES:
        score = member_score(s, name)
        assert score[0] > score[1], name


def test_entropy_at_temperature_matches_scipy(data: tuple[np.ndarray, np.ndarray]) -> None:
    logits, _ = data
    expected = scipy_entropy(softmax(logits / 3.0, axis=1), axis=1)
    np.testing.assert_allclose(
        entropy_at_temperature(logits, temperature=3.0), expected, rtol=1e-10
    )


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, (4, 5), elements=st.floats(-1e4, 1e4)),
    arrays(np.int64, (4,), elements=st.integers(0, 4)),
)
def test_signals_bounded_for_any_finite_logits(logits: np.ndarray, labels: np.ndarray) -> None:
    s = signals_from_logits(logits, labels)
    for name in SIGNAL_NAMES:
        assert np.isfinite(s.get(name)).all(), name
    assert ((s.true_prob >= 0) & (s.true_prob <= s.max_prob) & (s.max_prob <= 1)).all()
    assert ((s.entropy >= -1e-12) & (s.entropy <= math.log(5) + 1e-9)).all()
    assert (s.loss >= 0).all() and (s.modified_entropy >= -1e-12).all()
    np.testing.assert_allclose(s.true_prob, np.exp(-s.loss), rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize(
    ("logits", "labels", "argument"),
    [
        (np.zeros((3, 4)), np.zeros(2, dtype=int), "labels"),
        (np.zeros((3, 4)), np.array([0, 1, 4]), "labels"),
        (np.zeros((3, 4)), np.array([0, -1, 2]), "labels"),
        (np.zeros((3, 4)), np.zeros(3), "labels"),
        (np.array([[0.0, np.nan]]), np.zeros(1, dtype=int), "logits"),
        (np.array([[0.0, np.inf]]), np.zeros(1, dtype=int), "logits"),
        (np.zeros(4), np.zeros(4, dtype=int), "logits"),
        (np.zeros((3, 1)), np.zeros(3, dtype=int), "logits"),
        (np.array([["a", "b"]]), np.zeros(1, dtype=int), "logits"),
    ],
)
def test_bad_input_names_the_argument(
    logits: np.ndarray, labels: np.ndarray, argument: str
) -> None:
    with pytest.raises(ValidationError, match=rf"^{argument}: expected"):
        signals_from_logits(logits, labels)


def test_bad_signal_name_and_temperature() -> None:
    s = signals_from_logits(np.zeros((1, 2)), np.array([0]))
    with pytest.raises(ValidationError, match=r"^name: expected one of"):
        member_score(s, "accuracy")
    with pytest.raises(ValidationError, match=r"^temperature: expected"):
        entropy_at_temperature(np.zeros((1, 2)), temperature=0.0)
