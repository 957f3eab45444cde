"""Shared by the browser tests: the sample workspace, precomputed once per session."""

from __future__ import annotations

import pytest

from tests.browser.precompute import Precomputed, precompute


@pytest.fixture(scope="session")
def precomputed(tmp_path_factory: pytest.TempPathFactory) -> Precomputed:
    """The precomputed sample; a module that changes it works on ``precomputed.copy(...)``."""
    return precompute(tmp_path_factory.mktemp("precomputed") / "digits")
