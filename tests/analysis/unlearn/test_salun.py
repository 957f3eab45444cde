"""Tests of analysis.unlearn.salun: saliency masks and masked random labelling."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from analysis.data import ArrayDataset
from analysis.models import build_model
from analysis.unlearn import RandomLabel, SalUn
from analysis.unlearn.salun import saliency_mask


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models train fastest, and unaffected by CPU contention, on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


CPU = torch.device("cpu")


def _setup() -> tuple[nn.Module, ArrayDataset, ArrayDataset]:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(48, 1, 8, 8, generator=g), torch.arange(48) % 4
    torch.manual_seed(0)
    model = build_model(
        "smallcnn", num_classes=4, input_shape=(1, 8, 8), params={"width": 4, "hidden": 8}
    )
    return model, ArrayDataset(x[:16], y[:16]), ArrayDataset(x[16:], y[16:])


def _abs_grad(model: nn.Module, forget: ArrayDataset) -> list[np.ndarray]:
    """Reference saliency: |d mean CE / dw| over the whole forget set in one pass."""
    model.eval()
    loss = F.cross_entropy(model(forget.x), forget.y)
    return [g.abs().numpy() for g in torch.autograd.grad(loss, list(model.parameters()))]


@pytest.mark.parametrize("share", [0.1, 0.5])
def test_global_mask_selects_the_top_share_of_all_gradients(share: float) -> None:
    model, forget, _ = _setup()
    masks = saliency_mask(model, forget, share=share, device=CPU, batch_size=5)
    scores = np.concatenate([s.ravel() for s in _abs_grad(model, forget)])
    chosen = np.concatenate([m.numpy().ravel() for m in masks])
    assert chosen.sum() == round(share * scores.size)
    # every selected score is at least every unselected one (up to float noise of batching)
    assert scores[chosen].min() >= scores[~chosen].max() - 1e-7


def test_per_tensor_mask_selects_the_share_of_each_tensor() -> None:
    model, forget, _ = _setup()
    masks = saliency_mask(model, forget, share=0.3, scope="per_tensor", device=CPU)
    for mask, scores in zip(masks, _abs_grad(model, forget), strict=True):
        m = mask.numpy()
        assert m.sum() == max(1, round(0.3 * m.size))
        assert scores[m].min() >= scores[~m].max() - 1e-7


def test_masked_out_weights_stay_bit_identical_despite_momentum_and_weight_decay() -> None:
    model, forget, retain = _setup()
    masks = saliency_mask(model, forget, share=0.3, device=CPU, batch_size=256)
    method = SalUn(epochs=3, lr=0.05, batch_size=8, momentum=0.9, weight_decay=5e-3, mask_share=0.3)
    result = method.run(model, forget, retain, device="cpu")
    changed_in = 0
    for before, after, mask in zip(
        model.parameters(), result.model.parameters(), masks, strict=True
    ):
        assert torch.equal(after[~mask], before[~mask])
        changed_in += int((after[mask] != before[mask]).sum())
    assert changed_in > 0.5 * sum(int(m.sum()) for m in masks)
    assert result.history[0]["mask_share"] == pytest.approx(0.3, abs=1e-3)


def test_full_mask_is_exactly_random_labelling() -> None:
    model, forget, retain = _setup()
    common = {"epochs": 2, "lr": 0.05, "batch_size": 8}
    salun = SalUn(mask_share=1.0, **common).run(model, forget, retain, seed=2, device="cpu")
    rl = RandomLabel(**common).run(model, forget, retain, seed=2, device="cpu")
    for p, q in zip(salun.model.parameters(), rl.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_frozen_parameters_are_never_selected() -> None:
    model, forget, _ = _setup()
    frozen = model.get_submodule("block1")[0].weight
    frozen.requires_grad_(False)
    masks = saliency_mask(model, forget, share=1.0, device=CPU)
    by_param = dict(zip([id(p) for p in model.parameters()], masks, strict=True))
    assert not by_param[id(frozen)].any()
    assert all(m.all() for p, m in zip(model.parameters(), masks, strict=True) if p.requires_grad)
