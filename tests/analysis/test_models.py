"""Tests of analysis.models: architectures, layer discovery and safe weight loading."""

from __future__ import annotations

import os
import shlex
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from analysis.errors import UnsafeFileError, ValidationError, WeightsError
from analysis.models import (
    MLP,
    available_architectures,
    build_model,
    classifier_layer,
    discover_layers,
    load_weights_into,
    read_weights,
    save_weights,
)
from analysis.trust import ResourceLimitError, UntrustedCodeError, trust_policy

# --------------------------------------------------------------------------- architectures


@pytest.mark.parametrize(
    ("arch", "input_shape", "params"),
    [
        ("smallcnn", (1, 8, 8), None),
        ("smallcnn", (3, 6, 6), {"width": 4, "hidden": 8}),
        ("mlp", (20,), None),
        ("mlp", (1, 6, 6), {"hidden": [5]}),
        ("resnet18_cifar", (3, 32, 32), {"width": 16}),
    ],
)
def test_registry_architecture_builds_and_runs(
    arch: str, input_shape: tuple[int, ...], params: dict[str, Any] | None
) -> None:
    assert arch in available_architectures()
    model = build_model(arch, num_classes=7, input_shape=input_shape, params=params)
    assert not model.training
    with torch.no_grad():
        out = model(torch.randn(2, *input_shape))
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    assert classifier_layer(model)[1].out_features == 7


def test_resnet18_cifar_structure() -> None:
    model = build_model("resnet18_cifar", num_classes=10, input_shape=(3, 32, 32))
    stem = model.get_submodule("conv1")
    assert isinstance(stem, nn.Conv2d) and stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    assert stem.out_channels == 64
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    blocks = [n for n, _ in model.named_children() if n.startswith("layer")]
    assert blocks == ["layer1", "layer2", "layer3", "layer4"]
    assert all(len(list(model.get_submodule(b).children())) == 2 for b in blocks)


def test_image_architecture_refuses_flat_input_shape() -> None:
    with pytest.raises(ValidationError, match=r"smallcnn input_shape: expected \(channels, h"):
        build_model("smallcnn", num_classes=3, input_shape=(64,))


def test_unknown_architecture_lists_the_options() -> None:
    with pytest.raises(ValidationError) as info:
        build_model("resnet1000", num_classes=3, input_shape=(4,))
    message = str(info.value)
    assert message.startswith("architecture: expected one of")
    assert all(name in message for name in ("'mlp'", "'resnet18_cifar'", "'smallcnn'"))
    assert "module:function" in message and message.endswith("received 'resnet1000'")


def test_architecture_params_rejected_by_factory_are_named() -> None:
    with pytest.raises(ValidationError, match=r"architecture 'mlp' params: .*\{'depth': 3\}"):
        build_model("mlp", num_classes=3, input_shape=(4,), params={"depth": 3})


@pytest.fixture
def arch_module(tmp_path: Path) -> str:
    """A module (unique name) with model factories in the workspace ``tmp_path``."""
    name = f"ulens_test_arch_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        "import math\n"
        "from torch import nn\n\n"
        "def with_shape(num_classes, input_shape, hidden=4):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), hidden),\n"
        "                         nn.ReLU(), nn.Linear(hidden, num_classes))\n\n"
        "def classes_only(num_classes):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(12, num_classes))\n\n"
        "def not_a_model(num_classes, input_shape):\n"
        "    return 'model'\n",
        encoding="utf-8",
    )
    return name


