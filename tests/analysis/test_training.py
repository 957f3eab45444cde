"""Tests of analysis.training: seeded SGD training, batching, evaluation and re-initialisation."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from analysis.data import ArrayDataset
from analysis.errors import ValidationError
from analysis.models import build_model
from analysis.training import (
    ProgressEvent,
    TrainConfig,
    accuracy,
    count_train_batches,
    fit_epochs,
    predict_logits,
    reinitialize,
    train_batches,
    train_model,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models train fastest, and unaffected by CPU contention, on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


CPU = torch.device("cpu")


def _blobs(n: int = 60, classes: int = 3, dim: int = 5, seed: int = 0) -> ArrayDataset:
    """Linearly separable Gaussian blobs."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 4.0, size=(classes, dim))
    y = np.arange(n) % classes
    x = centres[y] + rng.normal(0.0, 0.5, size=(n, dim))
    return ArrayDataset(x.astype(np.float32), y)


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _linear(seed: int, dim: int = 5, classes: int = 3) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(dim, classes)


# --------------------------------------------------------------------------- TrainConfig


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("epochs", 1.5),
        ("lr", 0.0),
        ("lr", float("nan")),
        ("batch_size", 0),
        ("momentum", 1.0),
        ("weight_decay", -1e-4),
        ("seed", True),
        ("schedule", "step"),
    ],
)
def test_train_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=f"TrainConfig.{field}"):
        TrainConfig(**{field: value})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- training


def test_train_model_learns_separable_data_and_records_history() -> None:
    data = _blobs()
    model = _linear(0)
    result = train_model(
        model,
        data,
        TrainConfig(epochs=5, lr=0.1, batch_size=16),
        device="cpu",
        eval_sets={"train": data},
    )
    assert result.model is model and not model.training
    assert [h["epoch"] for h in result.history] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    # accuracy recomputed independently with numpy
    with torch.no_grad():
        logits = (data.x @ model.weight.T + model.bias).numpy()
    expected = float(np.mean(logits.argmax(1) == data.targets))
    assert expected > 0.95
    assert result.history[-1]["train_accuracy"] == pytest.approx(expected)
    assert result.seconds > 0


def test_one_full_batch_step_matches_the_sgd_formula() -> None:
    """No schedule, no momentum, no weight decay: w <- w - lr * dCE/dw (computed in numpy)."""
    data = _blobs(n=12)
    model = _linear(1)
    w0, b0 = model.weight.detach().numpy().copy(), model.bias.detach().numpy().copy()
    config = TrainConfig(
        epochs=1, lr=0.3, batch_size=64, momentum=0.0, weight_decay=0.0, schedule="none"
    )
    train_model(model, data, config, device="cpu")
    x, y = data.x.numpy().astype(np.float64), data.targets
    z = x @ w0.T + b0
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    delta = (p - np.eye(3)[y]) / len(y)
    np.testing.assert_allclose(model.weight.detach().numpy(), w0 - 0.3 * delta.T @ x, atol=1e-5)
    np.testing.assert_allclose(model.bias.detach().numpy(), b0 - 0.3 * delta.sum(0), atol=1e-5)


def test_cosine_schedule_changes_the_trajectory() -> None:
    data = _blobs()
    runs = {}
    for schedule in ("cosine", "none"):
        model = _linear(0)
        train_model(
            model, data, TrainConfig(epochs=2, batch_size=16, schedule=schedule), device="cpu"
        )
        runs[schedule] = _weights(model)
    assert not _same(runs["cosine"], runs["none"])


def test_train_model_is_deterministic_per_seed_and_keeps_global_rng() -> None:
    data = _blobs()
    runs = []
    for seed in (0, 0, 1):
        model = _linear(0)
        state = torch.get_rng_state()
        train_model(model, data, TrainConfig(epochs=2, batch_size=8, seed=seed), device="cpu")
        assert torch.equal(torch.get_rng_state(), state)
        runs.append(_weights(model))
    assert _same(runs[0], runs[1])
    assert not _same(runs[0], runs[2])


