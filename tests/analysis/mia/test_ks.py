"""Tests of analysis.mia.ks against scipy.stats.ks_2samp and hand cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp

from analysis.errors import ValidationError
from analysis.mia.ks import ks_forget_quality


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
