"""Error types of Unlearning Lens.

Every error subclasses :class:`ValueError` (through :class:`UlensError`) and its message names
the argument, what was expected and what was received, so a user can fix the input without
reading the source.

Example:
    >>> from analysis.errors import ValidationError, describe
    >>> str(ValidationError(describe("batch_size", "a positive integer", -3)))
    'batch_size: expected a positive integer, received -3'
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "CacheError",
    "DatasetError",
    "MethodError",
    "SpecError",
    "UlensError",
    "UnsafeFileError",
    "ValidationError",
    "WeightsError",
    "describe",
    "did_you_mean",
    "unknown_keys",
]


class UlensError(ValueError):
    """Base class of every error the library raises on bad input."""


class ValidationError(UlensError):
    """A function argument has the wrong type, shape, range or value."""


class SpecError(UlensError):
    """An experiment spec (``experiment.toml``) is missing a field or has an invalid one."""


class DatasetError(UlensError):
    """A dataset file or factory could not be loaded or has an unexpected layout."""


class WeightsError(UlensError):
    """A weights file is missing, truncated, non-finite, or does not match the architecture."""


class UnsafeFileError(WeightsError):
    """A file would need unpickling of arbitrary Python objects; it is refused unread."""


class MethodError(UlensError):
    """An unlearning method is unknown, cannot be imported or got invalid hyperparameters."""


class CacheError(UlensError):
    """A cache entry or registry record is corrupt (callers recompute instead of failing)."""


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(argument: str, expected: str, received: Any, *, raw: bool = False) -> str:
    """Format the standard ``argument: expected X, received Y`` message.

    Args:
        argument: Name of the argument (or file / field) at fault.
        expected: What a valid value looks like.
        received: The value received; it is shown with ``repr`` (shortened) unless ``raw``.
        raw: Show ``received`` as given (already a description) instead of its ``repr``.

    Returns:
        The message.

    Example:
        >>> describe("device", "'auto', 'cpu' or 'cuda[:N]'", "tpu")
        "device: expected 'auto', 'cpu' or 'cuda[:N]', received 'tpu'"
    """
    shown = str(received) if raw else _short(received)
    return f"{argument}: expected {expected}, received {shown}"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` hint for a misspelt ``word``, or ``""`` when none is close.

    Example:
        >>> did_you_mean("parms", ["name", "params"])
        " (did you mean 'params'?)"
    """
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_keys(where: str, keys: Iterable[Any], allowed: Iterable[str]) -> str | None:
    """The message for keys of ``where`` outside ``allowed`` (None when all are known).

    The first unknown key is named with a "did you mean" suggestion when one is close.

    Example:
        >>> unknown_keys("[architecture]", ["name", "parms"], ["name", "params"])
        "[architecture]: expected keys among ['name', 'params'], received unknown key 'parms' (did you mean 'params'?)"
    """  # noqa: E501
    known = sorted(allowed)
    unknown = [k for k in keys if k not in known]
    if not unknown:
        return None
    more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
    return describe(
        where,
        f"keys among {known}",
        f"unknown key {unknown[0]!r}{did_you_mean(unknown[0], known)}{more}",
        raw=True,
    )
