"""Tests of analysis.unlearn.retrain: re-initialise, then train on the retain set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from analysis.data import ArrayDataset
from analysis.models import build_model
from analysis.training import TrainConfig, reinitialize, train_model
from analysis.unlearn import Retrain, RetrainParams


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models train fastest, and unaffected by CPU contention, on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(
        "smallcnn", num_classes=3, input_shape=(1, 8, 8), params={"width": 4, "hidden": 8}
    )


def _data() -> tuple[ArrayDataset, ArrayDataset]:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(40, 1, 8, 8, generator=g), torch.arange(40) % 3
    return ArrayDataset(x[:10], y[:10]), ArrayDataset(x[10:], y[10:])


def test_retrain_does_not_depend_on_the_original_weights() -> None:
    forget, retain = _data()
    first, second = _cnn(0), _cnn(1)
    with torch.no_grad():
        for p in second.parameters():
            p.add_(1.0)
    method = Retrain(epochs=2, batch_size=8)
    a = method.run(first, forget, retain, seed=3, device="cpu").model.state_dict()
    b = method.run(second, forget, retain, seed=3, device="cpu").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_retrain_equals_reinitialise_then_train_on_retain() -> None:
    forget, retain = _data()
    result = Retrain(epochs=2, batch_size=8).run(_cnn(0), forget, retain, seed=4, device="cpu")
    manual = reinitialize(_cnn(9), 4)
    config = TrainConfig(epochs=2, batch_size=8, seed=4)
    train_model(manual, retain, config, device="cpu")
    expected, got = manual.state_dict(), result.model.state_dict()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    assert [h["epoch"] for h in result.history] == [1.0, 2.0]


def test_retrain_params_mirror_train_config_without_seed() -> None:
    defaults = TrainConfig()
    config = RetrainParams().config(seed=11)
    assert config == TrainConfig(**{**defaults.__dict__, "seed": 11})
    assert "seed" not in RetrainParams.__dataclass_fields__
