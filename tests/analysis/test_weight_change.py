"""Tests of analysis.weight_change against hand-computed norms."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from analysis.errors import ValidationError
from analysis.weight_change import WeightChange, weight_change


class Net(nn.Module):
    """conv (weight + bias), bn (weight + bias, plus buffers), a parameter-free ReLU, fc."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.act = nn.ReLU()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, width, bias=False))


def set_parameters(model: nn.Module, value_of: dict[str, float]) -> None:
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.fill_(value_of[name])


VALUES_A = {
    "conv.weight": 1.0,
    "conv.bias": 2.0,
    "bn.weight": 3.0,
    "bn.bias": 0.0,
    "head.1.weight": 0.5,
}
VALUES_B = {
    "conv.weight": 1.5,
    "conv.bias": 2.0,
    "bn.weight": 3.0,
    "bn.bias": 1.0,
    "head.1.weight": 0.5,
}


def test_hand_computed_case():
    a, b = Net(), Net()
    set_parameters(a, VALUES_A)
    set_parameters(b, VALUES_B)
    with torch.no_grad():
        b.bn.running_mean.fill_(100.0)  # buffers are not parameters: ignored
    wc = weight_change(a, b)
    assert isinstance(wc, WeightChange)
    assert wc.layers == ("conv", "bn", "head.1")
    # conv: 18 weights 1 -> 1.5, 2 biases 2 -> 2; ‖A‖ = sqrt(18·1 + 2·4), ‖B−A‖ = sqrt(18·0.25)
    # bn: weights 3, 3 and biases 0 -> 1; ‖A‖ = sqrt(18), ‖B−A‖ = sqrt(2)
    # head.1: unchanged 4×32 weights of 0.5
    expected_abs = [math.sqrt(18 * 0.25), math.sqrt(2.0), 0.0]
    expected_rel = [math.sqrt(4.5) / math.sqrt(26.0), math.sqrt(2.0) / math.sqrt(18.0), 0.0]
    np.testing.assert_allclose(wc.absolute, expected_abs, rtol=1e-12)
    np.testing.assert_allclose(wc.relative, expected_rel, rtol=1e-12)
    assert wc.relative.dtype == np.float64 and wc.absolute.dtype == np.float64


def test_matches_numpy_on_random_weights():
    torch.manual_seed(0)
    a, b = Net(), Net()
    wc = weight_change(a, b, layers=["head.1", "conv"])
    assert wc.layers == ("head.1", "conv")
    for i, layer in enumerate(wc.layers):
        pa = [p.detach().double().numpy().ravel() for p in a.get_submodule(layer).parameters()]
        pb = [p.detach().double().numpy().ravel() for p in b.get_submodule(layer).parameters()]
        wa, wb = np.concatenate(pa), np.concatenate(pb)
        assert wc.absolute[i] == pytest.approx(np.linalg.norm(wb - wa), rel=1e-12)
        assert wc.relative[i] == pytest.approx(np.linalg.norm(wb - wa) / np.linalg.norm(wa))


def test_identical_models_give_zeros():
    a = Net()
    wc = weight_change(a, copy.deepcopy(a))
    np.testing.assert_array_equal(wc.absolute, 0.0)
    np.testing.assert_array_equal(wc.relative, 0.0)


def test_mixed_precision_models_are_compared_in_float64():
    a = Net()
    b = copy.deepcopy(a).to(torch.float16)
    wc = weight_change(a, b)
    assert (wc.relative < 1e-3).all()  # only float16 rounding


def test_zero_reference_layer_warns_and_gives_nan():
    a, b = Net(), Net()
    set_parameters(a, {**VALUES_A, "bn.weight": 0.0})
    set_parameters(b, VALUES_B)
    with pytest.warns(RuntimeWarning, match=r"\['bn'\]"):
        wc = weight_change(a, b)
    assert np.isnan(wc.relative[1])
    assert wc.absolute[1] == pytest.approx(math.sqrt(2 * 9.0 + 2 * 1.0))
    assert np.isfinite(wc.relative[[0, 2]]).all()


def test_mismatched_shapes_name_the_parameter_and_both_shapes():
    with pytest.raises(
        ValidationError, match=r"^model_b: .*'head\.1\.weight'.*\(4, 32\).*\(5, 32\)"
    ):
        weight_change(Net(4), Net(5))


def test_mismatched_names_are_rejected():
    a = nn.Sequential(nn.Linear(2, 2))
    b = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 2))
    with pytest.raises(ValidationError, match=r"'0\.bias'.*\(2,\).*'1\.weight'.*\(2, 2\)"):
        weight_change(a, b)


@pytest.mark.parametrize("layers", [["act"], ["nope"], [], "conv", ["conv", "conv"]])
def test_bad_layers(layers):
    with pytest.raises(ValidationError, match=r"^layers: expected"):
        weight_change(Net(), Net(), layers=layers)


def test_non_module_arguments():
    with pytest.raises(ValidationError, match=r"^model_a: expected a torch.nn.Module"):
        weight_change({"w": torch.zeros(2)}, Net())  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"^model_b: expected a torch.nn.Module"):
        weight_change(Net(), None)  # type: ignore[arg-type]


def test_result_is_read_only():
    wc = weight_change(Net(), Net())
    with pytest.raises(ValueError):
        wc.relative[0] = 1.0


def test_named_blocks_aggregate_their_children_parameters():
    torch.manual_seed(0)
    a = nn.Sequential(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), nn.Linear(2, 1))
    b = copy.deepcopy(a)
    with torch.no_grad():
        for p in b.parameters():
            p.add_(0.1 * torch.randn_like(p))
    wc = weight_change(a, b, layers=["0", "1"])
    block_a = np.concatenate([p.detach().numpy().ravel() for p in a[0].parameters()])
    block_b = np.concatenate([p.detach().numpy().ravel() for p in b[0].parameters()])
    expected = np.linalg.norm(block_b - block_a) / np.linalg.norm(block_a)
    assert wc.layers == ("0", "1")
    assert wc.relative[0] == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValidationError, match="layers"):
        weight_change(a, b, layers=["0.1"])  # a ReLU has no parameters
