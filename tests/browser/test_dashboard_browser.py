"""The real app in a real browser: `ulens dashboard` on the sample, driven by Playwright + Chromium.

Visits every page and saves a screenshot per page under ``test-artifacts/``, performs a box
selection in one Instances map and checks it reached the other map, and downloads one SVG.
Safety in a real browser: no page fetches anything from another host (every request is
logged; the favicon is served locally); a second browser context opening ``?ws=<another
folder>`` gets the launch workspace; uploads over the limit are refused (by the uploader, and
by the server for a hand-made request, before the body is held) and repeated large uploads do
not pile up in the server's memory (VmRSS of the server process).
Skipped when Debian's chromium or the playwright package is missing (``.ci/run`` installs it).
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dashboard import procs
from tests.browser.precompute import NUMBA_CACHE, Precomputed

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGES = ("models", "classes", "layers", "instances", "privacy", "export")
UPLOAD_LIMIT_MB = 32
LOCAL_HOSTS = ("127.0.0.1", "localhost")

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


@dataclass
class Server:
    """The running `ulens dashboard`: its URL, its process and the Streamlit server under it."""

    url: str
    proc: subprocess.Popen[bytes]
    workspace: Path
    external: list[str] = field(default_factory=list)  # requests to other hosts, all pages

    @property
    def server_pid(self) -> int:
        return procs.descendants(self.proc.pid)[0]

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.server_pid}/status").read_text()
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
        return int(kib) / 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, precomputed: Precomputed) -> Iterator[Server]:
    workspace = precomputed.copy(tmp_path_factory.mktemp("ws") / "digits")
    env = {**os.environ, "NUMBA_CACHE_DIR": NUMBA_CACHE}
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
            "--max-upload-mb",
            str(UPLOAD_LIMIT_MB),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield Server(url, proc, workspace)
    finally:
        family = procs.descendants(proc.pid)
        proc.terminate()  # ulens dashboard stops its server and everything under it
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        procs.stop_processes(family, grace=2.0)


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


def _open(browser: object, server: Server, path: str = "") -> object:
    """A page in a fresh browser context; requests to any other host are logged and blocked."""
    page = browser.new_page(viewport={"width": 1600, "height": 1000}, accept_downloads=True)  # type: ignore[attr-defined]

    def guard(route: object) -> None:
        host = urllib.parse.urlsplit(route.request.url).hostname  # type: ignore[attr-defined]
        if host in LOCAL_HOSTS or route.request.url.startswith(("data:", "blob:")):  # type: ignore[attr-defined]
            route.continue_()  # type: ignore[attr-defined]
        else:
            server.external.append(route.request.url)  # type: ignore[attr-defined]
            route.abort()  # type: ignore[attr-defined]

    page.route("**/*", guard)  # type: ignore[attr-defined]
    page.goto(f"{server.url}/{path}")  # type: ignore[attr-defined]
    return page


def _settle(page: object, timeout: float = 120_000) -> None:
    """Wait until Streamlit has finished running the script (no 'Running…' status)."""
    page.wait_for_selector("[data-testid='stSidebar']", timeout=timeout)  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout
    )
    page.wait_for_timeout(500)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_without_errors(server: Server, browser: object, name: str) -> None:
    page = _open(browser, server, "" if name == "models" else name)  # default page: /
    _settle(page)
    if name == "export":  # the page builds every figure before listing the downloads
        page.get_by_role("button", name="SVG", exact=True).first.wait_for(timeout=120_000)  # type: ignore[attr-defined]
        _settle(page)
    else:
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=120_000)  # type: ignore[attr-defined]
    assert page.locator("[data-testid='stException']").count() == 0  # type: ignore[attr-defined]
    icon = page.evaluate("() => document.querySelector('link[rel~=icon]')?.href || ''")  # type: ignore[attr-defined]
    assert icon.startswith(server.url), icon  # the favicon comes from the dashboard itself
    assert server.external == [], f"requests to other hosts: {server.external}"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"page-{name}.png"), full_page=True)  # type: ignore[attr-defined]
    page.close()  # type: ignore[attr-defined]


def test_box_selection_in_one_map_reaches_the_other(server: Server, browser: object) -> None:
    page = _open(browser, server, "instances")
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


def test_maps_box_select_on_drag_and_a_click_opens_the_card(
    server: Server, browser: object
) -> None:
    page = _open(browser, server, "instances")
    _settle(page)
    charts = page.locator(".js-plotly-plot")  # type: ignore[attr-defined]
    charts.first.wait_for(timeout=120_000)
    map_a = charts.nth(0)
    box = map_a.locator(".nsewdrag").first.bounding_box()
    assert box is not None
    x0, y0 = box["x"] + box["width"] * 0.05, box["y"] + box["height"] * 0.05
    page.mouse.move(x0, y0)  # type: ignore[attr-defined]
    page.mouse.down()  # type: ignore[attr-defined]  # no modebar click: select is the default
    page.mouse.move(x0 + box["width"] * 0.6, y0 + box["height"] * 0.6, steps=12)  # type: ignore[attr-defined]
    page.mouse.up()  # type: ignore[attr-defined]
    page.wait_for_function("() => location.search.includes('inst_sel=')", timeout=60_000)  # type: ignore[attr-defined]
    _settle(page)
    points = page.locator(".js-plotly-plot").nth(1).locator(".scatterlayer path.point")  # type: ignore[attr-defined]
    rect = points.nth(points.count() // 2).bounding_box()
    assert rect is not None
    page.mouse.click(rect["x"] + rect["width"] / 2, rect["y"] + rect["height"] / 2)  # type: ignore[attr-defined]
    drawer = page.get_by_role("dialog")  # type: ignore[attr-defined]
    drawer.wait_for(timeout=60_000)
    assert "Sample #" in drawer.inner_text()
    page.wait_for_function("() => location.search.includes('inst_card=')", timeout=60_000)  # type: ignore[attr-defined]
    _settle(page)
    page.keyboard.press("Escape")  # type: ignore[attr-defined]
    page.wait_for_function("() => !location.search.includes('inst_card=')", timeout=60_000)  # type: ignore[attr-defined]
    page.close()  # type: ignore[attr-defined]


def test_export_downloads_an_svg(server: Server, browser: object, tmp_path: Path) -> None:
    page = _open(browser, server, "export")
    _settle(page)
    button = page.get_by_role("button", name="SVG", exact=True).first  # type: ignore[attr-defined]
    button.wait_for(timeout=120_000)
    with page.expect_download(timeout=120_000) as info:  # type: ignore[attr-defined]
        button.click()
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(str(target))
    assert target.suffix == ".svg"
    assert b"<svg" in target.read_bytes()[:2000]
    assert server.external == [], f"requests to other hosts: {server.external}"
    page.close()  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------ safety


def test_a_second_context_linking_another_folder_gets_the_launch_workspace(
    server: Server, browser: object, tmp_path: Path
) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(server.workspace / "experiment.toml", other / "experiment.toml")
    first = _open(browser, server)
    _settle(first)
    second = _open(browser, server, "?ws=" + urllib.parse.quote(str(other)))  # a new context
    _settle(second)
    sidebar = second.locator("[data-testid='stSidebar']").inner_text()  # type: ignore[attr-defined]
    toast = second.locator("[data-testid='stToast']").first.inner_text()  # type: ignore[attr-defined]
    assert "not one this dashboard was started with" in toast
    assert "digits" in sidebar and "elsewhere" not in sidebar + toast
    assert str(tmp_path) not in sidebar + toast
    # the URL drops the refused value (the default workspace needs no parameter)
    second.wait_for_function("() => !location.search.includes('ws=')", timeout=30_000)  # type: ignore[attr-defined]
    assert second.locator("[data-testid='stException']").count() == 0  # type: ignore[attr-defined]
    for page in (first, second):
        page.close()  # type: ignore[attr-defined]


def _upload_input(page: object) -> object:
    panel = page.get_by_text("Add a model (upload .safetensors weights)")  # type: ignore[attr-defined]
    if page.locator("[data-testid='stFileUploader']").count() == 0:  # type: ignore[attr-defined]
        panel.click()
    return page.locator("[data-testid='stFileUploader'] input[type=file]").first  # type: ignore[attr-defined]


def _file(size_mib: float, name: str = "weights.safetensors") -> dict[str, object]:
    data = os.urandom(int(size_mib * 2**20))
    return {"name": name, "mimeType": "application/octet-stream", "buffer": data}


def _is_upload(response: object) -> bool:
    return "/_stcore/upload_file/" in response.url and response.request.method == "PUT"  # type: ignore[attr-defined]


def _upload_and_add(page: object, size_mib: float, name: str) -> None:
    with page.expect_response(_is_upload, timeout=120_000) as response:  # type: ignore[attr-defined]
        _upload_input(page).set_input_files(_file(size_mib))  # type: ignore[attr-defined]
    assert response.value.status == 204
    _settle(page)  # the upload reruns the script; the button is enabled after it
    page.get_by_placeholder("e.g. salun_lr0.01").fill(name)  # type: ignore[attr-defined]
    page.get_by_placeholder("e.g. salun_lr0.01").press("Enter")  # type: ignore[attr-defined]
    _settle(page)
    page.get_by_role("button", name="Add model").click()  # type: ignore[attr-defined]
    page.get_by_text(f"as '{name}'").first.wait_for(timeout=120_000)  # type: ignore[attr-defined]
    _settle(page)


def _oversized_put(url: str, headers: dict[str, str], mib: int, *, chunked: bool) -> int | None:
    """PUT a multipart body of ``mib`` MiB to the upload endpoint; the status (None: reset)."""
    boundary = "ulensboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="w.safetensors"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    block = b"\0" * 2**20

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(mib):
            yield block
        yield tail

    parts = urllib.parse.urlsplit(url)
    keep = {k: v for k, v in headers.items() if k.lower() in ("cookie", "x-xsrftoken", "origin")}
    keep["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    if not chunked:
        keep["Content-Length"] = str(len(head) + mib * 2**20 + len(tail))
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
    try:
        conn.request("PUT", parts.path, body=body(), headers=keep, encode_chunked=chunked)
        return conn.getresponse().status
    except OSError:  # the server closed the connection mid-body: refused
        try:
            return conn.getresponse().status
        except (OSError, http.client.HTTPException):
            return None
    finally:
        conn.close()


def test_uploads_are_capped_and_do_not_pile_up_in_server_memory(
    server: Server, browser: object
) -> None:
    page = _open(browser, server)
    _settle(page)
    puts: list[dict[str, str]] = []

    def capture(route: object) -> None:
        if route.request.method == "PUT":  # type: ignore[attr-defined]
            puts.append({"url": route.request.url, **route.request.all_headers()})  # type: ignore[attr-defined]
        route.fallback()  # type: ignore[attr-defined]

    page.route("**/_stcore/upload_file/**", capture)  # type: ignore[attr-defined]
    size = UPLOAD_LIMIT_MB * 0.75  # within the limit, but large
    _upload_and_add(page, size, "warmup")  # first allocations of the upload path
    rss = [server.rss_mib()]
    for i in range(4):
        _upload_and_add(page, size, f"big{i}")
        rss.append(server.rss_mib())
    growth = max(rss) - rss[0]  # kept uploads would add `size` each: 4 x 24 MiB
    assert growth < size, f"server RSS after each {size:.0f} MiB upload: {rss} MiB"
    assert not list((server.workspace / "models").glob("added/big*"))  # random bytes: refused

    # Over the limit in the browser: the uploader refuses it, nothing is sent.
    sent = len(puts)
    _upload_input(page).set_input_files(_file(UPLOAD_LIMIT_MB + 8))  # type: ignore[attr-defined]
    page.get_by_text(f"File must be {UPLOAD_LIMIT_MB:.1f}MB or smaller").wait_for(timeout=30_000)  # type: ignore[attr-defined]
    assert len(puts) == sent

    # Over the limit by hand (Content-Length, then chunked with no length): the server refuses
    # while the body streams in, so its memory does not grow by the body's size.
    rss_before = server.rss_mib()
    statuses = [
        _oversized_put(puts[-1]["url"], puts[-1], 2 * UPLOAD_LIMIT_MB, chunked=chunked)
        for chunked in (False, True, False, True)
    ]
    assert set(statuses) <= {413, None} and 413 in statuses, statuses
    growth = server.rss_mib() - rss_before
    print(f"uploads: RSS per upload {rss} MiB; refused PUTs {statuses}, RSS +{growth:.1f} MiB")
    assert growth < UPLOAD_LIMIT_MB / 2, f"server RSS grew {growth:.0f} MiB on refused uploads"
    _wait_healthy(server.url, server.proc)
    page.close()  # type: ignore[attr-defined]
