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

from analysis.errors import ValidationError, describe
from analysis.mia._common import (
    validate_int,
    validate_logits_labels,
    validate_seed,
    warn_degenerate,
)
from analysis.mia.roc import DEFAULT_FPR_TARGETS, RocReport, roc_report
from analysis.mia.signals import check_signal_name, member_score, signals_from_logits

__all__ = ["forget_holdout_auc", "privleak"]


def forget_holdout_auc(
    forget_logits: ArrayLike,
    forget_labels: ArrayLike,
    holdout_logits: ArrayLike,
    holdout_labels: ArrayLike,
    *,
    signal: str = "loss",
    n_bootstrap: int = 200,
    seed: int = 0,
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
    is_forget = np.r_[np.ones(f_labels.size, bool), np.zeros(h_labels.size, bool)]
    return roc_report(
        scores,
        is_forget,
        fpr_targets=DEFAULT_FPR_TARGETS,
        n_bootstrap=validate_int(n_bootstrap, "n_bootstrap", minimum=0),
        seed=validate_seed(seed),
    )


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
