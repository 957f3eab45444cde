"""One batched forward pass of several models in lockstep over a dataset.

Every model sees each batch once, under ``torch.inference_mode()``. The pass returns all logits
and, for chosen rows, the penultimate features: the classifier head's input (the last
``nn.Linear``; for a convolutional head such as SqueezeNet's, its input averaged over the
spatial axes; for a model with neither, the logits themselves, with a warning). Rows of named
*activation groups* (e.g. forget and retain samples for CKA) are visited first, each group in
batches of its own, and for those batches the outputs of the chosen layers of every model are
handed to a callback (the CKA accumulator) and then dropped: whole-dataset activations are never
held. Hooks are removed in ``finally``.

Example:
    >>> import torch, numpy as np
    >>> from analysis.data import ArrayDataset
    >>> from analysis.models import build_model
    >>> ds = ArrayDataset(torch.randn(10, 4), torch.zeros(10, dtype=torch.long))
    >>> out = forward_pass({"m": build_model("mlp", num_classes=3, input_shape=(4,))}, ds,
    ...                    feature_rows=np.array([0, 5]))
    >>> out["m"].logits.shape, out["m"].features.shape
    ((10, 3), (2, 128))
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from analysis.data import ArrayDataset
from analysis.device import resolve_device
from analysis.errors import ValidationError, describe
from analysis.models import find_classifier

__all__ = ["ActivationCallback", "PassOutputs", "forward_pass"]

ActivationCallback = Callable[[str, Mapping[str, Mapping[str, torch.Tensor]]], None]
"""Receives (group name, model -> layer -> activations of the batch's rows)."""


@dataclass(frozen=True)
class PassOutputs:
    """Outputs of one model over one dataset.

    Attributes:
        logits: (n, C) float32 logits in dataset order.
        features: (m, d) float32 penultimate features of ``feature_rows`` (in that order), or None.
    """

    logits: np.ndarray
    features: np.ndarray | None


@dataclass
class _Capture:
    layers: dict[str, torch.Tensor]
    features: torch.Tensor | None = None
    layers_on: bool = False
    features_on: bool = False
    logits_as_features: bool = False


def _batch_plan(
    n: int, groups: Mapping[str, np.ndarray], batch_size: int
) -> list[tuple[str | None, np.ndarray]]:
    """Batches of row indices: each group's rows in batches of their own, then the rest."""
    plan: list[tuple[str | None, np.ndarray]] = []
    seen = np.zeros(n, dtype=bool)
    for name, rows in groups.items():
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= n or seen[rows].any()):
            raise ValidationError(
                describe(
                    f"activation_groups[{name!r}]",
                    f"disjoint row indices in [0, {n})",
                    "overlap or range",
                    raw=True,
                )
            )
        seen[rows] = True
        plan += [(name, rows[s : s + batch_size]) for s in range(0, rows.size, batch_size)]
    rest = np.flatnonzero(~seen)
    plan += [(None, rest[s : s + batch_size]) for s in range(0, rest.size, batch_size)]
    return plan