def test_module_function_architectures(arch_module: str, tmp_path: Path) -> None:
    model = build_model(
        f"{arch_module}:with_shape",
        num_classes=3,
        input_shape=(2, 3),
        params={"hidden": 5},
        workspace=tmp_path,
    )
    assert not model.training and model(torch.zeros(4, 2, 3)).shape == (4, 3)
    assert classifier_layer(model)[1].in_features == 5
    simple = build_model(
        f"{arch_module}:classes_only", num_classes=6, input_shape=(12,), workspace=tmp_path
    )
    assert simple(torch.zeros(1, 12)).shape == (1, 6)
    with pytest.raises(ValidationError, match=r"not_a_model: expected a factory returning torch"):
        build_model(
            f"{arch_module}:not_a_model", num_classes=2, input_shape=(2,), workspace=tmp_path
        )
    with pytest.raises(ValidationError, match=r"architecture: expected an attribute 'nope'"):
        build_model(f"{arch_module}:nope", num_classes=2, input_shape=(2,), workspace=tmp_path)
    with (
        trust_policy(allow_code=["ulens_no_such_module"]),
        pytest.raises(ValidationError, match=r"architecture: expected an importable module"),
    ):
        build_model("ulens_no_such_module:make", num_classes=2, input_shape=(2,))


def test_module_function_architecture_from_an_allowed_package(
    arch_module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UntrustedCodeError, match=rf"--allow-code {arch_module}"):
        build_model(f"{arch_module}:classes_only", num_classes=6, input_shape=(12,))
    assert arch_module not in sys.modules  # refused before import
    with trust_policy(allow_code=[arch_module]):
        model = build_model(f"{arch_module}:classes_only", num_classes=6, input_shape=(12,))
    assert model(torch.zeros(1, 12)).shape == (1, 6)
    sys.modules.pop(arch_module, None)


# --------------------------------------------------------------------------- layers


