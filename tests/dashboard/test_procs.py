"""dashboard.procs: a process tree is found through /proc and stopped within the grace time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from dashboard import procs

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")

_TREE = (
    "import subprocess, sys, time;"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
    "time.sleep(60)"
)
_STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)


def test_grandchildren_are_found_and_stopped() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _TREE])
    try:
        deadline = time.monotonic() + 10
        while len(procs.descendants(parent.pid)) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = [parent.pid, *procs.descendants(parent.pid)]
        assert len(tree) == 2 and "time.sleep(60)" in procs.command_line(tree[1])
        assert procs.stop_processes(tree, grace=5.0) == []
        assert not any(procs.is_running(p) for p in tree)
    finally:
        parent.kill()
        parent.wait()


def test_a_process_ignoring_sigterm_is_killed_after_the_grace_time() -> None:
    child = subprocess.Popen([sys.executable, "-c", _STUBBORN], stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
    start = time.monotonic()
    assert procs.stop_processes([child.pid], grace=0.5) == [child.pid]
    assert child.wait(timeout=5) == -signal.SIGKILL
    assert time.monotonic() - start < 5
