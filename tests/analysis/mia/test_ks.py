"""Tests of analysis.mia.ks against scipy.stats.ks_2samp and hand cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp

from analysis.errors import ValidationError
from analysis.mia.ks import ks_forget_quality, ks_interval, ks_p_value


def test_matches_scipy_two_sided() -> None:
    rng = np.random.default_rng(0)
    model, retrain = rng.normal(size=300), rng.normal(loc=0.3, size=250)
    expected = ks_2samp(model, retrain, alternative="two-sided")
    result = ks_forget_quality(model, retrain)
    assert result.d == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert (result.n_model, result.n_retrain) == (300, 250)


def test_hand_cases() -> None:
    # empirical CDFs of {1, 2} and {2, 3} differ by at most 1/2 (on [1, 2) and [2, 3))
    assert ks_forget_quality([1.0, 2.0], [2.0, 3.0]).d == 0.5
    same = ks_forget_quality([1.0, 2.0, 2.0], [2.0, 1.0, 2.0])
    assert (same.d, same.p_value) == (0.0, 1.0)
    apart = ks_forget_quality(np.arange(30.0), np.arange(30.0) + 100)
    assert apart.d == 1.0 and apart.p_value < 1e-10


@pytest.mark.parametrize(
    ("model", "retrain", "argument"),
    [
        ([], [1.0], "model_scores"),
        ([1.0, np.nan], [1.0], "model_scores"),
        ([1.0], [[1.0, 2.0]], "retrain_scores"),
        ([1.0], ["a"], "retrain_scores"),
    ],
)
def test_bad_input_names_the_argument(model: object, retrain: object, argument: str) -> None:
    with pytest.raises(ValidationError, match=rf"^{argument}: expected"):
        ks_forget_quality(model, retrain)  # type: ignore[arg-type]


def test_p_value_of_a_statistic_equals_scipy() -> None:
    rng = np.random.default_rng(2)
    for n in (3, 40, 500):
        a, b = rng.normal(size=n).round(1), rng.normal(size=n).round(1) + 0.3
        result = ks_2samp(a, b)
        assert ks_p_value(result.statistic, n) == float(result.pvalue)


def test_interval_covers_both_numbers_and_is_seeded() -> None:
    rng = np.random.default_rng(3)
    model = rng.normal(size=120)
    retrain = model + rng.normal(scale=0.4, size=120) + 0.2
    point = ks_forget_quality(model, retrain)
    d_ci, p_ci = ks_interval(model, retrain, n_bootstrap=400, seed=1)
    assert d_ci[0] <= point.d <= d_ci[1] and p_ci[0] <= point.p_value <= p_ci[1]
    assert ks_interval(model, retrain, n_bootstrap=400, seed=1) == (d_ci, p_ci)
    assert ks_interval(model, model, n_bootstrap=50) == ((0.0, 0.0), (1.0, 1.0))


def test_interval_needs_paired_scores_and_two_samples() -> None:
    with pytest.raises(ValidationError, match=r"^retrain_scores: expected paired"):
        ks_interval(np.zeros(5), np.zeros(4))
    with pytest.warns(RuntimeWarning, match="fewer than 2"):
        d_ci, _ = ks_interval(np.zeros(1), np.ones(1))
    assert np.isnan(d_ci[0])
