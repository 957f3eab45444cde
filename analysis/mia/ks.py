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

from dataclasses import dataclass

from numpy.typing import ArrayLike
from scipy.stats import ks_2samp

from analysis.mia._common import validate_float_array

__all__ = ["KSResult", "ks_forget_quality"]


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
    result = ks_2samp(model, retrain, alternative="two-sided")
    return KSResult(
        d=float(result.statistic),
        p_value=float(result.pvalue),
        n_model=int(model.size),
        n_retrain=int(retrain.size),
    )
