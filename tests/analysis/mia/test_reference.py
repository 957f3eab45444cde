"""Tests of analysis.mia.reference: offline/online LiRA and offline RMIA."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from analysis.errors import ValidationError
from analysis.mia.reference import offline_lira, offline_rmia, online_lira, u_lira


def _logits_with_phi(phi: np.ndarray) -> np.ndarray:
    """2-class logits [φ, 0]: with label 0, lira φ = z_0 - z_1 = φ exactly."""
    return np.stack([phi, np.zeros_like(phi)], axis=-1)


def _lira_world(
    rng: np.random.Generator, shift: float, n: int = 400, n_refs: int = 16
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample Gaussian φ; target members are shifted by ``shift``."""
    mu = rng.normal(scale=2.0, size=n)
    in_mask = rng.random((n_refs, n)) < 0.5
    ref_phi = mu + rng.normal(size=(n_refs, n)) + shift * in_mask
    member = np.arange(n) < n // 2
    target_phi = mu + rng.normal(size=n) + shift * member
    labels = np.zeros(n, dtype=int)
    return _logits_with_phi(target_phi), labels, _logits_with_phi(ref_phi), in_mask, member


def test_offline_lira_detects_shifted_members() -> None:
    target, labels, refs, in_mask, member = _lira_world(np.random.default_rng(0), shift=3.0)
    result = offline_lira(target, labels, refs, in_mask)
    assert roc_auc_score(member, result.scores) > 0.9


def test_offline_lira_is_chance_without_a_shift() -> None:
    target, labels, refs, in_mask, member = _lira_world(np.random.default_rng(1), shift=0.0, n=4000)
    result = offline_lira(target, labels, refs, in_mask)
    assert 0.45 < roc_auc_score(member, result.scores) < 0.55


def test_online_lira_detects_shifted_members() -> None:
    target, labels, refs, in_mask, member = _lira_world(np.random.default_rng(2), shift=3.0)
    result = online_lira(target, labels, refs, in_mask)
    valid = ~np.isnan(result.scores)
    assert valid.mean() > 0.99
    assert roc_auc_score(member[valid], result.scores[valid]) > 0.9


@pytest.mark.parametrize("centre", ["median", "mean"])
def test_offline_lira_statistics_match_direct_formulas(centre: str) -> None:
    rng = np.random.default_rng(3)
    n, n_refs = 12, 8
    phi_refs = rng.normal(size=(n_refs, n))
    in_mask = rng.random((n_refs, n)) < 0.3
    in_mask[:, 0] = False  # sample 0: 8 OUT refs -> own std (own_std_min=8)
    in_mask[:7, 1] = True  # sample 1: 1 OUT ref -> pooled std
    target_phi = rng.normal(size=n)
    result = offline_lira(
        _logits_with_phi(target_phi),
        np.zeros(n, int),
        _logits_with_phi(phi_refs),
        in_mask,
        own_std_min=8,
        centre=centre,
    )
    out = ~in_mask
    mean = np.array([phi_refs[out[:, i], i].mean() for i in range(n)])
    centre_of = np.median if centre == "median" else np.mean
    mu = np.array([centre_of(phi_refs[out[:, i], i]) for i in range(n)])
    squares = sum(((phi_refs[out[:, i], i] - mean[i]) ** 2).sum() for i in range(n))
    dof = sum(out[:, i].sum() - 1 for i in range(n))
    pooled = np.sqrt(squares / dof)
    sigma = np.array(
        [phi_refs[out[:, i], i].std(ddof=1) if out[:, i].sum() >= 8 else pooled for i in range(n)]
    )
    np.testing.assert_allclose(result.mu_out, mu, rtol=1e-12)
    assert result.pooled_sigma_out == pytest.approx(pooled, rel=1e-12)
    np.testing.assert_allclose(result.sigma_out, sigma, rtol=1e-12)
    assert result.sigma_out[0] != pytest.approx(pooled)
    np.testing.assert_allclose(result.scores, norm.logcdf(target_phi, mu, sigma), rtol=1e-10)
    np.testing.assert_array_equal(result.n_out, out.sum(axis=0))
    assert result.centre == centre


