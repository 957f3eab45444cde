"""Accuracy metrics (UA, RA, TUA, TRA), class-wise accuracy, prediction and confidence matrices.

Definitions (DESIGN §3): UA = accuracy on the forget training samples; RA = mean per-class
training accuracy over the retain classes (class-wise) or accuracy on the retain samples
(random); TUA / TRA = the same on the test set, TUA being undefined (None) for random
forgetting. P[i, j] = share of class-i samples predicted j; C[i, j] = mean p_j over class-i samples.

Example:
    >>> import numpy as np
    >>> labels = np.array([0, 0, 1, 1]); logits = np.eye(2)[[0, 1, 1, 1]] * 5
    >>> m = class_metrics(logits, labels, num_classes=2)
    >>> m.accuracy.tolist(), m.prediction[0].tolist()
    ([0.5, 1.0], [0.5, 0.5])
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from analysis.errors import ValidationError, describe

__all__ = ["AccuracyMetrics", "ClassMetrics", "accuracy_metrics", "class_metrics", "softmax"]


@dataclass(frozen=True)
class AccuracyMetrics:
    """Headline accuracies; ``tua`` is None for random forgetting (N/A, never 0)."""

    ua: float
    ra: float
    tua: float | None
    tra: float


@dataclass(frozen=True)
class ClassMetrics:
    """Per-class accuracy and the prediction / confidence matrices of one split.

    Attributes:
        accuracy: (C,) accuracy per true class (NaN for a class without samples).
        prediction: (C, C) share of class-i samples predicted j (rows sum to 1).
        confidence: (C, C) mean softmax probability of class j over class-i samples.
        counts: (C,) samples per true class.
    """

    accuracy: np.ndarray
    prediction: np.ndarray
    confidence: np.ndarray
    counts: np.ndarray


def softmax(logits: np.ndarray, *, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax in float64, stable for large logits.

    Example:
        >>> softmax(np.array([[0.0, 0.0]])).tolist()
        [[0.5, 0.5]]
    """
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _validate_logits(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> None:
    if logits.ndim != 2 or logits.shape[1] != num_classes:
        raise ValidationError(
            describe("logits", f"an array of shape (n, {num_classes})", logits.shape)
        )
    if labels.shape != (logits.shape[0],):
        raise ValidationError(describe("labels", f"shape ({logits.shape[0]},)", labels.shape))
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValidationError(
            describe(
                "labels",
                f"integers in [0, {num_classes})",
                f"range [{labels.min()}, {labels.max()}]",
                raw=True,
            )
        )


def class_metrics(logits: np.ndarray, labels: np.ndarray, *, num_classes: int) -> ClassMetrics:
    """Per-class accuracy, prediction matrix and confidence matrix from logits.

    Args:
        logits: (n, C) model outputs.
        labels: (n,) true labels.
        num_classes: C.

    Returns:
        The class metrics; rows of classes without samples are NaN.
    """
    logits, labels = np.asarray(logits), np.asarray(labels)
    _validate_logits(logits, labels, num_classes)
    onehot = np.eye(num_classes)[labels]  # (n, C)
    counts = onehot.sum(axis=0)
    pred_onehot = np.eye(num_classes)[logits.argmax(axis=1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        prediction = (onehot.T @ pred_onehot) / counts[:, None]
        confidence = (onehot.T @ softmax(logits)) / counts[:, None]
    accuracy = np.diagonal(prediction).copy()
    return ClassMetrics(accuracy, prediction, confidence, counts.astype(np.int64))


def _mean_accuracy(pred: np.ndarray, labels: np.ndarray, mask: np.ndarray, what: str) -> float:
    if not mask.any():
        warnings.warn(f"{what}: no samples; reported as NaN", RuntimeWarning, stacklevel=3)
        return float("nan")
    return float((pred[mask] == labels[mask]).mean())


def _mean_class_accuracy(
    pred: np.ndarray, labels: np.ndarray, classes: np.ndarray, what: str
) -> float:
    accs = [_mean_accuracy(pred, labels, labels == c, f"{what} class {c}") for c in classes]
    return float(np.nanmean(accs)) if accs and not np.isnan(accs).all() else float("nan")


def accuracy_metrics(
    train_pred: np.ndarray,
    train_labels: np.ndarray,
    test_pred: np.ndarray,
    test_labels: np.ndarray,
    *,
    forget_indices: np.ndarray,
    forget_classes: tuple[int, ...] | None,
    num_classes: int,
) -> AccuracyMetrics:
    """UA, RA, TUA and TRA of one model from its predicted labels.

    Args:
        train_pred: (n_train,) predicted labels on the training set.
        train_labels: (n_train,) true labels.
        test_pred: (n_test,) predicted labels on the test set.
        test_labels: (n_test,) true labels.
        forget_indices: Forget sample indices into the training set.
        forget_classes: Forgotten classes (class-wise) or None (random / index forgetting).
        num_classes: Number of classes.

    Example:
        >>> y = np.array([0, 1, 2, 0, 1, 2])
        >>> m = accuracy_metrics(y, y, y, y, forget_indices=np.array([2, 5]),
        ...                      forget_classes=(2,), num_classes=3)
        >>> (m.ua, m.ra, m.tua, m.tra)
        (1.0, 1.0, 1.0, 1.0)
    """
    forget_mask = np.zeros(len(train_labels), dtype=bool)
    forget_mask[np.asarray(forget_indices, dtype=np.int64)] = True
    ua = _mean_accuracy(train_pred, train_labels, forget_mask, "UA")
    if forget_classes is None:
        ra = _mean_accuracy(train_pred, train_labels, ~forget_mask, "RA")
        tra = _mean_accuracy(test_pred, test_labels, np.ones(len(test_labels), bool), "TRA")
        return AccuracyMetrics(ua, ra, None, tra)
    retain_classes = np.setdiff1d(np.arange(num_classes), forget_classes)
    ra = _mean_class_accuracy(train_pred, train_labels, retain_classes, "RA")
    tra = _mean_class_accuracy(test_pred, test_labels, retain_classes, "TRA")
    tua = _mean_accuracy(test_pred, test_labels, np.isin(test_labels, forget_classes), "TUA")
    return AccuracyMetrics(ua, ra, tua, tra)
