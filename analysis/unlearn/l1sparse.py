"""ℓ1-sparse (Jia et al., 2023): fine-tune on the retain set with a decaying ℓ1 penalty.

Loss at optimiser step ``t`` of ``T``: ``CE(retain batch) + α·(1 − t/T)·‖w‖₁``, with ``‖w‖₁``
over every trainable parameter: the penalty decays linearly from ``α`` to 0 over the run
(per step; the reference code decays per epoch).

Example:
    >>> L1Sparse().params.alpha
    0.0005
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from analysis.data import ArrayDataset
from analysis.training import count_train_batches
from analysis.unlearn.base import (
    Bounds,
    SGDParams,
    UnlearningContext,
    UnlearningMethod,
    register_method,
    require,
)

__all__ = ["L1Params", "L1Sparse", "l1_norm"]


def l1_norm(model: nn.Module) -> torch.Tensor:
    """Sum of absolute values of every trainable parameter (differentiable).

    Example:
        >>> lin = nn.Linear(2, 1)
        >>> with torch.no_grad():
        ...     _ = lin.weight.fill_(-1.0), lin.bias.fill_(0.5)
        >>> l1_norm(lin).item()
        2.5
    """
    norms = [p.abs().sum() for p in model.parameters() if p.requires_grad]
    return torch.stack(norms).sum() if norms else torch.zeros(())


@dataclass(frozen=True)
class L1Params(SGDParams):
    """Hyperparameters of ℓ1-sparse (defaults suit small image CNNs such as the digits sample).

    Attributes:
        epochs: Passes over the retain set.
        lr: Learning rate (constant).
        batch_size: Samples per optimiser step.
        momentum: SGD momentum.
        weight_decay: L2 penalty applied by SGD.
        alpha: Initial weight of the ℓ1 penalty (decays linearly to 0).
    """

    epochs: int = 5
    lr: float = 0.02
    alpha: float = 5e-4

    BOUNDS: ClassVar[Mapping[str, Bounds]] = {"alpha": (0.0, None)}

    def __post_init__(self) -> None:
        super().__post_init__()
        ok = math.isfinite(self.alpha) and self.alpha >= 0
        require(self, "alpha", ok, "a non-negative number")


@register_method
class L1Sparse(UnlearningMethod):
    """Fine-tuning on the retain set plus a linearly decaying ℓ1 penalty on the weights."""

    name = "l1sparse"
    display_name = "ℓ1-sparse"
    Params = L1Params

    def _unlearn(
        self, model: nn.Module, forget: ArrayDataset, retain: ArrayDataset, ctx: UnlearningContext
    ) -> Sequence[Mapping[str, float]]:
        p = self.params
        total = p.epochs * count_train_batches(len(retain), p.batch_size)

        def loss(x: torch.Tensor, y: torch.Tensor, step: int) -> torch.Tensor:
            weight = p.alpha * (1.0 - step / total)
            return F.cross_entropy(model(x), y) + weight * l1_norm(model)

        return ctx.fit(model, retain, p, loss)
