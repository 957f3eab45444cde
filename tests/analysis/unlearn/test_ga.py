"""Tests of analysis.unlearn.ga: gradient ascent with gradient-norm clipping."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from analysis.data import ArrayDataset, load_dataset, resolve_forget_set
from analysis.models import build_model
from analysis.training import TrainConfig, accuracy, reinitialize, train_model
from analysis.unlearn import GradientAscent


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models train fastest, and unaffected by CPU contention, on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _data() -> tuple[nn.Module, ArrayDataset]:
    g = torch.Generator().manual_seed(0)
    forget = ArrayDataset(torch.randn(24, 6, generator=g), torch.arange(24) % 3)
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)), forget


def _displacement(a: nn.Module, b: nn.Module) -> float:
    pairs = zip(a.parameters(), b.parameters(), strict=True)
    with torch.no_grad():
        return float(torch.sqrt(sum(((p - q) ** 2).sum() for p, q in pairs)))


@pytest.mark.parametrize("clip", [1e-3, 0.02])
def test_one_step_moves_the_weights_by_exactly_lr_times_the_clip(clip: float) -> None:
    model, forget = _data()
    loss = F.cross_entropy(model(forget.x), forget.y)
    grad_norm = float(
        torch.sqrt(sum((g**2).sum() for g in torch.autograd.grad(loss, list(model.parameters()))))
    )
    assert grad_norm > clip  # the clip is active
    method = GradientAscent(
        epochs=1, lr=1.0, batch_size=64, momentum=0.0, weight_decay=0.0, clip_norm=clip
    )
    moved = _displacement(model, method.run(model, forget, forget, device="cpu").model)
    assert moved == pytest.approx(clip, rel=1e-4)


def test_without_an_active_clip_the_step_is_the_plain_ascent_step() -> None:
    model, forget = _data()
    loss = F.cross_entropy(model(forget.x), forget.y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    method = GradientAscent(
        epochs=1, lr=0.5, batch_size=64, momentum=0.0, weight_decay=0.0, clip_norm=1e6
    )
    result = method.run(model, forget, forget, device="cpu").model
    for p, q, g in zip(model.parameters(), result.parameters(), grads, strict=True):
        torch.testing.assert_close(q, p + 0.5 * g)  # ascent: + lr * gradient


def test_clipping_bounds_every_step_over_a_longer_run() -> None:
    model, forget = _data()
    steps = 3 * 3  # 3 epochs of ceil(24 / 8) batches
    method = GradientAscent(
        epochs=3, lr=0.1, batch_size=8, momentum=0.0, weight_decay=0.0, clip_norm=0.05
    )
    moved = _displacement(model, method.run(model, forget, forget, device="cpu").model)
    assert moved <= steps * 0.1 * 0.05 * (1 + 1e-5)


def test_gradient_ascent_raises_the_forget_loss() -> None:
    model, forget = _data()
    with torch.no_grad():
        before = float(F.cross_entropy(model(forget.x), forget.y))
    result = GradientAscent(epochs=3, lr=0.05, batch_size=8).run(
        model, forget, forget, device="cpu"
    )
    with torch.no_grad():
        after = float(F.cross_entropy(result.model(forget.x), forget.y))
    assert after > before + 0.1
    assert all(h["loss"] < 0 for h in result.history)  # the optimised loss is minus the CE


@pytest.mark.slow
def test_classwise_gradient_ascent_forgets_class_3_of_digits() -> None:
    data = load_dataset({"kind": "digits", "seed": 0})
    model = reinitialize(build_model("smallcnn", num_classes=10, input_shape=(1, 8, 8)), 0)
    train_model(model, data.train, TrainConfig(seed=0), device="cpu")
    fs = resolve_forget_set("cw", {"classes": [3]}, data.train.targets)
    keep = np.setdiff1d(np.arange(len(data.train)), fs.indices)
    forget, retain = data.train.subset(fs.indices), data.train.subset(keep)
    result = GradientAscent().run(model, forget, retain, seed=0, device="cpu")
    test_retain = data.test.subset(np.flatnonzero(data.test.targets != 3))
    assert accuracy(model, forget, device="cpu") > 0.95
    assert accuracy(result.model, forget, device="cpu") <= 0.2
    assert accuracy(result.model, test_retain, device="cpu") >= 0.85
