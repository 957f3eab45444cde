"""Tests of analysis.unlearn.l1sparse: fine-tuning with a linearly decaying ℓ1 penalty."""

from __future__ import annotations

import types
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

import analysis.unlearn.l1sparse as l1_module
from analysis.data import ArrayDataset
from analysis.training import ProgressEvent, count_train_batches
from analysis.unlearn import FineTune, L1Sparse
from analysis.unlearn.l1sparse import l1_norm


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models train fastest, and unaffected by CPU contention, on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _setup() -> tuple[nn.Module, ArrayDataset, ArrayDataset]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 6, generator=g)
    y = (x[:, 0] > 0).long()
    torch.manual_seed(0)
    return (
        nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2)),
        ArrayDataset(x[:10], y[:10]),
        ArrayDataset(x[10:], y[10:]),
    )


def test_l1_norm_matches_numpy_and_skips_frozen_parameters() -> None:
    model, _, _ = _setup()
    expected = sum(np.abs(p.detach().numpy()).sum() for p in model.parameters())
    assert l1_norm(model).item() == pytest.approx(expected, rel=1e-6)
    model[0].weight.requires_grad_(False)
    frozen = np.abs(model[0].weight.numpy()).sum()
    assert l1_norm(model).item() == pytest.approx(expected - frozen, rel=1e-6)


def test_zero_alpha_is_exactly_fine_tuning() -> None:
    model, forget, retain = _setup()
    common = {"epochs": 2, "lr": 0.05, "batch_size": 8}
    a = L1Sparse(alpha=0.0, **common).run(model, forget, retain, seed=1, device="cpu").model
    b = FineTune(**common).run(model, forget, retain, seed=1, device="cpu").model
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_penalty_shrinks_the_weights() -> None:
    model, forget, retain = _setup()
    common = {"epochs": 3, "lr": 0.05, "batch_size": 8, "weight_decay": 0.0}
    plain = L1Sparse(alpha=0.0, **common).run(model, forget, retain, device="cpu").model
    sparse = L1Sparse(alpha=0.01, **common).run(model, forget, retain, device="cpu").model
    with torch.no_grad():
        assert float(l1_norm(sparse)) < float(l1_norm(plain))


def test_penalty_weight_decays_linearly_to_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    """With CE patched to 0 and ‖w‖₁ to 1, each step's loss is exactly alpha·(1 − t/T)."""
    model, forget, retain = _setup()

    def zero_ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return logits.sum() * 0.0

    def unit_norm(m: nn.Module) -> torch.Tensor:
        return sum(p.sum() for p in m.parameters()) * 0.0 + 1.0  # type: ignore[return-value]

    monkeypatch.setattr(l1_module, "F", types.SimpleNamespace(cross_entropy=zero_ce))
    monkeypatch.setattr(l1_module, "l1_norm", unit_norm)
    events: list[ProgressEvent] = []
    L1Sparse(epochs=3, alpha=0.2, batch_size=16).run(
        model, forget, retain, device="cpu", progress=events.append
    )
    total = 3 * count_train_batches(len(retain), 16)
    expected = [0.2 * (1 - t / total) for t in range(total)]
    np.testing.assert_allclose([e.metrics["loss"] for e in events], expected, rtol=1e-6)
