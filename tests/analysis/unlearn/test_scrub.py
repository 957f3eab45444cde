"""Tests of analysis.unlearn.scrub: the distillation loss and the max-min schedule."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from analysis.data import ArrayDataset
from analysis.unlearn import FineTune, Scrub
from analysis.unlearn.scrub import distill_kl


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models train fastest, and unaffected by CPU contention, on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _setup() -> tuple[nn.Module, ArrayDataset, ArrayDataset]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 5, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
    return model, ArrayDataset(x[:12], y[:12]), ArrayDataset(x[12:], y[12:])


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_distill_kl_matches_the_numpy_formula(temperature: float) -> None:
    g = torch.Generator().manual_seed(1)
    student, teacher = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g) * 3

    def softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    ps = softmax(student.double().numpy() / temperature)
    pt = softmax(teacher.double().numpy() / temperature)
    expected = np.mean(np.sum(pt * (np.log(pt) - np.log(ps)), axis=1)) * temperature**2
    assert float(distill_kl(student, teacher, temperature)) == pytest.approx(expected, rel=1e-5)
    assert float(distill_kl(teacher, teacher, temperature)) == pytest.approx(0.0, abs=1e-6)


def test_without_max_steps_and_distillation_scrub_is_fine_tuning() -> None:
    model, forget, retain = _setup()
    common = {"epochs": 2, "lr": 0.05, "batch_size": 8}
    scrub = Scrub(max_epochs=0, alpha=0.0, gamma=1.0, **common)
    a = scrub.run(model, forget, retain, seed=3, device="cpu").model
    b = FineTune(**common).run(model, forget, retain, seed=3, device="cpu").model
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_max_steps_move_forget_predictions_away_from_the_teacher() -> None:
    model, forget, retain = _setup()
    result = Scrub(epochs=3, max_epochs=2, lr=0.05, batch_size=16, forget_batch_size=4).run(
        model, forget, retain, device="cpu"
    )
    with torch.no_grad():
        kl_forget = float(distill_kl(result.model(forget.x), model(forget.x), 4.0))
        kl_retain = float(distill_kl(result.model(retain.x), model(retain.x), 4.0))
    assert kl_forget > 0.05 and kl_forget > kl_retain
    keys = [sorted(h) for h in result.history]
    assert keys == [["epoch", "forget_kl", "loss"]] * 2 + [["epoch", "loss"]]
    assert result.history[1]["forget_kl"] > 0


def test_teacher_is_a_frozen_copy_so_the_callers_model_keeps_its_gradients_off() -> None:
    model, forget, retain = _setup()
    Scrub(epochs=1, max_epochs=1, batch_size=16).run(model, forget, retain, device="cpu")
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
