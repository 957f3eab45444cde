"""Tests of analysis/manipulation.py: label flips and triggers, their reproducibility, attack
success by hand on toy models, the worker applying a job's manipulation, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from analysis.data import ArrayDataset, DatasetBundle
from analysis.errors import ValidationError
from analysis.manipulation import Manipulation, corrective_metrics, metrics_from_predictions
from analysis.runs.jobs import TrainJob, UnlearnJob, job_from_dict, job_to_dict

LABELS = np.repeat(np.arange(4), 50)  # 200 samples, 4 classes


def _bundle(n: int = 40, classes: int = 4) -> DatasetBundle:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 5, 5, generator=gen) * 0.5
    y = torch.arange(n) % classes
    names = tuple(str(c) for c in range(classes))
    return DatasetBundle(ArrayDataset(x, y), ArrayDataset(x[:20].clone(), y[:20]), names, "toy")


def test_a_flip_changes_the_fraction_asked_for_to_other_classes_reproducibly() -> None:
    flip = Manipulation(kind="label_flip", fraction=0.1, seed=3)
    idx = flip.indices(LABELS)
    assert len(idx) == 20 and len(set(idx.tolist())) == 20 and (np.diff(idx) > 0).all()
    new = flip.labels(LABELS, 4)
    changed = np.flatnonzero(new != LABELS)
    assert changed.tolist() == idx.tolist()  # exactly the drawn samples, each to another class
    assert set(new[idx].tolist()) <= {0, 1, 2, 3}
    assert np.array_equal(
        Manipulation(kind="label_flip", fraction=0.1, seed=3).labels(LABELS, 4), new
    )
    other = Manipulation(kind="label_flip", fraction=0.1, seed=4)
    assert not np.array_equal(other.indices(LABELS), idx)
    expected = np.sort(np.random.default_rng([3, 0]).permutation(200)[:20])
    assert idx.tolist() == expected.tolist()  # the documented draw


def test_a_flip_to_a_target_takes_only_samples_of_other_classes() -> None:
    flip = Manipulation(kind="label_flip", fraction=0.25, seed=0, target=2)
    idx = flip.indices(LABELS)
    assert len(idx) == 50 and (LABELS[idx] != 2).all()
    assert (flip.labels(LABELS, 4)[idx] == 2).all()
    with pytest.raises(ValidationError, match=r"manipulation.fraction: expected at most 0.750"):
        Manipulation(kind="label_flip", fraction=0.8, target=2).indices(LABELS)


def test_the_trigger_patch_sits_in_the_bottom_right_corner_of_every_channel() -> None:
    trig = Manipulation(kind="trigger", fraction=0.1, target=0, patch=2)
    x = torch.zeros(3, 2, 4, 4)
    out = trig.stamp(x, 9.0)
    assert (out[:, :, 2:, 2:] == 9.0).all() and out.sum() == 3 * 2 * 4 * 9.0
    assert x.sum() == 0  # a copy
    flat = trig.stamp(torch.zeros(2, 10), 1.0)
    assert flat[:, 6:].eq(1).all() and flat[:, :6].eq(0).all()
    data = _bundle()
    poisoned = Manipulation(kind="trigger", fraction=0.25, target=1, patch=2).apply(data)
    idx = Manipulation(kind="trigger", fraction=0.25, target=1, patch=2).indices(data.train.targets)
    top = float(data.train.x.max())  # default value: max of the clean training inputs
    assert (poisoned.train.x[idx][:, :, 3:, 3:] == top).all()
    assert (poisoned.train.y[idx] == 1).all() and (data.train.targets[idx] != 1).all()
    rest = np.setdiff1d(np.arange(40), idx)
    assert torch.equal(poisoned.train.x[rest], data.train.x[rest])
    assert torch.equal(poisoned.test.x, data.test.x)  # the test split is never changed


class _Backdoored(nn.Module):
    """Predicts class 1 when the bottom-right pixel is at least 1, else the label stored in
    the first pixel (x[..., 0, 0] * 10, rounded)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        label = (x[:, 0, 0, 0] * 10).round().long().clamp(0, 3)
        label = torch.where(x[:, 0, -1, -1] >= 1.0, torch.ones_like(label), label)
        return nn.functional.one_hot(label, 4).float() * 5