class _Custom(nn.Module):
    """No ``ulens_layers``: stages of several kinds for the default discovery."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3)
        self.act = nn.ReLU()
        self.features = nn.Sequential(
            nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU()
        )
        self.block = nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.norm = nn.BatchNorm1d(4)
        self.blocks = nn.ModuleList([nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4)])
        self.head = nn.Linear(4, 3)


def test_discover_layers_plain_sequential_mlp() -> None:
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4)
    )
    assert discover_layers(model) == ["1", "3", "5"]
    assert classifier_layer(model)[0] == "5"


def test_discover_layers_custom_module_skips_activations_norms_and_pools() -> None:
    model = _Custom()
    names = discover_layers(model)
    assert names == [
        "stem",
        "features.0",
        "features.3",
        "block",
        "blocks.0",
        "blocks.2",
        "head",
    ]
    for name in names:  # every name resolves to a module whose forward hook can fire
        assert not isinstance(model.get_submodule(name), nn.ModuleList)


def test_discover_layers_uses_declared_layers() -> None:
    model = build_model("mlp", num_classes=3, input_shape=(4,), params={"hidden": [5, 6, 7]})
    assert discover_layers(model) == ["hidden1", "hidden2", "hidden3", "out"]
    resnet = build_model("resnet18_cifar", num_classes=3, input_shape=(3, 8, 8))
    assert discover_layers(resnet, max_layers=10) == [
        "conv1",
        *[f"layer{s}.{b}" for s in range(1, 5) for b in range(2)],
        "fc",
    ]


@pytest.mark.parametrize("max_layers", [2, 3, 5, 7, 12])
def test_discover_layers_thinning_keeps_first_and_last_evenly(max_layers: int) -> None:
    model = nn.Sequential(*[nn.Linear(3, 3) for _ in range(20)])
    names = discover_layers(model, max_layers=max_layers)
    positions = np.array([int(n) for n in names])
    assert len(names) == max_layers and positions[0] == 0 and positions[-1] == 19
    gaps = np.diff(positions)
    assert gaps.min() >= 1 and gaps.max() - gaps.min() <= 1


def test_discover_layers_thinning_declared_resnet() -> None:
    resnet = build_model("resnet18_cifar", num_classes=3, input_shape=(3, 8, 8))
    names = discover_layers(resnet, max_layers=4)
    assert len(names) == 4 and names[0] == "conv1" and names[-1] == "fc"


@pytest.mark.parametrize("max_layers", [1, 0, -3, 2.5, True])
def test_discover_layers_bad_max_layers(max_layers: Any) -> None:
    with pytest.raises(ValidationError, match=r"max_layers: expected an integer >= 2"):
        discover_layers(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), max_layers=max_layers)


def test_classifier_layer_is_the_last_linear_or_convolution() -> None:
    squeeze_like = nn.Sequential(
        nn.Linear(4, 4), nn.Unflatten(1, (4, 1, 1)), nn.Conv2d(4, 3, 1), nn.AdaptiveAvgPool2d(1)
    )
    assert classifier_layer(squeeze_like)[0] == "2"
    with pytest.raises(
        ValidationError, match=r"model: expected a classifier ending in nn\.Linear or a convolution"
    ):
        classifier_layer(nn.Sequential(nn.Flatten(), nn.Softmax(dim=1)))


# --------------------------------------------------------------------------- weights


def _mlp(num_classes: int = 3, hidden: tuple[int, ...] = (6, 5), seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("mlp", num_classes=num_classes, input_shape=(4,), params={"hidden": hidden})


def _assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert sa[key].dtype == sb[key].dtype and torch.equal(sa[key], sb[key]), key


def test_safetensors_round_trip_is_bit_exact(tmp_path: Path) -> None:
    model = build_model("smallcnn", num_classes=4, input_shape=(1, 8, 8))
    path = tmp_path / "sub" / "cnn.safetensors"
    save_weights(model, path, metadata={"role": "original"})
    state = read_weights(path)
    assert set(state) == set(model.state_dict())
    fresh = build_model("smallcnn", num_classes=4, input_shape=(1, 8, 8))
    assert not torch.equal(fresh.state_dict()["fc2.weight"], model.state_dict()["fc2.weight"])
    _assert_same_state(load_weights_into(fresh, path, num_classes=4), model)
    assert not list(path.parent.glob("*.tmp"))  # atomic write leaves no temp file


def test_resnet_batchnorm_buffers_round_trip(tmp_path: Path) -> None:
    model = build_model("resnet18_cifar", num_classes=2, input_shape=(3, 8, 8), params={"width": 4})
    model.train()
    model(torch.randn(4, 3, 8, 8))  # moves running stats and num_batches_tracked
    save_weights(model, tmp_path / "r.safetensors")
    fresh = build_model("resnet18_cifar", num_classes=2, input_shape=(3, 8, 8), params={"width": 4})
    _assert_same_state(load_weights_into(fresh, tmp_path / "r.safetensors"), model)


def test_save_weights_requires_safetensors_name(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"path: expected a \.safetensors file name.*m\.pt"):
        save_weights(_mlp(), tmp_path / "m.pt")


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
def test_torch_state_dict_loads(tmp_path: Path, suffix: str) -> None:
    model = _mlp(seed=1)
    torch.save(model.state_dict(), tmp_path / f"m{suffix}")
    torch.save({"model_state_dict": model.state_dict(), "epoch": 3}, tmp_path / f"w{suffix}")
    _assert_same_state(load_weights_into(_mlp(seed=2), tmp_path / f"m{suffix}"), model)
    _assert_same_state(load_weights_into(_mlp(seed=2), tmp_path / f"w{suffix}"), model)


class _Exploit:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def test_malicious_pt_refused_and_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    state: dict[str, Any] = dict(_mlp().state_dict())
    state["payload"] = _Exploit(marker)
    torch.save(state, path)
    with pytest.raises(UnsafeFileError) as info:
        load_weights_into(_mlp(), path)
    message = str(info.value)
    assert "evil.pt" in message and "expected tensors only" in message and "refused" in message
    assert not marker.exists()
    # the payload is live: a plain unpickling would have run it
    torch.load(path, weights_only=False)
    assert marker.exists()


def _save_state(path: Path, state: dict[str, torch.Tensor]) -> Path:
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def test_missing_unexpected_and_shape_mismatch_all_listed(tmp_path: Path) -> None:
    state = dict(_mlp(hidden=(6, 4)).state_dict())
    del state["out.bias"]
    state["extra.weight"] = torch.zeros(2)
    path = _save_state(tmp_path / "mixed.safetensors", state)
    with pytest.raises(WeightsError) as info:
        load_weights_into(_mlp(hidden=(6, 5)), path)
    message = str(info.value)
    assert "mixed.safetensors: expected the state dict of MLP" in message
    assert "missing keys ['out.bias']" in message
    assert "unexpected keys ['extra.weight']" in message
    assert "hidden2.0.weight: expected (5, 6), found (4, 6)" in message
    assert "out.weight: expected (3, 5), found (3, 4)" in message


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda s: s.pop("hidden1.0.bias"), "missing keys ['hidden1.0.bias']"),
        (lambda s: s.update({"head.w": torch.ones(1)}), "unexpected keys ['head.w']"),
        (
            lambda s: s.update({"hidden1.0.bias": torch.ones(7)}),
            "shape differences [hidden1.0.bias: expected (6,), found (7,)]",
        ),
    ],
    ids=["missing", "unexpected", "shape"],
)
def test_each_mismatch_named_alone(tmp_path: Path, edit: Any, expected: str) -> None:
    state = dict(_mlp().state_dict())
    edit(state)
    path = _save_state(tmp_path / "one.safetensors", state)
    with pytest.raises(WeightsError) as info:
        load_weights_into(_mlp(), path)
    assert "one.safetensors: expected the state dict of MLP" in str(info.value)
    assert expected in str(info.value)


def test_class_count_mismatch_names_both_counts(tmp_path: Path) -> None:
    save_weights(_mlp(num_classes=3), tmp_path / "three.safetensors")
    with pytest.raises(WeightsError) as info:
        load_weights_into(_mlp(num_classes=10), tmp_path / "three.safetensors", num_classes=10)
    message = str(info.value)
    assert "three.safetensors" in message
    assert "a classifier with 10 outputs" in message and "3 outputs in out.weight" in message


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_non_finite_weights_refused(tmp_path: Path, bad: float, suffix: str) -> None:
    state = dict(_mlp().state_dict())
    state["hidden2.0.weight"] = state["hidden2.0.weight"].clone()
    state["hidden2.0.weight"][1, 2] = bad
    path = tmp_path / f"nan{suffix}"
    if suffix == ".pt":
        torch.save(state, path)
    else:
        _save_state(path, state)
    with pytest.raises(WeightsError) as info:
        read_weights(path)
    message = str(info.value)
    assert f"nan{suffix}: expected finite values" in message and "hidden2.0.weight" in message


def test_truncated_safetensors_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.safetensors"
    save_weights(_mlp(), path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(WeightsError) as info:
        read_weights(path)
    assert "cut.safetensors: expected a complete, valid safetensors file" in str(info.value)


def test_truncated_pt_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.pt"
    torch.save(_mlp().state_dict(), path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(WeightsError) as info:
        read_weights(path)
    assert "cut.pt: expected a complete torch checkpoint" in str(info.value)


def test_pt_with_non_tensor_entries_refused(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pt"
    torch.save({"weight": torch.zeros(2), "epoch": 3}, path)
    with pytest.raises(WeightsError, match=r"mixed\.pt: expected a state dict of tensors"):
        read_weights(path)


def test_missing_file_and_wrong_extension(tmp_path: Path) -> None:
    with pytest.raises(WeightsError) as info:
        read_weights(tmp_path / "absent.safetensors")
    assert "absent.safetensors: expected an existing file" in str(info.value)
    assert "absent.safetensors" in str(info.value)
    (tmp_path / "model.bin").write_bytes(b"\x00" * 16)
    with pytest.raises(WeightsError) as info:
        load_weights_into(_mlp(), tmp_path / "model.bin")
    message = str(info.value)
    assert "model.bin: expected a .safetensors, .pt or .pth file, received '.bin'" in message


def test_mlp_class_is_exported() -> None:
    assert isinstance(_mlp(), MLP)


# --------------------------------------------------------------------------- torchvision

FAKE_TORCHVISION_MODELS = """
from torch import nn


