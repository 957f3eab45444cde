"""SalUn (Fan et al., 2024): random labelling restricted to the weights most salient to forgetting.

Saliency of a weight = ``|∂L_f/∂w|``, the gradient of the mean forget-set cross-entropy
(computed in eval mode, so BatchNorm uses and keeps its running statistics). The mask keeps
the top ``mask_share`` of all weights ranked together (``mask_scope="global"``, as in the
reference implementation) or of each parameter tensor separately (``"per_tensor"``). Then RL
runs, and after every optimiser step the masked-out weights are copied back from a saved copy:
neither momentum nor weight decay can move them (masking the gradient alone would let weight
decay shrink them). BatchNorm running statistics are buffers, not weights: they are not masked.

Example:
    >>> SalUn().params.mask_share
    0.5
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn
from torch.nn import functional as F

from analysis.data import ArrayDataset, iterate_batches
from analysis.unlearn.base import (
    Bounds,
    UnlearningContext,
    UnlearningMethod,
    register_method,
    require,
)
from analysis.unlearn.rl import RLParams, relabel

__all__ = ["SalUn", "SalUnParams", "saliency_mask"]

MaskScope = Literal["global", "per_tensor"]


@dataclass(frozen=True)
class SalUnParams(RLParams):
    """Hyperparameters of SalUn (defaults suit small image CNNs such as the digits sample).

    Attributes:
        epochs: Passes over the forget and retain sets together.
        lr: Learning rate (constant).
        batch_size: Samples per optimiser step (and per batch of the saliency pass).
        momentum: SGD momentum.
        weight_decay: L2 penalty applied by SGD (to the masked-in weights only, in effect).
        mask_share: Share of weights updated, in (0, 1].
        mask_scope: ``"global"`` ranks all weights together, ``"per_tensor"`` each tensor.
    """

    mask_share: float = 0.5

    BOUNDS: ClassVar[Mapping[str, Bounds]] = {"mask_share": (0.0, 1.0)}
    mask_scope: MaskScope = "global"

    def __post_init__(self) -> None:
        super().__post_init__()
        ok = math.isfinite(self.mask_share) and 0 < self.mask_share <= 1
        require(self, "mask_share", ok, "a share in (0, 1]")


def saliency_mask(
    model: nn.Module,
    forget: ArrayDataset,
    *,
    share: float,
    scope: MaskScope = "global",
    device: torch.device,
    batch_size: int = 256,
) -> list[torch.Tensor]:
    """Boolean masks (one per parameter of ``model``) selecting the most salient weights.

    Ties in saliency are broken by :func:`torch.topk` (deterministic on a given device).
    Parameters that do not require gradients are never selected.

    Example:
        >>> lin = nn.Linear(4, 3)
        >>> ds = ArrayDataset(torch.randn(8, 4), torch.arange(8) % 3)
        >>> masks = saliency_mask(lin, ds, share=0.25, device=torch.device("cpu"))
        >>> sum(int(m.sum()) for m in masks)  # round(0.25 * 15 weights)
        4
    """
    scores = _forget_gradient(model, forget, device, batch_size)
    if scope == "per_tensor":
        return [_top_share(s, share) for s in scores]
    flat = _top_share(torch.cat([s.flatten() for s in scores]), share)
    return [
        m.view_as(s) for m, s in zip(flat.split([s.numel() for s in scores]), scores, strict=True)
    ]


def _forget_gradient(
    model: nn.Module, forget: ArrayDataset, device: torch.device, batch_size: int
) -> list[torch.Tensor]:
    """``|∇ mean CE(forget)|`` per parameter (−1 where no gradient can flow), in eval mode."""
    params = list(model.parameters())
    trainable = [p for p in params if p.requires_grad]
    grads = [torch.zeros_like(p) for p in trainable]
    was_training = model.training
    model.eval()
    try:
        for x, y in iterate_batches(forget, batch_size):
            loss = F.cross_entropy(model(x.to(device)), y.to(device), reduction="sum") / len(forget)
            for g, b in zip(
                grads, torch.autograd.grad(loss, trainable, allow_unused=True), strict=True
            ):
                if b is not None:
                    g.add_(b)
    finally:
        model.train(was_training)
    by_id = {id(p): g.abs() for p, g in zip(trainable, grads, strict=True)}
    return [by_id.get(id(p), torch.full_like(p, -1.0)) for p in params]


def _top_share(scores: torch.Tensor, share: float) -> torch.Tensor:
    count = min(scores.numel(), max(1, round(share * scores.numel())))
    flat = torch.zeros(scores.numel(), dtype=torch.bool, device=scores.device)
    flat[torch.topk(scores.flatten(), count, sorted=False).indices] = True
    return flat.view_as(scores) & (scores >= 0)


@register_method
class SalUn(UnlearningMethod):
    """Saliency-masked random labelling; masked-out weights stay bit-identical to the original.

    The history has, per epoch, ``loss`` and ``mask_share`` (the share of weights actually
    selected).
    """

    name = "salun"
    display_name = "SalUn"
    Params = SalUnParams

    def _unlearn(
        self, model: nn.Module, forget: ArrayDataset, retain: ArrayDataset, ctx: UnlearningContext
    ) -> Sequence[Mapping[str, float]]:
        p = self.params
        masks = saliency_mask(
            model,
            forget,
            share=p.mask_share,
            scope=p.mask_scope,
            device=ctx.device,
            batch_size=max(p.batch_size, 256),
        )
        params = list(model.parameters())
        saved = [q.detach().clone() for q in params]

        def restore() -> None:
            with torch.no_grad():
                for q, m, s in zip(params, masks, saved, strict=True):
                    q.copy_(torch.where(m, q, s))

        relabelled = relabel(model, forget, ctx)
        loss = lambda x, y, _: F.cross_entropy(model(x), y)  # noqa: E731
        history = ctx.fit(model, [relabelled, retain], p, loss, after_step=restore)
        selected = sum(int(m.sum()) for m in masks) / max(1, sum(m.numel() for m in masks))
        return [{**h, "mask_share": selected} for h in history]
