"""Seeded, vectorised percentile bootstrap: the one implementation behind every interval.

Every interval the project reports is a percentile bootstrap interval: draw ``n_bootstrap``
resamples of the samples behind a number (with replacement, the same size as the original
set), recompute the number on each, and report the ``(1 - level) / 2`` and ``(1 + level) / 2``
quantiles of the replicates (linear interpolation, numpy's default). This module holds the
pieces every metric shares:

* index draws — :func:`resample_indices` (plain) and :func:`resample_within` (stratified: each
  draw stays inside its stratum, so per-class counts are those of the original set), as
  ``(replicates, n)`` index matrices drawn in chunks of about a million cells, never a Python
  loop over samples;
* :func:`percentile_interval` over the replicates, and :func:`centred_interval` (the same spread
  centred on the estimate) for the worst-case statistics whose resamples are biased (PS, KS);
* the kernels: :func:`mean_replicates` / :func:`class_mean_replicates` (accuracies; for 0/1
  values a resample's count of ones is drawn from its exact Binomial distribution),
  :func:`row_histograms` and :func:`auc_tpr_replicates` (AUC and TPR at fixed FPR from
  per-replicate histograms over the distinct scores, no per-replicate sort),
  :func:`ks_replicates` (two-sample KS statistic of paired resamples);
* :func:`mean_interval` and :func:`class_mean_interval`, the public one-call intervals.

Each metric draws from its own generator, ``numpy.random.default_rng([seed, crc32(name)])``
(:func:`generator`), so adding or dropping a metric never shifts another metric's draws.
Fewer than 2 samples in a set to resample is degenerate: a ``RuntimeWarning`` and a NaN
interval (a resample of one sample is that sample: zero width, no information).

Example:
    >>> import numpy as np
    >>> correct = np.r_[np.ones(80), np.zeros(20)]
    >>> lo, hi = mean_interval(correct, n_bootstrap=1000, seed=0)
    >>> bool(lo < 0.8 < hi), round(hi - lo, 2) < 0.2
    (True, True)
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Iterator, Sequence
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analysis.errors import ValidationError, describe

__all__ = [
    "DEFAULT_LEVEL",
    "DEFAULT_N_BOOTSTRAP",
    "NAN_INTERVAL",
    "Interval",
    "auc_tpr_replicates",
    "centred_interval",
    "chunks",
    "class_mean_interval",
    "class_mean_replicates",
    "generator",
    "ks_replicates",
    "mean_interval",
    "mean_replicates",
    "percentile_interval",
    "resample_indices",
    "resample_within",
    "row_histograms",
    "validate_bootstrap",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Interval = tuple[float, float]

#: Replicates of every interval unless told otherwise (``[analysis] n_bootstrap``).
DEFAULT_N_BOOTSTRAP: Final = 1000
#: Coverage of every interval unless told otherwise (``[analysis] ci_level``).
DEFAULT_LEVEL: Final = 0.95
#: The interval of a number that has none (no bootstrap, degenerate input).
NAN_INTERVAL: Final[Interval] = (float("nan"), float("nan"))

# Index matrices are drawn in chunks of about this many cells (8 MB of int64).
_CHUNK_CELLS: Final = 1_000_000


# ------------------------------------------------------------------------------ validation


def validate_bootstrap(n_bootstrap: object, seed: object, level: object) -> tuple[int, int, float]:
    """Check the three bootstrap options; return them as (int, int, float).

    Example:
        >>> validate_bootstrap(1000, 0, 0.95)
        (1000, 0, 0.95)
    """
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int | np.integer):
        raise ValidationError(describe("n_bootstrap", "an integer >= 0", n_bootstrap))
    if n_bootstrap < 0:
        raise ValidationError(describe("n_bootstrap", "an integer >= 0", n_bootstrap))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValidationError(describe("seed", "a non-negative integer", seed))
    if isinstance(level, bool) or not isinstance(level, int | float | np.floating):
        raise ValidationError(describe("level", "a number in (0, 1)", level))
    if not 0.0 < float(level) < 1.0:
        raise ValidationError(describe("level", "a number in (0, 1)", level))
    return int(n_bootstrap), int(seed), float(level)


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


# ----------------------------------------------------------------------------------- draws


def generator(seed: int, name: str) -> np.random.Generator:
    """The generator of metric ``name``: ``default_rng([seed, crc32(name)])``.

    Example:
        >>> a, b = generator(0, "UA"), generator(0, "UA")
        >>> int(a.integers(1000)) == int(b.integers(1000))
        True
    """
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def chunks(n_bootstrap: int, width: int) -> Iterator[int]:
    """Replicate counts per chunk so that a chunk holds about a million cells of ``width``.

    Example:
        >>> list(chunks(5, 400_000))
        [2, 2, 1]
    """
    size = max(1, _CHUNK_CELLS // max(int(width), 1))
    for start in range(0, n_bootstrap, size):
        yield min(size, n_bootstrap - start)


def resample_indices(rng: np.random.Generator, n: int, rows: int) -> IntArray:
    """A ``(rows, n)`` matrix of indices drawn uniformly from ``range(n)`` with replacement."""
    out: IntArray = rng.integers(0, n, size=(rows, n))
    return out


def _strata(strata: ArrayLike) -> tuple[IntArray, IntArray, IntArray]:
    """(order sorting by stratum, start of each stratum in that order, its size)."""
    labels = np.asarray(strata)
    order = np.argsort(labels, kind="stable").astype(np.int64)
    _, starts, sizes = np.unique(labels[order], return_index=True, return_counts=True)
    return order, starts.astype(np.int64), sizes.astype(np.int64)


def resample_within(rng: np.random.Generator, strata: ArrayLike, rows: int) -> IntArray:
    """A ``(rows, n)`` matrix of indices resampled within strata (stratified bootstrap).

    Columns follow the samples sorted by stratum (stable), so each stratum is a contiguous block
    of columns and every row holds exactly as many draws from each stratum as it has samples.

    Example:
        >>> idx = resample_within(np.random.default_rng(0), [1, 0, 1, 0, 1], 3)
        >>> sorted(set(np.asarray([1, 0, 1, 0, 1])[idx[0]].tolist())), idx.shape
        ([0, 1], (3, 5))
    """
    order, starts, sizes = _strata(strata)
    stratum_of = np.repeat(np.arange(starts.size), sizes)  # per sorted column
    u = rng.random((rows, order.size))
    offset = np.minimum((u * sizes[stratum_of]).astype(np.int64), sizes[stratum_of] - 1)
    out: IntArray = order[starts[stratum_of] + offset]
    return out


# ------------------------------------------------------------------------------ intervals


def percentile_interval(replicates: ArrayLike, level: float = DEFAULT_LEVEL) -> Interval:
    """The percentile interval of the finite replicates (NaN when there is none).

    Example:
        >>> percentile_interval(np.arange(5.0), 0.5)
        (1.0, 3.0)
    """
    values = np.asarray(replicates, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return NAN_INTERVAL
    lo, hi = np.quantile(values, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return (float(lo), float(hi))


def centred_interval(
    replicates: ArrayLike,
    estimate: float,
    level: float = DEFAULT_LEVEL,
    bounds: tuple[float, float] = (-np.inf, np.inf),
) -> Interval:
    """The percentile interval moved so that the replicates' median sits on ``estimate``.

    For worst-case statistics (PS: a maximum over thresholds; KS: a supremum over the CDF
    gap) resampling is biased: a resample's empirical worst case is further from "no
    difference" than the sample's, so the plain percentile interval can exclude the estimate
    itself. This interval keeps the percentile interval's spread below and above the bootstrap
    median, places it at the estimate, and clips it to ``bounds`` (the statistic's range).

    Example:
        >>> centred_interval(np.array([0.1, 0.2, 0.3, 0.4, 0.5]), 0.9, 0.5, (0.0, 1.0))
        (0.8, 1.0)
    """
    lo, hi = percentile_interval(replicates, level)
    if not (np.isfinite(lo) and np.isfinite(estimate)):
        return NAN_INTERVAL
    values = np.asarray(replicates, dtype=np.float64).ravel()
    median = float(np.median(values[np.isfinite(values)]))
    low = max(bounds[0], estimate - (median - lo))
    return (float(low), float(min(bounds[1], estimate + (hi - median))))


def _enough(n: int, what: str) -> bool:
    if n < 2:
        _warn(f"bootstrap of {what}: {n} sample(s), at least 2 needed; interval is NaN")
        return False
    return True


# -------------------------------------------------------------------------------- kernels


def _binary(data: FloatArray) -> bool:
    return bool(np.all((data == 0.0) | (data == 1.0)))


def mean_replicates(values: ArrayLike, n_bootstrap: int, rng: np.random.Generator) -> FloatArray:
    """Means of ``n_bootstrap`` resamples of ``values`` (1-D), shape ``(n_bootstrap,)``.

    For 0/1 values (accuracies, MIA-efficacy) the number of ones in a resample of n values
    with replacement is Binomial(n, mean): it is drawn directly, O(1) per replicate instead
    of O(n), with exactly the resampling distribution.
    """
    data = np.asarray(values, dtype=np.float64)
    if _binary(data):
        out: FloatArray = rng.binomial(data.size, data.mean(), size=n_bootstrap) / data.size
        return out
    parts = [
        data[resample_indices(rng, data.size, rows)].mean(axis=1)
        for rows in chunks(n_bootstrap, data.size)
    ]
    return np.concatenate(parts) if parts else np.empty(0)


def class_mean_replicates(
    values: ArrayLike, classes: ArrayLike, n_bootstrap: int, rng: np.random.Generator
) -> FloatArray:
    """Mean over classes of the per-class means, resampling within each class.

    For 0/1 values each class's count of ones is drawn from Binomial(n_c, mean_c) (the exact
    distribution of a resample's count, see :func:`mean_replicates`): O(classes) per replicate.

    Args:
        values: (n,) per-sample values (e.g. 1.0 = correct).
        classes: (n,) class of each sample.
        n_bootstrap: Replicates.
        rng: The generator.

    Returns:
        ``(n_bootstrap,)`` replicates of ``mean_c mean(values[classes == c])``.
    """
    data = np.asarray(values, dtype=np.float64)
    order, starts, sizes = _strata(classes)
    if _binary(data):
        means = np.add.reduceat(data[order], starts) / sizes
        counts = rng.binomial(sizes, means, size=(n_bootstrap, sizes.size))
        out: FloatArray = (counts / sizes).mean(axis=1)
        return out
    parts = []
    for rows in chunks(n_bootstrap, data.size):
        drawn = data[resample_within(rng, classes, rows)]  # columns grouped by class
        per_class = np.add.reduceat(drawn, starts, axis=1) / sizes
        parts.append(per_class.mean(axis=1))
    return np.concatenate(parts) if parts else np.empty(0)


def row_histograms(codes: IntArray, n_bins: int) -> IntArray:
    """Per-row counts of integer codes in ``[0, n_bins)``: shape ``(rows, n_bins)``.

    Example:
        >>> row_histograms(np.array([[0, 0, 2], [1, 2, 2]]), 3).tolist()
        [[2, 0, 1], [0, 1, 2]]
    """
    rows = codes.shape[0]
    flat = (codes + n_bins * np.arange(rows)[:, None]).ravel()
    out: IntArray = np.bincount(flat, minlength=rows * n_bins).reshape(rows, n_bins)
    return out


def auc_tpr_replicates(
    pos_codes: IntArray, neg_codes: IntArray, n_bins: int, targets: Sequence[float] = ()
) -> tuple[FloatArray, FloatArray]:
    """AUC and TPR at each target FPR of resampled replicates (the rows of the code matrices).

    Codes rank the distinct scores (code k = the k-th smallest; higher = member). Ties count
    one half in the AUC; the TPR at a target is the largest TPR among thresholds whose FPR is
    <= the target (as :func:`analysis.mia.roc.tpr_at_fpr`).

    Returns:
        AUCs ``(rows,)`` and TPRs ``(rows, len(targets))``.

    Example:
        >>> auc, _ = auc_tpr_replicates(np.array([[2, 1]]), np.array([[0, 1]]), 3)
        >>> auc.tolist()
        [0.875]
    """
    n_pos, n_neg = pos_codes.shape[1], neg_codes.shape[1]
    hist_p, hist_n = row_histograms(pos_codes, n_bins), row_histograms(neg_codes, n_bins)
    cum_n = np.cumsum(hist_n, axis=1)  # negatives with code <= k
    auc = np.einsum("ij,ij->i", hist_p, 2 * cum_n - hist_n) / (2.0 * n_pos * n_neg)
    if not targets:
        return auc, np.empty((auc.size, 0))
    rows = np.arange(auc.size)
    cum_p = np.cumsum(hist_p, axis=1)
    # Threshold j calls codes >= j "member"; its false positives are n_neg - cum_n[j - 1]. The
    # smallest j with FP <= allowed is m + 1 for the first m with cum_n[m] >= n_neg - allowed.
    # Rows of cum_n are non-decreasing in [0, n_neg]: offset row r by r * (n_neg + 1) and one
    # searchsorted finds that m in every row at once.
    flat = (cum_n + (n_neg + 1) * rows[:, None]).ravel()
    tprs = np.empty((auc.size, len(targets)))
    for i, target in enumerate(targets):  # a few targets, never samples
        allowed = _max_count(target, n_neg)  # FPR <= target  <=>  FP <= allowed
        m = np.searchsorted(flat, (n_neg + 1) * rows + (n_neg - allowed), side="left")
        k = np.where(n_neg <= allowed, 0, m - n_bins * rows + 1)
        below_p = np.where(k > 0, cum_p[rows, np.maximum(k - 1, 0)], 0)
        tprs[:, i] = (n_pos - below_p) / n_pos
    return auc, tprs


def _max_count(target: float, n: int) -> int:
    """The largest count c with c / n <= target (the same float test as the point estimate)."""
    c = int(np.floor(target * n))
    while c + 1 <= n and (c + 1) / n <= target:
        c += 1
    while c > 0 and c / n > target:
        c -= 1
    return c


def ks_replicates(
    model: ArrayLike, retrain: ArrayLike, n_bootstrap: int, rng: np.random.Generator
) -> FloatArray:
    """KS statistics D of paired resamples: sample i brings both its model and retrain value.

    Args:
        model: (n,) the model's per-sample scores.
        retrain: (n,) the retrain model's scores on the same samples.
        n_bootstrap: Replicates.
        rng: The generator.

    Returns:
        ``(n_bootstrap,)`` values of max_t |F_model(t) - F_retrain(t)| over the resamples.
    """
    a, b = np.asarray(model, np.float64), np.asarray(retrain, np.float64)
    values, codes = np.unique(np.r_[a, b], return_inverse=True)
    code_a, code_b, n = codes[: a.size], codes[a.size :], a.size
    parts = []
    for rows in chunks(n_bootstrap, max(n, values.size)):
        idx = resample_indices(rng, n, rows)
        cdf_a = np.cumsum(row_histograms(code_a[idx], values.size), axis=1)
        cdf_b = np.cumsum(row_histograms(code_b[idx], values.size), axis=1)
        parts.append(np.abs(cdf_a - cdf_b).max(axis=1) / n)
    return np.concatenate(parts) if parts else np.empty(0)


# ------------------------------------------------------------------------ public intervals


def mean_interval(
    values: ArrayLike,
    *,
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    name: str = "mean",
) -> Interval:
    """Percentile bootstrap interval of the mean of ``values`` (1-D, finite).

    Args:
        values: The per-sample values (e.g. 1.0 / 0.0 for correct / wrong).
        n_bootstrap: Replicates (0: no interval, NaN).
        seed: Seed; the draws come from :func:`generator` ``(seed, name)``.
        level: Coverage in (0, 1).
        name: The metric's name (salts the generator, names it in warnings).

    Returns:
        (low, high); NaN with a warning for fewer than 2 values.

    Example:
        >>> mean_interval([1.0, 1.0, 1.0], n_bootstrap=10)  # no variation, no width
        (1.0, 1.0)
    """
    n_boot, rng_seed, lvl = validate_bootstrap(n_bootstrap, seed, level)
    data = np.asarray(values, dtype=np.float64).ravel()
    if n_boot == 0 or not _enough(data.size, name):
        return NAN_INTERVAL
    return percentile_interval(mean_replicates(data, n_boot, generator(rng_seed, name)), lvl)


def class_mean_interval(
    values: ArrayLike,
    classes: ArrayLike,
    *,
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    name: str = "class mean",
) -> Interval:
    """Interval of the mean of per-class means, resampling within each class (stratified).

    NaN with a warning when a class has fewer than 2 samples or there are none.

    Example:
        >>> y = np.repeat([0, 1], 50)
        >>> lo, hi = class_mean_interval(np.r_[np.ones(50), np.zeros(50)], y, n_bootstrap=200)
        >>> lo == hi == 0.5   # each class's accuracy is fixed: only the mix could vary
        True
    """
    n_boot, rng_seed, lvl = validate_bootstrap(n_bootstrap, seed, level)
    data = np.asarray(values, dtype=np.float64).ravel()
    labels = np.asarray(classes).ravel()
    if labels.shape != data.shape:
        raise ValidationError(describe("classes", f"shape {data.shape}", labels.shape))
    if n_boot == 0:
        return NAN_INTERVAL
    sizes = np.unique(labels, return_counts=True)[1]
    if not _enough(int(sizes.min()) if sizes.size else 0, f"{name} (smallest class)"):
        return NAN_INTERVAL
    replicates = class_mean_replicates(data, labels, n_boot, generator(rng_seed, name))
    return percentile_interval(replicates, lvl)
