"""Drive ``ulens dashboard`` in a real Chromium (Playwright): shared by ``bench/ui.py`` and the
browser tests (``tests/browser``). Imports neither the app nor pytest, so it can drive an older
checkout of the app (``code_root``) from a newer bench.

Idle. An interaction is *idle* when all of these hold, and keep holding for
:data:`STABLE_MS` (the measured time is when they first held, not the end of that window):

1. a script run started after the interaction (Streamlit's ``stApp`` element took a
   ``data-test-script-state`` other than ``notRunning`` after the interaction was marked), and
   the state is now ``notRunning`` (so a click whose rerun has not reached the browser yet is
   not mistaken for idle);
2. no spinner (``stSpinner``), progress bar (``stProgress``) or stale (greyed) element is
   visible and the status widget (``stStatusWidget``) is gone;
3. every visible plotly chart (``stPlotlyChart``) has drawn its svg, and their number has not
   changed during the window.

The states are recorded in the page by a MutationObserver installed before the app loads, and
all of this is evaluated inside the page on every animation frame, so timings have frame
resolution and do not include Playwright's round trips.

Example:
    >>> from playwright.sync_api import sync_playwright
    >>> server = start_server("sample_data/digits")  # doctest: +SKIP
    >>> with sync_playwright() as p:  # doctest: +SKIP
    ...     browser = launch_browser(p)
    ...     page = open_page(browser, server.url)
    ...     wait_first_chart(page)
    ...     choose(page, "Model B", "ft (unlearned)")
    ...     browser.close()
    >>> stop_server(server)  # doctest: +SKIP
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
STABLE_MS = 200
START_TIMEOUT = 10.0
PAGES = ("models", "classes", "layers", "instances", "privacy", "export")
TITLES = {p: p.capitalize() for p in PAGES}

# Recorded before any app script runs: every script-state change of stApp, with its time.
_INIT_SCRIPT = """
(() => {
  window.__ulens = {states: [], mark: 0, idleSince: null, charts: -1};
  const note = (s) => window.__ulens.states.push([performance.now(), s]);
  const watch = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app) { requestAnimationFrame(watch); return; }
    const state = () => app.getAttribute('data-test-script-state');
    note(state());
    new MutationObserver((records) => {  // every value, even one replaced within a frame
      records.forEach((r) => note(r.oldValue));
      note(state());
    }).observe(app, {attributes: true, attributeOldValue: true,
                     attributeFilter: ['data-test-script-state']});
  };
  document.addEventListener('DOMContentLoaded', watch);
})();
"""

# True once idle (see the module docstring) held for `stable` ms; `__ulens.idleSince` is when
# it started to hold.
_IDLE_PREDICATE = """
([stable, needCharts]) => {
  const u = window.__ulens;
  const visible = (el) => { const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden'; };
  const after = u.states.filter(([t]) => t >= u.mark);
  const app = document.querySelector('[data-testid="stApp"]');
  const state = app ? app.getAttribute('data-test-script-state') : null;
  const started = after.some(([, s]) => s !== 'notRunning');
  const busy = [...document.querySelectorAll(
      '[data-testid="stSpinner"], [data-testid="stProgress"], [data-stale="true"]')]
    .some(visible) || !!document.querySelector('[data-testid="stStatusWidget"]');
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].filter(visible);
  const drawn = charts.every((c) => c.querySelector('.main-svg'));
  const ok = started && state === 'notRunning' && !busy && drawn && charts.length >= needCharts;
  const now = performance.now();
  if (!ok) u.idleSince = null;
  else if (u.idleSince === null || charts.length !== u.charts) u.idleSince = now;
  u.charts = charts.length;
  return ok && u.idleSince !== null && now - u.idleSince >= stable;
}
"""

_MARK = (
    "() => { window.__ulens.idleSince = null; return (window.__ulens.mark = performance.now()); }"
)

_STARTED = """
() => window.__ulens.states.some(([t, s]) => t >= window.__ulens.mark && s !== 'notRunning')
"""

_FIRST_CHART = """
() => [...document.querySelectorAll('[data-testid="stPlotlyChart"], .js-plotly-plot')]
  .some((c) => { const s = c.querySelector('.main-svg'); if (!s) return false;
                 const r = s.getBoundingClientRect(); return r.width > 0 && r.height > 0; })
