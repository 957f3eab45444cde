"""Reference-model membership-inference attacks: offline/online LiRA, offline RMIA and U-LiRA.

Inputs are the target model's logits (n, C) and labels on the audited samples, the reference
models' logits on the same samples (R, n, C) and an IN-membership mask (R, n): True where the
sample was in that reference model's training set (test samples: all False). Every attack returns
per-sample scores where higher means "member"; build ROC reports with
:func:`analysis.mia.roc.roc_report` on the non-NaN scores.

LiRA follows Carlini et al. (2022) and their reference code (``research/mi_lira_2021/plot.py``
of tensorflow/privacy): the signal is the logit-scaled confidence φ = log p_y - log Σ_{i≠y} p_i,
each per-sample Gaussian is centred on the MEDIAN of its references' φ (``centre="mean"`` keeps
the arithmetic mean as an option), and below ``own_std_min`` references a sample uses one shared
("fixed") standard deviation. Two documented differences from that code: the shared deviation is
pooled from the per-sample deviations (the code's ``np.std`` over every entry also counts how far
the samples' means lie apart, which inflates it), and a sample's own deviation uses n - 1 degrees
of freedom (the code uses n; the two differ by < 1 % from 64 references on). Offline LiRA is the
paper's one-sided test (Algorithm 1, log Φ((φ - μ_out) / σ_out)); the code's offline variant
scores the two-sided density, which also calls samples far BELOW the OUT mean members.

U-LiRA (Hayes, Shumailov, Triantafillou, Khalifa & Papernot 2024, "Inexact Unlearning Needs More
Careful Evaluations to Avoid a False Sense of Privacy") is the same likelihood-ratio test with
the two hypotheses of unlearning: per sample, a Gaussian of φ over shadow models that UNLEARNED
it and one over shadow models RETRAINED without it (:func:`u_lira`).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> phi = rng.normal(size=(8, 100))          # 8 OUT reference models, 100 samples
    >>> refs = np.stack([phi, np.zeros_like(phi)], axis=-1)   # 2 classes: φ = z_0 - z_1
    >>> target = np.c_[np.r_[np.full(50, 3.0), np.zeros(50)], np.zeros(100)]
    >>> labels = np.zeros(100, dtype=int)
    >>> res = offline_lira(target, labels, refs, np.zeros((8, 100), bool))
    >>> bool(res.scores[:50].mean() > res.scores[50:].mean())
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from analysis.errors import ValidationError, describe
from analysis.mia._common import (
    BoolArray,
    FloatArray,
    IntArray,
    log_odds,
    log_softmax,
    take_label,
    validate_fraction,
    validate_int,
    validate_logits,
    validate_logits_labels,
    validate_mask,
    validate_positive,
    warn_degenerate,
)

__all__ = [
    "LIRA_CENTRES",
    "LIRA_OWN_STD_MIN",
    "LiraResult",
    "OnlineLiraResult",
    "RmiaResult",
    "ULiraResult",
    "offline_lira",
    "offline_rmia",
    "online_lira",
    "u_lira",
]

#: How a per-sample Gaussian is centred: ``"median"`` (the reference code) or ``"mean"``.
LIRA_CENTRES: tuple[str, ...] = ("median", "mean")

#: A sample gets its own standard deviation from at least this many references of a kind;
#: below it, the pooled (global) one is used.
LIRA_OWN_STD_MIN = 64

# Standard deviations are floored here so identical reference values cannot divide by zero.
_SIGMA_FLOOR = 1e-12


@dataclass(frozen=True)
class LiraResult:
    """Offline LiRA (Carlini et al. 2022) on n samples.

    Attributes:
        scores: log Φ((φ - μ_out) / σ_out), higher = member; NaN without OUT references.
        z: (φ - μ_out) / σ_out (same ranking as ``scores``, without saturation near 0).
        phi: Target φ = z_y - logsumexp_{i != y} z_i.
        mu_out: Centre of the OUT references' φ (their median by default).
        sigma_out: Standard deviation used (own with >= ``own_std_min`` OUT refs, else pooled).
        n_out: Number of OUT references per sample.
        pooled_sigma_out: The pooled standard deviation (NaN if it cannot be estimated).
        centre: ``"median"`` or ``"mean"``.
    """

    scores: FloatArray
    z: FloatArray
    phi: FloatArray
    mu_out: FloatArray
    sigma_out: FloatArray
    n_out: IntArray
    pooled_sigma_out: float
    centre: str = "median"


@dataclass(frozen=True)
class OnlineLiraResult:
    """Online LiRA: log N(φ; μ_in, σ_in) - log N(φ; μ_out, σ_out), higher = member.

    Attributes:
        scores: Log-likelihood ratio; NaN where a sample has fewer than ``min_count`` IN or
            OUT references.
        phi: Target φ.
        mu_in: Centre of the IN references' φ (median by default).
        sigma_in: Standard deviation of IN (own or pooled, like LiRA's OUT side).
        mu_out: Centre of the OUT references' φ.
        sigma_out: Standard deviation of OUT.
        n_in: Number of IN references per sample.
        n_out: Number of OUT references per sample.
        centre: ``"median"`` or ``"mean"``.
    """

    scores: FloatArray
    phi: FloatArray
    mu_in: FloatArray
    sigma_in: FloatArray
    mu_out: FloatArray
    sigma_out: FloatArray
    n_in: IntArray
    n_out: IntArray
    centre: str = "median"


@dataclass(frozen=True)
class ULiraResult:
    """U-LiRA: log N(φ; μ_unl, σ_unl) - log N(φ; μ_ret, σ_ret), higher = "unlearned".

    Attributes:
        scores: Log-likelihood ratio; NaN where a sample has fewer than ``min_count`` shadow
            models that unlearned it or fewer than ``min_count`` retrained without it.
        phi: Target φ.
        mu_unlearned: Centre of φ over the shadows that unlearned the sample.
        sigma_unlearned: Standard deviation of that side (own or pooled).
        mu_retrained: Centre of φ over the shadows retrained without the sample.
        sigma_retrained: Standard deviation of that side.
        n_unlearned: Shadows that unlearned each sample.
        n_retrained: Shadows retrained without each sample.
        centre: ``"median"`` or ``"mean"``.
    """

    scores: FloatArray
    phi: FloatArray
    mu_unlearned: FloatArray
    sigma_unlearned: FloatArray
    mu_retrained: FloatArray
    sigma_retrained: FloatArray
    n_unlearned: IntArray
    n_retrained: IntArray
    centre: str = "median"


@dataclass(frozen=True)
class RmiaResult:
    """Offline RMIA (Zarifzadeh et al. 2024).

    Attributes:
        scores: Share of population samples z with LR(x) / LR(z) >= γ, higher = member; NaN
            without OUT references.
        log_likelihood_ratio: log LR(x) = log p(x|θ) - log Pr(x).
        population_log_likelihood_ratio: log LR(z) of the population samples used.
        n_population: Number of population samples used (those with OUT references).
        a: Offline correction parameter.
        gamma: Ratio threshold γ.
    """

    scores: FloatArray
    log_likelihood_ratio: FloatArray
    population_log_likelihood_ratio: FloatArray
    n_population: int
    a: float
    gamma: float


@dataclass(frozen=True)
class _Gaussian:
    mu: FloatArray
    sigma: FloatArray
    count: IntArray
    pooled: float


# ------------------------------------------------------------------------------ validation


def _validate_references(
    target_logits: ArrayLike,
    labels: ArrayLike,
    ref_logits: ArrayLike,
    in_mask: ArrayLike | None,
    prefix: str = "",
    names: tuple[str, str] = ("ref_logits", "in_mask"),
) -> tuple[FloatArray, IntArray, FloatArray, BoolArray]:
    """Validate target logits/labels, reference logits (R, n, C) and the IN mask (R, n)."""
    target, y = validate_logits_labels(
        target_logits, labels, f"{prefix}target_logits", f"{prefix}labels"
    )
    refs_name, mask_name = f"{prefix}{names[0]}", f"{prefix}{names[1]}"
    refs = validate_logits(ref_logits, refs_name, leading=2)
    if refs.shape[1:] != target.shape:
        expected = f"shape (R, {target.shape[0]}, {target.shape[1]}) matching the target logits"
        received = f"shape {refs.shape}"
        raise ValidationError(describe(refs_name, expected, received, raw=True))
    shape = refs.shape[:2]
    if in_mask is None:
        return target, y, refs, np.zeros(shape, dtype=bool)
    return target, y, refs, validate_mask(in_mask, mask_name, shape=shape)


def _validate_own_std_min(value: object) -> int:
    return validate_int(value, "own_std_min", minimum=2)


def _validate_centre(value: object) -> str:
    if not isinstance(value, str) or value not in LIRA_CENTRES:
        raise ValidationError(describe("centre", f"one of {list(LIRA_CENTRES)}", value))
    return value


# ---------------------------------------------------------------------------------- compute


def _reference_values(refs: FloatArray, labels: IntArray, kind: str) -> FloatArray:
    """φ (``kind="phi"``) or log p_y (``"log_py"``) of every reference model: (R, n)."""
    if kind == "phi":
        return np.stack([log_odds(logits, labels) for logits in refs])
    return np.stack([take_label(log_softmax(logits), labels) for logits in refs])


def _fit_gaussians(
    values: FloatArray, mask: BoolArray, own_std_min: int, centre: str = "median"
) -> _Gaussian:
    """Per-sample Gaussians of ``values`` (R, n) over the rows where ``mask``.

    Centre: the per-sample median (or mean). Spread: deviations from the per-sample mean; a
    sample's own std (n - 1 dof) from ``own_std_min`` values on, else the pooled std (every
    sample's squared deviations over the summed n - 1 degrees of freedom).
    """
    count = mask.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(mask, values, 0.0).sum(axis=0) / count
        squares = np.where(mask, (values - mean) ** 2, 0.0).sum(axis=0)
        dof = int(np.clip(count - 1, 0, None).sum())
        pooled = float(np.sqrt(squares.sum() / dof)) if dof > 0 else float("nan")
        own = np.sqrt(squares / (count - 1))
    mu = _masked_median(values, mask) if centre == "median" else mean
    sigma = np.maximum(np.where(count >= own_std_min, own, pooled), _SIGMA_FLOOR)
    return _Gaussian(mu=mu, sigma=sigma, count=count.astype(np.int64), pooled=pooled)


def _masked_median(values: FloatArray, mask: BoolArray) -> FloatArray:
    """Per-column median of ``values`` over the rows where ``mask`` (NaN for empty columns)."""
    if values.shape[0] == 0:
        return np.full(values.shape[1:], np.nan)
    ranked = np.sort(np.where(mask, values, np.inf), axis=0)  # masked-out rows sort last
    count = mask.sum(axis=0)
    lo, hi = np.clip((count - 1) // 2, 0, None), np.clip(count // 2, 0, None)
    cols = np.arange(values.shape[1])
    out: FloatArray = np.where(count > 0, (ranked[lo, cols] + ranked[hi, cols]) / 2.0, np.nan)
    return out


def _warn_missing(missing: BoolArray, what: str) -> None:
    if missing.any():
        warn_degenerate(
            f"{int(missing.sum())} sample(s) {what}; their scores are NaN", stacklevel=4
        )


def offline_lira(
    target_logits: ArrayLike,
    labels: ArrayLike,
    ref_logits: ArrayLike,
    in_mask: ArrayLike,
    *,
    own_std_min: int = LIRA_OWN_STD_MIN,
    centre: str = "median",
) -> LiraResult:
    """Offline LiRA: how far the target's φ lies above the Gaussian of the OUT references' φ.

    φ = log p_y - log sum_{i != y} p_i. Per sample, μ_out is the MEDIAN φ over the references
    that did not train on it (Carlini et al.'s reference code; ``centre="mean"`` for the mean);
    σ_out is the sample's own standard deviation when it has at least ``own_std_min`` OUT
    references, otherwise one pooled standard deviation (all samples' OUT deviations from their
    own means, n - 1 degrees of freedom each). Score = log Φ((φ - μ) / σ), the paper's one-sided
    test.

    Args:
        target_logits: Target model logits (n, C).
        labels: Labels (n,).
        ref_logits: Reference models' logits on the same samples (R, n, C).
        in_mask: (R, n) bool, True where the sample was in that reference's training set.
        own_std_min: OUT-reference count from which a sample uses its own std (>= 2).
        centre: ``"median"`` (default, the reference code) or ``"mean"``.

    Returns:
        Scores and the fitted statistics. Samples without OUT references (or whose σ cannot be
        estimated) get NaN scores and a warning.

    Raises:
        ValidationError: On bad or mismatched shapes, non-finite logits, labels out of range or
            an unknown ``centre``.

    Example:
        >>> import numpy as np
        >>> refs = np.zeros((3, 2, 2)); refs[:, :, 0] = [[0.0, 1.0], [1.0, 2.0], [5.0, 3.0]]
        >>> res = offline_lira(np.array([[5.0, 0.0], [2.0, 0.0]]), np.zeros(2, int), refs,
        ...                    np.zeros((3, 2), bool))
        >>> res.mu_out.tolist(), res.z.round(3).tolist()
        ([1.0, 2.0], [2.0, 0.0])
    """
    target, y, refs, mask = _validate_references(target_logits, labels, ref_logits, in_mask)
    minimum, how = _validate_own_std_min(own_std_min), _validate_centre(centre)
    phi = log_odds(target, y)
    out = _fit_gaussians(_reference_values(refs, y, "phi"), ~mask, minimum, how)
    _warn_missing(~np.isfinite(out.mu), "have no OUT reference")
    _warn_missing(np.isfinite(out.mu) & np.isnan(out.sigma), "have no estimable OUT std")
    z = (phi - out.mu) / out.sigma
    from scipy.special import log_ndtr  # scipy loads on use, not with the app

    return LiraResult(
        scores=log_ndtr(z),
        z=z,
        phi=phi,
        mu_out=out.mu,
        sigma_out=out.sigma,
        n_out=out.count,
        pooled_sigma_out=out.pooled,
        centre=how,
    )


def _log_ratio(
    phi: FloatArray, inside: _Gaussian, out: _Gaussian, min_count: int, what: str
) -> FloatArray:
    """log N(φ; inside) - log N(φ; out); NaN (one warning) below ``min_count`` on either side."""
    missing = (inside.count < min_count) | (out.count < min_count)
    _warn_missing(missing, what)
    from scipy.stats import norm

    with np.errstate(invalid="ignore"):
        ratio = norm.logpdf(phi, inside.mu, inside.sigma) - norm.logpdf(phi, out.mu, out.sigma)
    out_scores: FloatArray = np.where(missing, np.nan, ratio)
    return out_scores


def online_lira(
    target_logits: ArrayLike,
    labels: ArrayLike,
    ref_logits: ArrayLike,
    in_mask: ArrayLike,
    *,
    own_std_min: int = LIRA_OWN_STD_MIN,
    centre: str = "median",
    min_count: int = 1,
) -> OnlineLiraResult:
    """Online LiRA: likelihood ratio of the IN and OUT Gaussians of the references' φ.

    Each side's centre (median by default, as in the reference code's online attack) and
    standard deviation are fitted like :func:`offline_lira`'s OUT side.

    Args:
        target_logits: Target model logits (n, C).
        labels: Labels (n,).
        ref_logits: Reference models' logits on the same samples (R, n, C).
        in_mask: (R, n) bool, True where the sample was in that reference's training set.
        own_std_min: Reference count from which a sample uses its own std (>= 2).
        centre: ``"median"`` or ``"mean"``.
        min_count: IN and OUT references a sample needs at least (>= 1); others get NaN.

    Returns:
        Scores log N(φ; μ_in, σ_in) - log N(φ; μ_out, σ_out); NaN (with a warning) where a
        sample lacks IN or OUT references.

    Raises:
        ValidationError: On bad or mismatched shapes, non-finite logits, labels out of range or
            bad options.

    Example:
        >>> import numpy as np
        >>> refs = np.zeros((4, 1, 2)); refs[:, 0, 0] = [4.0, 6.0, -1.0, 1.0]
        >>> mask = np.array([[True], [True], [False], [False]])
        >>> res = online_lira(np.array([[5.0, 0.0]]), np.zeros(1, int), refs, mask)
        >>> res.mu_in.tolist(), res.mu_out.tolist(), bool(res.scores[0] > 0)
        ([5.0], [0.0], True)
    """
    target, y, refs, mask = _validate_references(target_logits, labels, ref_logits, in_mask)
    minimum, how = _validate_own_std_min(own_std_min), _validate_centre(centre)
    least = validate_int(min_count, "min_count", minimum=1)
    phi = log_odds(target, y)
    values = _reference_values(refs, y, "phi")
    inside = _fit_gaussians(values, mask, minimum, how)
    out = _fit_gaussians(values, ~mask, minimum, how)
    scores = _log_ratio(phi, inside, out, least, "lack IN or OUT references")
    return OnlineLiraResult(
        scores=scores,
        phi=phi,
        mu_in=inside.mu,
        sigma_in=inside.sigma,
        mu_out=out.mu,
        sigma_out=out.sigma,
        n_in=inside.count,
        n_out=out.count,
        centre=how,
    )


def u_lira(
    target_logits: ArrayLike,
    labels: ArrayLike,
    unlearned_logits: ArrayLike,
    unlearned_mask: ArrayLike,
    retrained_logits: ArrayLike,
    retrained_mask: ArrayLike,
    *,
    own_std_min: int = LIRA_OWN_STD_MIN,
    centre: str = "median",
    min_count: int = 1,
) -> ULiraResult:
    """U-LiRA (Hayes et al. 2024): was the sample unlearned, or never trained on?

    Per sample x, one Gaussian of φ over the shadow models that unlearned x (a model trained on
    a set containing x, then unlearned with the audited method on a forget set containing x)
    and one over the shadow models retrained from scratch without x; the score is the
    log-likelihood ratio log N(φ; μ_unl, σ_unl) - log N(φ; μ_ret, σ_ret) of the target's φ.
    Centres and spreads are fitted like online LiRA's (median, own std from ``own_std_min``
    models, else pooled).

    Args:
        target_logits: Target model logits (n, C) on the audited samples.
        labels: Their labels (n,).
        unlearned_logits: Logits (K_u, n, C) of the unlearned shadow models.
        unlearned_mask: (K_u, n) bool, True where that shadow unlearned the sample.
        retrained_logits: Logits (K_r, n, C) of the retrained shadow models.
        retrained_mask: (K_r, n) bool, True where that shadow was trained WITHOUT the sample.
        own_std_min: Shadow count from which a sample uses its own std (>= 2).
        centre: ``"median"`` or ``"mean"``.
        min_count: Shadows of each kind a sample needs at least (>= 1); others get NaN.

    Returns:
        Scores (higher = looks unlearned rather than retrained) and the fitted statistics.

    Raises:
        ValidationError: On bad or mismatched shapes, non-finite logits or bad options.

    Example:
        >>> import numpy as np
        >>> unl = np.zeros((2, 1, 2)); unl[:, 0, 0] = [3.0, 5.0]   # φ after unlearning: ~4
        >>> ret = np.zeros((2, 1, 2)); ret[:, 0, 0] = [-1.0, 1.0]  # φ without the sample: ~0
        >>> yes = np.ones((2, 1), bool)
        >>> res = u_lira(np.array([[4.0, 0.0]]), np.zeros(1, int), unl, yes, ret, yes)
        >>> res.mu_unlearned.tolist(), res.mu_retrained.tolist(), bool(res.scores[0] > 0)
        ([4.0], [0.0], True)
    """
    target, y, unl, unl_mask = _validate_references(
        target_logits,
        labels,
        unlearned_logits,
        unlearned_mask,
        names=("unlearned_logits", "unlearned_mask"),
    )
    _, _, ret, ret_mask = _validate_references(
        target, y, retrained_logits, retrained_mask, names=("retrained_logits", "retrained_mask")
    )
    minimum, how = _validate_own_std_min(own_std_min), _validate_centre(centre)
    least = validate_int(min_count, "min_count", minimum=1)
    phi = log_odds(target, y)
    unlearned = _fit_gaussians(_reference_values(unl, y, "phi"), unl_mask, minimum, how)
    retrained = _fit_gaussians(_reference_values(ret, y, "phi"), ret_mask, minimum, how)
    scores = _log_ratio(phi, unlearned, retrained, least, "lack unlearned or retrained shadows")
    return ULiraResult(
        scores=scores,
        phi=phi,
        mu_unlearned=unlearned.mu,
        sigma_unlearned=unlearned.sigma,
        mu_retrained=retrained.mu,
        sigma_retrained=retrained.sigma,
        n_unlearned=unlearned.count,
        n_retrained=retrained.count,
        centre=how,
    )


# ------------------------------------------------------------------------------------ RMIA


def _log_likelihood_ratio(
    target: FloatArray, labels: IntArray, refs: FloatArray, out_mask: BoolArray, a: float
) -> FloatArray:
    """log p(x|θ) - log Pr(x), Pr(x) = ((1 + a) Pr_OUT(x) + (1 - a)) / 2; NaN without OUT."""
    log_py = take_label(log_softmax(target), labels)
    ref_py = np.exp(_reference_values(refs, labels, "log_py"))
    count = out_mask.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        pr_out = np.where(out_mask, ref_py, 0.0).sum(axis=0) / count
        out: FloatArray = log_py - np.log(((1.0 + a) * pr_out + (1.0 - a)) / 2.0)
    return out


def _dominated_share(log_lr: FloatArray, population: FloatArray, log_gamma: float) -> FloatArray:
    """Share of population entries with log LR(z) <= log LR(x) - log γ (sorted once)."""
    ranked = np.sort(population)
    counts = np.searchsorted(ranked, log_lr - log_gamma, side="right")
    out: FloatArray = np.where(np.isnan(log_lr), np.nan, counts / population.size)
    return out


def offline_rmia(
    target_logits: ArrayLike,
    labels: ArrayLike,
    ref_logits: ArrayLike,
    in_mask: ArrayLike,
    population_target_logits: ArrayLike,
    population_labels: ArrayLike,
    population_ref_logits: ArrayLike,
    *,
    population_in_mask: ArrayLike | None = None,
    a: float = 0.3,
    gamma: float = 1.0,
) -> RmiaResult:
    """Offline RMIA: the target's likelihood ratio of x against a population z.

    p(x|θ) = p_y under the target; Pr_OUT(x) = mean p_y over x's OUT references, corrected
    offline as Pr(x) = ((1 + a) Pr_OUT(x) + (1 - a)) / 2; LR(x) = p(x|θ) / Pr(x), the same for
    each population sample z. score(x) = share of z with LR(x) / LR(z) >= γ, computed in log
    space by sorting the population once and one ``searchsorted`` (never an n x m matrix).

    Args:
        target_logits: Target logits (n, C) on the audited samples.
        labels: Their labels (n,).
        ref_logits: Reference logits (R, n, C) on the same samples.
        in_mask: (R, n) bool, True where the sample trained that reference.
        population_target_logits: Target logits (m, C) on population samples.
        population_labels: Their labels (m,).
        population_ref_logits: Reference logits (R, m, C) on the population samples.
        population_in_mask: (R, m) bool; None means no population sample trained a reference.
        a: Offline correction in [0, 1].
        gamma: Ratio threshold γ > 0.

    Returns:
        Scores in [0, 1]; NaN (with a warning) for audited samples without OUT references.
        Population samples without OUT references are left out (with a warning).

    Raises:
        ValidationError: On bad or mismatched shapes, reference counts or options.

    Example:
        >>> import numpy as np
        >>> refs = np.zeros((2, 3, 2))                       # references: p_y = 1/2 everywhere
        >>> target = np.array([[3.0, 0.0], [0.0, 0.0], [-3.0, 0.0]])
        >>> y, mask = np.zeros(3, int), np.zeros((2, 3), bool)
        >>> offline_rmia(target, y, refs, mask, target, y, refs).scores.round(3).tolist()
        [1.0, 0.667, 0.333]
    """
    target, y, refs, mask = _validate_references(target_logits, labels, ref_logits, in_mask)
    pop_target, pop_y, pop_refs, pop_mask = _validate_references(
        population_target_logits,
        population_labels,
        population_ref_logits,
        population_in_mask,
        prefix="population_",
    )
    _check_population(refs, pop_refs)
    a_value = validate_fraction(a, "a")
    gamma_value = validate_positive(gamma, "gamma")
    log_lr = _log_likelihood_ratio(target, y, refs, ~mask, a_value)
    pop_lr = _log_likelihood_ratio(pop_target, pop_y, pop_refs, ~pop_mask, a_value)
    _warn_missing(np.isnan(log_lr), "have no OUT reference")
    return _rmia_result(log_lr, pop_lr, gamma_value, a_value)


def _check_population(refs: FloatArray, pop_refs: FloatArray) -> None:
    if pop_refs.shape[0] != refs.shape[0] or pop_refs.shape[2] != refs.shape[2]:
        expected = f"{refs.shape[0]} references and {refs.shape[2]} classes like ref_logits"
        received = f"shape {pop_refs.shape}"
        raise ValidationError(describe("population_ref_logits", expected, received, raw=True))


def _rmia_result(log_lr: FloatArray, pop_lr: FloatArray, gamma: float, a: float) -> RmiaResult:
    usable = pop_lr[~np.isnan(pop_lr)]
    if usable.size < pop_lr.size:
        warn_degenerate(
            f"{pop_lr.size - usable.size} population sample(s) have no OUT reference; left out",
            stacklevel=4,
        )
    if usable.size == 0:
        warn_degenerate("no usable population sample; RMIA scores are NaN", stacklevel=4)
        scores = np.full(log_lr.shape, np.nan)
    else:
        scores = _dominated_share(log_lr, usable, float(np.log(gamma)))
    return RmiaResult(
        scores=scores,
        log_likelihood_ratio=log_lr,
        population_log_likelihood_ratio=usable,
        n_population=int(usable.size),
        a=a,
        gamma=gamma,
    )
