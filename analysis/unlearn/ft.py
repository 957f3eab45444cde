"""FT: fine-tune the original on the retain set (forgetting by catastrophic interference).

Example:
    >>> FineTune().params.epochs
    5
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from torch import nn
from torch.nn import functional as F

from analysis.data import ArrayDataset
from analysis.unlearn.base import SGDParams, UnlearningContext, UnlearningMethod, register_method

__all__ = ["FTParams", "FineTune"]


@dataclass(frozen=True)
class FTParams(SGDParams):
    """Hyperparameters of FT (defaults suit small image CNNs such as the digits sample).

    Attributes:
        epochs: Passes over the retain set.
        lr: Learning rate (constant).
        batch_size: Samples per optimiser step.
        momentum: SGD momentum.
        weight_decay: L2 penalty applied by SGD.
    """

    epochs: int = 5
    lr: float = 0.02


@register_method
class FineTune(UnlearningMethod):
    """Minimise cross-entropy on the retain set, starting from the original weights."""

    name = "ft"
    display_name = "Fine-Tuning"
    Params = FTParams

    def _unlearn(
        self, model: nn.Module, forget: ArrayDataset, retain: ArrayDataset, ctx: UnlearningContext
    ) -> Sequence[Mapping[str, float]]:
        return ctx.fit(model, retain, self.params, lambda x, y, _: F.cross_entropy(model(x), y))
