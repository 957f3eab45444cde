"""KS forget quality (TOFU): two-sample Kolmogorov-Smirnov test, model vs retrain.

Compares the model's and the retrain model's per-sample scores on the forget set (e.g. a
signal of :mod:`analysis.mia.signals`). Report D beside the p-value: p shrinks with set size.

Example:
    >>> import numpy as np
    >>> r = ks_forget_quality(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    >>> r.d, r.p_value
    (0.0, 1.0)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from analysis.bootstrap import (
    NAN_INTERVAL,
    Interval,
    centred_interval,
    generator,
    ks_replicates,
    validate_bootstrap,
)
from analysis.errors import ValidationError, describe
from analysis.mia._common import validate_float_array, warn_degenerate

__all__ = ["KSResult", "ks_forget_quality", "ks_interval", "ks_p_value"]


@dataclass(frozen=True)
class KSResult:
    """Two-sided two-sample KS test.

    Attributes:
        d: KS statistic (largest gap between the two empirical CDFs), in [0, 1].
        p_value: Two-sided p-value (TOFU's "forget quality"; higher = closer to retrain).
        n_model: Number of model scores.
        n_retrain: Number of retrain scores.
    """

    d: float
    p_value: float
    n_model: int
    n_retrain: int


def ks_forget_quality(model_scores: ArrayLike, retrain_scores: ArrayLike) -> KSResult:
    """Two-sided KS test between the model's and the retrain model's forget-set scores.

    Args:
        model_scores: 1-D finite scores of the model on the forget samples.
        retrain_scores: 1-D finite scores of the retrain model (sizes may differ).

    Returns:
        D, the p-value (``scipy.stats.ks_2samp``, two-sided, exact/asymptotic chosen by scipy)
        and the sample counts.

    Raises:
        ValidationError: On empty, non-1-D or non-finite scores.

    Example:
        >>> import numpy as np
        >>> r = ks_forget_quality(np.arange(50.0), np.arange(50.0) + 100.0)
        >>> r.d, r.p_value < 1e-10
        (1.0, True)
    """
    expected = "a non-empty 1-D array of finite numbers"
    model = validate_float_array(model_scores, "model_scores", ndim=1, expected=expected)
    retrain = validate_float_array(retrain_scores, "retrain_scores", ndim=1, expected=expected)
    from scipy.stats import ks_2samp  # scipy loads on use, not with the app

    result = ks_2samp(model, retrain, alternative="two-sided")
    return KSResult(
        d=float(result.statistic),
        p_value=float(result.pvalue),
        n_model=int(model.size),
        n_retrain=int(retrain.size),
    )


def ks_p_value(d: float, n: int) -> float:
    """Two-sided p-value of ``ks_2samp`` for a statistic ``d`` between two samples of size ``n``.

    ``ks_2samp``'s p-value depends only on D and the two sizes, so it is read off two samples
    realising D exactly: ``range(n)`` and ``range(n)`` shifted by ``round(d * n)``.

    Example:
        >>> import numpy as np
        >>> from scipy.stats import ks_2samp
        >>> a, b = np.arange(30.0), np.arange(30.0) + 7.5
        >>> ks_p_value(ks_2samp(a, b).statistic, 30) == float(ks_2samp(a, b).pvalue)
        True
    """
    return _p_at(round(float(d) * n), int(n))


@functools.lru_cache(maxsize=8192)
def _p_at(shift: int, n: int) -> float:
    from scipy.stats import ks_2samp

    base = np.arange(n, dtype=np.float64)
    return float(ks_2samp(base, base + shift, alternative="two-sided").pvalue)


def ks_interval(
    model_scores: ArrayLike,
    retrain_scores: ArrayLike,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[Interval, Interval]:
    """Bootstrap intervals of KS's D and p-value, resampling the forget samples.

    D is a supremum over the CDF gap, biased upwards under resampling, so the intervals are
    :func:`analysis.bootstrap.centred_interval` (percentile spread around the bootstrap median,
    placed at the estimate, clipped to [0, 1]).

    The scores are paired (sample i's score under the model and under the retrain model), so
    a drawn sample brings both. D of every replicate comes from per-row histograms over the
    pooled distinct scores (:func:`analysis.bootstrap.ks_replicates`); its p-value is
    :func:`ks_p_value` of that D (computed once per distinct D).

    Args:
        model_scores: (n,) the model's per-sample scores on the forget samples.
        retrain_scores: (n,) the retrain model's scores on the same samples.
        n_bootstrap: Replicates (0: NaN intervals).
        seed: Seed of the draws.
        level: Coverage in (0, 1).

    Returns:
        (D interval, p-value interval); NaN with a warning for fewer than 2 samples.

    Raises:
        ValidationError: On bad scores or unequal sizes (the scores must be paired).

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=100)
        >>> (d_lo, d_hi), _ = ks_interval(x, x + 0.5, n_bootstrap=200)
        >>> bool(d_lo <= ks_forget_quality(x, x + 0.5).d <= d_hi)
        True
    """
    expected = "a non-empty 1-D array of finite numbers"
    model = validate_float_array(model_scores, "model_scores", ndim=1, expected=expected)
    retrain = validate_float_array(retrain_scores, "retrain_scores", ndim=1, expected=expected)
    if retrain.shape != model.shape:
        raise ValidationError(
            describe("retrain_scores", f"paired scores of shape {model.shape}", retrain.shape)
        )
    n_boot, rng_seed, lvl = validate_bootstrap(n_bootstrap, seed, level)
    if n_boot == 0:
        return NAN_INTERVAL, NAN_INTERVAL
    if model.size < 2:
        warn_degenerate("bootstrap of KS: fewer than 2 samples; intervals are NaN")
        return NAN_INTERVAL, NAN_INTERVAL
    if np.array_equal(model, retrain):  # every paired resample has D = 0, p = 1
        return (0.0, 0.0), (1.0, 1.0)
    d = ks_replicates(model, retrain, n_boot, generator(rng_seed, "ks"))
    counts, inverse = np.unique(np.round(d * model.size).astype(np.int64), return_inverse=True)
    p_of = np.array([_p_at(int(c), model.size) for c in counts])
    point = ks_forget_quality(model, retrain)
    return (
        centred_interval(d, point.d, lvl, (0.0, 1.0)),
        centred_interval(p_of[inverse], point.p_value, lvl, (0.0, 1.0)),
    )
