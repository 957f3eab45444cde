"""Tests of analysis.mia.reference: offline/online LiRA and offline RMIA."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from analysis.errors import ValidationError
from analysis.mia.reference import offline_lira, offline_rmia, online_lira


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


def test_offline_lira_statistics_match_direct_formulas() -> None:
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
    )
    out = ~in_mask
    mu = np.array([phi_refs[out[:, i], i].mean() for i in range(n)])
    squares = sum(((phi_refs[out[:, i], i] - mu[i]) ** 2).sum() for i in range(n))
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
    mu_in, mu_out = phi_refs[:3].mean(0), phi_refs[3:].mean(0)
    sd_in = np.sqrt(((phi_refs[:3] - mu_in) ** 2).sum() / (2 * n))
    sd_out = np.sqrt(((phi_refs[3:] - mu_out) ** 2).sum() / (2 * n))
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