def list_models(module=None):
    return ["squeezy"]


def get_model(name, weights=None, num_classes=1000):
    assert weights is None
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, num_classes, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())
"""


def _fake_torchvision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, init: str, models: str = ""
) -> None:
    package = tmp_path / "fake_tv" / "torchvision"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(init, encoding="utf-8")
    (package / "models.py").write_text(models, encoding="utf-8")
    monkeypatch.syspath_prepend(str(package.parent))
    for name in ("torchvision", "torchvision.models"):
        monkeypatch.delitem(sys.modules, name, raising=False)


def test_torchvision_architecture_with_a_conv_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_torchvision(tmp_path, monkeypatch, "", FAKE_TORCHVISION_MODELS)
    assert "torchvision:squeezy" in available_architectures()
    model = build_model("torchvision:squeezy", num_classes=5, input_shape=(3, 8, 8))
    assert model(torch.zeros(2, 3, 8, 8)).shape == (2, 5)
    assert classifier_layer(model)[0] == "2"  # the 1x1 convolution is the head
    with pytest.raises(ValidationError, match="a torchvision classification model"):
        build_model("torchvision:resnet9000", num_classes=5, input_shape=(3, 8, 8))


def test_torchvision_that_fails_to_import_gives_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_torchvision(
        tmp_path, monkeypatch, 'raise RuntimeError("operator torchvision::nms does not exist")'
    )
    assert "torchvision:resnet18" not in available_architectures()  # listed only when it works
    with pytest.raises(ValidationError) as info:
        build_model("torchvision:resnet18", num_classes=5, input_shape=(3, 8, 8))
    message = str(info.value)
    assert message.startswith("architecture 'torchvision:NAME': expected a torchvision built for")
    assert "RuntimeError: operator torchvision::nms does not exist" in message
    assert "\n" not in message


def test_missing_torchvision_names_the_optional_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import raises ImportError
    monkeypatch.setitem(sys.modules, "torchvision.models", None)
    with pytest.raises(ValidationError, match=r"optional extra 'cifar'.*received no torchvision"):
        build_model("torchvision:resnet18", num_classes=5, input_shape=(3, 8, 8))


# --------------------------------------------------------------------------- size and params


@pytest.mark.parametrize(
    ("arch", "params", "pattern"),
    [
        ("smallcnn", {"width": -4}, r"smallcnn params\.width: expected a positive integer"),
        ("smallcnn", {"hidden": 0}, r"smallcnn params\.hidden: expected a positive integer"),
        ("smallcnn", {"width": True}, r"smallcnn params\.width: expected a positive integer"),
        ("mlp", {"hidden": [8, -1]}, r"mlp params\.hidden: expected a positive integer"),
        ("mlp", {"hidden": "wide"}, r"mlp params\.hidden: expected a list of positive"),
        ("resnet18_cifar", {"width": 2.5}, r"resnet18_cifar params\.width: expected a positive"),
    ],
)
def test_bad_builtin_params_are_named(arch: str, params: dict[str, Any], pattern: str) -> None:
    shape = (4,) if arch == "mlp" else (3, 8, 8)
    with pytest.raises(ValidationError, match=pattern):
        build_model(arch, num_classes=3, input_shape=shape, params=params)


def test_model_over_the_memory_budget_is_refused_before_allocation() -> None:
    with pytest.raises(ResourceLimitError, match=r"architecture 'mlp' params: expected at most"):
        build_model("mlp", num_classes=3, input_shape=(4,), params={"hidden": [10**6, 10**6]})
    with trust_policy(max_bytes="1MiB"), pytest.raises(ResourceLimitError, match=r"1\.0 MiB"):
        build_model("smallcnn", num_classes=10, input_shape=(1, 8, 8), params={"width": 64})
