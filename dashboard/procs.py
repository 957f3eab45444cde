"""Child-process hygiene: find a process's descendants and stop them, bounded in time.

Used by ``ulens dashboard`` (stop the Streamlit server it started), by
:mod:`dashboard.serve` (stop kaleido's Chromium before exiting) and by the test suite (nothing
may keep running after it). Descendants are read from ``/proc`` (Linux); elsewhere the lists
are empty and only the direct child is signalled.

Example:
    >>> import subprocess, sys
    >>> child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    >>> child.pid in descendants(os.getpid())
    True
    >>> stop_processes([child.pid], grace=5.0)  # none needed SIGKILL
    []
    >>> child.wait() == -signal.SIGTERM
    True
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

__all__ = ["command_line", "descendants", "is_running", "stop_processes"]

_PROC = Path("/proc")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of ``pid`` from ``/proc/<pid>/stat``, None when gone."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()  # the command name may hold spaces or ')'
    return fields[0], int(fields[1])


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    if not _PROC.is_dir():
        return children
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[1], []).append(int(entry.name))
    return children


def descendants(pid: int) -> list[int]:
    """Every live (non-zombie) process below ``pid``, parents before their children."""
    children = _children_map()
    found: list[int] = []
    queue = list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        if is_running(child):
            found.append(child)
        queue.extend(children.get(child, []))
    return found


def is_running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    stat = _stat(pid)
    if stat is None:
        if _PROC.is_dir():
            return False
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return stat[0] not in ("Z", "X")


def command_line(pid: int) -> str:
    """The command line of ``pid`` (empty when unreadable)."""
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\x00", b" ").decode(errors="replace").strip()


def _signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def stop_processes(pids: Iterable[int], *, grace: float = 5.0) -> list[int]:
    """SIGTERM ``pids``, wait up to ``grace`` seconds, SIGKILL the survivors.

    Returns:
        The processes that had to be killed with SIGKILL.
    """
    pending = [p for p in pids if is_running(p)]
    _signal_all(pending, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pending and time.monotonic() < deadline:
        time.sleep(0.05)
        pending = [p for p in pending if is_running(p)]
    _signal_all(pending, signal.SIGKILL)
    return pending
