"""Shared pytest fixtures: tiny on-disk workspaces built by :mod:`tests.fixtures`."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# `tests.fixtures` must be importable whether pytest runs as `pytest` or `python -m pytest`.
_REPO = str(Path(__file__).resolve().parents[1])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from tests.fixtures import make_tiny_workspace  # noqa: E402

WorkspaceFactory = Callable[..., Path]


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default tiny workspace (mlp, npz images, classwise first), shared by the whole session.

    Treat it as read-only; use ``tiny_workspace_factory`` for a workspace a test may modify.
    """
    return make_tiny_workspace(tmp_path_factory.mktemp("tiny_workspace"))


@pytest.fixture
def tiny_workspace_factory(tmp_path_factory: pytest.TempPathFactory) -> WorkspaceFactory:
    """Build a fresh workspace per call: ``tiny_workspace_factory(arch="smallcnn", ...)``.

    Keyword arguments are those of :func:`tests.fixtures.make_tiny_workspace`.
    """

    def build(**options: Any) -> Path:
        return make_tiny_workspace(tmp_path_factory.mktemp("workspace"), **options)

    return build


# multiprocessing's own helpers live until the interpreter exits; they are not leaks.
_PYTHON_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def _leftover_children() -> list[str]:
    """Processes started by this test session that are still running (kaleido's Chromium,
    servers, workers), after stopping the in-process image renderer."""
    from dashboard import procs

    export = sys.modules.get("dashboard.export")
    if export is not None:
        export.stop_renderer(timeout=10.0)

    def running() -> list[int]:
        return [
            pid
            for pid in procs.descendants(os.getpid())
            if not any(helper in procs.command_line(pid) for helper in _PYTHON_HELPERS)
        ]

    deadline = time.monotonic() + 5.0
    while (pids := running()) and time.monotonic() < deadline:
        time.sleep(0.1)  # give children that are already exiting a moment
    return [f"{pid}: {procs.command_line(pid)[:160]}" for pid in pids]


@pytest.fixture(scope="session", autouse=True)
def no_processes_left_behind() -> Iterator[None]:
    """The suite leaves nothing running: a child process alive at the end fails the session.

    Survivors are listed and killed, so one leak does not outlive the run either.
    """
    yield
    leftovers = _leftover_children()
    if leftovers:
        from dashboard import procs

        procs.stop_processes([int(line.split(":")[0]) for line in leftovers], grace=2.0)
        pytest.fail("processes left running by the test session:\n" + "\n".join(leftovers))
