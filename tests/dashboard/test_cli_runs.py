"""Tests of the experiment commands (dashboard/cli_runs.py): end to end on the sample and on a
fresh npz + mlp workspace, failures, Ctrl-C, bad input."""

from __future__ import annotations

import builtins
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import analysis
from analysis.compare import CompareOptions
from analysis.runs.registry import REGISTRY_FILE, RunRegistry
from dashboard.cli import main
from tests.analysis.runs.workspaces import copy_sample, make_mlp_workspace

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sample_ws(tmp_path: Path) -> Path:
    return copy_sample(tmp_path / "digits")


def _records(ws: Path) -> list:
    return RunRegistry(ws / REGISTRY_FILE).list()


def test_grid_with_a_failing_run_on_the_sample(
    sample_ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = str(sample_ws)
    args = ["unlearn", ws, "--method", "ga", "--param", "epochs=1", "--grid", "lr=0.005,1e30"]
    assert main([*args, "--seeds", "0,1", "--workers", "2", "--device", "cpu"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith("4 runs: ga on the first scenario from original, grid lr")
    assert "overall [" in err and "4/4 finished, 2 failed" in err
    assert "failed: ValidationError: run: expected finite model outputs (the run diverged" in err
    states = {r.name: r.state for r in _records(sample_ws)}
    assert sorted(states.values()) == ["done", "done", "failed", "failed"]
    assert main(["runs", ws]) == 0
    listing = capsys.readouterr().out
    assert listing.count(" done ") == 2 and listing.count(" failed ") == 2
    assert "diverged" in listing
    exp = analysis.load_experiment(sample_ws)
    done = [n for n, s in states.items() if s == "done"]
    assert all(exp.models[n].role == "unlearned" and exp.models[n].method == "ga" for n in done)
    assert not any(n in exp.models for n, s in states.items() if s == "failed")
    history = analysis.load_experiment(sample_ws).models[done[0]].history
    assert history is not None and history.exists()


def test_fresh_npz_workspace_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = make_mlp_workspace(tmp_path / "blobs")
    w = str(ws)
    common = ["--device", "cpu"]
    assert main(["train", w, "--role", "original", *common]) == 0
    assert (ws / "models" / "original.safetensors").exists()  # the TOML's declared file
    assert main(["scenario", "add", w, "two", "--classes", "2"]) == 0
    assert main(["train", w, "--role", "retrain", "--scenario", "classwise", *common]) == 0
    assert main(["references", w, "--count", "2", *common]) == 0
    grid = ["--param", "epochs=2", "--grid", "lr=0.01,0.05", "--seeds", "0"]
    assert main(["unlearn", w, "--method", "ga", *grid, "--stop-at-ua", "0.5", *common]) == 0
    shadows = ["--count", "2", "--method", "ga", "--param", "epochs=1"]
    assert main(["shadows", w, *shadows, *common]) == 0
    out = capsys.readouterr().out
    assert "4 runs" not in out and "2 runs: ga on the first scenario" in out
    exp = analysis.load_experiment(ws)
    roles = {n: m.role for n, m in exp.models.items()}
    assert roles["original"] == "original" and roles["retrain_classwise"] == "retrain"
    assert [n for n, r in roles.items() if r == "reference"] == ["ref_s0_000", "ref_s0_001"]
    shadows_found = sorted(n for n, r in roles.items() if r == "shadow")
    assert len(shadows_found) == 4
    for k in (0, 1):
        assert f"shadow_retrain_classwise_s0_00{k}" in shadows_found
        assert any(s.startswith(f"shadow_ga_classwise_s0_00{k}_") for s in shadows_found)
    unlearned = exp.names_with_role("unlearned")
    assert len(unlearned) == 2
    n = len(exp.dataset("train"))
    assert exp.members_mask("ref_s0_001").sum() == n // 2
    some_shadow = next(s for s in shadows_found if s.startswith("shadow_ga"))
    forget = exp.shadow_forget_mask(some_shadow)
    assert forget.any() and (forget <= exp.members_mask(some_shadow)).all()
    assert set(np.flatnonzero(forget)) <= set(exp.forget_indices)
    record = RunRegistry(ws / REGISTRY_FILE).get(unlearned[0])
    assert record is not None and record.params["stop_at_ua"] == 0.5
    assert exp.with_scenario("two").forget_classes == (2,)
    table = analysis.models_table(exp, device="cpu")
    assert {"original", "retrain_classwise", *unlearned} <= set(table["name"])
    # the audit of a workspace that had no reference models: LiRA, RMIA and U-LiRA are computed
    options = CompareOptions.from_experiment(exp, embedding_method="pca")
    cmp = analysis.compare(exp, unlearned[0], "retrain_classwise", device="cpu", options=options)
    audit = analysis.audit_table(cmp).set_index(["model", "metric"])["value"]
    for metric in ("lira_offline_auc", "rmia_offline_auc", "ulira_auc"):
        assert np.isfinite(float(audit[(unlearned[0], metric)])), metric
    # delete one run: its record and its files go
    victim = RunRegistry(ws / REGISTRY_FILE).get(unlearned[1])
    assert victim is not None and main(["runs", w, "--delete", str(victim.id)]) == 0
    assert not victim.file.exists() and unlearned[1] not in analysis.load_experiment(ws).models


def test_ctrl_c_cancels_cleanly(sample_ws: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "dashboard.cli", "unlearn", str(sample_ws), "--method", "ft"]
    proc = subprocess.Popen(
        [*cmd, "--param", "epochs=400", "--device", "cpu"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not any(r.step > 0 for r in _records(sample_ws)):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    (record,) = _records(sample_ws)
    assert record.state == "cancelled"
    assert not list((sample_ws / "models" / "runs").glob("ft_classwise_1*"))
    assert " cancelled " in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["unlearn", "{ws}", "--method", "nosuch"], "method: expected one of"),
        (["unlearn", "{ws}", "--method", "ga", "--param", "alpha=1"], "hyperparameter 'alpha'"),
        (
            ["unlearn", "{ws}", "--method", "ga", "--param", "lr=fast"],
            "'lr': expected a value of type float",
        ),
        (
            ["unlearn", "{ws}", "--method", "ga", "--param", "epochs=2.5"],
            "'epochs': expected a value of type int",
        ),
        (["unlearn", "{ws}", "--method", "ga", "--base", "ghost"], "base: expected a model among"),
        (["unlearn", "{ws}", "--method", "ga", "--scenario", "nope"], "scenario: expected one of"),
        (["unlearn", "{ws}", "--method", "ga", "--grid", "lr=0.1,,0.2"], "--grid: expected"),
        (["unlearn", "{ws}", "--method", "ga", "--grid", "lr"], "--grid: expected KEY=VALUE"),
        (
            ["unlearn", "{ws}", "--method", "ga", "--grid", "lr=-1"],
            "GAParams.lr: expected a positive",
        ),
        (
            ["unlearn", "{ws}", "--method", "ga", "--seeds", "a,b"],
            "--seeds: expected comma-separated",
        ),
        (["unlearn", "{ws}", "--method", "ga", "--workers", "0"], "workers: expected a positive"),
        (["unlearn", "{ws}", "--method", "ga", "--executor", "spark"], "executor: expected one of"),
        (["unlearn", "{ws}", "--method", "ga", "--stop-at-ua", "2"], "stop_at_ua: expected"),
        (["references", "{ws}", "--count", "0"], "--count: expected a positive integer"),
        (["shadows", "{ws}", "--count", "0", "--method", "ga"], "--count: expected a positive"),
        (
            ["train", "{ws}", "--role", "retrain", "--recipe", "epochs=zero"],
            "recipe field 'epochs'",
        ),
        (["train", "{ws}", "--role", "original", "--name", "ga"], "name: expected a name not used"),
        (["runs", "{ws}", "--delete", "999"], "run: expected a run id or name"),
        (["scenario", "add", "{ws}", "x", "--classes", "42"], "forget.x.classes"),
        (["unlearn", "{ws}/nowhere", "--method", "ga"], "workspace: expected a folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    sample_ws: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    argv = [a.replace("{ws}", str(sample_ws)) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"ulens {argv[0]}: error: ")
    assert message in err
    assert _records(sample_ws) == []  # nothing queued


def test_missing_ray_says_how_to_install(
    sample_ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_ray(name: str, *args: object, **kwargs: object) -> object:
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_ray)
    assert main(["unlearn", str(sample_ws), "--method", "ga", "--executor", "ray"]) == 2
    err = capsys.readouterr().err
    assert "pip install -e '.[ray]'" in err and _records(sample_ws) == []