def test_train_model_progress_reports_every_step_in_order() -> None:
    data = _blobs(n=50)
    events: list[ProgressEvent] = []
    train_model(
        _linear(0), data, TrainConfig(epochs=3, batch_size=16), device="cpu", progress=events.append
    )
    steps = 3 * count_train_batches(50, 16)
    assert [e.step for e in events] == list(range(1, steps + 1))
    assert {e.steps for e in events} == {steps} and {e.epochs for e in events} == {3}
    assert [e.epoch for e in events] == sorted(e.epoch for e in events)
    assert all(np.isfinite(e.metrics["loss"]) for e in events)


def test_batchnorm_model_trains_when_a_single_sample_would_be_left_over() -> None:
    data = _blobs(n=9)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3))
    result = train_model(model, data, TrainConfig(epochs=2, batch_size=4), device="cpu")
    assert len(result.history) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "not a model"}, "model"),
        ({"dataset": (torch.zeros(3, 2), torch.zeros(3))}, "dataset"),
        ({"dataset": ArrayDataset(torch.zeros(0, 5), torch.zeros(0))}, "non-empty"),
        ({"config": {"epochs": 1}}, "config"),
        ({"eval_sets": {"test": [1, 2]}}, "eval_sets"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_train_model_validates_inputs(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"model": _linear(0), "dataset": _blobs(), "config": TrainConfig()}
    options = {k: kwargs.pop(k) for k in ("eval_sets", "device") if k in kwargs}
    args.update(kwargs)
    with pytest.raises(ValidationError, match=match):
        train_model(args["model"], args["dataset"], args["config"], **options)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- batching


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 30), min_size=1, max_size=3),
    batch_size=st.integers(1, 17),
    seed=st.integers(0, 1000),
)
def test_train_batches_cover_the_union_once(sizes: list[int], batch_size: int, seed: int) -> None:
    offsets = np.cumsum([0, *sizes])
    parts = [
        ArrayDataset(torch.arange(o, o + n, dtype=torch.float32)[:, None], torch.arange(o, o + n))
        for o, n in zip(offsets[:-1], sizes, strict=True)
    ]
    batches = list(
        train_batches(parts, batch_size, generator=torch.Generator().manual_seed(seed), device=CPU)
    )
    assert len(batches) == count_train_batches(sum(sizes), batch_size)
    seen = torch.cat([y for _, y in batches]).numpy()
    xs = torch.cat([x[:, 0] for x, _ in batches]).numpy()
    np.testing.assert_array_equal(xs, seen)  # rows stay paired with their labels
    assert len(np.unique(seen)) == len(seen)
    missing = sum(sizes) - len(seen)
    assert missing == (1 if sum(sizes) > batch_size and sum(sizes) % batch_size == 1 else 0)


def test_train_batches_shuffle_is_seeded() -> None:
    ds = ArrayDataset(torch.zeros(20, 1), torch.arange(20))

    def order(seed: int) -> list[int]:
        g = torch.Generator().manual_seed(seed)
        return torch.cat([y for _, y in train_batches(ds, 7, generator=g, device=CPU)]).tolist()

    assert order(3) == order(3)
    assert order(3) != order(4)


# --------------------------------------------------------------------------- evaluation


def test_predict_logits_and_accuracy_match_a_direct_computation() -> None:
    data = _blobs(n=37)
    model = _linear(2).train()
    logits = predict_logits(model, data, device="cpu", batch_size=8)
    with torch.no_grad():
        expected = data.x @ model.weight.T + model.bias
    torch.testing.assert_close(logits, expected)
    assert model.training  # mode restored
    direct = float((expected.argmax(1) == data.y).float().mean())
    assert accuracy(model, data, device="cpu", batch_size=5) == pytest.approx(direct)


