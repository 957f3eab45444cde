"""dashboard/frontend.py: the browser fetches the chart and table code at the session's start."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import frontend
from tests.dashboard.views.apptest_pages import APP
from tests.fixtures import make_tiny_workspace


def test_the_installed_streamlit_has_every_chunk_it_preloads() -> None:
    # Fails when a Streamlit upgrade renames its chunks: the preload would silently stop.
    files = frontend.chunk_files()
    assert [f.split(".")[0] for f in files] == list(frontend.CHUNKS)


def test_chunk_names_come_from_the_build_and_unknown_builds_preload_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "PlotlyChart.Ab12.js").write_text("")
    (tmp_path / "DataFrame.x1.js").write_text("")
    (tmp_path / "DataFrame.x2.js").write_text("")  # two builds mixed: left alone
    files = frontend.chunk_files.__wrapped__(tmp_path)  # type: ignore[attr-defined]
    assert files == ("PlotlyChart.Ab12.js",)
    script = frontend.preload_script(files)
    assert '["PlotlyChart.Ab12.js"]' in script and 'rel = "modulepreload"' in script
    assert "import(href)" in script  # evaluated early too, not only compiled


def test_every_run_sends_the_preload_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULENS_WORKSPACE", str(make_tiny_workspace(tmp_path / "ws")))
    at = AppTest.from_file(APP, default_timeout=60)
    for _ in range(2):
        at.run()
        first = at.main.children[0]  # before anything else on the page
        assert "modulepreload" in first.proto.body
        assert all(f in first.proto.body for f in frontend.chunk_files())
