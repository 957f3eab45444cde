"""Tests of analysis/runs/precompute.py: the precompute task kind, executed by the ordinary
worker loop, leaves the result cache warm — on the digits sample and on a generated npz
workspace with another architecture (mlp)."""

from __future__ import annotations

import importlib
import shutil
import warnings
from pathlib import Path

import pytest

import analysis
from analysis.errors import UlensError, ValidationError
from analysis.runs.precompute import (
    PRECOMPUTE_PARTS,
    PrecomputeJob,
    WarningTally,
    precompute_queue,
    run_precompute,
    submit_precompute,
)
from analysis.runs.worker import work
from tests.fixtures import make_tiny_workspace


def _forbid_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, a forward pass or a UMAP fit fails the test: everything must be cached."""
    module = importlib.import_module("analysis.compare")

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("computed although precomputed")

    monkeypatch.setattr(module, "forward_pass", boom)
    monkeypatch.setattr(module, "embed_pair", boom)


def _precompute_by_worker(ws: Path, job: PrecomputeJob | None = None) -> analysis.runs.TaskRecord:
    task = submit_precompute(ws, job)
    assert task.kind == "precompute" and task.state == "queued"
    assert work(ws, device="cpu") == 1  # the ordinary worker loop claims and runs it
    done = precompute_queue(ws).get(task.id)
    assert done is not None
    return done


@pytest.mark.slow
def test_worker_precomputes_the_sample_default_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Path(
        shutil.copytree(
            Path(__file__).resolve().parents[3] / "sample_data" / "digits",
            tmp_path / "digits",
            ignore=shutil.ignore_patterns(".ulens_cache", "runs.sqlite*"),
        )
    )
    done = _precompute_by_worker(ws)
    assert (done.state, done.error) == ("done", "")
    assert (done.job["scenario"], done.job["a"], done.job["b"]) == ("classwise", "ga", "salun")
    assert done.parts == PRECOMPUTE_PARTS and done.fraction == 1.0
    # the sample's references leave some samples without OUT references: counted, not repeated
    assert done.warnings and all(n >= 1 for n in done.warnings.values())
    assert len(done.warnings) < sum(done.warnings.values())
    _forbid_computation(monkeypatch)
    exp = analysis.load_experiment(ws)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = analysis.models_table(exp)
        cmp = analysis.compare(exp, "ga", "salun")
    assert "ga" in set(table["name"]) and cmp.has_embedding
    assert cmp.embedding.coords_a.shape == (len(cmp.embedding.indices), 2)


@pytest.mark.slow
def test_worker_precomputes_a_generated_mlp_workspace_and_a_chosen_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = make_tiny_workspace(tmp_path / "blobs", arch="mlp", dataset="npz", scenario="random")
    job = PrecomputeJob(a="original", b="finetune_random", parts=("comparison", "embedding"))
    done = _precompute_by_worker(ws, job)
    assert done.state == "done" and done.parts == ("comparison", "embedding")
    assert (done.job["scenario"], done.job["b"]) == ("random", "finetune_random")
    _forbid_computation(monkeypatch)
    exp = analysis.load_experiment(ws)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = analysis.compare(exp, "original", "finetune_random")
    assert cmp.has_embedding and cmp.scenario == "random"


def test_a_failing_precompute_fails_its_task_and_keeps_the_worker(tmp_path: Path) -> None:
    ws = make_tiny_workspace(tmp_path / "ws", n_reference=1)
    task = submit_precompute(ws, PrecomputeJob(parts=("table",)))
    (ws / "models" / "original.safetensors").write_bytes(b"not weights")
    assert work(ws, device="cpu") == 1
    failed = precompute_queue(ws).get(task.id)
    assert failed is not None and failed.state == "failed"
    assert "original" in failed.error and "Traceback" not in failed.error


def test_jobs_are_resolved_and_validated_before_anything_is_queued(tmp_path: Path) -> None:
    ws = make_tiny_workspace(tmp_path / "ws", n_reference=1)
    with pytest.raises(ValidationError, match=r"^parts:"):
        PrecomputeJob(parts=("everything",))
    with pytest.raises(UlensError, match=r"^b:"):
        submit_precompute(ws, PrecomputeJob(a="original", b="nope"))
    with pytest.raises(UlensError):
        submit_precompute(ws, PrecomputeJob(scenario="nope"))
    assert precompute_queue(ws).list() == []
    job = PrecomputeJob(scenario="classwise", a="original", b="retrain_classwise")
    assert PrecomputeJob.from_dict(job.to_dict()) == job


def test_run_precompute_progress_only_grows_and_names_each_part(tmp_path: Path) -> None:
    ws = make_tiny_workspace(tmp_path / "ws", n_reference=1)
    seen: list[tuple[str, float]] = []
    parts: list[str] = []
    with WarningTally():
        seconds = run_precompute(
            ws,
            PrecomputeJob(),
            device="cpu",
            progress=lambda s, f: seen.append((s, f)),
            on_part=lambda p, _: parts.append(p),
        )
    assert parts == list(PRECOMPUTE_PARTS) == list(seconds)
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and seen[-1] == ("done", 1.0)
    assert {s.split(":")[0] for s, _ in seen} >= {"models table", "comparison", "embedding"}


def test_warning_tally_shows_each_distinct_warning_once_and_counts_repeats() -> None:
    shown: list[str] = []
    with WarningTally(on_new=shown.append) as tally:
        for _ in range(20):  # as the privacy audit does: once per model and attack
            warnings.warn("3 sample(s) have no OUT reference", RuntimeWarning, stacklevel=1)
            with warnings.catch_warnings():  # a library resetting the filters in between
                warnings.simplefilter("ignore", UserWarning)
        warnings.warn("other", UserWarning, stacklevel=1)
    assert shown == ["RuntimeWarning: 3 sample(s) have no OUT reference", "UserWarning: other"]
    assert tally.counts == {shown[0]: 20, shown[1]: 1}
    assert tally.summary() == "21 warning(s), 2 distinct (each shown once)"
    assert WarningTally().summary() == ""


def test_warning_tally_keeps_ignored_warnings_ignored_and_restores_the_filters() -> None:
    before = list(warnings.filters)
    with WarningTally() as tally:
        warnings.warn("hidden by default", ImportWarning, stacklevel=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.warn("ignored here", RuntimeWarning, stacklevel=1)
    assert tally.counts == {}
    assert warnings.filters == before
