"""How long work is reported: the progress line of the app's placeholder and of the terminal.

Pure text (:func:`progress_text`: label, stage, percentage and an ETA from elapsed / fraction)
and :class:`Console`, the terminal of a long command: a progress line redrawn in place on a
terminal (or printed now and then when ``live`` is off or the output is not a terminal) and one
line per notable event.

Example:
    >>> progress_text("Comparing a and b", "privacy audit", 0.5, 4.0)
    'Comparing a and b: privacy audit · 50 % · ETA 4 s'
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Console", "eta_seconds", "format_seconds", "progress_text"]


def eta_seconds(fraction: float, elapsed: float) -> float | None:
    """Seconds left by elapsed / fraction; None before there is enough to estimate from
    (under 2 % done or half a second elapsed) and once done.

    Example:
        >>> eta_seconds(0.25, 10.0)
        30.0
        >>> eta_seconds(0.0, 10.0) is None
        True
    """
    if not 0.02 <= fraction < 1.0 or elapsed < 0.5:
        return None
    return elapsed * (1.0 - fraction) / fraction


def format_seconds(seconds: float) -> str:
    """``"7 s"``, ``"1 min 05 s"`` (at least one second).

    Example:
        >>> format_seconds(65.2), format_seconds(0.4)
        ('1 min 05 s', '1 s')
    """
    whole = max(1, round(seconds))
    if whole < 60:
        return f"{whole} s"
    return f"{whole // 60} min {whole % 60:02d} s"


def progress_text(label: str, stage: str, fraction: float, elapsed: float) -> str:
    """One progress line: label, stage, percentage and ETA.

    Example:
        >>> progress_text("X", "queued", 0.0, 0.0)
        'X: queued · 0 % · estimating time left'
    """
    eta = eta_seconds(fraction, elapsed)
    when = f"ETA {format_seconds(eta)}" if eta is not None else "estimating time left"
    percent = int(100 * min(max(fraction, 0.0), 1.0))
    return f"{label}: {stage} · {percent} % · {when}"


class Console:
    """A long command's terminal: progress and one line per notable event.

    Args:
        stream: Where to write (default ``sys.stderr``).
        live: Redraw one progress line in place when ``stream`` is a terminal; otherwise (and
            when False, e.g. beside a server that prints too) a progress line is printed at
            most every ``every`` seconds.
        every: Seconds between printed progress lines.
        prefix: Put before every line (``"ulens: "``).

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> console = Console(out, every=0.0)
        >>> console.progress("precompute", "models table", 0.5, 2.0)
        >>> console.event("models table ready (2.0 s)")
        >>> print(out.getvalue(), end="")
        precompute: models table · 50 % · ETA 2 s
        models table ready (2.0 s)
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        live: bool = True,
        every: float = 5.0,
        prefix: str = "",
    ) -> None:
        self.stream = stream or sys.stderr
        self.live = live and _is_tty(self.stream)
        self.every = every
        self.prefix = prefix
        self._drawn = 0
        self._last = -float("inf")

    def progress(self, label: str, stage: str, fraction: float, elapsed: float) -> None:
        """Show the progress of ``label`` (see :func:`progress_text`)."""
        text = self.prefix + progress_text(label, stage, fraction, elapsed)
        if self.live:
            width = max(self._drawn, len(text))
            self.stream.write("\r" + text.ljust(width))
            self._drawn = len(text)
        elif time.monotonic() - self._last >= self.every:
            self.stream.write(text + "\n")
            self._last = time.monotonic()
        self.stream.flush()

    def event(self, text: str) -> None:
        """One line for something notable (a part done, a new warning, the end)."""
        if self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self._drawn = 0
        self.stream.write(self.prefix + text + "\n")
        self.stream.flush()


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
