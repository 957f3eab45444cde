"""Tests of analysis.unlearn.base: the run protocol of every method, hyperparameters, registry."""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from analysis.data import ArrayDataset
from analysis.errors import MethodError, ValidationError
from analysis.models import build_model
from analysis.trust import UntrustedCodeError, trust_policy
from analysis.unlearn import (
    ENTRY_POINT_GROUP,
    GradientAscent,
    ProgressEvent,
    SalUnParams,
    UnlearningMethod,
    available_methods,
    get_method,
    make_method,
    register_method,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models train fastest, and unaffected by CPU contention, on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


BUILTIN = ("retrain", "ft", "ga", "rl", "scrub", "salun", "l1sparse")
# Tiny settings so every run takes a few milliseconds; batch 8 < forget size, so seeds matter.
FAST: dict[str, dict[str, Any]] = {
    "retrain": {"epochs": 2, "batch_size": 8},
    "ft": {"epochs": 2, "batch_size": 8},
    "ga": {"epochs": 2, "batch_size": 8},
    "rl": {"epochs": 2, "batch_size": 8},
    "scrub": {"epochs": 2, "max_epochs": 1, "batch_size": 8, "forget_batch_size": 8},
    "salun": {"epochs": 2, "batch_size": 8, "mask_share": 0.3},
    "l1sparse": {"epochs": 2, "batch_size": 8},
}


def _images(n: int, seed: int) -> ArrayDataset:
    g = torch.Generator().manual_seed(seed)
    return ArrayDataset(torch.rand(n, 1, 8, 8, generator=g), torch.arange(n) % 4)


def _cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(
        "smallcnn", num_classes=4, input_shape=(1, 8, 8), params={"width": 4, "hidden": 8}
    )


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def setup() -> tuple[nn.Module, ArrayDataset, ArrayDataset]:
    return _cnn(), _images(20, 1), _images(40, 2)


# --------------------------------------------------------------------------- run protocol


@pytest.mark.parametrize("name", BUILTIN)
def test_same_seed_is_bit_identical_and_another_seed_differs(
    name: str, setup: tuple[nn.Module, ArrayDataset, ArrayDataset]
) -> None:
    model, forget, retain = setup
    method = make_method(name, FAST[name])
    runs = [
        _weights(method.run(model, forget, retain, seed=s, device="cpu").model) for s in (5, 5, 6)
    ]
    assert _same(runs[0], runs[1])
    assert not _same(runs[0], runs[2])


@pytest.mark.parametrize("name", BUILTIN)
def test_epoch_hook_sees_every_epoch_and_should_stop_ends_the_run(
    name: str, setup: tuple[nn.Module, ArrayDataset, ArrayDataset]
) -> None:
    """The runner's per-epoch evaluation and stopping rule reach every built-in method (those
    with their own loop included) without changing the weights of an unstopped run."""
    model, forget, retain = setup
    params = {**FAST[name], "epochs": 3}
    if name == "scrub":
        params["max_epochs"] = 1
    method = make_method(name, params)
    seen: list[tuple[int, bool]] = []

    def hook(epoch: int, working: nn.Module) -> dict[str, float]:
        seen.append((epoch, working is not model))
        return {"probe": float(epoch)}

    plain = method.run(model, forget, retain, seed=1, device="cpu")
    hooked = method.run(model, forget, retain, seed=1, device="cpu", epoch_hook=hook)
    assert seen == [(1, True), (2, True), (3, True)]
    assert [h["probe"] for h in hooked.history] == [1.0, 2.0, 3.0]
    assert _same(_weights(plain.model), _weights(hooked.model))
    stopped = method.run(
        model, forget, retain, seed=1, device="cpu", epoch_hook=hook, should_stop=lambda: True
    )
    assert len(stopped.history) == 1


@pytest.mark.parametrize("name", BUILTIN)
def test_run_copies_the_model_and_returns_a_complete_result(
    name: str, setup: tuple[nn.Module, ArrayDataset, ArrayDataset]
) -> None:
    model, forget, retain = setup
    model.train()
    before = _weights(model)
    rng_state = torch.get_rng_state()
    method = make_method(name, FAST[name])
    result = method.run(model, forget, retain, seed=0, device="cpu")
    assert _same(before, _weights(model)) and model.training  # caller's model untouched
    assert torch.equal(torch.get_rng_state(), rng_state)  # global RNG untouched
    assert result.model is not model and not result.model.training
    assert not _same(before, _weights(result.model))
    assert result.seconds > 0
    assert len(result.history) == FAST[name]["epochs"]
    assert [h["epoch"] for h in result.history] == [1.0, 2.0]
    assert dict(result.params) == asdict(method.params)
    assert all(np.isfinite(v) for h in result.history for v in h.values())


@pytest.mark.parametrize("name", BUILTIN)
def test_progress_steps_increase_to_the_announced_total(
    name: str, setup: tuple[nn.Module, ArrayDataset, ArrayDataset]
) -> None:
    model, forget, retain = setup
    events: list[ProgressEvent] = []
    make_method(name, FAST[name]).run(model, forget, retain, device="cpu", progress=events.append)
    assert events, "no progress reported"
    total = events[0].steps
    assert [e.step for e in events] == list(range(1, total + 1))
    assert {e.steps for e in events} == {total}
    epochs = [e.epoch for e in events]
    assert epochs == sorted(epochs) and epochs[-1] == events[0].epochs == 2


@pytest.mark.parametrize("name", BUILTIN)
def test_every_method_runs_on_an_mlp_over_tabular_data(name: str) -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(60, 20, generator=g), torch.randint(0, 3, (60,), generator=g)
    forget, retain = ArrayDataset(x[:15], y[:15]), ArrayDataset(x[15:], y[15:])
    torch.manual_seed(0)
    model = build_model("mlp", num_classes=3, input_shape=(20,), params={"hidden": [16]})
    result = make_method(name, FAST[name]).run(model, forget, retain, seed=1, device="cpu")
    with torch.no_grad():
        out = result.model(x)
    assert out.shape == (60, 3) and torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("forget", "retain", "kwargs", "match"),
    [
        (ArrayDataset(torch.zeros(0, 1, 8, 8), torch.zeros(0)), None, {}, "forget"),
        (None, ArrayDataset(torch.zeros(0, 1, 8, 8), torch.zeros(0)), {}, "retain"),
        ((torch.zeros(2, 1, 8, 8), torch.zeros(2)), None, {}, "ArrayDataset"),
        (ArrayDataset(torch.zeros(4, 1, 6, 6), torch.zeros(4)), None, {}, "input shape"),
        (None, None, {"seed": True}, "seed"),
        (None, None, {"seed": 1.0}, "seed"),
        (None, None, {"progress": "print"}, "progress"),
        (None, None, {"device": "gpu"}, "device"),
    ],
)
def test_run_validates_inputs(
    forget: Any,
    retain: Any,
    kwargs: dict[str, Any],
    match: str,
    setup: tuple[nn.Module, ArrayDataset, ArrayDataset],
) -> None:
    model, good_forget, good_retain = setup
    with pytest.raises(ValidationError, match=match):
        make_method("ft", {"epochs": 1}).run(
            model,
            good_forget if forget is None else forget,
            good_retain if retain is None else retain,
            **kwargs,
        )


