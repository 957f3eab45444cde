"""Resolve the torch device every heavy computation runs on.

``"auto"`` picks CUDA when it is available and the CPU otherwise; explicit ``"cpu"``, ``"cuda"``
and ``"cuda:N"`` (or an equivalent :class:`torch.device`) are checked against what this machine
has, so a bad choice fails at the boundary with a clear message instead of deep inside torch.

Example:
    >>> from analysis.device import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
"""

from __future__ import annotations

import re

import torch

from analysis.errors import ValidationError, describe

__all__ = ["resolve_device"]

_EXPECTED = "'auto', 'cpu', 'cuda' or 'cuda:N'"
_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def _validate_device(device: object) -> torch.device | None:
    """Parse ``device`` into a :class:`torch.device`, or ``None`` for ``"auto"``."""
    if isinstance(device, torch.device):
        if device.type not in ("cpu", "cuda"):
            raise ValidationError(describe("device", _EXPECTED, device))
        return device
    if not isinstance(device, str) or not _PATTERN.match(device.strip().lower()):
        raise ValidationError(describe("device", _EXPECTED, device))
    text = device.strip().lower()
    return None if text == "auto" else torch.device(text)


def _check_available(device: torch.device, requested: object) -> None:
    """Raise when ``device`` is CUDA and this machine cannot provide it."""
    if device.type != "cuda":
        return
    if not torch.cuda.is_available():
        raise ValidationError(
            describe("device", "'auto' or 'cpu' (CUDA is not available here)", requested)
        )
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ValidationError(
            describe("device", f"a CUDA index below {count} (devices present)", requested)
        )


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Return the :class:`torch.device` to compute on.

    Args:
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``
            or a :class:`torch.device` of type ``cpu`` or ``cuda``. Case and surrounding spaces
            of a string are ignored.

    Returns:
        The resolved device.

    Raises:
        ValidationError: ``device`` is not one of the accepted forms, or asks for CUDA (or a
            CUDA index) this machine does not have.

    Example:
        >>> resolve_device(torch.device("cpu")).type
        'cpu'
        >>> resolve_device("auto").type in ("cpu", "cuda")
        True
    """
    parsed = _validate_device(device)
    if parsed is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    _check_available(parsed, device)
    return parsed
