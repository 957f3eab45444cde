"""Fixtures of the studies tests (the runs tests' workspaces)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.analysis.runs.workspaces import copy_sample, make_mlp_workspace


@pytest.fixture
def sample_ws(tmp_path: Path) -> Path:
    """A private copy of the digits sample."""
    return copy_sample(tmp_path / "digits")


@pytest.fixture
def mlp_ws(tmp_path: Path) -> Path:
    """A fresh npz + mlp workspace whose original is declared but not trained."""
    return make_mlp_workspace(tmp_path / "blobs")