def test_trigger_attack_success_and_clean_accuracy_by_hand() -> None:
    y = torch.tensor([0, 1, 2, 3] * 5)
    x = torch.zeros(20, 1, 4, 4)
    x[:, 0, 0, 0] = y.float() / 10
    test_x = x.clone()
    test_x[:4, 0, 0, 0] = 0.3  # labels 0, 1, 2 now predicted 3: three wrong clean predictions
    data = DatasetBundle(ArrayDataset(x, y), ArrayDataset(test_x, y), ("a", "b", "c", "d"), "toy")
    trig = Manipulation(kind="trigger", fraction=0.2, target=1, patch=1, value=1.0)
    r = corrective_metrics(_Backdoored(), data, trig, device="cpu")
    assert r.clean_acc == pytest.approx(17 / 20)
    assert r.attack == 1.0  # every triggered non-target test input goes to class 1
    half = Manipulation(kind="trigger", fraction=0.2, target=1, patch=1, value=0.5)
    assert corrective_metrics(_Backdoored(), data, half, device="cpu").attack == 0.0
    known = trig.indices(data.train.targets)[:2]
    assert corrective_metrics(_Backdoored(), data, trig, known=known, device="cpu").UA == 1.0
    assert math.isnan(r.UA) and r.n_manipulated == 4 and r.n_known == 0


def test_label_flip_attack_success_is_the_share_of_flipped_samples_predicting_the_flip() -> None:
    preds = {
        "indices": np.array([2, 5, 7, 9]),
        "labels": np.array([1, 1, 0, 2]),  # manipulated labels
        "train": np.array([1, 0, 0, 2]),  # predictions on the manipulated samples
        "test": np.array([0, 1, 1]),
        "test_labels": np.array([0, 1, 2]),
        "attack": np.array([1, 0, 1, 1]) == 1,
    }
    r = metrics_from_predictions(preds, known=np.array([5, 9]))
    assert (r.attack, r.UA, r.n_known) == (0.75, 0.5, 2)
    assert r.clean_acc == pytest.approx(2 / 3)
    with pytest.raises(ValidationError, match="known: expected indices of manipulated samples"):
        metrics_from_predictions(preds, known=np.array([3]))


def test_jobs_carry_the_manipulation_as_validated_json() -> None:
    data = {"kind": "trigger", "fraction": 0.1, "target": 0}
    job = UnlearnJob("ga", manipulation=data)
    assert dict(job.manipulation or {}) == Manipulation.from_dict(data).to_dict()
    assert job_from_dict(job_to_dict(job)) == job
    assert TrainJob().manipulation is None
    with pytest.raises(ValidationError, match=r"manipulation\.target: expected a target class"):
        TrainJob(manipulation={"kind": "trigger", "fraction": 0.1})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "noise", "fraction": 0.1}, "manipulation.kind: expected one of"),
        ({"kind": "label_flip", "fraction": 1.0}, "manipulation.fraction: expected a fraction"),
        ({"kind": "label_flip", "fraction": 0.1, "seed": -1}, "manipulation.seed"),
        ({"kind": "label_flip", "fraction": 0.1, "target": "a"}, "manipulation.target"),
        ({"kind": "trigger", "fraction": 0.1, "target": 0, "patch": 0}, "manipulation.patch"),
        (
            {"kind": "trigger", "fraction": 0.1, "target": 0, "value": math.inf},
            "manipulation.value",
        ),
        ({"kind": "trigger", "fraction": 0.1, "colour": 1}, "manipulation: expected keys among"),
    ],
)
def test_bad_manipulations_name_the_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Manipulation.from_dict(fields)


def test_a_manipulation_the_data_cannot_take_is_refused() -> None:
    data = _bundle()
    with pytest.raises(ValidationError, match=r"manipulation\.patch: expected at most"):
        Manipulation(kind="trigger", fraction=0.1, target=0, patch=6).apply(data)
    with pytest.raises(ValidationError, match=r"manipulation\.target: expected a class among"):
        Manipulation(kind="trigger", fraction=0.1, target=7).apply(data)