"""


# ---------------------------------------------------------------------------------- server


@dataclass
class Server:
    """A running ``ulens dashboard``: URL, its process and when it was launched."""

    url: str
    proc: subprocess.Popen[bytes]
    workspace: Path
    launched: float  # time.monotonic() just before the launch
    family: set[int] = field(default_factory=set)  # every descendant seen


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def code_root() -> Path:
    """The checkout whose app is driven: the first ``PYTHONPATH`` entry, else this one."""
    first = os.environ.get("PYTHONPATH", "").split(os.pathsep)[0]
    return Path(first).resolve() if first else ROOT


def server_env(root: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a server run from ``root``: that checkout first on ``PYTHONPATH``."""
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    paths = [str(root), *[p for p in rest if Path(p).resolve() != root]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    env.update(extra or {})
    return env


def start_server(
    workspace: str | Path,
    *,
    root: Path | None = None,
    args: Sequence[str] = ("--headless",),
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> Server:
    """Launch ``python -m dashboard.cli dashboard WORKSPACE`` from ``root`` in its own session.

    The working directory is ``root`` so ``-m`` imports that checkout's ``dashboard``.
    """
    root = root or code_root()
    port = free_port()
    cmd = [sys.executable, "-m", "dashboard.cli", "dashboard", str(workspace), "--port", str(port)]
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (closed with the process)
    launched = time.monotonic()
    proc = subprocess.Popen(
        [*cmd, *args],
        env=server_env(root, env),
        cwd=root,
        stdout=out,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        start_new_session=True,
    )
    server = Server(f"http://127.0.0.1:{port}", proc, Path(workspace), launched)
    _RUNNING.append(server)
    return server


_RUNNING: list[Server] = []


def stop_all() -> list[int]:
    """Stop every server :func:`start_server` started and nobody stopped (after an error or
    Ctrl-C); the processes still alive after that."""
    left: list[int] = []
    while _RUNNING:
        left += stop_server(_RUNNING[-1])
    return left


def wait_healthy(server: Server, timeout: float = 120.0, poll: float = 0.05) -> float:
    """Seconds from the launch until ``/_stcore/health`` answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"ulens dashboard exited with {server.proc.returncode}")
        server.family |= set(descendants(server.proc.pid))
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return time.monotonic() - server.launched
        except OSError:
            time.sleep(poll)
    raise TimeoutError(f"dashboard not healthy after {timeout} s")


def descendants(pid: int) -> list[int]:
    """Every live process under ``pid`` (from /proc; children of children too)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cpu_seconds(server: Server) -> float:
    """CPU time (user + system) used so far by ``ulens dashboard`` and every live process under
    it: less sensitive to other load than wall time."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in (server.proc.pid, *descendants(server.proc.pid)):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_server(server: Server, grace: float = 20.0) -> list[int]:
    """SIGTERM ``ulens dashboard`` (it stops its server), then kill anything left of it.

    Returns the processes that were still alive after the kill (empty when all went away).
    """
    if server in _RUNNING:
        _RUNNING.remove(server)
    family = server.family | set(descendants(server.proc.pid))
    with contextlib.suppress(OSError):
        server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
    groups = {server.proc.pid} | {_group(pid) for pid in family} - {None, os.getpgrp()}
    for target in (*family, *(-g for g in groups if g)):
        with contextlib.suppress(OSError):
            (os.kill(target, signal.SIGKILL) if target > 0 else os.killpg(-target, signal.SIGKILL))
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(_alive(pid) for pid in family):
        time.sleep(0.05)
    return sorted(pid for pid in family if _alive(pid))


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


# ---------------------------------------------------------------------------------- browser


def launch_browser(playwright: Any) -> Any:
    """Headless Debian Chromium (never a downloaded one)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=list(BROWSER_ARGS)
    )


def open_page(
    browser: Any,
    url: str,
    *,
    width: int = 1600,
    height: int = 1000,
    route: Callable[[Any], None] | None = None,
    goto: bool = True,
) -> Any:
    """A page in a new browser context with the idle recorder installed (then ``goto url``)."""
    viewport = {"width": width, "height": height}
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    context.add_init_script(_INIT_SCRIPT)
    page = context.new_page()
    if route is not None:
        page.route("**/*", route)
    if goto:
        page.goto(url)
    return page


def close_page(page: Any) -> None:
    """Close the page and its context."""
    page.context.close()


def now_ms(page: Any) -> float:
    """The page's clock (``performance.now()``), in ms."""
    return float(page.evaluate("() => performance.now()"))


def mark(page: Any) -> float:
    """Mark the start of an interaction: later script runs count for :func:`wait_idle`."""
    return float(page.evaluate(_MARK))


def wait_idle(page: Any, *, charts: int = 0, timeout: float = 180.0) -> float:
    """Wait until idle (module docstring) after the last :func:`mark`; ms from the mark."""
    page.wait_for_function(
        _IDLE_PREDICATE, arg=[STABLE_MS, charts], polling="raf", timeout=timeout * 1000
    )
    since, start = page.evaluate("() => [window.__ulens.idleSince, window.__ulens.mark]")
    return float(since) - float(start)


def timed(
    page: Any,
    prepare: Callable[[], Callable[[], object]],
    *,
    charts: int = 0,
    timeout: float = 180.0,
    retries: int = 1,
) -> float:
    """Seconds from the interaction's last step until idle.

    ``prepare()`` does everything that starts no script run (opens a dropdown, moves the mouse,
    presses its button) and returns the last step (a click, the mouse release), which is timed.
    When that step starts no script run within :data:`START_TIMEOUT` seconds (a click that
    only closed a popover), the interaction is prepared and timed again, ``retries`` times,
    with a warning on stderr.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    close_dialogs(page)
    for attempt in range(retries + 1):
        commit = prepare()
        mark(page)
        commit()
        try:
            page.wait_for_function(_STARTED, polling="raf", timeout=START_TIMEOUT * 1000)
            break
        except PlaywrightTimeout:
            if attempt == retries:
                raise RuntimeError(f"no script run started after {retries + 1} tries") from None
            print("uidriver: the interaction started no script run; again", file=sys.stderr)
    return wait_idle(page, charts=charts, timeout=timeout) / 1000.0


def close_dialogs(page: Any, timeout: float = 60.0) -> None:
    """Close an open dialog (Escape) and wait for the rerun its closing may start: an open
    dialog (the instance card's drawer) makes the rest of the page inert, so nothing else
    could be clicked."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    dialog = page.locator('[role="dialog"]')
    if not (dialog.count() and dialog.first.is_visible()):
        return
    mark(page)
    page.keyboard.press("Escape")
    dialog.first.wait_for(state="hidden", timeout=timeout * 1000)
    try:
        page.wait_for_function(_STARTED, polling="raf", timeout=START_TIMEOUT * 1000)
    except PlaywrightTimeout:
        return  # closing started no script run: nothing to wait for
    wait_idle(page, timeout=timeout)


def wait_first_chart(page: Any, timeout: float = 180.0) -> None:
    """Wait until a plotly chart has drawn its svg (visible, non-empty)."""
    page.wait_for_function(_FIRST_CHART, polling="raf", timeout=timeout * 1000)


def settle(page: Any, *, timeout: float = 180.0) -> None:
    """Wait until the app is idle now (at least one script run seen since the page opened)."""
    page.evaluate("() => { window.__ulens.idleSince = null; window.__ulens.mark = 0; }")
    page.wait_for_function(
        _IDLE_PREDICATE, arg=[STABLE_MS, 0], polling="raf", timeout=timeout * 1000
    )


# ---------------------------------------------------------------------------------- widgets


def widget(page: Any, label: str, *, sidebar: bool = False) -> Any:
    """The widget (``stSelectbox``, ``stRadio``, ``stButtonGroup``...) labelled ``label``."""
    scope = page.locator('[data-testid="stSidebar"]') if sidebar else page
    kinds = ", ".join(
        f'[data-testid="{k}"]'
        for k in ("stSelectbox", "stRadio", "stButtonGroup", "stSegmentedControl", "stPills")
    )
    label_el = page.locator('[data-testid="stWidgetLabel"]').filter(has_text=label)
    return scope.locator(kinds).filter(has=label_el).first


def options(page: Any, label: str, *, sidebar: bool = False) -> tuple[list[str], str]:
    """(every option's text, the chosen one) of a selectbox / radio / segmented control."""
    box = widget(page, label, sidebar=sidebar)
    kind = box.get_attribute("data-testid")
    if kind == "stSelectbox":
        chosen = box.locator("input").first.input_value().strip()
        _open_select(box)
        listbox = page.locator('[role="option"]')
        listbox.first.wait_for()
        texts = [t.strip() for t in listbox.all_inner_texts()]
        page.keyboard.press("Escape")
        return texts, chosen
    items = box.locator(_ITEMS.get(kind, "button"))
    texts = [t.strip() for t in items.all_inner_texts()]
    chosen = [texts[i] for i in range(items.count()) if _is_selected(items.nth(i))]
    return texts, (chosen[0] if chosen else "")


_ITEMS = {"stRadio": '[data-testid="stRadioOption"], label[data-baseweb="radio"]'}


def _is_selected(item: Any) -> bool:
    return bool(
        item.evaluate(
            "(e) => e.getAttribute('data-selected') === 'true' || "
            "e.getAttribute('aria-checked') === 'true' || !!e.querySelector('input:checked') || "
            "(e.getAttribute('data-testid') || '').endsWith('Active')"
        )
    )


def prepare_choice(
    page: Any, label: str, option: str, *, sidebar: bool = False
) -> Callable[[], None]:
    """Get ready to pick ``option`` (its exact visible text) in the widget labelled ``label``
    (a selectbox's dropdown is opened); the returned click picks it."""
    box = widget(page, label, sidebar=sidebar)
    kind = box.get_attribute("data-testid")
    if kind == "stSelectbox":
        _open_select(box)
        target = page.get_by_role("option", name=option, exact=True).first
    else:
        items = box.locator(_ITEMS.get(kind, "button"))
        target = items.filter(has=page.get_by_text(option, exact=True)).first
    target.wait_for()
    return lambda: target.click()


def _open_select(box: Any) -> None:
    """Open a selectbox's list of options (the arrow button, else the input)."""
    button = box.locator("button[aria-haspopup='listbox'], [data-baseweb='select']")
    (button if button.count() else box.locator("input")).first.click()


def choose(page: Any, label: str, option: str, *, sidebar: bool = False) -> None:
    """Pick ``option`` (its exact visible text) in the widget labelled ``label``."""
    prepare_choice(page, label, option, sidebar=sidebar)()


def next_option(page: Any, label: str, *, sidebar: bool = False, skip: Sequence[str] = ()) -> str:
    """The option after the chosen one (cyclically), skipping ``skip``."""
    texts, chosen = options(page, label, sidebar=sidebar)
    start = texts.index(chosen) if chosen in texts else -1
    for step in range(1, len(texts) + 1):
        candidate = texts[(start + step) % len(texts)]
        if candidate != chosen and candidate not in skip:
            return candidate
    raise LookupError(f"{label}: no other option than {chosen!r} in {texts}")


def nav_link(page: Any, name: str) -> Any:
    """The navigation link of page ``name`` (sidebar or top navigation)."""
    title = TITLES.get(name, name)
    links = page.locator("a[href]").filter(has_text=title)
    exact = links.filter(has=page.get_by_text(title, exact=True))
    return (exact if exact.count() else links).first


def switch_page(page: Any, name: str) -> None:
    """Click the navigation link of page ``name``."""
    nav_link(page, name).click()


def prepare_switch(page: Any, name: str) -> Callable[[], None]:
    """The click on the navigation link of page ``name`` (found first)."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    link = nav_link(page, name)
    link.wait_for()
    return lambda: link.click()


# ---------------------------------------------------------------------------------- charts


def charts(page: Any) -> Any:
    """Every plotly chart of the page."""
    return page.locator(".js-plotly-plot")


def prepare_box_select(
    page: Any, chart: Any, box: tuple[float, float, float, float]
) -> Callable[[], None]:
    """Drag a selection box over ``chart`` up to the mouse release (returned): ``box`` =
    (x0, y0, x1, y1) as fractions of its plot area. Switches the chart to box select first
    when its modebar offers it (a chart whose default drag mode is zoom or pan)."""
    chart.hover()
    button = chart.locator("[data-attr='dragmode'][data-val='select']")
    if button.count():
        button.first.click()
    area = chart.locator(".nsewdrag").first.bounding_box()
    x0, y0, x1, y1 = box
    page.mouse.move(area["x"] + area["width"] * x0, area["y"] + area["height"] * y0)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] * x1, area["y"] + area["height"] * y1, steps=12)
    return lambda: page.mouse.up()


def box_select(page: Any, chart: Any, box: tuple[float, float, float, float]) -> None:
    """Drag a selection box over ``chart`` (see :func:`prepare_box_select`)."""
    prepare_box_select(page, chart, box)()


def prepare_click_point(page: Any, chart: Any, which: int) -> Callable[[], None]:
    """The click on the ``which``-th drawn marker of ``chart`` (cyclically), at its centre."""
    chart.scroll_into_view_if_needed()
    points = chart.locator(".scatterlayer path.point")
    count = points.count()
    if not count:
        raise LookupError("the chart draws no markers to click")
    for step in range(count):
        rect = points.nth((which + step * 7) % count).bounding_box()
        if rect and rect["width"] > 0:
            x, y = rect["x"] + rect["width"] / 2, rect["y"] + rect["height"] / 2
            return lambda: page.mouse.click(x, y)
    raise LookupError("no marker of the chart is visible")


def click_point(page: Any, chart: Any, which: int) -> None:
    """Click the ``which``-th drawn marker of ``chart`` (see :func:`prepare_click_point`)."""
    prepare_click_point(page, chart, which)()


def heatmap_chart(page: Any) -> Any:
    """The first chart that draws a heatmap (the Classes page's prediction matrices)."""
    return page.locator(".js-plotly-plot").filter(has=page.locator("g.hm")).first


def full_screenshot(page: Any, path: str | Path) -> None:
    """Screenshot the whole page: Streamlit scrolls its main area inside the viewport, so the
    viewport grows to the content's height for the shot (then shrinks back)."""
    size = page.viewport_size
    content = page.evaluate(_CONTENT_HEIGHT)
    if content > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": int(content)})
        page.wait_for_timeout(500)  # charts follow the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)


_CONTENT_HEIGHT = """
() => Math.ceil((document.querySelector('[data-testid="stMain"]')
  || document.documentElement).scrollHeight)
"""


def errors(page: Any) -> list[str]:
    """Texts of exception boxes and ``st.error`` messages on the page."""
    boxes = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]')
    return [t.strip() for t in boxes.all_inner_texts()]


# ---------------------------------------------------------------------------- interactions

Prepare = Callable[[], Callable[[], object]]


def pick_b(page: Any, option: str) -> Prepare:
    """Choosing ``option`` as Model B in the sidebar (for :func:`timed`)."""
    return lambda: prepare_choice(page, "Model B", option, sidebar=True)


def _next(page: Any, label: str) -> Callable[[], None]:
    return prepare_choice(page, label, next_option(page, label))


def _classes(page: Any, pairs: Mapping[str, str], rnd: int) -> list[tuple[str, Prepare]]:
    return [
        (
            "matrix cell click (Classes)",
            lambda: prepare_click_point(page, heatmap_chart(page), 11 * rnd + 3),
        ),
        ("pair change (Classes)", pick_b(page, pairs["alt_b"])),
        ("pair change (Classes)", pick_b(page, pairs["default_b"])),
    ]


def _instances(page: Any, pairs: Mapping[str, str], rnd: int) -> list[tuple[str, Prepare]]:
    maps = charts(page)
    box = (0.1 + 0.05 * (rnd % 5), 0.1, 0.55 + 0.05 * (rnd % 5), 0.6)
    return [
        ("highlight mode (Instances)", lambda: _next(page, "Highlight")),
        ("box selection (Instances map)", lambda: prepare_box_select(page, maps.nth(0), box)),
        (
            "open instance card (Instances)",
            lambda: prepare_click_point(page, maps.nth(0), 37 * rnd),
        ),
        ("pair change (Instances)", pick_b(page, pairs["alt_b"])),
        ("pair change (Instances)", pick_b(page, pairs["default_b"])),
    ]


def _privacy(page: Any, pairs: Mapping[str, str], rnd: int) -> list[tuple[str, Prepare]]:
    return [("threshold strategy (Privacy)", lambda: _next(page, "Threshold strategy"))]


_ACTIONS = {"classes": _classes, "instances": _instances, "privacy": _privacy}


def interaction_round(
    page: Any, pairs: Mapping[str, str], rnd: int = 0
) -> Iterator[tuple[str, float]]:
    """One round of the measured interactions, as (label, seconds to idle), in this order:
    switch to each page in turn (Classes, Layers, Instances, Privacy, Export, back to Models)
    and, on Classes, Instances and Privacy, that page's interactions. ``pairs`` names the
    Model B options ``default_b`` (current) and ``alt_b`` (the pair change); ``rnd`` varies
    the clicked cell, point and box from round to round."""
    for name in (*PAGES[1:], PAGES[0]):
        yield f"page switch -> {name}", timed(page, lambda n=name: prepare_switch(page, n))
        for label, prepare in _ACTIONS.get(name, lambda *_: [])(page, pairs, rnd):
            yield label, timed(page, prepare)


def pair_options(page: Any) -> dict[str, str]:
    """The Model B options: the current one (``default_b``) and the next (``alt_b``)."""
    default_b = options(page, "Model B", sidebar=True)[1]
    return {"default_b": default_b, "alt_b": next_option(page, "Model B", sidebar=True)}
