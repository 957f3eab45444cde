"""Tests of ``ulens study delete`` (dashboard/cli_study.py): it shows what goes, asks on a
terminal, refuses without ``--yes`` when nobody can answer, and deletes on the sample and on an
npz + mlp workspace."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from analysis.runs import TrainJob, submit
from analysis.runs.registry import REGISTRY_FILE, RunRegistry
from analysis.studies import ScalabilityStudy, list_studies, study_runs, submit_study
from dashboard.cli import main
from tests.analysis.runs.workspaces import copy_sample, make_mlp_workspace


def _finish(ws: Path, name: str) -> Path:
    """Mark run ``name`` done with a weights file, as a worker would (no training)."""
    registry = RunRegistry(ws / REGISTRY_FILE)
    record = registry.get(name)
    assert record is not None
    claimed = registry.claim(ids=[record.id], pid=os.getpid())
    assert claimed is not None
    claimed.file.parent.mkdir(parents=True, exist_ok=True)
    claimed.file.write_bytes(b"weights")
    registry.finish(claimed.id, "done", files=[claimed.file])
    return claimed.file


def _study(ws: Path, name: str = "g", **fields: object) -> list[Path]:
    options: dict[str, object] = {"methods": ("ga",), "sizes": (0.1,), **fields}
    submit_study(ws, ScalabilityStudy(name=name, **options))  # type: ignore[arg-type]
    return [_finish(ws, r.name) for r in study_runs(ws, name)]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def sample_ws(tmp_path: Path) -> Path:
    return copy_sample(tmp_path / "digits")


def test_without_yes_and_no_terminal_it_only_shows_what_would_go(
    sample_ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = _study(sample_ws)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["study", "delete", str(sample_ws), "g"]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines()[:3] == [
        "would delete study g",
        "  2 run(s): g_f0.1_retrain, g_f0.1_ga_s0",
        "  1 scenario(s): g_f0.1",
    ]
    assert err.count("\n") == 1 and err.startswith("ulens study: error: --yes: expected --yes")
    assert all(w.exists() for w in weights) and list_studies(sample_ws)


def test_yes_deletes_the_study_its_runs_and_scenarios(
    sample_ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = _study(sample_ws)
    assert main(["study", "delete", str(sample_ws), "g", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "deleted study g" in out.splitlines()
    assert not any(w.exists() for w in weights) and list_studies(sample_ws) == []
    assert not (sample_ws / "scenarios/g_f0.1.npy").exists()
    assert main(["study", "delete", str(sample_ws), "g", "--yes"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "study: expected a study of the workspace" in err


def test_a_terminal_is_asked_and_keep_runs_keeps_them(
    sample_ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = _study(sample_ws)
    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))
    assert main(["study", "delete", str(sample_ws), "g"]) == 1
    assert "nothing deleted" in capsys.readouterr().out and list_studies(sample_ws)
    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))
    assert main(["study", "delete", str(sample_ws), "g", "--keep-runs"]) == 0
    assert "deleted study g (its runs are kept)" in capsys.readouterr().out
    assert list_studies(sample_ws) == [] and all(w.exists() for w in weights)
    assert len(RunRegistry(sample_ws / REGISTRY_FILE).list()) == 2


def test_a_running_study_needs_force(sample_ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    submit_study(sample_ws, ScalabilityStudy(name="g", methods=("ga",), sizes=(0.1,)))
    assert RunRegistry(sample_ws / REGISTRY_FILE).claim(pid=os.getpid()) is not None
    assert main(["study", "delete", str(sample_ws), "g", "--yes"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cancel it first" in err and "--force" in err


def test_delete_on_an_mlp_workspace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = make_mlp_workspace(tmp_path / "blobs")
    submit(ws, [TrainJob(role="original")])
    _finish(ws, "original")
    weights = _study(ws, "m", sizes=(1,), forget="classes")
    assert main(["study", "delete", str(ws), "m", "--yes"]) == 0
    assert "1 scenario(s): m_c1" in capsys.readouterr().out
    assert not any(w.exists() for w in weights) and (ws / "models/original.safetensors").exists()