def test_accuracy_of_empty_dataset_warns_and_is_nan() -> None:
    empty = ArrayDataset(torch.zeros(0, 5), torch.zeros(0))
    with pytest.warns(UserWarning, match="empty"):
        assert np.isnan(accuracy(_linear(0), empty, device="cpu"))


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_predict_logits_rejects_bad_batch_size(batch_size: object) -> None:
    with pytest.raises(ValidationError, match="batch_size"):
        predict_logits(_linear(0), _blobs(), device="cpu", batch_size=batch_size)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- reinitialize


def test_reinitialize_matches_fresh_construction_and_ignores_current_weights() -> None:
    torch.manual_seed(123)
    fresh = build_model("smallcnn", num_classes=10, input_shape=(1, 8, 8))
    other = build_model("smallcnn", num_classes=10, input_shape=(1, 8, 8))
    with torch.no_grad():
        for p in other.parameters():
            p.fill_(7.0)
    reinitialize(other, 123)
    assert _same(_weights(fresh), _weights(other))
    assert not _same(_weights(reinitialize(other, 124)), _weights(fresh))


def test_reinitialize_resets_batchnorm_statistics() -> None:
    bn = nn.BatchNorm1d(3)
    bn.train()(torch.randn(8, 3) * 5 + 2)
    assert not torch.equal(bn.running_mean, torch.zeros(3))
    reinitialize(bn, 0)
    assert torch.equal(bn.running_mean, torch.zeros(3))
    assert torch.equal(bn.running_var, torch.ones(3))


def test_reinitialize_warns_about_parameters_it_cannot_reset() -> None:
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))
            self.lin = nn.Linear(2, 2)

    with pytest.warns(UserWarning, match="reset_parameters"):
        reinitialize(Scaled(), 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reinitialize(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), 0)


def test_reinitialize_validates_seed() -> None:
    with pytest.raises(ValidationError, match="seed"):
        reinitialize(nn.Linear(2, 2), "0")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"datasets": []}, "at least one"),
        ({"datasets": [ArrayDataset(torch.zeros(0, 5), torch.zeros(0))]}, "non-empty"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"clip_norm": -1.0}, "clip_norm"),
    ],
)
def test_fit_epochs_validates_inputs(kwargs: dict[str, object], match: str) -> None:
    model = _linear(0)
    args: dict[str, object] = {
        "datasets": _blobs(),
        "epochs": 1,
        "batch_size": 8,
        "clip_norm": None,
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
        "loss_fn": lambda x, y, _: nn.functional.cross_entropy(model(x), y),
        "generator": torch.Generator(),
        "device": CPU,
    }
    args.update(kwargs)
    datasets = args.pop("datasets")
    with pytest.raises(ValidationError, match=match):
        fit_epochs(model, datasets, **args)  # type: ignore[arg-type]


def test_adam_augmentation_and_epoch_hooks() -> None:
    g = torch.Generator().manual_seed(0)
    images = ArrayDataset(torch.randn(48, 1, 6, 6, generator=g), torch.arange(48) % 3)
    config = TrainConfig(epochs=3, batch_size=16, optimizer="adam", augmentation="crop_flip")
    seen: list[int] = []

    def hook(epoch: int, model: nn.Module) -> dict[str, float]:
        seen.append(epoch)
        return {"probe": float(epoch)}

    def build() -> nn.Module:
        torch.manual_seed(0)
        return build_model("smallcnn", num_classes=3, input_shape=(1, 6, 6), params={"width": 2})

    first = train_model(build(), images, config, device="cpu", end_of_epoch=hook)
    again = train_model(build(), images, config, device="cpu")
    plain = train_model(build(), images, TrainConfig(epochs=3, batch_size=16, optimizer="adam"))
    assert seen == [1, 2, 3] and [h["probe"] for h in first.history] == [1.0, 2.0, 3.0]
    a, b, c = (dict(r.model.state_dict()) for r in (first, again, plain))
    assert all(torch.equal(a[k], b[k]) for k in a)  # augmentation draws are seeded
    assert not all(torch.equal(a[k], c[k]) for k in a)  # and they change the training
    stopped = train_model(build(), images, config, device="cpu", should_stop=lambda: True)
    assert len(stopped.history) == 1
