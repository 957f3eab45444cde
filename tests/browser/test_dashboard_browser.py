"""The real app in a real browser: `ulens dashboard` on the sample, driven by Playwright + Chromium.

Visits every page and saves a screenshot per page under ``test-artifacts/``, performs a box
selection in one Instances map and checks it reached the other map, and downloads one SVG.
Skipped when Debian's chromium or the playwright package is missing (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGES = ("models", "classes", "layers", "instances", "privacy", "export")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]
playwright_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workspace = tmp_path_factory.mktemp("ws") / "digits"
    shutil.copytree(
        ROOT / "sample_data" / "digits",
        workspace,
        ignore=shutil.ignore_patterns(".ulens_cache", "runs.sqlite*"),
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".numba_cache")}
    subprocess.run(
        [sys.executable, "-m", "dashboard.cli", "precompute", str(workspace)],
        check=True,
        env=env,
        cwd=ROOT,
        capture_output=True,
    )
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dashboard.cli",
            "dashboard",
            str(workspace),
            "--port",
            str(port),
            "--headless",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(
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
        yield b
        b.close()


def _open(browser: object, url: str) -> object:
    page = browser.new_page(viewport={"width": 1600, "height": 1000}, accept_downloads=True)  # type: ignore[attr-defined]
    page.goto(url)
    return page


def _settle(page: object, timeout: float = 120_000) -> None:
    """Wait until Streamlit has finished running the script (no 'Running…' status)."""
    page.wait_for_selector("[data-testid='stSidebar']", timeout=timeout)  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout
    )
    page.wait_for_timeout(500)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_without_errors(server: str, browser: object, name: str) -> None:
    page = _open(browser, f"{server}/{'' if name == 'models' else name}")  # default page: /
    _settle(page)
    if name == "export":  # the page builds every figure before listing the downloads
        page.get_by_role("button", name="SVG", exact=True).first.wait_for(timeout=120_000)  # type: ignore[attr-defined]
        _settle(page)
    else:
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=120_000)  # type: ignore[attr-defined]
    assert page.locator("[data-testid='stException']").count() == 0  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"page-{name}.png"), full_page=True)  # type: ignore[attr-defined]
    page.close()  # type: ignore[attr-defined]


def test_box_selection_in_one_map_reaches_the_other(server: str, browser: object) -> None:
    page = _open(browser, f"{server}/instances")
    _settle(page)
    charts = page.locator(".js-plotly-plot")  # type: ignore[attr-defined]
    charts.first.wait_for(timeout=120_000)
    map_a = charts.nth(0)
    map_a.hover()
    map_a.locator("[data-attr='dragmode'][data-val='select']").first.click()
    box = map_a.locator(".nsewdrag").first.bounding_box()
    assert box is not None
    x0, y0 = box["x"] + box["width"] * 0.05, box["y"] + box["height"] * 0.05
    page.mouse.move(x0, y0)  # type: ignore[attr-defined]
    page.mouse.down()  # type: ignore[attr-defined]
    page.mouse.move(x0 + box["width"] * 0.6, y0 + box["height"] * 0.6, steps=12)  # type: ignore[attr-defined]
    page.mouse.up()  # type: ignore[attr-defined]
    selected = page.get_by_test_id("stCaptionContainer").filter(has_text="selected")  # type: ignore[attr-defined]
    selected.first.wait_for(timeout=60_000)
    _settle(page)
    # The other map draws the same samples in its "selected" overlay trace.
    map_b = page.locator(".js-plotly-plot").nth(1)  # type: ignore[attr-defined]
    assert map_b.locator(".legendtext", has_text="selected").count() >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "instances-box-selection.png"), full_page=True)  # type: ignore[attr-defined]
    page.close()  # type: ignore[attr-defined]


def test_export_downloads_an_svg(server: str, browser: object, tmp_path: Path) -> None:
    page = _open(browser, f"{server}/export")
    _settle(page)
    button = page.get_by_role("button", name="SVG", exact=True).first  # type: ignore[attr-defined]
    button.wait_for(timeout=120_000)
    with page.expect_download(timeout=120_000) as info:  # type: ignore[attr-defined]
        button.click()
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(str(target))
    assert target.suffix == ".svg"
    assert b"<svg" in target.read_bytes()[:2000]
    page.close()  # type: ignore[attr-defined]
