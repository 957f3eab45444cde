"""Tests of analysis.unlearn.ft: fine-tuning on the retain set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from analysis.data import ArrayDataset
from analysis.unlearn import FineTune


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models train fastest, and unaffected by CPU contention, on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _setup() -> tuple[nn.Module, ArrayDataset, ArrayDataset]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 4, generator=g)
    y = (x[:, 0] > 0).long()
    torch.manual_seed(0)
    return nn.Linear(4, 2), ArrayDataset(x[:10], y[:10]), ArrayDataset(x[10:], y[10:])


def test_ft_lowers_the_retain_loss() -> None:
    model, forget, retain = _setup()
    result = FineTune(epochs=5, lr=0.1, batch_size=10).run(model, forget, retain, device="cpu")
    with torch.no_grad():
        before = F.cross_entropy(model(retain.x), retain.y)
        after = F.cross_entropy(result.model(retain.x), retain.y)
    assert after < before - 0.05


def test_ft_ignores_the_forget_set() -> None:
    model, forget, retain = _setup()
    other = ArrayDataset(torch.randn(3, 4), torch.zeros(3))
    method = FineTune(epochs=2, batch_size=8)
    a = method.run(model, forget, retain, seed=1, device="cpu").model
    b = method.run(model, other, retain, seed=1, device="cpu").model
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
