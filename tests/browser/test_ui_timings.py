"""Timings and screenshots of the real app in a real browser (the driver ``bench/uidriver.py``,
shared with ``bench/ui.py``).

One ``ulens dashboard`` on the precomputed sample serves every test: the seconds from its
launch to the first chart and from each interaction to idle (page switches, pair change,
highlight mode, box selection, instance card, matrix cell, threshold strategy) are *recorded*
in ``test-artifacts/ui-timings.json`` (``bench/ui.py`` measures them properly: medians of
repetitions); then every page is captured in normal and presentation mode at 1920×1080 and
1366×768 (``test-artifacts/page-<page>-<size>-<mode>.png``: the page's whole length at that
width; the first 1080 or 768 px are what the screen shows), each without an exception box or
error message. Skipped when Debian's chromium or the playwright package is missing.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bench import uidriver as ui
from tests.browser.precompute import NUMBA_CACHE, Precomputed

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SIZES = {"1920x1080": (1920, 1080), "1366x768": (1366, 768)}
MODES = {"normal": "", "presentation": "?present=1"}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(ui.CHROMIUM).exists(), reason="Debian chromium not installed"),
]
playwright_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Launched:
    """The server, the page that saw its first chart, and the timings recorded so far."""

    server: ui.Server
    page: Any
    timings: dict[str, list[float]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = ui.launch_browser(p)
        yield b
        b.close()


@pytest.fixture(scope="module")
def launched(
    browser: Any, precomputed: Precomputed, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Launched]:
    workspace = precomputed.copy(tmp_path_factory.mktemp("timings") / "digits")
    page = ui.open_page(browser, "", goto=False)  # the browser is ready before the launch
    server = ui.start_server(workspace, root=ROOT, env={"NUMBA_CACHE_DIR": NUMBA_CACHE})
    left: list[int] = []
    try:
        healthy = ui.wait_healthy(server)
        page.goto(server.url)
        ui.wait_first_chart(page)
        first = time.monotonic() - server.launched
        ui.settle(page)
        yield Launched(server, page, {"server healthy": [healthy], "first chart": [first]})
    finally:
        ui.close_page(page)
        left = ui.stop_server(server)
    assert not left, f"processes left after stopping the server: {left}"


def _option(page: Any, model: str) -> str:
    """The Model B option naming ``model`` (its label may add the role)."""
    texts, _ = ui.options(page, "Model B", sidebar=True)
    return next(t for t in texts if t == model or t.startswith(f"{model} "))


def test_first_chart_and_interaction_timings_are_recorded(
    launched: Launched, precomputed: Precomputed
) -> None:
    page = launched.page
    pairs = {"default_b": _option(page, precomputed.b), "alt_b": _option(page, precomputed.alt_b)}
    for label, seconds in ui.interaction_round(page, pairs, rnd=1):
        launched.timings.setdefault(label, []).append(seconds)
    assert ui.errors(page) == []
    expected = {
        "first chart",
        *(f"page switch -> {p}" for p in ui.PAGES),
        "pair change (Classes)",
        "pair change (Instances)",
        "matrix cell click (Classes)",
        "highlight mode (Instances)",
        "box selection (Instances map)",
        "open instance card (Instances)",
        "threshold strategy (Privacy)",
    }
    assert expected <= set(launched.timings)
    for label, values in launched.timings.items():
        assert values and all(math.isfinite(v) and v > 0 for v in values), (label, values)
    ARTIFACTS.mkdir(exist_ok=True)
    report = {"load_average": os.getloadavg(), "seconds": launched.timings}
    (ARTIFACTS / "ui-timings.json").write_text(json.dumps(report, indent=2) + "\n")


def _ready(page: Any, name: str) -> None:
    ui.settle(page)
    if name == "export":  # the page builds every figure before listing the downloads
        page.get_by_role("button", name="SVG", exact=True).first.wait_for(timeout=180_000)
        ui.settle(page)
    else:
        ui.wait_first_chart(page)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", SIZES)
def test_every_page_is_captured_without_errors(
    launched: Launched, browser: Any, size: str, mode: str
) -> None:
    width, height = SIZES[size]
    page = ui.open_page(browser, "", width=width, height=height, goto=False)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        for name in ui.PAGES:
            path = "" if name == "models" else name
            page.goto(f"{launched.server.url}/{path}{MODES[mode]}")
            _ready(page, name)
            assert ui.errors(page) == [], f"{name} ({size}, {mode})"
            shot = ARTIFACTS / f"page-{name}-{size}-{mode}.png"
            ui.full_screenshot(page, shot)
            assert shot.stat().st_size > 10_000
    finally:
        ui.close_page(page)
