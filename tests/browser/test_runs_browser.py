"""A run started in a real browser finishes in the background pool and joins the models table.

`ulens dashboard` serves a private copy of the digits sample (its own process group); Chromium
opens the Run panel, sets one epoch, presses Start and waits until the queue says the run is
done and the models table lists it; then makes it Model B. The server and the workspace's
background pool are stopped (process groups killed) whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from analysis.runs import list_runs
from tests.dashboard.views.run_workspaces import stop_pool, warm_sample

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
RUN = "ga_classwise_1"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]
playwright_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ulens dashboard exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"dashboard not healthy after {timeout} s")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    workspace = warm_sample(tmp_path / "digits")
    env = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(ROOT / ".numba_cache"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    port = _free_port()
    cmd = [sys.executable, "-m", "dashboard.cli", "dashboard", str(workspace)]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port), "--headless"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url, workspace
    finally:
        _kill_group(proc)
        stop_pool(workspace)


@pytest.fixture
def page() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield browser.new_page(viewport={"width": 1600, "height": 1000})
        finally:
            browser.close()


def _settle(page: object, timeout: float = 180_000) -> None:
    page.wait_for_selector("[data-testid='stSidebar']", timeout=timeout)  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout
    )


def test_a_run_started_in_the_browser_finishes_in_the_table(
    served: tuple[str, Path], page: object
) -> None:
    url, workspace = served
    page.goto(url)  # type: ignore[attr-defined]
    _settle(page)
    page.get_by_text("Run experiments: unlearn, train, references, shadows").click()  # type: ignore[attr-defined]
    epochs = page.get_by_label("epochs", exact=True)  # type: ignore[attr-defined]
    epochs.fill("1")
    epochs.press("Enter")
    _settle(page)
    page.get_by_text("Start queues 1 run").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Start", exact=True).click()  # type: ignore[attr-defined]
    page.get_by_text("Queued 1 run(s)").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    # the queue polls the registry: the run finishes in the background pool
    page.get_by_text(f"{RUN} · done").wait_for(timeout=240_000)  # type: ignore[attr-defined]
    (record,) = list_runs(workspace)
    assert record.state == "done", record.error
    # the finished run is a row of the models table (the grid's accessible cells)
    table = page.get_by_test_id("stDataFrame").first  # type: ignore[attr-defined]
    table.get_by_text(RUN, exact=True).first.wait_for(state="attached", timeout=60_000)
    page.get_by_role("button", name="Make Model B", exact=True).click()  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "(v) => document.querySelector(\"input[aria-label='Model B']\")?.value === v",
        arg=f"{RUN} (unlearned)",
        timeout=60_000,
    )
    _settle(page)
    assert page.locator("[data-testid='stException']").count() == 0  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "runs-panel-finished.png"), full_page=True)  # type: ignore[attr-defined]
