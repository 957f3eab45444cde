"""The registry signature that tells the app's caches to refresh (finished runs, scenarios)."""

from __future__ import annotations

from pathlib import Path

from analysis.runs import RunRegistry, add_scenario, grid_jobs, submit
from analysis.runs.worker import work
from dashboard import cached
from tests.dashboard.views.run_workspaces import runnable_tiny


def test_signature_changes_only_when_done_runs_or_scenarios_change(tmp_path: Path) -> None:
    ws = runnable_tiny(tmp_path / "ws")
    empty = cached.runs_signature(str(ws))
    RunRegistry(ws / "runs.sqlite").list()  # a read creates nothing
    (run_id,) = submit(ws, grid_jobs("ga", params={"epochs": 1, "batch_size": 8}))
    queued = cached.runs_signature(str(ws))
    assert queued == empty  # a queued run is not a model yet: no refresh
    work(ws, device="cpu")
    done = cached.runs_signature(str(ws))
    assert done != queued and done[0] == ((run_id, "ga_classwise_1"),)
    add_scenario(ws, "c2", classes=[2])
    assert cached.runs_signature(str(ws))[1] == ("c2",)
