"""dashboard.serve exits on SIGTERM, bounded, and takes kaleido's Chromium with it.

The failure this guards against: kaleido joins its render thread at interpreter exit; when a
render never returns, that join never returns either, and the server then ignored every further
SIGTERM (only SIGKILL ended it) while its Chromium kept running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashboard import export, procs
from tests.dashboard.servers import free_port, port_is_free, wait_healthy

ROOT = Path(__file__).resolve().parents[2]

_HUNG_RENDERER = """
import asyncio, sys
import kaleido, kaleido._sync_server as server

async def never_returns(self, *args, **kwargs):  # a render that hangs forever
    await asyncio.sleep(3600)

server.GlobalKaleidoServer._server = never_returns
kaleido.start_sync_server(silence_warnings=True)
from dashboard import export, serve
export._RENDERER.started = True
sys.argv = ["serve", *sys.argv[1:]]
serve.main()
"""

_REAL_RENDER = """
import sys
import plotly.graph_objects as go
from dashboard import export, serve
export.figure_bytes(go.Figure(go.Bar(x=[1], y=[2])), "svg")
sys.argv = ["serve", *sys.argv[1:]]
serve.main()
"""


def _serve(script: str, tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    app = tmp_path / "app.py"
    app.write_text("import streamlit as st\nst.write('hello')\n", encoding="utf-8")
    args = ["run", str(app), "--server.port", str(port), "--server.headless", "true"]
    args += ["--browser.gatherUsageStats", "false", "--server.address", "127.0.0.1"]
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _terminate_and_time(proc: subprocess.Popen[bytes]) -> float:
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    return time.monotonic() - start


def test_sigterm_ends_the_server_even_when_a_render_hangs(tmp_path: Path) -> None:
    port = free_port()
    proc = _serve(_HUNG_RENDERER, tmp_path, port)
    try:
        wait_healthy(port, proc)
        assert not port_is_free(port)
        assert _terminate_and_time(proc) < 30  # before the fix: never
        assert port_is_free(port)
    finally:
        procs.stop_processes([proc.pid, *procs.descendants(proc.pid)], grace=1.0)
        proc.wait()


@pytest.mark.skipif(export.renderer_problem() is not None, reason="no Chromium for kaleido")
def test_sigterm_after_a_render_also_stops_kaleidos_chromium(tmp_path: Path) -> None:
    port = free_port()
    proc = _serve(_REAL_RENDER, tmp_path, port)
    try:
        wait_healthy(port, proc)
        family = procs.descendants(proc.pid)
        assert any("chrom" in procs.command_line(p) for p in family)
        assert _terminate_and_time(proc) < 30
        assert proc.returncode == 0
        assert not [p for p in family if procs.is_running(p)]
    finally:
        procs.stop_processes([proc.pid, *procs.descendants(proc.pid)], grace=1.0)
        proc.wait()
