"""Shared pytest fixtures: tiny on-disk workspaces built by :mod:`tests.fixtures`."""

from __future__ import annotations

import sys
from collections.abc import Callable
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