def _carlini_arrays(
    rng: np.random.Generator, n: int, n_refs: int, n_in: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """φ of references (R, n), a keep mask with exactly ``n_in`` IN refs per sample, target φ."""
    keep = np.zeros((n_refs, n), bool)
    for i in range(n):
        keep[rng.permutation(n_refs)[:n_in], i] = True
    scores = rng.normal(size=(n_refs, n)) * rng.uniform(0.5, 2.0, size=n) + 2.0 * keep
    return scores, keep, rng.normal(size=n) + 1.0


def test_offline_lira_matches_the_reference_code_with_the_median() -> None:
    # Carlini et al.'s generate_ours_offline (research/mi_lira_2021/plot.py), written directly:
    # dat_out per sample, mean_out = np.median(dat_out, 1), per-example std; our documented
    # differences: n - 1 dof and the paper's one-sided log Φ instead of the two-sided density.
    rng = np.random.default_rng(11)
    scores, keep, target = _carlini_arrays(rng, n=50, n_refs=12, n_in=5)
    dat_out = np.array([scores[~keep[:, j], j] for j in range(scores.shape[1])])
    mean_out = np.median(dat_out, 1)
    std_out = np.std(dat_out, 1, ddof=1)
    expected = norm.logcdf(target, mean_out, std_out)
    result = offline_lira(
        _logits_with_phi(target), np.zeros(50, int), _logits_with_phi(scores), keep, own_std_min=7
    )
    np.testing.assert_allclose(result.mu_out, mean_out, rtol=1e-12)
    np.testing.assert_allclose(result.scores, expected, rtol=1e-9)


def test_online_lira_matches_the_reference_code_with_the_median() -> None:
    # generate_ours (online): median of IN and of OUT, per-example stds, logpdf ratio.
    rng = np.random.default_rng(12)
    scores, keep, target = _carlini_arrays(rng, n=40, n_refs=10, n_in=4)
    dat_in = np.array([scores[keep[:, j], j] for j in range(40)])
    dat_out = np.array([scores[~keep[:, j], j] for j in range(40)])
    mean_in, mean_out = np.median(dat_in, 1), np.median(dat_out, 1)
    std_in, std_out = np.std(dat_in, 1, ddof=1), np.std(dat_out, 1, ddof=1)
    expected = norm.logpdf(target, mean_in, std_in) - norm.logpdf(target, mean_out, std_out)
    result = online_lira(
        _logits_with_phi(target), np.zeros(40, int), _logits_with_phi(scores), keep, own_std_min=4
    )
    np.testing.assert_allclose(result.scores, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(result.mu_in, mean_in, rtol=1e-12)


def test_median_centre_resists_an_outlying_reference() -> None:
    phi_refs = np.array([[0.0], [0.1], [-0.1], [50.0]])  # one reference far off
    refs = _logits_with_phi(phi_refs)
    mask = np.zeros((4, 1), bool)
    median = offline_lira(np.array([[0.0, 0.0]]), np.zeros(1, int), refs, mask)
    mean = offline_lira(np.array([[0.0, 0.0]]), np.zeros(1, int), refs, mask, centre="mean")
    assert median.mu_out[0] == pytest.approx(0.05) and mean.mu_out[0] == pytest.approx(12.5)


def test_lira_phi_uses_the_true_label() -> None:
    # 3 classes, label 1: φ = z_1 - logsumexp(z_0, z_2)
    logits = np.array([[0.5, 2.0, -1.0]])
    refs = np.array([[[0.0, 1.0, 0.0]], [[0.0, 0.0, 0.0]]])
    result = offline_lira(logits, np.array([1]), refs, np.zeros((2, 1), bool))
    assert result.phi[0] == pytest.approx(2.0 - np.logaddexp(0.5, -1.0))
    assert result.mu_out[0] == pytest.approx(((1 - np.log(2)) + (0 - np.log(2))) / 2)


def test_online_lira_matches_direct_formula() -> None:
    rng = np.random.default_rng(4)
    n, n_refs = 10, 6
    phi_refs = rng.normal(size=(n_refs, n)) + 1.0 * (np.arange(n_refs) < 3)[:, None]
    in_mask = np.zeros((n_refs, n), bool)
    in_mask[:3] = True
    target_phi = rng.normal(size=n)
    result = online_lira(
        _logits_with_phi(target_phi), np.zeros(n, int), _logits_with_phi(phi_refs), in_mask
    )
    mean_in, mean_out = phi_refs[:3].mean(0), phi_refs[3:].mean(0)
    sd_in = np.sqrt(((phi_refs[:3] - mean_in) ** 2).sum() / (2 * n))
    sd_out = np.sqrt(((phi_refs[3:] - mean_out) ** 2).sum() / (2 * n))
    mu_in, mu_out = np.median(phi_refs[:3], 0), np.median(phi_refs[3:], 0)
    expected = norm.logpdf(target_phi, mu_in, sd_in) - norm.logpdf(target_phi, mu_out, sd_out)
    np.testing.assert_allclose(result.scores, expected, rtol=1e-10)


def test_missing_out_references_give_nan_and_a_warning() -> None:
    refs = np.zeros((3, 2, 2))
    refs[:, :, 0] = [[0.0, 1.0], [1.0, 2.0], [2.0, 0.0]]
    in_mask = np.array([[True, False], [True, False], [True, False]])
    with pytest.warns(RuntimeWarning, match="1 sample"):
        result = offline_lira(np.zeros((2, 2)), np.zeros(2, int), refs, in_mask)
    assert np.isnan(result.scores[0]) and np.isfinite(result.scores[1])
    with pytest.warns(RuntimeWarning, match="lack IN or OUT"):
        online = online_lira(np.zeros((2, 2)), np.zeros(2, int), refs, in_mask)
    assert np.isnan(online.scores).all()


def _rmia_world(
    rng: np.random.Generator, n: int, m: int, n_refs: int = 4
) -> tuple[np.ndarray, ...]:
    target, pop_target = rng.normal(size=(n, 3)), rng.normal(size=(m, 3))
    labels, pop_labels = rng.integers(0, 3, n), rng.integers(0, 3, m)
    refs, pop_refs = rng.normal(size=(n_refs, n, 3)), rng.normal(size=(n_refs, m, 3))
    in_mask = rng.random((n_refs, n)) < 0.5
    in_mask[0] = False  # reference 0 is OUT for every sample
    pop_mask = rng.random((n_refs, m)) < 0.3
    pop_mask[0] = False
    return target, labels, refs, in_mask, pop_target, pop_labels, pop_refs, pop_mask


def _brute_rmia(
    target: np.ndarray, labels: np.ndarray, refs: np.ndarray, in_mask: np.ndarray, a: float
) -> np.ndarray:
    """Linear-space LR per sample, written directly."""
    rows = np.arange(len(labels))
    p_target = softmax(target, axis=1)[rows, labels]
    p_refs = np.stack([softmax(r, axis=1)[rows, labels] for r in refs])
    out = ~in_mask
    pr_out = np.array([p_refs[out[:, i], i].mean() for i in range(len(labels))])
    return p_target / (0.5 * ((1 + a) * pr_out + (1 - a)))


@pytest.mark.parametrize(("a", "gamma"), [(0.3, 1.0), (0.0, 2.0), (1.0, 0.5)])
def test_rmia_matches_brute_force_pairwise_comparison(a: float, gamma: float) -> None:
    world = _rmia_world(np.random.default_rng(5), n=30, m=40)
    target, labels, refs, in_mask, pop_target, pop_labels, pop_refs, pop_mask = world
    lr_x = _brute_rmia(target, labels, refs, in_mask, a)
    lr_z = _brute_rmia(pop_target, pop_labels, pop_refs, pop_mask, a)
    expected = (lr_x[:, None] / lr_z[None, :] >= gamma).mean(axis=1)  # the n x m matrix
    result = offline_rmia(
        target,
        labels,
        refs,
        in_mask,
        pop_target,
        pop_labels,
        pop_refs,
        population_in_mask=pop_mask,
        a=a,
        gamma=gamma,
    )
    np.testing.assert_allclose(result.scores, expected)
    np.testing.assert_allclose(np.exp(result.log_likelihood_ratio), lr_x, rtol=1e-10)
    assert result.n_population == 40 and (result.a, result.gamma) == (a, gamma)


def test_rmia_separates_members_with_higher_confidence() -> None:
    rng = np.random.default_rng(6)
    n, n_refs = 400, 8
    labels = rng.integers(0, 5, n)
    member = np.arange(n) < n // 2
    eye = np.eye(5)[labels]
    refs = rng.normal(size=(n_refs, n, 5)) + 1.0 * eye
    target = rng.normal(size=(n, 5)) + (1.0 + 3.0 * member[:, None]) * eye
    population = rng.normal(size=(200, 5)) + np.eye(5)[np.zeros(200, int)]
    pop_refs = rng.normal(size=(n_refs, 200, 5)) + np.eye(5)[np.zeros(200, int)]
    result = offline_rmia(
        target, labels, refs, np.zeros((n_refs, n), bool), population, np.zeros(200, int), pop_refs
    )
    assert roc_auc_score(member, result.scores) > 0.9


def test_rmia_missing_out_references() -> None:
    target, labels, refs, in_mask, pop_target, pop_labels, pop_refs, pop_mask = _rmia_world(
        np.random.default_rng(7), n=5, m=6
    )
    in_mask[:, 1] = True
    pop_mask[:, 2] = True
    with pytest.warns(RuntimeWarning) as caught:
        result = offline_rmia(
            target,
            labels,
            refs,
            in_mask,
            pop_target,
            pop_labels,
            pop_refs,
            population_in_mask=pop_mask,
        )
    messages = " ".join(str(w.message) for w in caught)
    assert "have no OUT reference; their scores are NaN" in messages and "left out" in messages
    assert np.isnan(result.scores[1]) and np.isfinite(np.delete(result.scores, 1)).all()
    assert result.n_population == 5


def test_bad_input_names_the_argument() -> None:
    target, labels, refs, in_mask, pop_target, pop_labels, pop_refs, _ = _rmia_world(
        np.random.default_rng(8), n=5, m=6
    )
    with pytest.raises(ValidationError, match=r"^ref_logits: expected shape"):
        offline_lira(target, labels, refs[:, :4], in_mask)
    with pytest.raises(ValidationError, match=r"^in_mask: expected"):
        offline_lira(target, labels, refs, in_mask[:, :4])
    with pytest.raises(ValidationError, match=r"^labels: expected"):
        online_lira(target, labels + 3, refs, in_mask)
    with pytest.raises(ValidationError, match=r"^own_std_min: expected"):
        offline_lira(target, labels, refs, in_mask, own_std_min=1)
    with pytest.raises(ValidationError, match=r"^ref_logits: expected"):
        offline_lira(target, labels, np.where(refs > 1, np.nan, refs), in_mask)
    args = (target, labels, refs, in_mask, pop_target, pop_labels, pop_refs)
    with pytest.raises(ValidationError, match=r"^a: expected"):
        offline_rmia(*args, a=1.5)
    with pytest.raises(ValidationError, match=r"^gamma: expected"):
        offline_rmia(*args, gamma=0.0)
    with pytest.raises(ValidationError, match=r"^population_ref_logits: expected"):
        offline_rmia(*args[:6], pop_refs[:2])


# ---------------------------------------------------------------------------------- U-LiRA


def _ulira_world(
    rng: np.random.Generator, residue: float, n: int = 300, k: int = 8
) -> tuple[np.ndarray, ...]:
    """Shadows: unlearned φ = base + residue + noise where x was unlearned; retrained φ = base
    + noise. Targets: one unlearned model and one retrained model (the game's two sides)."""
    base = rng.normal(scale=2.0, size=n)
    unl_mask = rng.random((k, n)) < 0.5
    ret_mask = np.ones((k, n), bool)
    unl = base + residue * unl_mask + rng.normal(size=(k, n))
    ret = base + rng.normal(size=(k, n))
    unlearned_target = base + residue + rng.normal(size=n)
    retrained_target = base + rng.normal(size=n)
    return unl, unl_mask, ret, ret_mask, unlearned_target, retrained_target


def _brute_ulira(
    target: np.ndarray, unl: np.ndarray, unl_mask: np.ndarray, ret: np.ndarray, ret_mask: np.ndarray
) -> np.ndarray:
    """Per-sample loops: median centres, pooled n - 1 dof standard deviations, logpdf ratio."""
    n = target.size

    def fit(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
        cols = [values[mask[:, i], i] for i in range(n)]
        centre = np.array([np.median(c) if c.size else np.nan for c in cols])
        squares = sum(((c - c.mean()) ** 2).sum() for c in cols if c.size)
        dof = sum(c.size - 1 for c in cols if c.size)
        return centre, float(np.sqrt(squares / dof))

    (mu_u, sd_u), (mu_r, sd_r) = fit(unl, unl_mask), fit(ret, ret_mask)
    return norm.logpdf(target, mu_u, sd_u) - norm.logpdf(target, mu_r, sd_r)


def test_u_lira_matches_a_direct_reimplementation() -> None:
    rng = np.random.default_rng(21)
    unl, unl_mask, ret, ret_mask, target, _ = _ulira_world(rng, residue=1.0, n=60, k=6)
    unl_mask[0] = True  # every sample unlearned by shadow 0 ...
    unl_mask[:, 0] = False  # ... except sample 0, never unlearned by a shadow: dropped (NaN)
    with pytest.warns(RuntimeWarning, match="1 sample"):
        result = u_lira(
            _logits_with_phi(target),
            np.zeros(60, int),
            _logits_with_phi(unl),
            unl_mask,
            _logits_with_phi(ret),
            ret_mask,
        )
    expected = _brute_ulira(target, unl, unl_mask, ret, ret_mask)
    assert np.isnan(result.scores[0])
    np.testing.assert_allclose(result.scores[1:], expected[1:], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(result.n_unlearned, unl_mask.sum(0))
    np.testing.assert_array_equal(result.n_retrained, np.full(60, 6))


@pytest.mark.parametrize(("residue", "low", "high"), [(2.0, 0.85, 1.0), (0.0, 0.42, 0.58)])
@pytest.mark.filterwarnings("ignore:.*lack unlearned or retrained shadows")
def test_u_lira_separates_unlearned_from_retrained_only_with_a_residue(
    residue: float, low: float, high: float
) -> None:
    unl, unl_mask, ret, ret_mask, unlearned, retrained = _ulira_world(
        np.random.default_rng(22), residue=residue, n=1000
    )
    args = (_logits_with_phi(unl), unl_mask, _logits_with_phi(ret), ret_mask)
    labels = np.zeros(1000, int)
    pos = u_lira(_logits_with_phi(unlearned), labels, *args).scores
    neg = u_lira(_logits_with_phi(retrained), labels, *args).scores
    keep = np.isfinite(pos)  # the same samples lack shadows on both sides
    np.testing.assert_array_equal(keep, np.isfinite(neg))
    member = np.r_[np.ones(keep.sum(), bool), np.zeros(keep.sum(), bool)]
    assert low < roc_auc_score(member, np.r_[pos[keep], neg[keep]]) < high


def test_u_lira_bad_input_names_the_argument() -> None:
    unl, unl_mask, ret, ret_mask, target, _ = _ulira_world(np.random.default_rng(23), 1.0, n=5)
    args = (_logits_with_phi(target), np.zeros(5, int), _logits_with_phi(unl), unl_mask)
    with pytest.raises(ValidationError, match=r"^retrained_logits: expected shape"):
        u_lira(*args, _logits_with_phi(ret[:, :3]), ret_mask)
    with pytest.raises(ValidationError, match=r"^unlearned_mask: expected"):
        u_lira(*args[:3], unl_mask[:, :2], _logits_with_phi(ret), ret_mask)
    with pytest.raises(ValidationError, match=r"^centre: expected"):
        u_lira(*args, _logits_with_phi(ret), ret_mask, centre="mode")
    with pytest.raises(ValidationError, match=r"^min_count: expected"):
        u_lira(*args, _logits_with_phi(ret), ret_mask, min_count=0)
