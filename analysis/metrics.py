"""Accuracy metrics (UA, RA, TUA, TRA), class-wise accuracy, prediction and confidence matrices.

Definitions (DESIGN §3): UA = accuracy on the forget training samples; RA = mean per-class
training accuracy over the retain classes (class-wise) or accuracy on the retain samples
(random); TUA / TRA = the same on the test set, TUA being undefined (None) for random
forgetting. P[i, j] = share of class-i samples predicted j; C[i, j] = mean p_j over class-i samples.

Intervals (:func:`accuracy_metrics` with ``n_bootstrap > 0``): percentile bootstrap of each
accuracy (:mod:`analysis.bootstrap`), resampling the samples of its own set: the forget samples
for UA, the forget-class test samples for TUA, and for RA / TRA the retain samples (random
forgetting) or, class-wise, the retain classes' samples WITHIN each class (a stratified
bootstrap, since RA / TRA are then means of per-class accuracies).

Example:
    >>> import numpy as np
    >>> labels = np.array([0, 0, 1, 1]); logits = np.eye(2)[[0, 1, 1, 1]] * 5
    >>> m = class_metrics(logits, labels, num_classes=2)
    >>> m.accuracy.tolist(), m.prediction[0].tolist()
    ([0.5, 1.0], [0.5, 0.5])
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from analysis.bootstrap import (
    DEFAULT_LEVEL,
    NAN_INTERVAL,
    Interval,
    class_mean_interval,
    mean_interval,
    validate_bootstrap,
)
from analysis.errors import ValidationError, describe

__all__ = [
    "ACCURACY_NAMES",
    "AccuracyMetrics",
    "ClassMetrics",
    "accuracy_intervals",
    "accuracy_metrics",
    "class_metrics",
    "softmax",
]

#: The headline accuracies, in table order.
ACCURACY_NAMES: tuple[str, ...] = ("UA", "RA", "TUA", "TRA")


@dataclass(frozen=True)
class AccuracyMetrics:
    """Headline accuracies; ``tua`` is None for random forgetting (N/A, never 0).

    Attributes:
        ua: Accuracy on the forget training samples.
        ra: Retain accuracy (class-wise: mean per-class accuracy over the retain classes).
        tua: Accuracy on the forget classes' test samples; None for random forgetting.
        tra: Test accuracy on the retain classes (class-wise: mean per-class accuracy).
        ci: Bootstrap percentile interval per name of :data:`ACCURACY_NAMES` (empty when
            not computed; TUA absent for random forgetting).
    """

    ua: float
    ra: float
    tua: float | None
    tra: float
    ci: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def interval(self, name: str) -> tuple[float, float]:
        """The interval of ``name`` (``"UA"``, ``"RA"``, ``"TUA"``, ``"TRA"``); NaN if none."""
        return tuple(self.ci.get(name, NAN_INTERVAL))  # type: ignore[return-value]


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


def _sets(
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    forget_indices: np.ndarray,
    forget_classes: tuple[int, ...] | None,
    num_classes: int,
) -> dict[str, tuple[np.ndarray, np.ndarray, bool]]:
    """Per accuracy: (split mask, labels, class-mean?) over train (UA, RA) or test (TUA, TRA)."""
    forget_mask = np.zeros(len(train_labels), dtype=bool)
    forget_mask[np.asarray(forget_indices, dtype=np.int64)] = True
    if forget_classes is None:
        return {
            "UA": (forget_mask, train_labels, False),
            "RA": (~forget_mask, train_labels, False),
            "TRA": (np.ones(len(test_labels), bool), test_labels, False),
        }
    retain_classes = np.setdiff1d(np.arange(num_classes), forget_classes)
    return {
        "UA": (forget_mask, train_labels, False),
        "RA": (np.isin(train_labels, retain_classes), train_labels, True),
        "TUA": (np.isin(test_labels, forget_classes), test_labels, False),
        "TRA": (np.isin(test_labels, retain_classes), test_labels, True),
    }


def accuracy_intervals(
    train_pred: np.ndarray,
    train_labels: np.ndarray,
    test_pred: np.ndarray,
    test_labels: np.ndarray,
    *,
    forget_indices: np.ndarray,
    forget_classes: tuple[int, ...] | None,
    num_classes: int,
    n_bootstrap: int,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> dict[str, Interval]:
    """Percentile bootstrap intervals of UA, RA, TUA and TRA (the module docstring says how).

    Args: as :func:`accuracy_metrics`, plus ``n_bootstrap`` replicates, the ``seed`` and the
        coverage ``level``. Each accuracy draws from its own generator (seed, name).

    Returns:
        ``{name: (low, high)}``; TUA absent for random forgetting; NaN (with a warning) for a
        set, or class-wise a retain class, of fewer than 2 samples.

    Example:
        >>> y = np.repeat([0, 1, 2], 20)
        >>> ci = accuracy_intervals(y, y, y, y, forget_indices=np.arange(40, 60),
        ...                         forget_classes=(2,), num_classes=3, n_bootstrap=100)
        >>> ci["UA"], ci["RA"]
        ((1.0, 1.0), (1.0, 1.0))
    """
    n_boot, rng_seed, lvl = validate_bootstrap(n_bootstrap, seed, level)
    correct = {"train": train_pred == train_labels, "test": test_pred == test_labels}
    out = {}
    for name, (mask, labels, by_class) in _sets(
        train_labels, test_labels, forget_indices, forget_classes, num_classes
    ).items():
        values = correct["train" if name in ("UA", "RA") else "test"][mask]
        if by_class:
            out[name] = class_mean_interval(
                values, labels[mask], n_bootstrap=n_boot, seed=rng_seed, level=lvl, name=name
            )
        else:
            out[name] = mean_interval(
                values, n_bootstrap=n_boot, seed=rng_seed, level=lvl, name=name
            )
    return out


def accuracy_metrics(
    train_pred: np.ndarray,
    train_labels: np.ndarray,
    test_pred: np.ndarray,
    test_labels: np.ndarray,
    *,
    forget_indices: np.ndarray,
    forget_classes: tuple[int, ...] | None,
    num_classes: int,
    n_bootstrap: int = 0,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
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
        n_bootstrap: Bootstrap replicates of the intervals (0: none, ``ci`` stays empty).
        seed: Seed of the bootstrap.
        level: Coverage of the intervals.

    Example:
        >>> y = np.array([0, 1, 2, 0, 1, 2])
        >>> m = accuracy_metrics(y, y, y, y, forget_indices=np.array([2, 5]),
        ...                      forget_classes=(2,), num_classes=3)
        >>> (m.ua, m.ra, m.tua, m.tra)
        (1.0, 1.0, 1.0, 1.0)
    """
    forget_mask = np.zeros(len(train_labels), dtype=bool)
    forget_mask[np.asarray(forget_indices, dtype=np.int64)] = True
    ci: dict[str, Interval] = {}
    if n_bootstrap:
        ci = accuracy_intervals(
            train_pred,
            train_labels,
            test_pred,
            test_labels,
            forget_indices=forget_indices,
            forget_classes=forget_classes,
            num_classes=num_classes,
            n_bootstrap=n_bootstrap,
            seed=seed,
            level=level,
        )
    ua = _mean_accuracy(train_pred, train_labels, forget_mask, "UA")
    if forget_classes is None:
        ra = _mean_accuracy(train_pred, train_labels, ~forget_mask, "RA")
        tra = _mean_accuracy(test_pred, test_labels, np.ones(len(test_labels), bool), "TRA")
        return AccuracyMetrics(ua, ra, None, tra, ci)
    retain_classes = np.setdiff1d(np.arange(num_classes), forget_classes)
    ra = _mean_class_accuracy(train_pred, train_labels, retain_classes, "RA")
    tra = _mean_class_accuracy(test_pred, test_labels, retain_classes, "TRA")
    tua = _mean_accuracy(test_pred, test_labels, np.isin(test_labels, forget_classes), "TUA")
    return AccuracyMetrics(ua, ra, tua, tra, ci)
