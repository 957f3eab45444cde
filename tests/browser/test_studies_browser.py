"""A study submitted from the Studies page in a real browser runs in the background pool and
its results are plotted.

`ulens dashboard` serves a tiny npz + mlp workspace (its own process group); Chromium opens
/studies, names a one-size scalability study of ``ga`` with one epoch, submits it and waits
until the list says both runs (retrain + ga) finished and the results chart and summary show.
The server and the workspace's background pool are stopped whatever happens.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from analysis.studies import study_status
from tests.browser.test_runs_browser import (
    ARTIFACTS,
    CHROMIUM,
    ROOT,
    _free_port,
    _kill_group,
    _settle,
    _wait_healthy,
    page,  # noqa: F401  (the browser page fixture)
)
from tests.dashboard.views.run_workspaces import runnable_tiny, stop_pool

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    import os

    workspace = runnable_tiny(tmp_path / "ws")
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


def test_a_study_submitted_in_the_browser_runs_and_shows_its_results(
    served: tuple[str, Path],
    page: object,  # noqa: F811
) -> None:
    url, workspace = served
    started = time.monotonic()
    page.goto(f"{url}/studies")  # type: ignore[attr-defined]
    _settle(page)
    page.get_by_label("Name", exact=True).fill("grow")  # type: ignore[attr-defined]
    sizes = page.get_by_label("Sizes", exact=True)  # type: ignore[attr-defined]
    sizes.fill("0.1")
    sizes.press("Enter")
    _settle(page)
    page.get_by_text("Options: hyperparameters, retrain recipe").click()  # type: ignore[attr-defined]
    for label in ("Hyperparameters", "Retrain recipe"):
        field = page.get_by_label(label, exact=True)  # type: ignore[attr-defined]
        field.fill("epochs=1")
        field.press("Enter")
        _settle(page)
    page.get_by_role("button", name="Submit study", exact=True).click()  # type: ignore[attr-defined]
    page.get_by_text("Study grow: queued 2 runs").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    # the list polls the registry while the background pool runs the study
    page.get_by_text("2 of 2 runs finished").wait_for(timeout=120_000)  # type: ignore[attr-defined]
    assert study_status(workspace, "grow").counts["done"] == 2
    chart = page.locator("[data-testid='stPlotlyChart']").first  # type: ignore[attr-defined]
    chart.wait_for(timeout=120_000)
    table = page.get_by_test_id("stDataFrame").first  # type: ignore[attr-defined]
    table.get_by_text("runs done").first.wait_for(state="attached", timeout=60_000)
    _settle(page)
    assert page.locator("[data-testid='stException']").count() == 0  # type: ignore[attr-defined]
    assert page.locator(".js-plotly-plot .scatterlayer .trace").count() >= 2  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studies-page-results.png"), full_page=True)  # type: ignore[attr-defined]
    print(f"study from the browser: {time.monotonic() - started:.1f} s")