def test_run_rejects_a_non_module(setup: tuple[nn.Module, ArrayDataset, ArrayDataset]) -> None:
    _, forget, retain = setup
    with pytest.raises(ValidationError, match="model"):
        make_method("ft").run("model", forget, retain)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- hyperparameters


def test_unknown_hyperparameter_names_the_key_and_the_accepted_ones() -> None:
    with pytest.raises(MethodError) as info:
        make_method("ga", {"learning_rate": 0.1})
    message = str(info.value)
    assert "learning_rate" in message
    assert all(k in message for k in ("epochs", "lr", "batch_size", "clip_norm"))


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("ga", {"lr": "fast"}, "'lr'"),
        ("ga", {"epochs": 2.0}, "'epochs'"),
        ("ga", {"epochs": True}, "'epochs'"),
        ("ga", {"lr": -0.1}, r"GAParams\.lr"),
        ("ga", {"clip_norm": 0.0}, r"GAParams\.clip_norm"),
        ("ft", {"momentum": 1.0}, r"FTParams\.momentum"),
        ("scrub", {"max_epochs": 9, "epochs": 3}, r"SCRUBParams\.max_epochs"),
        ("scrub", {"temperature": 0.0}, r"SCRUBParams\.temperature"),
        ("salun", {"mask_scope": "layer"}, "'mask_scope'"),
        ("salun", {"mask_share": 0.0}, r"SalUnParams\.mask_share"),
        ("l1sparse", {"alpha": -1.0}, r"L1Params\.alpha"),
        ("retrain", {"schedule": "step"}, "'schedule'"),
        ("retrain", {"seed": 3}, "seed"),
    ],
)
def test_bad_hyperparameter_raises_method_error_naming_it(
    name: str, params: dict[str, Any], match: str
) -> None:
    with pytest.raises(MethodError, match=match):
        make_method(name, params)


def test_hyperparameters_coerce_int_to_float_and_accept_a_params_instance() -> None:
    method = make_method("ga", {"lr": 1})
    assert isinstance(method.params.lr, float) and method.params.lr == 1.0
    salun = get_method("salun")(SalUnParams(mask_share=0.2), epochs=4)
    assert (salun.params.mask_share, salun.params.epochs) == (0.2, 4)
    with pytest.raises(MethodError, match="SalUnParams"):
        get_method("rl")(SalUnParams())


