"""Tests of analysis.unlearn.rl: random wrong labels for forget samples, trained with retain."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from analysis.data import ArrayDataset
from analysis.errors import ValidationError
from analysis.unlearn import RandomLabel
from analysis.unlearn.base import UnlearningContext
from analysis.unlearn.rl import num_outputs, random_labels, relabel


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models train fastest, and unaffected by CPU contention, on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


CPU = torch.device("cpu")


@settings(max_examples=60, deadline=None)
@given(classes=st.integers(2, 12), n=st.integers(1, 200), seed=st.integers(0, 2**31))
def test_random_labels_never_equal_the_true_label(classes: int, n: int, seed: int) -> None:
    labels = torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(seed + 1))
    drawn = random_labels(labels, classes, generator=torch.Generator().manual_seed(seed))
    assert drawn.dtype == labels.dtype and drawn.shape == labels.shape
    assert bool((drawn != labels).all())
    assert int(drawn.min()) >= 0 and int(drawn.max()) < classes


def test_random_labels_are_uniform_over_the_other_classes_and_seeded() -> None:
    labels = torch.full((9000,), 2)
    drawn = random_labels(labels, 4, generator=torch.Generator().manual_seed(0))
    counts = np.bincount(drawn.numpy(), minlength=4)
    assert counts[2] == 0
    np.testing.assert_allclose(counts[[0, 1, 3]] / 9000, 1 / 3, atol=0.02)
    again = random_labels(labels, 4, generator=torch.Generator().manual_seed(0))
    other = random_labels(labels, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(drawn, again) and not torch.equal(drawn, other)


@pytest.mark.parametrize(
    ("labels", "classes", "match"),
    [
        (torch.tensor([0, 1]), 1, "num_classes"),
        (torch.tensor([0, 5]), 4, "labels"),
        (torch.tensor([-1, 0]), 4, "labels"),
    ],
)
def test_random_labels_validates(labels: torch.Tensor, classes: int, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        random_labels(labels, classes, generator=torch.Generator())


def test_relabel_uses_the_model_width_and_shares_the_inputs() -> None:
    forget = ArrayDataset(torch.randn(50, 3), torch.arange(50) % 7)
    ctx = UnlearningContext(CPU, torch.Generator().manual_seed(0), None, 0)
    model = nn.Linear(3, 7).train()
    relabelled = relabel(model, forget, ctx)
    assert model.training
    assert num_outputs(model, forget, CPU) == 7
    assert relabelled.x.data_ptr() == forget.x.data_ptr()
    assert bool((relabelled.y != forget.y).all()) and int(relabelled.y.max()) < 7


def test_rl_makes_a_forgotten_class_unrecognised_and_keeps_the_others() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(120, 5, generator=g)
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
    forgotten = y == 3
    forget, retain = (
        ArrayDataset(x[forgotten], y[forgotten]),
        ArrayDataset(x[~forgotten], y[~forgotten]),
    )
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 4))
    with torch.no_grad():
        model[2].bias[3] += 5.0  # the original predicts class 3 everywhere
    result = RandomLabel(epochs=15, lr=0.05, batch_size=32).run(model, forget, retain, device="cpu")
    with torch.no_grad():
        forget_acc = float((result.model(forget.x).argmax(1) == forget.y).float().mean())
        retain_acc = float((result.model(retain.x).argmax(1) == retain.y).float().mean())
        original_forget_acc = float((model(forget.x).argmax(1) == forget.y).float().mean())
    assert original_forget_acc == 1.0
    assert forget_acc < 0.2 and retain_acc > 0.8
