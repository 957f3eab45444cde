"""Workspaces for the Run panel tests: copies of the digits sample with a warm result cache, and
a tiny npz + mlp workspace whose recipes the run system accepts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
import warnings
from pathlib import Path

import analysis
from analysis.runs import RunRecord, list_runs
from analysis.runs.worker import POOL_LOCK
from tests.fixtures import make_tiny_workspace

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "sample_data" / "digits"


def warm_sample(dst: Path) -> Path:
    """A copy of ``sample_data/digits`` (no registry) whose models table is already cached."""
    root = Path(shutil.copytree(SAMPLE, dst, ignore=shutil.ignore_patterns("runs.sqlite*")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for scenario in analysis.load_experiment(root).scenarios:
            analysis.models_table(analysis.load_experiment(root, scenario=scenario))
    return root


def copy_workspace(src: Path, dst: Path) -> Path:
    """A private copy of a workspace (cache included, registry and pool files excluded)."""
    return Path(shutil.copytree(src, dst, ignore=shutil.ignore_patterns("runs.sqlite*", "pool.*")))


def runnable_tiny(dst: Path) -> Path:
    """The tiny npz + mlp workspace with recipes of the run system (epochs, not steps)."""
    root = make_tiny_workspace(dst)
    toml = root / "experiment.toml"
    toml.write_text(toml.read_text().replace("steps = 15", "epochs = 2"))
    return root


def wait_for(workspace: Path, done: int, *, timeout: float = 240.0) -> list[RunRecord]:
    """Wait until ``done`` runs of the workspace are finished; return the records."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = list_runs(workspace)
        if sum(r.finished for r in records) >= done:
            return records
        time.sleep(0.5)
    raise TimeoutError(f"runs not finished after {timeout} s: {list_runs(workspace)}")


def pool_pid(workspace: Path) -> int | None:
    """The pid written in the workspace's pool lock file (None when there is none)."""
    with contextlib.suppress(OSError, ValueError):
        pid = int((workspace / POOL_LOCK).read_text().strip() or 0)
        return pid if pid > 0 else None
    return None


def _gone(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it when this process started it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def stop_pool(workspace: Path, *, timeout: float = 10.0) -> None:
    """Kill the workspace's background pool (its process group: the pool and its workers)."""
    pid = pool_pid(workspace)
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
