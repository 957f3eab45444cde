"""The lockstep forward pass: plain-forward logits, groups batched apart, hooks removed."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
import torch

from analysis.data import ArrayDataset
from analysis.errors import ValidationError
from analysis.inference import forward_pass
from analysis.models import build_model


@pytest.fixture
def setup() -> tuple[dict[str, torch.nn.Module], ArrayDataset]:
    torch.manual_seed(0)
    models = {
        "a": build_model("smallcnn", num_classes=4, input_shape=(1, 8, 8)),
        "b": build_model("smallcnn", num_classes=4, input_shape=(1, 8, 8)),
    }
    ds = ArrayDataset(torch.randn(53, 1, 8, 8), torch.randint(0, 4, (53,)))
    return models, ds


def test_logits_match_plain_forward_in_dataset_order(setup) -> None:  # type: ignore[no-untyped-def]
    models, ds = setup
    groups = {"forget": np.array([3, 10, 40]), "retain": np.arange(20, 30)}
    out = forward_pass(
        models,
        ds,
        batch_size=8,
        activation_groups=groups,
        layers={"a": ["block1"], "b": ["fc1"]},
        on_activations=lambda g, a: None,
    )
    with torch.no_grad():
        for name, model in models.items():
            np.testing.assert_allclose(out[name].logits, model(ds.x).numpy(), rtol=1e-5, atol=1e-5)


def test_features_are_the_classifier_input_for_requested_rows(setup) -> None:  # type: ignore[no-untyped-def]
    models, ds = setup
    rows = np.array([50, 2, 17])
    out = forward_pass(models, ds, batch_size=16, feature_rows=rows)
    with torch.no_grad():
        expected = models["a"].fc1(
            models["a"].block3(models["a"].block2(models["a"].block1(ds.x[rows])))
        )
    np.testing.assert_allclose(out["a"].features, expected.numpy(), rtol=1e-5, atol=1e-5)


def test_activation_groups_are_batched_apart_and_hooks_removed(setup) -> None:  # type: ignore[no-untyped-def]
    models, ds = setup
    seen: dict[str, list[int]] = {"forget": [], "retain": []}

    def collect(group: str, acts: Mapping[str, Mapping[str, torch.Tensor]]) -> None:
        assert set(acts) == {"a", "b"}
        assert acts["a"]["block2"].ndim == 2  # flattened per sample
        seen[group].append(acts["a"]["block2"].shape[0])

    groups = {"forget": np.arange(0, 5), "retain": np.arange(5, 30)}
    forward_pass(
        models,
        ds,
        batch_size=10,
        activation_groups=groups,
        layers={"a": ["block2"], "b": ["block2", "fc2"]},
        on_activations=collect,
    )
    assert seen == {"forget": [5], "retain": [10, 10, 5]}
    for model in models.values():
        assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_unknown_layer_and_overlapping_groups_are_rejected(setup) -> None:  # type: ignore[no-untyped-def]
    models, ds = setup
    with pytest.raises(ValidationError, match="layers"):
        forward_pass(
            models,
            ds,
            activation_groups={"g": np.arange(3)},
            layers={"a": ["nope"]},
            on_activations=lambda g, a: None,
        )
    with pytest.raises(ValidationError, match="activation_groups"):
        forward_pass(models, ds, activation_groups={"x": np.arange(5), "y": np.arange(3, 8)})
    for model in models.values():
        assert all(not m._forward_hooks for m in model.modules())


def test_activations_reach_the_callback_without_copies(setup) -> None:  # type: ignore[no-untyped-def]
    # The CKA path forms Gram matrices straight from the layer outputs: no per-batch copies.
    models, ds = setup
    outputs: list[int] = []
    handle = models["a"].block1.register_forward_hook(
        lambda _m, _i, out: outputs.append(out.data_ptr())
    )
    handed: list[int] = []
    try:
        forward_pass(
            models,
            ds,
            batch_size=16,
            activation_groups={"g": np.arange(40)},
            layers={"a": ["block1"], "b": ["block1"]},
            on_activations=lambda g, acts: handed.append(acts["a"]["block1"].data_ptr()),
        )
    finally:
        handle.remove()
    assert len(handed) == 3 and handed == outputs[:3]
