"""Benchmark of the dashboard as a user meets it: real Chromium (Playwright) against
``ulens dashboard`` on the sample, medians (min, max) over ``--reps`` repetitions, one run.

Measured (see :mod:`uidriver` for the definition of *idle*):

* **first chart**: seconds from launching ``python -m dashboard.cli dashboard WS`` to the first
  plotly chart drawn in a page opened as soon as the server is healthy (result cache warm: an
  untimed server visits every page first; each repetition launches a fresh server). Also the
  launch-to-health time.
* **warm interactions**, to idle, in one server after an untimed round of the same actions:
  switching to each page, changing Model B in the sidebar (on Classes and on Instances; to the
  next model and back), the Instances highlight mode, a box selection on the Instances map A,
  opening an instance card (a click on a point of map A), a prediction-matrix cell click on
  Classes, the Privacy threshold strategy.
* **cold pair**: on a fresh server whose result cache lacks two pairs (the files they added are
  deleted before each repetition), Model B is changed on the Classes page to the first, then to
  the second: seconds to the first chart of the new pair and to idle. The first pair in a
  process also pays the first UMAP fit (numba's JIT); the second does not.

Where it says CPU (the table's last column), the CPU time the server's processes (``ulens
dashboard`` and everything under it, not the browser) used during the measurement: less
sensitive to other load on the machine than the wall time.

The workspace is copied to a temporary folder (without its run registry, and without its
result cache unless ``--copy-cache``), so the sample is not touched and every run starts
alike. The app driven is the checkout named by the first ``PYTHONPATH`` entry (default: this
one), so ``PYTHONPATH=/old/checkout python bench/ui.py`` measures an older version with this
bench; ``--workspace`` defaults to that checkout's ``sample_data/digits``.

Usage: ``python bench/ui.py [--reps 3] [--workspace WS] [--out FILE.json]
[--only first,interactions,cold] [--copy-cache]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uidriver as ui
from playwright.sync_api import sync_playwright

SECTIONS = ("first", "interactions", "cold")
Samples = dict[str, list[float]]


CPU = " [server CPU]"  # suffix of the CPU-time samples of a measurement


def _record(samples: Samples, name: str, seconds: float, cpu: float | None = None) -> None:
    samples.setdefault(name, []).append(round(seconds, 3))
    extra = ""
    if cpu is not None:
        samples.setdefault(name + CPU, []).append(round(cpu, 3))
        extra = f"  (server CPU {cpu:5.2f} s)"
    print(f"  {name:<38} {seconds:7.2f} s{extra}", flush=True)


def _copy_workspace(source: Path, target: Path, *, cache: bool) -> Path:
    """Copy without the run registry (and its pool's files), and without the result cache
    unless ``cache``."""

    def skip(folder: str, names: list[str]) -> set[str]:
        out = {n for n in names if n.startswith("runs.sqlite")}
        if Path(folder) == source:
            out |= set() if cache else {".ulens_cache"}
        elif Path(folder) == source / ".ulens_cache":
            out |= {"runs"}
        return out

    shutil.copytree(source, target, ignore=skip)
    return target


def _cache_files(workspace: Path) -> set[Path]:
    return {p for p in (workspace / ".ulens_cache").rglob("*") if p.is_file()}


# ------------------------------------------------------------------------------- sessions


class Session:
    """One server + one page on it (opened at ``path``, settled)."""

    def __init__(self, browser: Any, workspace: Path, log: Path, path: str = "") -> None:
        self.server = ui.start_server(workspace, log=log)
        self.health = ui.wait_healthy(self.server)
        self.page = ui.open_page(browser, f"{self.server.url}/{path}")
        ui.wait_first_chart(self.page)
        ui.settle(self.page)

    def close(self) -> None:
        try:
            ui.close_page(self.page)
        finally:
            left = ui.stop_server(self.server)
        if left:
            raise RuntimeError(f"processes left after stopping the server: {left}")


def _visit_all(page: Any) -> None:
    for name in (*ui.PAGES[1:], ui.PAGES[0]):
        ui.timed(page, lambda n=name: ui.prepare_switch(page, n))


def _warm_up(browser: Any, workspace: Path, log: Path) -> dict[str, str]:
    """Untimed: every page for the default pair and for the next Model B; picks the pairs."""
    print("warm-up (untimed): every page for two pairs", flush=True)
    session = Session(browser, workspace, log)
    page = session.page
    try:
        models, default_b = ui.options(page, "Model B", sidebar=True)
        alt_b = ui.next_option(page, "Model B", sidebar=True)
        _visit_all(page)
        ui.timed(page, ui.pick_b(page, alt_b))
        _visit_all(page)
        ui.timed(page, ui.pick_b(page, default_b))
        cold = [m for m in reversed(models) if m not in (default_b, alt_b)][:2]
    finally:
        session.close()
    print(f"  Model B: default {default_b!r}, pair change to {alt_b!r}, cold {cold}")
    return {"default_b": default_b, "alt_b": alt_b, "cold_1": cold[0], "cold_2": cold[1]}


# ------------------------------------------------------------------------------- sections


def first_chart(browser: Any, workspace: Path, log: Path, reps: int, samples: Samples) -> None:
    print("first chart after launching `ulens dashboard` (fresh server each time)", flush=True)
    for _ in range(reps):
        page = ui.open_page(browser, "", goto=False)
        server = ui.start_server(workspace, log=log)
        try:
            health = ui.wait_healthy(server)
            page.goto(server.url)
            ui.wait_first_chart(page)
            chart = time.monotonic() - server.launched
            cpu = ui.cpu_seconds(server)
            _record(samples, "server healthy", health)
            _record(samples, "first chart", chart, cpu)
        finally:
            try:
                ui.close_page(page)
            finally:
                left = ui.stop_server(server)
        if left:
            raise RuntimeError(f"processes left after stopping the server: {left}")


def interactions(
    browser: Any, workspace: Path, log: Path, reps: int, pairs: dict[str, str], samples: Samples
) -> None:
    print("warm interactions, seconds to idle (round 0 untimed)", flush=True)
    session = Session(browser, workspace, log)
    page = session.page
    try:
        for rnd in range(reps + 1):
            target: Samples = samples if rnd else {}
            if not rnd:
                print("  (round 0: untimed)")
            before = ui.cpu_seconds(session.server)
            for label, seconds in ui.interaction_round(page, pairs, rnd):
                after = ui.cpu_seconds(session.server)
                _record(target, label, seconds, after - before)
                before = after
    finally:
        session.close()


_NEW_CHART = """
() => { const old = window.__ulensOld || new WeakSet();
  return [...document.querySelectorAll('.js-plotly-plot')].some((c) =>
    c.data && !old.has(c.data) && c.querySelector('.main-svg')); }
"""
_MARK_CHARTS = """
() => { window.__ulensOld = new WeakSet();
  document.querySelectorAll('.js-plotly-plot')
    .forEach((c) => c.data && window.__ulensOld.add(c.data)); }
"""


def _cold_change(session: Session, model: str, label: str, samples: Samples) -> None:
    page = session.page
    page.evaluate(_MARK_CHARTS)
    commit = ui.prepare_choice(page, "Model B", model, sidebar=True)
    cpu = ui.cpu_seconds(session.server)
    start = ui.mark(page)
    commit()
    page.wait_for_function(_NEW_CHART, polling="raf", timeout=600_000)
    first = (ui.now_ms(page) - start) / 1000
    _record(samples, f"{label}: first chart", first, ui.cpu_seconds(session.server) - cpu)
    idle = ui.wait_idle(page, timeout=600) / 1000
    _record(samples, f"{label}: idle", idle, ui.cpu_seconds(session.server) - cpu)


def cold_pairs(
    browser: Any, workspace: Path, log: Path, reps: int, pairs: dict[str, str], samples: Samples
) -> None:
    print("cold pairs on Classes (fresh server; the pairs' cached results deleted)", flush=True)
    warm = _cache_files(workspace)
    for _ in range(reps):
        for path in _cache_files(workspace) - warm:
            path.unlink(missing_ok=True)
        session = Session(browser, workspace, log, path="classes")
        try:
            _cold_change(session, pairs["cold_1"], "cold pair, first in process", samples)
            _cold_change(session, pairs["cold_2"], "cold pair, second", samples)
        finally:
            session.close()


# ------------------------------------------------------------------------------- report


def summary(samples: Samples) -> dict[str, dict[str, float]]:
    """Median, min, max and count of every measurement."""
    return {
        name: {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "n": len(values),
        }
        for name, values in samples.items()
    }


def table(stats: dict[str, dict[str, float]]) -> str:
    """Seconds (median, min, max, n) and, where measured, the median server CPU time."""
    head = f"{'measurement':<40} {'median':>8} {'min':>8} {'max':>8} {'n':>3} {'CPU':>6}"
    lines = [head]
    for name, s in stats.items():
        if name.endswith(CPU):
            continue
        cpu = stats.get(name + CPU)
        column = f"{cpu['median']:6.2f}" if cpu else ""
        lines.append(
            f"{name:<40} {s['median']:8.2f} {s['min']:8.2f} {s['max']:8.2f} {int(s['n']):3d} "
            + column
        )
    return "\n".join(lines)


def _revision(root: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions (at least 3)")
    parser.add_argument(
        "--workspace",
        default=str(ui.code_root() / "sample_data" / "digits"),
        help="default: the sample of the checkout under test",
    )
    parser.add_argument("--out", help="also write the samples and summary to this JSON file")
    parser.add_argument(
        "--copy-cache",
        action="store_true",
        help="copy the workspace's result cache too (a shorter warm-up; default: start empty)",
    )
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    args = parser.parse_args(argv)
    if args.reps < 1 or any(s not in SECTIONS for s in args.only.split(",")):
        parser.error(f"--reps must be >= 1 and --only a subset of {','.join(SECTIONS)}")
    return args


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through the servers' cleanup


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    root = ui.code_root()
    meta = {
        "code_root": str(root),
        "revision": _revision(root),
        "reps": args.reps,
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    meta["workspace"] = str(Path(args.workspace).resolve())
    print(f"app under test: {root} @ {meta['revision']} on {meta['workspace']}")
    print(f"load average {meta['load_before']} on {meta['cpus']} CPUs")
    samples: Samples = {}
    sections = args.only.split(",")
    with tempfile.TemporaryDirectory(prefix="ulens-bench-ui-") as tmp:
        source = Path(args.workspace).resolve()
        workspace = _copy_workspace(source, Path(tmp) / "ws", cache=args.copy_cache)
        log = Path(tmp) / "server.log"
        try:
            with sync_playwright() as p:
                browser = ui.launch_browser(p)
                pairs = _warm_up(browser, workspace, log)
                if "first" in sections:
                    first_chart(browser, workspace, log, args.reps, samples)
                if "interactions" in sections:
                    interactions(browser, workspace, log, args.reps, pairs, samples)
                if "cold" in sections:
                    cold_pairs(browser, workspace, log, args.reps, pairs, samples)
                browser.close()
        except BaseException:
            print(f"--- server log (last lines) ---\n{_tail(log)}", file=sys.stderr)
            raise
        finally:
            left = ui.stop_all()
            if left:
                print(f"processes left after stopping the servers: {left}", file=sys.stderr)
    meta["load_after"] = os.getloadavg()
    stats = summary(samples)
    print(f"\n{table(stats)}")
    print(f"load average before {meta['load_before']}, after {meta['load_after']}")
    if args.out:
        Path(args.out).write_text(
            json.dumps({"meta": meta, "samples": samples, "summary": stats}, indent=2) + "\n"
        )
    return 0


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


if __name__ == "__main__":
    raise SystemExit(main())
