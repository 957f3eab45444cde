"""Forget-vs-holdout AUC and MUSE's PrivLeak.

A signal of one model separates forget samples (positives) from holdout samples of the same
distribution (class-wise forgetting: the forget classes' test samples; random forgetting: all
test samples). PrivLeak compares that AUC with the retrain model's: ≈ 0 is ideal, positive means
the model still "remembers" the forget set, negative means it over-forgot.

Example:
    >>> privleak(0.75, 0.5)
    50.0
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from analysis.bootstrap import (
    NAN_INTERVAL,
    Interval,
    auc_tpr_replicates,
    chunks,
    generator,
    percentile_interval,
    resample_indices,
    validate_bootstrap,
)
from analysis.errors import ValidationError, describe
from analysis.mia._common import (
    FloatArray,
    validate_float_array,
    validate_int,
    validate_logits_labels,
    validate_seed,
    warn_degenerate,
)
from analysis.mia.roc import DEFAULT_FPR_TARGETS, RocReport, roc_report
from analysis.mia.signals import check_signal_name, member_score, signals_from_logits

__all__ = ["forget_holdout_auc", "forget_holdout_scores", "privleak", "privleak_interval"]


def forget_holdout_auc(
    forget_logits: ArrayLike,
    forget_labels: ArrayLike,
    holdout_logits: ArrayLike,
    holdout_labels: ArrayLike,
    *,
    signal: str = "loss",
    n_bootstrap: int = 200,
    seed: int = 0,
    ci: float = 0.95,
) -> RocReport:
    """ROC report of a signal separating forget samples (positives) from holdout samples.

    The signal is oriented by :data:`analysis.mia.signals.SIGNAL_DIRECTIONS` (for the default
    loss, lower = member), so an AUC above 0.5 means the forget samples look like members.

    Args:
        forget_logits: Logits (n_f, C) of the forget samples.
        forget_labels: Their labels (n_f,).
        holdout_logits: Logits (n_h, C) of holdout samples.
        holdout_labels: Their labels (n_h,).
        signal: Any name of :data:`analysis.mia.signals.SIGNAL_NAMES`.
        n_bootstrap: Bootstrap replicates of the intervals (0: none).
        seed: Seed of the bootstrap.
        ci: Coverage of the intervals.

    Returns:
        The ROC report (its ``auc`` is the forget-vs-holdout AUC).

    Raises:
        ValidationError: On bad logits/labels, mismatched class counts or an unknown signal.

    Example:
        >>> import numpy as np
        >>> y = np.zeros(3, dtype=int)
        >>> forget = np.array([[5.0, 0.0], [4.0, 0.0], [3.0, 0.0]])   # low loss
        >>> holdout = np.array([[0.0, 0.0], [1.0, 0.0], [3.5, 0.0]])
        >>> round(forget_holdout_auc(forget, y, holdout, y, n_bootstrap=0).auc, 4)
        0.8889
    """
    scores, is_forget = forget_holdout_scores(
        forget_logits, forget_labels, holdout_logits, holdout_labels, signal=signal
    )
    return roc_report(
        scores,
        is_forget,
        fpr_targets=DEFAULT_FPR_TARGETS,
        n_bootstrap=validate_int(n_bootstrap, "n_bootstrap", minimum=0),
        seed=validate_seed(seed),
        ci=ci,
    )


def forget_holdout_scores(
    forget_logits: ArrayLike,
    forget_labels: ArrayLike,
    holdout_logits: ArrayLike,
    holdout_labels: ArrayLike,
    *,
    signal: str = "loss",
) -> tuple[FloatArray, np.ndarray]:
    """The member scores of :func:`forget_holdout_auc` (forget first, then holdout) and the
    forget mask.

    Example:
        >>> import numpy as np
        >>> y = np.zeros(2, dtype=int)
        >>> s, m = forget_holdout_scores(np.c_[[2.0, 1.0], [0, 0]], y, np.zeros((1, 2)), y[:1])
        >>> (s.round(3).tolist(), m.tolist())
        ([-0.127, -0.313, -0.693], [True, True, False])
    """
    f_logits, f_labels = validate_logits_labels(
        forget_logits, forget_labels, "forget_logits", "forget_labels"
    )
    h_logits, h_labels = validate_logits_labels(
        holdout_logits, holdout_labels, "holdout_logits", "holdout_labels"
    )
    if h_logits.shape[1] != f_logits.shape[1]:
        expected = f"{f_logits.shape[1]} classes like forget_logits"
        received = f"shape {h_logits.shape}"
        raise ValidationError(describe("holdout_logits", expected, received, raw=True))
    name = check_signal_name(signal, "signal")
    scores = np.r_[
        member_score(signals_from_logits(f_logits, f_labels), name),
        member_score(signals_from_logits(h_logits, h_labels), name),
    ]
    return scores, np.r_[np.ones(f_labels.size, bool), np.zeros(h_labels.size, bool)]


def _validate_auc(value: object, name: str) -> float:
    expected = "an AUC in [0, 1] (or NaN)"
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValidationError(describe(name, expected, value))
    number = float(value)
    if not (math.isnan(number) or 0.0 <= number <= 1.0):
        raise ValidationError(describe(name, expected, value))
    return number


def privleak(auc_model: float, auc_retrain: float) -> float:
    """MUSE's PrivLeak: (AUC_model - AUC_retrain) / AUC_retrain x 100.

    Args:
        auc_model: Forget-vs-holdout AUC of the model.
        auc_retrain: The same AUC for the retrain model.

    Returns:
        The relative gap in percent (≈ 0 is ideal). NaN if either AUC is NaN; NaN with a warning
        if ``auc_retrain`` is 0.

    Raises:
        ValidationError: If an AUC is not a number in [0, 1].

    Example:
        >>> privleak(0.25, 0.5)
        -50.0
    """
    model = _validate_auc(auc_model, "auc_model")
    retrain = _validate_auc(auc_retrain, "auc_retrain")
    if retrain == 0.0:
        warn_degenerate(
            "privleak: auc_retrain is 0, the relative gap is undefined; NaN", stacklevel=2
        )
        return float("nan")
    return (model - retrain) / retrain * 100.0


def _codes(scores: FloatArray, is_forget: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    _, codes = np.unique(scores, return_inverse=True)
    return codes[is_forget], codes[~is_forget], int(codes.max()) + 1


def privleak_interval(
    model_scores: ArrayLike,
    retrain_scores: ArrayLike,
    is_forget: ArrayLike,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """Percentile bootstrap interval of PrivLeak, resampling forget and holdout samples.

    Each replicate draws the forget samples and the holdout samples with replacement (each set
    on its own, as the AUC's bootstrap does), and evaluates the SAME draw under both models:
    PrivLeak = (AUC_model - AUC_retrain) / AUC_retrain x 100 of that replicate. Replicates with
    AUC_retrain = 0 are undefined and left out.

    Args:
        model_scores: Member scores of the model (higher = member), forget and holdout samples.
        retrain_scores: The retrain model's scores of the same samples, in the same order.
        is_forget: True for forget samples, False for holdout samples.
        n_bootstrap: Replicates (0: a NaN interval).
        seed: Seed of the draws.
        level: Coverage in (0, 1).

    Returns:
        (low, high); NaN with a warning when a side has fewer than 2 samples.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> forget = np.r_[np.ones(50, bool), np.zeros(50, bool)]
        >>> model, retrain = rng.normal(size=100) + forget, rng.normal(size=100)
        >>> lo, hi = privleak_interval(model, retrain, forget, n_bootstrap=300)
        >>> bool(lo > 0)
        True
    """
    expected = "a 1-D float array without NaN"
    model = validate_float_array(model_scores, "model_scores", ndim=1, expected=expected)
    retrain = validate_float_array(retrain_scores, "retrain_scores", ndim=1, expected=expected)
    mask = np.asarray(is_forget, dtype=bool)
    if retrain.shape != model.shape or mask.shape != model.shape:
        raise ValidationError(describe("retrain_scores", f"shape {model.shape}", retrain.shape))
    n_boot, rng_seed, lvl = validate_bootstrap(n_bootstrap, seed, level)
    n_f, n_h = int(mask.sum()), int((~mask).sum())
    if n_boot == 0:
        return NAN_INTERVAL
    if min(n_f, n_h) < 2:
        warn_degenerate("bootstrap of PrivLeak: a side has fewer than 2 samples; NaN interval")
        return NAN_INTERVAL
    if np.array_equal(model, retrain):  # one draw for both models: every replicate is 0
        return (0.0, 0.0)
    (mf, mh, m_bins), (rf, rh, r_bins) = _codes(model, mask), _codes(retrain, mask)
    rng, parts = generator(rng_seed, "privleak"), []
    for rows in chunks(n_boot, max(n_f, n_h, m_bins, r_bins)):
        idx_f, idx_h = resample_indices(rng, n_f, rows), resample_indices(rng, n_h, rows)
        auc_m = auc_tpr_replicates(mf[idx_f], mh[idx_h], m_bins)[0]
        auc_r = auc_tpr_replicates(rf[idx_f], rh[idx_h], r_bins)[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            parts.append((auc_m - auc_r) / auc_r * 100.0)
    return percentile_interval(np.concatenate(parts), lvl)
