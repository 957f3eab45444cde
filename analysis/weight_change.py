"""Per-layer weight change between two models of one architecture.

For each layer (a module that owns parameters directly, e.g. a convolution with its weight and
bias) the change is ‖W_B − W_A‖_F, and relative to model A ‖W_B − W_A‖_F / ‖W_A‖_F, over all
parameters the module owns directly, concatenated, in float64.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from analysis.weight_change import weight_change
    >>> a = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    >>> b = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    >>> _ = b.load_state_dict(a.state_dict())
    >>> weight_change(a, b).relative
    array([0., 0.])
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from analysis.errors import ValidationError, describe

__all__ = ["WeightChange", "weight_change"]


@dataclass(frozen=True)
class WeightChange:
    """Per-layer weight change from model A to model B.

    Attributes:
        layers: Module names, in model order (or the order asked for).
        relative: float64 array, ‖W_B − W_A‖_F / ‖W_A‖_F per layer (NaN where ‖W_A‖_F = 0).
        absolute: float64 array, ‖W_B − W_A‖_F per layer.

    Example:
        >>> wc = WeightChange(("fc",), np.array([0.1]), np.array([0.5]))
        >>> float(wc.relative[0])
        0.1
    """

    layers: tuple[str, ...]
    relative: np.ndarray
    absolute: np.ndarray

    def __post_init__(self) -> None:
        self.relative.setflags(write=False)
        self.absolute.setflags(write=False)


def _validate_module(value: object, name: str) -> nn.Module:
    if not isinstance(value, nn.Module):
        raise ValidationError(describe(name, "a torch.nn.Module", type(value).__name__))
    return value


def _validate_same_architecture(model_a: nn.Module, model_b: nn.Module) -> None:
    """Raise naming the first parameter whose name or shape differs between the models."""
    params_a = [(n, tuple(p.shape)) for n, p in model_a.named_parameters()]
    params_b = [(n, tuple(p.shape)) for n, p in model_b.named_parameters()]
    for index in range(max(len(params_a), len(params_b))):
        name_a, shape_a = params_a[index] if index < len(params_a) else ("<none>", None)
        name_b, shape_b = params_b[index] if index < len(params_b) else ("<none>", None)
        if name_a != name_b or shape_a != shape_b:
            raise ValidationError(
                describe(
                    "model_b",
                    f"the architecture of model_a (parameter {name_a!r} of shape {shape_a})",
                    f"parameter {name_b!r} of shape {shape_b}",
                    raw=True,
                )
            )


def _owning_modules(model: nn.Module) -> list[str]:
    """Names of modules that own at least one parameter directly, in model order."""
    return [
        name
        for name, module in model.named_modules()
        if next(module.parameters(recurse=False), None) is not None
    ]


def _parameterised_modules(model: nn.Module) -> list[str]:
    """Names of modules with at least one parameter, their children's included."""
    return [
        name
        for name, module in model.named_modules()
        if next(module.parameters(), None) is not None
    ]


def _validate_layers(layers: object, available: list[str]) -> tuple[str, ...]:
    expected = f"a non-empty sequence of unique module names with parameters, from {available}"
    if isinstance(layers, str) or not isinstance(layers, Sequence) or not layers:
        raise ValidationError(describe("layers", expected, layers))
    for layer in layers:
        if layer not in available:
            raise ValidationError(describe("layers", expected, layer))
    if len(set(layers)) != len(layers):
        raise ValidationError(describe("layers", expected, layers))
    return tuple(layers)


def _flat_parameters(model: nn.Module, layer: str, recurse: bool) -> torch.Tensor:
    """The parameters of ``layer`` (its own, or with its children's), flat float64 on the CPU."""
    params = model.get_submodule(layer).parameters(recurse=recurse)
    return torch.cat([p.detach().to("cpu", torch.float64).reshape(-1) for p in params])


def _norms(
    model_a: nn.Module, model_b: nn.Module, layers: tuple[str, ...], recurse: bool
) -> np.ndarray:
    """(2, L) array: ‖W_A‖_F and ‖W_B − W_A‖_F per layer."""
    with torch.no_grad():
        rows = []
        for layer in layers:
            w_a = _flat_parameters(model_a, layer, recurse)
            w_b = _flat_parameters(model_b, layer, recurse)
            rows.append((float(w_a.norm()), float((w_b - w_a).norm())))
    return np.asarray(rows, dtype=np.float64).T.reshape(2, len(layers))


def weight_change(
    model_a: nn.Module,
    model_b: nn.Module,
    *,
    layers: Sequence[str] | None = None,
) -> WeightChange:
    """Relative and absolute Frobenius change of each layer's parameters from A to B.

    Args:
        model_a: The reference model (denominator of the relative change).
        model_b: A model of the same architecture (same parameter names and shapes).
        layers: Module names (as in ``named_modules``) whose parameters, children's included,
            form one layer each (e.g. the blocks the CKA view compares); default: every module
            that owns parameters directly, each with only its own parameters, in model order.

    Returns:
        A :class:`WeightChange`. A layer whose parameters in A are all zero gets NaN as its
        relative change, with a warning.

    Raises:
        ValidationError: An argument is not a module, the architectures differ (the message
            names the first differing parameter and both shapes), or ``layers`` names a module
            that does not exist or has no parameters.

    Example:
        >>> from torch import nn
        >>> a, b = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
        >>> with torch.no_grad():
        ...     _ = a.weight.fill_(2.0), b.weight.fill_(3.0)
        >>> wc = weight_change(a, b)
        >>> wc.layers, wc.relative, wc.absolute
        (('',), array([0.5]), array([1.]))
    """
    model_a = _validate_module(model_a, "model_a")
    model_b = _validate_module(model_b, "model_b")
    _validate_same_architecture(model_a, model_b)
    if layers is None:
        names, recurse = tuple(_owning_modules(model_a)), False
    else:
        names, recurse = _validate_layers(layers, _parameterised_modules(model_a)), True
    norm_a, absolute = _norms(model_a, model_b, names, recurse)
    zero = norm_a == 0.0
    if zero.any():
        warnings.warn(
            f"weight_change: parameters of model_a are all zero in layer(s) "
            f"{[n for n, z in zip(names, zero, strict=True) if z]}; relative change is NaN there",
            RuntimeWarning,
            stacklevel=2,
        )
    relative = np.divide(absolute, norm_a, out=np.full_like(absolute, np.nan), where=~zero)
    return WeightChange(layers=names, relative=relative, absolute=absolute)
