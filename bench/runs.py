"""Benchmark of the experiment system: ratios measured in one run (no absolute budgets).

On a private copy of the digits sample, the same grid (``ga``: 3 learning rates × 2 seeds, the
method's default 6 epochs, per-epoch evaluation on) runs with:

* the local executor, 1 worker, 1 torch thread per worker;
* the local executor, 1 worker, 2 torch threads (is one thread per worker faster?);
* the local executor, 2 workers, 1 thread each;
* Ray (a local instance, ``num_cpus=2``), 2 tasks in flight, 1 thread each (when installed).

Printed: runs per minute of each (wall time from submission to the last run's end, worker
start-up included), the speed-up of 2 workers over 1 and of Ray over local, the thread ratio,
and the registry overhead per run: the time a worker spends in registry calls (claim, progress,
heartbeats, finish) divided by the run's wall time (goal: < 2 %). Timings on a shared machine
are noisy: read the ratios.

Usage: ``python bench/runs.py [--lrs 0.005,0.01,0.02] [--seeds 0,1] [--no-ray]``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.runs import grid_jobs, submit
from analysis.runs.executors import LocalExecutor, RayExecutor, ray_available
from analysis.runs.registry import RunRecord

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "digits"


def _workspace(root: Path, label: str) -> Path:
    return Path(
        shutil.copytree(
            SAMPLE, root / label, ignore=shutil.ignore_patterns(".ulens_cache", "runs.sqlite*")
        )
    )


@dataclass(frozen=True)
class _Result:
    rate: float  # runs per minute, worker start-up included
    steady: float  # runs per minute from the first claim to the last finish
    records: list[RunRecord]


def _measure(
    root: Path,
    label: str,
    executor: LocalExecutor | RayExecutor,
    lrs: list[float],
    seeds: list[int],
) -> _Result:
    ws = _workspace(root, label)
    start = time.perf_counter()
    ids = submit(ws, grid_jobs("ga", grid={"lr": lrs}, seeds=seeds))
    records = executor.run(ws, ids)
    wall = time.perf_counter() - start
    bad = [r for r in records if r.state != "done"]
    if bad:
        raise SystemExit(f"{label}: {len(bad)} runs did not finish: {bad[0].error}")
    began = min(r.started_at or 0.0 for r in records)
    ended = max(r.finished_at or 0.0 for r in records)
    result = _Result(
        60.0 * len(records) / wall, 60.0 * len(records) / max(ended - began, 1e-9), records
    )
    print(
        f"  {label:<28} {len(records)} runs in {wall:6.1f} s: {result.rate:6.1f} runs/min "
        f"({result.steady:6.1f} once the workers are up)"
    )
    return result


def _overhead(records: list[RunRecord]) -> list[float]:
    return [
        r.current["registry_seconds"] / r.current["wall_seconds"]
        for r in records
        if r.current.get("wall_seconds")
    ]


def _ratio(label: str, a: _Result, b: _Result, note: str = "") -> None:
    print(
        f"  {label:<44} {a.rate / b.rate:5.2f} with start-up, "
        f"{a.steady / b.steady:5.2f} once up{note}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lrs", default="0.005,0.01,0.02")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    lrs = [float(v) for v in args.lrs.split(",")]
    seeds = [int(v) for v in args.seeds.split(",")]
    count = len(lrs) * len(seeds)
    print(f"grid: ga, lr {lrs} x seeds {seeds} on the digits sample ({count} runs)")
    with tempfile.TemporaryDirectory() as tmp:

        def measure(label: str, executor: LocalExecutor | RayExecutor) -> _Result:
            return _measure(Path(tmp), label, executor, lrs, seeds)

        one = measure("local, 1 worker, 1 thread", LocalExecutor(1, device="cpu"))
        threads = measure("local, 1 worker, 2 threads", LocalExecutor(1, device="cpu", threads=2))
        two = measure("local, 2 workers, 1 thread", LocalExecutor(2, device="cpu"))
        ray = None
        if ray_available() and not args.no_ray:
            ray = measure("ray, 2 tasks, 1 thread", RayExecutor(2, device="cpu"))
        else:
            print("  ray: not installed (pip install -e '.[ray]'), skipped")
    ratios = _overhead(one.records + two.records)
    print("ratios (runs per minute):")
    _ratio("2 workers / 1 worker", two, one)
    _ratio("1 thread / 2 threads per worker (1 worker)", one, threads, "  (> 1: 1 is faster)")
    if ray is not None:
        _ratio("ray (2 tasks) / local (2 workers)", ray, two)
    print(
        f"  registry overhead per run: median {100 * statistics.median(ratios):.2f} %, "
        f"max {100 * max(ratios):.2f} %  (goal < 2 %)"
    )


if __name__ == "__main__":
    main()
