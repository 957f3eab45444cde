"""Tests of analysis/runs/execute.py: one run as a pure function of workspace and job."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import analysis
from analysis.errors import ValidationError
from analysis.models import read_weights
from analysis.runs.execute import RunCancelled, output_paths, run_job, subset_masks
from analysis.runs.jobs import Subset, TrainJob, UnlearnJob
from analysis.training import ArrayDataset, TrainConfig, crop_flip, train_model
from dashboard.figures.models import load_history


class Recorder:
    """A progress sink that remembers everything and can cancel at a given step."""

    def __init__(self, cancel_at: int | None = None) -> None:
        self.stages: list[str] = []
        self.steps = 0
        self.rows: list[Mapping[str, Any]] = []
        self.cancel_at = cancel_at

    def stage(self, name: str) -> None:
        self.stages.append(name)

    def step(self, event: Any) -> None:
        self.steps += 1
        if self.cancel_at is not None and self.steps >= self.cancel_at:
            raise RunCancelled("stop")

    def epoch(self, row: Mapping[str, Any]) -> None:
        self.rows.append(row)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return read_weights(path)


def test_same_job_same_weights_and_metrics(sample_ws: Path) -> None:
    job = UnlearnJob("ga", params={"epochs": 1}, seed=3, name="ga_a", scenario="classwise")
    first = run_job(sample_ws, job, device="cpu")
    weights = _weights(sample_ws / "models/runs/ga_a.safetensors")
    again = run_job(sample_ws, job, device="cpu")
    assert again.metrics == first.metrics and again.history == first.history
    for key, tensor in _weights(sample_ws / "models/runs/ga_a.safetensors").items():
        assert torch.equal(tensor, weights[key])
    other = run_job(
        sample_ws, UnlearnJob("ga", params={"epochs": 1}, seed=4, name="ga_b"), device="cpu"
    )
    assert other.metrics != first.metrics


def test_per_epoch_history_and_file(sample_ws: Path) -> None:
    sink = Recorder()
    job = UnlearnJob("ft", params={"epochs": 2}, name="ft_r", scenario="random")
    out = run_job(sample_ws, job, device="cpu", sink=sink)
    assert [r["epoch"] for r in out.history] == [0, 1, 2]
    assert out.history[0].get("loss") is None and out.history[1]["loss"] > 0
    for row in out.history:
        assert {"UA", "RA", "TRA", "PS"} <= set(row) and row["TUA"] is None  # random: N/A
        assert 0 <= row["PS"] <= 1
    assert sink.stages == ["loading", "unlearning", "saving"] and len(sink.rows) == 3
    assert out.metrics["TUA"] is None and out.metrics["UA"] == out.history[-1]["UA"]
    frame = load_history(sample_ws / output_paths(job)["history"])  # type: ignore[operator]
    assert frame is not None and list(frame["epoch"]) == [0, 1, 2]
    assert "TUA" not in frame or frame["TUA"].isna().all()  # N/A: not drawn as a curve
    assert frame["UA"].notna().all()
    assert {p.name for p in out.files} == {"ft_r.safetensors", "ft_r.history.json"}


def test_eval_every_and_stop_at_ua(sample_ws: Path) -> None:
    sparse = run_job(
        sample_ws, UnlearnJob("ga", params={"epochs": 3}, eval_every=2, name="g2"), device="cpu"
    )
    assert [("UA" in r) for r in sparse.history] == [True, False, True, False]
    assert sparse.metrics["UA"] is not None  # the final model is always evaluated
    full = run_job(sample_ws, UnlearnJob("ga", params={"epochs": 6}, name="g6"), device="cpu")
    uas = [r["UA"] for r in full.history]
    target = uas[3]  # reached after 3 epochs
    assert target < uas[0]
    stopped = run_job(
        sample_ws,
        UnlearnJob("ga", params={"epochs": 6}, stop_at_ua=target, name="gs"),
        device="cpu",
    )
    assert stopped.stopped_early and stopped.history[-1]["epoch"] == uas.index(
        next(u for u in uas if u <= target)
    )
    assert stopped.metrics["UA"] <= target
    assert not full.stopped_early


def test_a_sequential_request_unlearns_only_its_new_samples(
    sample_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    analysis.add_scenario(sample_ws, "first", classes=[1])
    analysis.add_scenario(sample_ws, "both", classes=[1, 2])
    exp = analysis.load_experiment(sample_ws, scenario="both")
    labels = exp.dataset("train").targets
    seen: dict[str, np.ndarray] = {}
    real = analysis.unlearn.make_method

    def spying(*args: Any, **kwargs: Any) -> Any:
        method = real(*args, **kwargs)
        run = method.run

        def spy(model: Any, forget: Any, retain: Any, **options: Any) -> Any:
            seen["forget"], seen["retain"] = forget.targets, retain.targets
            return run(model, forget, retain, **options)

        object.__setattr__(method, "run", spy)
        return method

    monkeypatch.setattr(analysis.unlearn, "make_method", spying)
    job = UnlearnJob(
        "ga", params={"epochs": 1}, scenario="both", forgotten="first", name="r2", eval_every=0
    )
    out = run_job(sample_ws, job, device="cpu")
    assert set(seen["forget"].tolist()) == {2} and len(seen["forget"]) == (labels == 2).sum()
    assert not np.isin(seen["retain"], [1, 2]).any()  # class 1 is not re-learnt from retain
    assert len(seen["retain"]) == len(labels) - np.isin(labels, [1, 2]).sum()
    assert out.metrics["UA"] is not None  # evaluated on the whole scenario (classes 1 and 2)


def test_cancel_leaves_nothing(sample_ws: Path) -> None:
    job = UnlearnJob("ft", params={"epochs": 3}, name="ft_c")
    with pytest.raises(RunCancelled):
        run_job(sample_ws, job, device="cpu", sink=Recorder(cancel_at=5))
    assert not list((sample_ws / "models" / "runs").glob("ft_c*"))


def test_train_original_from_recipe_with_adam(mlp_ws: Path) -> None:
    job = TrainJob(
        role="original",
        name="original",
        file="models/original.safetensors",
        recipe={"epochs": 3, "lr": 0.05, "batch_size": 32, "optimizer": "adam"},
        seed=7,
    )
    out = run_job(mlp_ws, job, device="cpu")
    exp = analysis.load_experiment(mlp_ws)
    model = exp.load_model("original", device="cpu")
    assert analysis.accuracy(model, exp.dataset("test"), device="cpu") > 0.6
    assert out.metrics["TUA"] is not None and out.metrics["PS"] is None  # no retrain yet
    assert [r["epoch"] for r in out.history] == [1, 2, 3] and out.rt > 0


def test_subset_masks_and_shadow_runs(sample_ws: Path) -> None:
    exp = analysis.load_experiment(sample_ws)
    n = len(exp.dataset("train"))
    members, forget = subset_masks(n, Subset(5, 2, "classwise"), exp.forget_indices)
    assert members.dtype == np.bool_ and members.sum() == n // 2
    assert (forget == members & np.isin(np.arange(n), exp.forget_indices)).all()
    again, _ = subset_masks(n, Subset(5, 2), None)
    assert (again == members).all() and not (
        subset_masks(n, Subset(5, 3), None)[0] == members
    ).all()
    retrain = TrainJob(
        role="shadow",
        scenario="classwise",
        name="sr",
        recipe={"epochs": 1},
        seed=1,
        subset=Subset(5, 2, "classwise", drop_forget=True),
    )
    run_job(sample_ws, retrain, device="cpu")
    saved = np.load(sample_ws / "models/runs/sr.members.npy", allow_pickle=False)
    saved_forget = np.load(sample_ws / "models/runs/sr.forget_mask.npy", allow_pickle=False)
    assert (saved == (members & ~forget)).all() and (saved_forget == forget).all()


def test_diverging_run_fails_clearly_and_writes_nothing(sample_ws: Path) -> None:
    job = UnlearnJob("ga", params={"epochs": 1, "lr": 1e30}, name="boom")
    with pytest.raises(ValidationError, match="diverged"):
        run_job(sample_ws, job, device="cpu")
    assert not list((sample_ws / "models" / "runs").glob("boom*"))


def test_crop_flip_augmentation() -> None:
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).reshape(2, 3, 32, 32)
    a = crop_flip(x, generator=torch.Generator().manual_seed(0))
    b = crop_flip(x, generator=torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)
    values = set(a.unique().tolist()) - {0.0}
    assert values <= set(x.unique().tolist())  # crops of the image plus zero padding
    flat = ArrayDataset(torch.zeros(8, 5), torch.zeros(8, dtype=torch.long))
    with pytest.raises(ValidationError, match=r"^TrainConfig.augmentation"):
        train_model(
            torch.nn.Linear(5, 2),
            flat,
            TrainConfig(epochs=1, augmentation="crop_flip"),
            device="cpu",
        )
