"""Shared input validation and log-space numerics of the membership-inference suite (private).

Everything here works on float64 numpy arrays. The validators raise
:class:`analysis.errors.ValidationError` with the standard "argument: expected X, received Y"
message; the numerics never form a softmax in linear space before taking logs.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analysis.errors import ValidationError, describe

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_NUMERIC_KINDS = "iuf"


def warn_degenerate(message: str, *, stacklevel: int = 3) -> None:
    """Emit the suite's warning for degenerate-but-valid input (the result is NaN)."""
    warnings.warn(message, RuntimeWarning, stacklevel=stacklevel)


def _as_array(value: ArrayLike, name: str, expected: str) -> NDArray[Any]:
    try:
        return np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as exc:  # ragged lists, grad-tracking tensors
        raise ValidationError(describe(name, expected, value)) from exc


def _shape_text(array: NDArray[Any]) -> str:
    return f"shape {tuple(array.shape)}"


def validate_float_array(
    value: ArrayLike,
    name: str,
    *,
    ndim: int,
    expected: str,
    allow_inf: bool = False,
    allow_nan: bool = False,
) -> FloatArray:
    """Return ``value`` as a float64 array of ``ndim`` dimensions, with at least one entry.

    NaN and infinities are refused unless allowed.
    """
    array = _as_array(value, name, expected)
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise ValidationError(describe(name, expected, f"dtype {array.dtype}", raw=True))
    if array.ndim != ndim or array.size == 0:
        raise ValidationError(describe(name, expected, _shape_text(array), raw=True))
    result = array.astype(np.float64, copy=False)
    bad = np.zeros(result.shape, dtype=bool)
    if not allow_nan:
        bad |= np.isnan(result)
    if not allow_inf:
        bad |= np.isinf(result)
    if bad.any():
        received = f"{int(bad.sum())} non-finite entries"
        raise ValidationError(describe(name, expected, received, raw=True))
    return result


def validate_logits(value: ArrayLike, name: str, *, leading: int = 1) -> FloatArray:
    """Validate logits of shape ``(*leading_dims, C)`` with C >= 2, finite, as float64."""
    dims = ("R, " if leading == 2 else "") + "n, C"
    expected = f"a finite float array of shape ({dims}) with C >= 2"
    array = validate_float_array(value, name, ndim=leading + 1, expected=expected)
    if array.shape[-1] < 2:
        raise ValidationError(describe(name, expected, _shape_text(array), raw=True))
    return array


def validate_labels(value: ArrayLike, name: str, *, n: int, n_classes: int) -> IntArray:
    """Validate integer class labels of shape ``(n,)`` in ``[0, n_classes)``."""
    expected = f"an integer array of shape ({n},) with values in [0, {n_classes - 1}]"
    array = _as_array(value, name, expected)
    if array.dtype.kind not in "iu":
        raise ValidationError(describe(name, expected, f"dtype {array.dtype}", raw=True))
    if array.shape != (n,):
        raise ValidationError(describe(name, expected, _shape_text(array), raw=True))
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= n_classes:
        raise ValidationError(describe(name, expected, f"values in [{low}, {high}]", raw=True))
    return array.astype(np.int64, copy=False)


def validate_logits_labels(
    logits: ArrayLike, labels: ArrayLike, logits_name: str, labels_name: str
) -> tuple[FloatArray, IntArray]:
    """Validate a logits matrix and the matching labels together."""
    checked = validate_logits(logits, logits_name)
    n, n_classes = checked.shape
    return checked, validate_labels(labels, labels_name, n=n, n_classes=n_classes)


def validate_mask(value: ArrayLike, name: str, *, shape: tuple[int, ...]) -> BoolArray:
    """Validate a boolean mask (bool, or integers 0/1) of the given shape."""
    expected = f"a boolean array of shape {shape}"
    array = _as_array(value, name, expected)
    if array.shape != shape:
        raise ValidationError(describe(name, expected, _shape_text(array), raw=True))
    if array.dtype.kind == "b":
        return array.astype(np.bool_, copy=False)
    if array.dtype.kind in "iu" and np.isin(array, (0, 1)).all():
        return array.astype(np.bool_)
    raise ValidationError(describe(name, expected, f"dtype {array.dtype}", raw=True))


def validate_seed(value: object, name: str = "seed") -> int:
    """Validate a non-negative integer seed."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValidationError(describe(name, "a non-negative integer", value))
    return int(value)


def validate_positive(value: object, name: str) -> float:
    """Validate a finite positive real number."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValidationError(describe(name, "a finite positive number", value))
    if not np.isfinite(value) or value <= 0:
        raise ValidationError(describe(name, "a finite positive number", value))
    return float(value)


def validate_int(value: object, name: str, *, minimum: int) -> int:
    """Validate an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValidationError(describe(name, f"an integer >= {minimum}", value))
    return int(value)


def validate_fraction(
    value: object, name: str, *, low_open: bool = False, high_open: bool = False
) -> float:
    """Validate a real number in [0, 1] (ends optionally open)."""
    low, high = "(" if low_open else "[", ")" if high_open else "]"
    expected = f"a number in {low}0, 1{high}"
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValidationError(describe(name, expected, value))
    number = float(value)
    above_low = number > 0.0 if low_open else number >= 0.0
    below_high = number < 1.0 if high_open else number <= 1.0
    if not (above_low and below_high):
        raise ValidationError(describe(name, expected, value))
    return number


# --------------------------------------------------------------------------- log-space numerics


def log_softmax(logits: FloatArray, temperature: float = 1.0) -> FloatArray:
    """Log-softmax along the last axis (shift by the row maximum: exact and overflow-free)."""
    scaled = logits / temperature
    shifted = scaled - scaled.max(axis=-1, keepdims=True)
    out: FloatArray = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return out


def log_odds(logits: FloatArray, index: IntArray) -> FloatArray:
    """``z_k - logsumexp_{i != k} z_i`` per row, i.e. ``log p_k - log(1 - p_k)``, stably.

    Computed from the logits directly, so it stays exact where ``p_k`` rounds to 1.
    """
    rows = index[..., None]
    chosen = np.take_along_axis(logits, rows, axis=-1)[..., 0]
    rest = logits.copy()
    np.put_along_axis(rest, rows, -np.inf, axis=-1)
    from scipy.special import logsumexp  # scipy loads on use, not with the app

    out: FloatArray = chosen - logsumexp(rest, axis=-1)
    return out


def take_label(values: FloatArray, labels: IntArray) -> FloatArray:
    """``values[i, labels[i]]`` for every row ``i``."""
    out: FloatArray = np.take_along_axis(values, labels[..., None], axis=-1)[..., 0]
    return out
