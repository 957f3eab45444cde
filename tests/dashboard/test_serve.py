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


# ------------------------------------------------------------------------- background preload

_GATE = """
import builtins, gc, sys, time
sys.path.insert(0, sys.argv[1])
from dashboard.serve import Preload
original = builtins.__import__
pre = Preload(modules=sys.argv[2].split(","), gated=frozenset({"slowpkg"})).start()
time.sleep(0.2)  # the preload is inside slowpkg/__init__.py now
from slowpkg.late import VALUE  # another thread: waits for the whole preload
print(pre.done.is_set(), VALUE)
pre.wait(30)
print(builtins.__import__ is original, gc.get_freeze_count() > 0 and gc.isenabled())
"""


def _preload(tmp_path: Path, modules: str) -> list[str]:
    pkg = tmp_path / "slowpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import time\ntime.sleep(1.5)\nREADY = True\n")
    (pkg / "late.py").write_text("VALUE = 7\n")
    out = subprocess.run(
        [sys.executable, "-c", _GATE, str(tmp_path), modules],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return [*out.stdout.split(), out.stderr]


def test_other_threads_import_a_preloaded_package_only_once_it_is_complete(
    tmp_path: Path,
) -> None:
    # Without the gate the main thread would import slowpkg.late while slowpkg/__init__.py
    # still runs in the preload thread (the half-initialised parent is in sys.modules).
    done, value, restored, frozen, _ = _preload(tmp_path, "slowpkg")
    assert (done, value) == ("True", "7")
    assert (restored, frozen) == ("True", "True")  # gate removed, objects frozen, gc back on


def test_a_failing_preload_still_opens_the_gate(tmp_path: Path) -> None:
    done, value, restored, _, stderr = _preload(tmp_path, "no_such_module_ulens,slowpkg")
    assert (done, value, restored) == ("True", "7", "True")
    assert "No module named 'no_such_module_ulens'" in stderr  # printed to the server log


def test_the_server_answers_before_the_analysis_library_is_imported(tmp_path: Path) -> None:
    # serve.main() imports streamlit, starts the preload, and only then the server: the main
    # module itself must not import the heavy libraries.
    code = (
        "import sys, dashboard.serve; print([m for m in ('torch', 'analysis') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


def test_the_frontend_preload_module_never_waits_for_the_preload(tmp_path: Path) -> None:
    # The app sends the browser its chart code before importing anything heavy: the module
    # doing it is exempt from the gate, so it must import only Streamlit and the stdlib.
    pkg = tmp_path / "slowpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import time\ntime.sleep(3)\n")
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1])\n"
        "from dashboard.serve import Preload\n"
        "pre = Preload(modules=('slowpkg',), gated=frozenset({'slowpkg', 'dashboard'})).start()\n"
        "time.sleep(0.2)\n"
        "import dashboard.frontend\n"
        "heavy = [m for m in ('torch', 'analysis', 'numpy', 'pandas') if m in sys.modules]\n"
        "print(pre.done.is_set(), heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False []"


def test_the_server_prints_each_distinct_warning_once() -> None:
    # A cold models table warned "3 sample(s) have no OUT reference" once per model: 32 lines
    # in the terminal of `make demo`.
    code = (
        "import warnings\n"
        "from dashboard.serve import show_warnings_once\n"
        "show_warnings_once()\n"
        "warnings.simplefilter('always')\n"
        "for _ in range(3):\n"
        "    warnings.warn('3 sample(s) have no OUT reference', RuntimeWarning)\n"
        "    warnings.warn('2 sample(s) have no OUT reference', RuntimeWarning)\n"
        "with warnings.catch_warnings(record=True) as recorded:  # what pages show: all\n"
        "    warnings.simplefilter('always')\n"
        "    warnings.warn('3 sample(s) have no OUT reference', RuntimeWarning)\n"
        "print(len(recorded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    printed = [line for line in out.stderr.splitlines() if "Warning" in line]
    assert len(printed) == 2 and "3 sample(s)" in printed[0] and "2 sample(s)" in printed[1]
    assert out.stdout.strip() == "1"
