"""analysis.bootstrap: the draws, the kernels and the intervals against known distributions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp, norm
from sklearn import metrics

from analysis.bootstrap import (
    auc_tpr_replicates,
    centred_interval,
    class_mean_interval,
    class_mean_replicates,
    generator,
    ks_replicates,
    mean_interval,
    mean_replicates,
    percentile_interval,
    resample_indices,
    resample_within,
)
from analysis.errors import ValidationError


def _wilson(p: float, n: int, level: float = 0.95) -> tuple[float, float]:
    z = norm.ppf((1 + level) / 2)
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def test_bernoulli_mean_interval_matches_wilson_on_large_n() -> None:
    n, p = 20_000, 0.3
    values = np.r_[np.ones(int(n * p)), np.zeros(n - int(n * p))]
    lo, hi = mean_interval(values, n_bootstrap=4000, seed=1)
    w_lo, w_hi = _wilson(p, n)
    assert lo == pytest.approx(w_lo, abs=1.5e-3) and hi == pytest.approx(w_hi, abs=1.5e-3)
    assert (hi - lo) == pytest.approx(w_hi - w_lo, rel=0.06)


def test_percentile_interval_of_a_bernoulli_mean_covers_about_95_percent() -> None:
    rng = np.random.default_rng(5)
    p, n, trials, covered = 0.3, 400, 300, 0
    for t in range(trials):
        sample = (rng.random(n) < p).astype(float)
        lo, hi = mean_interval(sample, n_bootstrap=1000, seed=t)
        covered += lo <= p <= hi
    assert 0.91 <= covered / trials <= 0.985  # binomial sd of the rate ≈ 0.013


def test_binary_shortcut_has_the_resampling_distribution() -> None:
    values = np.r_[np.ones(30), np.zeros(70)]
    shortcut = mean_replicates(values, 20_000, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    resampled = values[resample_indices(rng, values.size, 20_000)].mean(axis=1)
    qs = [0.025, 0.25, 0.5, 0.75, 0.975]
    np.testing.assert_allclose(np.quantile(shortcut, qs), np.quantile(resampled, qs), atol=0.011)
    # the non-binary path (a value 0.5 somewhere) uses index draws
    other = mean_replicates(np.r_[values, 0.5], 500, np.random.default_rng(0))
    assert other.shape == (500,) and 0.2 < other.mean() < 0.4


def test_resample_within_keeps_every_class_count() -> None:
    classes = np.array([2, 0, 2, 1, 1, 2, 0, 2])
    idx = resample_within(np.random.default_rng(0), classes, 50)
    order = np.argsort(classes, kind="stable")
    assert idx.shape == (50, 8)
    # column blocks follow the classes sorted: every draw stays in its own class
    np.testing.assert_array_equal(classes[idx], np.broadcast_to(classes[order], (50, 8)))


def test_class_mean_replicates_paths_agree_and_are_stratified() -> None:
    classes = np.repeat([0, 1, 2], [10, 40, 200])
    values = np.r_[np.ones(10), np.r_[np.ones(20), np.zeros(20)], np.r_[np.ones(50), np.zeros(150)]]
    binary = class_mean_replicates(values, classes, 20_000, np.random.default_rng(0))
    # the same data with a non-binary marker of zero weight: the index-draw path
    rng = np.random.default_rng(1)
    drawn = values[resample_within(rng, classes, 20_000)]
    starts, sizes = np.array([0, 10, 50]), np.array([10, 40, 200])
    index_path = (np.add.reduceat(drawn, starts, axis=1) / sizes).mean(axis=1)
    qs = [0.025, 0.5, 0.975]
    np.testing.assert_allclose(np.quantile(binary, qs), np.quantile(index_path, qs), atol=0.006)
    # class 0 is always right: a stratified replicate never loses it
    assert binary.max() <= (1 + 1 + 1) / 3 and binary.mean() == pytest.approx(
        (1 + 0.5 + 0.25) / 3, abs=0.003
    )


def test_class_mean_interval_ignores_class_sizes_like_the_metric() -> None:
    classes = np.repeat([0, 1], [5, 500])
    values = np.r_[np.ones(5), np.zeros(500)]
    lo, hi = class_mean_interval(values, classes, n_bootstrap=300, seed=0)
    assert lo == hi == 0.5  # each class's accuracy is 1 or 0 in every resample


def test_same_seed_same_interval_other_seed_other_draws() -> None:
    values = np.random.default_rng(0).normal(size=300)
    first = mean_interval(values, n_bootstrap=500, seed=7)
    assert mean_interval(values, n_bootstrap=500, seed=7) == first
    assert mean_interval(values, n_bootstrap=500, seed=8) != first
    assert mean_interval(values, n_bootstrap=500, seed=7, name="other") != first  # salted


@pytest.mark.parametrize("values", [np.array([1.0]), np.array([])])
def test_degenerate_sets_warn_and_give_nan(values: np.ndarray) -> None:
    with pytest.warns(RuntimeWarning, match="at least 2"):
        lo, hi = mean_interval(values, n_bootstrap=100)
    assert np.isnan(lo) and np.isnan(hi)
    with pytest.warns(RuntimeWarning, match="at least 2"):
        lo, hi = class_mean_interval(values, np.zeros(values.size, int), n_bootstrap=100)
    assert np.isnan(lo) and np.isnan(hi)


def test_a_class_of_one_sample_makes_the_class_mean_degenerate() -> None:
    with pytest.warns(RuntimeWarning, match="smallest class"):
        lo, _ = class_mean_interval([1.0, 0.0, 1.0], [0, 1, 1], n_bootstrap=100)
    assert np.isnan(lo)


def test_no_bootstrap_is_nan_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lo, hi = mean_interval([1.0, 0.0], n_bootstrap=0)
    assert np.isnan(lo) and np.isnan(hi)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"n_bootstrap": -1}, "n_bootstrap"), ({"level": 1.0}, "level"), ({"seed": -2}, "seed")],
)
def test_bad_options_name_the_argument(kwargs: dict[str, float], argument: str) -> None:
    with pytest.raises(ValidationError, match=argument):
        mean_interval([1.0, 0.0], **kwargs)  # type: ignore[arg-type]


def test_auc_tpr_replicates_match_sklearn_per_replicate() -> None:
    rng = np.random.default_rng(11)
    pos_codes = rng.integers(0, 12, size=(6, 40))
    neg_codes = rng.integers(0, 12, size=(6, 55))
    targets = (0.0, 0.1, 0.5, 1.0)
    aucs, tprs = auc_tpr_replicates(pos_codes + 3, neg_codes, 15, targets)
    members = np.r_[np.ones(40, bool), np.zeros(55, bool)]
    for row in range(6):
        scores = np.r_[pos_codes[row] + 3, neg_codes[row]].astype(float)
        assert aucs[row] == pytest.approx(metrics.roc_auc_score(members, scores))
        fpr, tpr, _ = metrics.roc_curve(members, scores, drop_intermediate=False)
        np.testing.assert_allclose(tprs[row], [tpr[fpr <= t].max() for t in targets])


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 40), st.integers(1, 6), st.integers(0, 10_000))
def test_ks_replicates_equal_scipy_on_the_same_draws(n: int, spread: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    model = rng.integers(0, spread + 1, n).astype(float)  # ties across and within sides
    retrain = rng.integers(0, spread + 2, n).astype(float)
    d = ks_replicates(model, retrain, 5, np.random.default_rng(seed))
    idx = resample_indices(np.random.default_rng(seed), n, 5)
    for row in range(5):
        expected = ks_2samp(model[idx[row]], retrain[idx[row]]).statistic
        assert d[row] == pytest.approx(expected, abs=1e-12)


def test_generator_is_salted_by_name() -> None:
    assert generator(0, "UA").integers(1 << 30) != generator(0, "RA").integers(1 << 30)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-5, 5), min_size=3, max_size=50),
    st.floats(-5, 5),
    st.floats(0.5, 0.99),
)
def test_centred_interval_always_covers_the_estimate(
    values: list[float], estimate: float, level: float
) -> None:
    lo, hi = centred_interval(np.array(values), estimate, level)
    assert lo <= estimate <= hi
    p_lo, p_hi = percentile_interval(np.array(values), level)
    assert hi - lo == pytest.approx(p_hi - p_lo, abs=1e-9)  # same spread, moved


def test_centred_interval_is_clipped_to_the_range() -> None:
    lo, hi = centred_interval(np.linspace(0.5, 0.7, 101), 0.98, 0.9, (0.0, 1.0))
    assert hi == 1.0 and lo == pytest.approx(0.98 - 0.09, abs=1e-9)