@contextmanager
def _hooks(model: nn.Module, layers: Sequence[str], capture: _Capture) -> Iterator[None]:
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise ValidationError(
            describe("layers", f"module names of {type(model).__name__}", missing)
        )
    handles = []
    try:
        for name in layers:
            handles.append(modules[name].register_forward_hook(_layer_hook(name, capture)))
        found = find_classifier(model)
        if found is None:
            capture.logits_as_features = True
            warnings.warn(
                f"{type(model).__name__} has no nn.Linear or convolution head: its logits stand "
                "in for penultimate features (embeddings)",
                RuntimeWarning,
                stacklevel=4,
            )
        else:
            handles.append(found[1].register_forward_pre_hook(_feature_hook(capture)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _layer_hook(name: str, capture: _Capture) -> Callable[..., None]:
    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        if capture.layers_on:
            out = output[0] if isinstance(output, (tuple, list)) else output
            capture.layers[name] = out.flatten(1)

    return hook


def _feature_hook(capture: _Capture) -> Callable[..., None]:
    def hook(module: nn.Module, inputs: Any) -> None:
        if capture.features_on:
            x = inputs[0]
            if not isinstance(module, nn.Linear) and x.ndim > 2:  # conv head: pool space
                x = x.mean(dim=tuple(range(2, x.ndim)))
            capture.features = x.flatten(1)

    return hook


def forward_pass(
    models: Mapping[str, nn.Module],
    dataset: ArrayDataset,
    *,
    batch_size: int = 256,
    device: str | torch.device = "auto",
    feature_rows: np.ndarray | None = None,
    activation_groups: Mapping[str, np.ndarray] | None = None,
    layers: Mapping[str, Sequence[str]] | None = None,
    on_activations: ActivationCallback | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, PassOutputs]:
    """Run every model once over ``dataset``, batch by batch in lockstep.

    Args:
        models: Name -> model (moved to ``device`` and set to eval mode).
        dataset: The samples.
        batch_size: Rows per batch.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:N]"``.
        feature_rows: Rows whose penultimate features to return.
        activation_groups: Group name -> disjoint rows whose layer activations go to
            ``on_activations``, batch by batch.
        layers: Model name -> layer names to capture for the activation groups.
        on_activations: Callback for the activation groups' batches.
        progress: Called with (batches done, batches total).

    Returns:
        Name -> :class:`PassOutputs`.
    """
    if batch_size < 1:
        raise ValidationError(describe("batch_size", "a positive integer", batch_size))
    dev = resolve_device(device)
    n = len(dataset)
    plan = _batch_plan(n, activation_groups or {}, batch_size)
    want = np.zeros(n, dtype=bool)
    feat_rows = np.asarray(feature_rows if feature_rows is not None else [], dtype=np.int64)
    want[feat_rows] = True
    for model in models.values():
        model.to(dev).eval()
    captures = {name: _Capture({}) for name in models}
    logits: dict[str, np.ndarray] = {}
    feats: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {name: [] for name in models}
    with _all_hooks(models, layers or {}, captures):
        for step, (group, rows) in enumerate(plan):
            x = dataset.x[torch.as_tensor(rows)].to(dev, non_blocking=True)
            batch_logits = _run_batch(
                models,
                x,
                captures,
                group is not None and on_activations is not None,
                bool(want[rows].any()),
            )
            for name, cap in captures.items():
                out = batch_logits[name]
                if name not in logits:  # allocated once, not per batch
                    logits[name] = np.empty((n, out.shape[1]), dtype=np.float32)
                logits[name][rows] = out
                if cap.features is not None:
                    keep = want[rows]
                    feats[name].append(
                        (
                            rows[keep],
                            cap.features[torch.as_tensor(keep, device=dev)].float().cpu().numpy(),
                        )
                    )
                    cap.features = None
            if group is not None and on_activations is not None:
                on_activations(group, {m: captures[m].layers for m in models})
            for cap in captures.values():
                cap.layers = {}
            if progress is not None:
                progress(step + 1, len(plan))
    return {
        name: PassOutputs(
            logits[name] if name in logits else np.empty((0, 0), np.float32),
            _ordered_features(feats[name], feat_rows),
        )
        for name in models
    }


@contextmanager
def _all_hooks(
    models: Mapping[str, nn.Module],
    layers: Mapping[str, Sequence[str]],
    captures: Mapping[str, _Capture],
) -> Iterator[None]:
    entered: list[Any] = []
    try:
        for name, model in models.items():
            ctx = _hooks(model, layers.get(name, ()), captures[name])
            ctx.__enter__()
            entered.append(ctx)
        yield
    finally:
        for ctx in reversed(entered):
            ctx.__exit__(None, None, None)


def _run_batch(
    models: Mapping[str, nn.Module],
    x: torch.Tensor,
    captures: Mapping[str, _Capture],
    capture_layers: bool,
    capture_features: bool,
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with torch.inference_mode():
        for name, model in models.items():
            cap = captures[name]
            cap.layers_on, cap.features_on = capture_layers, capture_features
            logits = model(x)
            if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or len(logits) != len(x):
                raise ValidationError(
                    describe(
                        f"model {name!r}",
                        "logits of shape (batch, classes)",
                        f"{type(logits).__name__} {tuple(getattr(logits, 'shape', ()))}",
                        raw=True,
                    )
                )
            if cap.logits_as_features and capture_features:
                cap.features = logits.flatten(1)
            out[name] = logits.float().cpu().numpy()
    return out


def _ordered_features(
    parts: list[tuple[np.ndarray, np.ndarray]], rows: np.ndarray
) -> np.ndarray | None:
    if not rows.size:
        return None
    if not parts:
        return None
    got_rows = np.concatenate([p[0] for p in parts])
    got = np.concatenate([p[1] for p in parts])
    order = np.argsort(got_rows)
    position = np.searchsorted(got_rows[order], rows)
    return np.asarray(got[order][position])