def test_make_method_rejects_non_mapping_params() -> None:
    with pytest.raises(MethodError, match="params"):
        make_method("ga", [("lr", 0.1)])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- registry


def test_builtin_methods_are_registered_with_display_names() -> None:
    assert set(BUILTIN) <= set(available_methods())
    for name in BUILTIN:
        cls = get_method(name)
        assert cls.name == name and cls.display_name
    assert get_method("ga") is GradientAscent


def test_unknown_method_lists_the_available_ones() -> None:
    with pytest.raises(MethodError) as info:
        get_method("forgetful")
    assert "forgetful" in str(info.value)
    assert all(name in str(info.value) for name in BUILTIN)


PLUGIN = """
from dataclasses import dataclass

import torch

from analysis.unlearn.base import UnlearningMethod


class Shrink(UnlearningMethod):
    name = "{name}"
    display_name = "Shrink"

    @dataclass(frozen=True)
    class Params:
        factor: float = 0.5

    def _unlearn(self, model, forget, retain, ctx):
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(self.params.factor)
        return [{{"epoch": 1.0}}]


NOT_A_METHOD = 42
"""


@pytest.fixture
def plugin_module(tmp_path: Path) -> Iterator[str]:
    """Write a plug-in module into the workspace ``tmp_path``; return its module name."""
    module = f"ulens_plugin_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(PLUGIN.format(name=module)))
    yield module
    sys.modules.pop(module, None)


def test_module_class_path_loads_a_plugin_that_runs(
    plugin_module: str, tmp_path: Path, setup: tuple[nn.Module, ArrayDataset, ArrayDataset]
) -> None:
    model, forget, retain = setup
    cls = get_method(f"{plugin_module}:Shrink", workspace=tmp_path)
    assert cls.display_name == "Shrink"
    result = cls(factor=0.0).run(model, forget, retain, device="cpu")
    assert all(torch.count_nonzero(p) == 0 for p in result.model.parameters())
    with pytest.raises(MethodError, match="factor"):
        cls(factor="none")


@pytest.mark.parametrize(
    ("suffix", "match"),
    [(":NOT_A_METHOD", "subclass of UnlearningMethod"), (":Missing", "attribute")],
)
def test_module_path_to_something_else_is_refused(
    plugin_module: str, tmp_path: Path, suffix: str, match: str
) -> None:
    with pytest.raises(MethodError, match=match):
        get_method(plugin_module + suffix, workspace=tmp_path)


def test_module_path_outside_the_workspace_needs_the_opt_in(
    plugin_module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UntrustedCodeError, match=rf"--allow-code {plugin_module}"):
        make_method(f"{plugin_module}:Shrink", {"factor": 2.0})
    assert plugin_module not in sys.modules  # refused before import
    with trust_policy(allow_code=[plugin_module]):
        assert make_method(f"{plugin_module}:Shrink", {"factor": 2.0}).params.factor == 2.0
    assert make_method(f"{plugin_module}:Shrink", workspace=tmp_path).params.factor == 0.5


def test_entry_point_plugin_is_found_and_listed(
    plugin_module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))  # an installed package: entry points are trusted
    points = [
        importlib.metadata.EntryPoint("shrink", f"{plugin_module}:Shrink", ENTRY_POINT_GROUP),
        importlib.metadata.EntryPoint("broken", "no_such_module_xyz:Thing", ENTRY_POINT_GROUP),
    ]
    seen_groups: list[str | None] = []

    def fake_entry_points(**kwargs: Any) -> importlib.metadata.EntryPoints:
        seen_groups.append(kwargs.get("group"))
        return importlib.metadata.EntryPoints(points)

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    assert {"shrink", "broken"} <= set(available_methods())
    assert get_method("shrink").display_name == "Shrink"
    assert make_method("shrink", {"factor": 2.0}).params.factor == 2.0
    with pytest.raises(MethodError, match="broken"):
        get_method("broken")
    assert set(seen_groups) == {ENTRY_POINT_GROUP}


def test_register_method_refuses_a_name_clash_and_non_methods() -> None:
    class Impostor(GradientAscent):
        pass

    with pytest.raises(MethodError, match="already taken"):
        register_method(Impostor)
    assert get_method("ga") is GradientAscent
    assert register_method(GradientAscent) is GradientAscent  # idempotent

    class Abstract(UnlearningMethod):
        name, display_name, Params = "abstract_x", "Abstract", SalUnParams

    with pytest.raises(MethodError, match="_unlearn"):
        register_method(Abstract)
    with pytest.raises(MethodError, match="UnlearningMethod"):
        register_method(int)  # type: ignore[arg-type]
