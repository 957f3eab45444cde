"""The sample workspace precomputed for the browser tests (see :func:`precompute`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NUMBA_CACHE = str(ROOT / ".numba_cache")

_PRECOMPUTE = """
import sys
from dashboard import cli
assert cli.main(["precompute", sys.argv[1]]) == 0
import analysis
from analysis.spec import AUXILIARY_ROLES
exp = analysis.load_experiment(sys.argv[1])
a, b = exp.default_pair()
names = [n for n, m in exp.models.items() if m.role not in AUXILIARY_ROLES and n != a]
alt = names[(names.index(b) + 1) % len(names)]
analysis.compare(exp, a, alt)
print(a, b, alt)
"""


@dataclass(frozen=True)
class Precomputed:
    """A precomputed copy of the sample: its folder, the default pair and the next Model B."""

    workspace: Path
    a: str
    b: str
    alt_b: str

    def copy(self, target: Path) -> Path:
        """A private copy (with the cache) for a test module that may change the workspace."""
        return Path(shutil.copytree(self.workspace, target))


def precompute(workspace: Path) -> Precomputed:
    """Copy the sample into ``workspace`` (no cache, no run registry) and precompute it:
    ``ulens precompute`` (the default views), then, in the same process, the default Model A
    with the next Model B (the timing test's pair change), so no browser test waits for a cold
    comparison (the first UMAP fit of a process costs tens of seconds)."""
    shutil.copytree(
        ROOT / "sample_data" / "digits",
        workspace,
        ignore=shutil.ignore_patterns(".ulens_cache", "runs.sqlite*"),
    )
    out = subprocess.run(
        [sys.executable, "-c", _PRECOMPUTE, str(workspace)],
        env={**os.environ, "NUMBA_CACHE_DIR": NUMBA_CACHE, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    a, b, alt_b = out.stdout.split()[-3:]
    return Precomputed(workspace, a, b, alt_b)
