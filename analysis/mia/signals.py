"""Per-sample membership signals computed from logits.

All signals come from the log-softmax (never from rounded probabilities), so they stay finite
and accurate for logits of any magnitude. :data:`SIGNAL_DIRECTIONS` says which way points to
"member" for each signal; :func:`member_score` turns a signal into a score where higher means
member, the convention of every attack and ROC utility in :mod:`analysis.mia`.

Example:
    >>> import numpy as np
    >>> from analysis.mia.signals import signals_from_logits
    >>> s = signals_from_logits(np.array([[2.0, 0.0], [0.0, 2.0]]), np.array([0, 0]))
    >>> s.pred.tolist(), s.loss.round(4).tolist()
    ([0, 1], [0.1269, 2.1269])
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
from numpy.typing import ArrayLike

from analysis.errors import ValidationError, describe
from analysis.mia._common import (
    FloatArray,
    IntArray,
    log_odds,
    log_softmax,
    take_label,
    validate_logits,
    validate_logits_labels,
    validate_positive,
)

__all__ = [
    "MODIFIED_ENTROPY_CLIP",
    "SIGNAL_DIRECTIONS",
    "SIGNAL_NAMES",
    "Signals",
    "entropy_at_temperature",
    "logit_confidence",
    "member_score",
    "signals_from_logits",
]

#: Probabilities are clipped at this value inside the logs of the modified entropy.
MODIFIED_ENTROPY_CLIP: Final = 1e-30

#: +1: a higher value points to "member"; -1: a lower value points to "member".
SIGNAL_DIRECTIONS: Final = MappingProxyType(
    {
        "loss": -1,
        "true_prob": 1,
        "max_prob": 1,
        "entropy": -1,
        "modified_entropy": -1,
        "entropy_t2": -1,
        "logit_conf": 1,
        "lira_phi": 1,
    }
)

#: Names of every signal field of :class:`Signals`, in a fixed order.
SIGNAL_NAMES: Final = tuple(SIGNAL_DIRECTIONS)


@dataclass(frozen=True)
class Signals:
    """Per-sample signals of one model on n samples (every array has shape ``(n,)``).

    Attributes:
        pred: Predicted class (argmax of the logits; first index on ties).
        true_prob: Probability of the true class, p_y.
        max_prob: Largest class probability, p_max.
        entropy: Shannon entropy of the softmax (natural log).
        loss: Cross-entropy, -log p_y.
        modified_entropy: Song & Mittal (2021):
            -(1 - p_y) log p_y - sum_{i != y} p_i log(1 - p_i), probabilities clipped at
            :data:`MODIFIED_ENTROPY_CLIP` inside the logs.
        entropy_t2: Entropy of softmax(logits / 2).
        logit_conf: log p_max - log(1 - p_max), computed from the logits.
        lira_phi: log p_y - log sum_{i != y} p_i = z_y - logsumexp_{i != y} z_i.
    """

    pred: IntArray
    true_prob: FloatArray
    max_prob: FloatArray
    entropy: FloatArray
    loss: FloatArray
    modified_entropy: FloatArray
    entropy_t2: FloatArray
    logit_conf: FloatArray
    lira_phi: FloatArray

    def get(self, name: str) -> FloatArray:
        """Return the signal called ``name`` (one of :data:`SIGNAL_NAMES`).

        Example:
            >>> import numpy as np
            >>> s = signals_from_logits(np.zeros((1, 2)), np.array([1]))
            >>> float(s.get("true_prob")[0])
            0.5
        """
        check_signal_name(name, "name")
        value: FloatArray = getattr(self, name)
        return value


def check_signal_name(name: object, argument: str) -> str:
    """Return ``name`` if it is a known signal, else raise a ValidationError naming ``argument``."""
    if not isinstance(name, str) or name not in SIGNAL_DIRECTIONS:
        raise ValidationError(describe(argument, f"one of {list(SIGNAL_NAMES)}", name))
    return name


def _entropy(log_probs: FloatArray) -> FloatArray:
    out: FloatArray = 0.0 - (np.exp(log_probs) * log_probs).sum(axis=-1)  # 0.0 - x: no -0.0
    return out


def _log_one_minus_probs(log_probs: FloatArray, argmax: IntArray, conf: FloatArray) -> FloatArray:
    """log(1 - p_i) for every class; exact for the top class through its logit confidence."""
    with np.errstate(divide="ignore"):  # a top class with p = 1 gives -inf; replaced below
        out = np.log1p(-np.exp(log_probs))  # accurate wherever p_i <= 1/2: every other class
    np.put_along_axis(out, argmax[:, None], -np.logaddexp(0.0, conf)[:, None], axis=-1)
    return out


def _modified_entropy(
    log_probs: FloatArray, log1m_probs: FloatArray, labels: IntArray
) -> FloatArray:
    floor = np.log(MODIFIED_ENTROPY_CLIP)
    probs = np.exp(log_probs)
    one_minus_py = np.exp(take_label(log1m_probs, labels))
    own = one_minus_py * np.maximum(take_label(log_probs, labels), floor)
    others = probs * np.maximum(log1m_probs, floor)
    np.put_along_axis(others, labels[:, None], 0.0, axis=-1)
    out: FloatArray = 0.0 - own - others.sum(axis=-1)
    return out


def entropy_at_temperature(logits: ArrayLike, *, temperature: float = 1.0) -> FloatArray:
    """Shannon entropy (natural log) of softmax(logits / temperature), per row.

    Args:
        logits: Float array of shape (n, C), C >= 2, finite.
        temperature: Positive softmax temperature.

    Returns:
        Array of shape (n,).

    Raises:
        ValidationError: On bad logits or a non-positive temperature.

    Example:
        >>> import numpy as np
        >>> round(float(entropy_at_temperature(np.zeros((1, 4)))[0]), 6)  # log 4
        1.386294
    """
    checked = validate_logits(logits, "logits")
    return _entropy(log_softmax(checked, validate_positive(temperature, "temperature")))


def logit_confidence(logits: ArrayLike) -> FloatArray:
    """Logit-scaled confidence log p_max - log(1 - p_max) at temperature 1, per row.

    Equals ``z_max - logsumexp_{i != argmax} z_i``: exact even where p_max rounds to 1.

    Example:
        >>> import numpy as np
        >>> float(logit_confidence(np.array([[1e4, -1e4]]))[0])
        20000.0
    """
    checked = validate_logits(logits, "logits")
    return log_odds(checked, checked.argmax(axis=-1))


def signals_from_logits(logits: ArrayLike, labels: ArrayLike) -> Signals:
    """Compute every per-sample signal of :class:`Signals` from logits and true labels.

    Args:
        logits: Float array of shape (n, C), C >= 2, finite.
        labels: Integer array of shape (n,) with values in [0, C).

    Returns:
        The signals (float64 arrays of shape (n,), ``pred`` int64).

    Raises:
        ValidationError: On a wrong shape, non-finite logits or labels out of range.

    Example:
        >>> import numpy as np
        >>> s = signals_from_logits(np.array([[0.0, 0.0, 0.0]]), np.array([2]))
        >>> round(float(s.true_prob[0]), 4), round(float(s.lira_phi[0]), 4)
        (0.3333, -0.6931)
    """
    z, y = validate_logits_labels(logits, labels, "logits", "labels")
    log_probs = log_softmax(z)
    argmax = z.argmax(axis=-1)
    conf = log_odds(z, argmax)
    log_py = take_label(log_probs, y)
    log1m_probs = _log_one_minus_probs(log_probs, argmax, conf)
    return Signals(
        pred=argmax.astype(np.int64),
        true_prob=np.exp(log_py),
        max_prob=np.exp(take_label(log_probs, argmax)),
        entropy=_entropy(log_probs),
        loss=0.0 - log_py,
        modified_entropy=_modified_entropy(log_probs, log1m_probs, y),
        entropy_t2=_entropy(log_softmax(z, 2.0)),
        logit_conf=conf,
        lira_phi=log_odds(z, y),
    )


def member_score(signals: Signals, name: str) -> FloatArray:
    """Signal ``name`` oriented so that a higher value means "member" (flips lower-is-member).

    Example:
        >>> import numpy as np
        >>> s = signals_from_logits(np.array([[3.0, 0.0], [0.0, 3.0]]), np.array([0, 0]))
        >>> bool(member_score(s, "loss")[0] > member_score(s, "loss")[1])
        True
    """
    checked = check_signal_name(name, "name")
    out: FloatArray = SIGNAL_DIRECTIONS[checked] * signals.get(checked)
    return out
