"""GA: gradient ascent on the forget set, with the gradient norm clipped at every step.

Example:
    >>> GradientAscent(clip_norm=0.5).params.clip_norm
    0.5
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from torch import nn
from torch.nn import functional as F

from analysis.data import ArrayDataset
from analysis.unlearn.base import (
    Bounds,
    SGDParams,
    UnlearningContext,
    UnlearningMethod,
    register_method,
    require,
)

__all__ = ["GAParams", "GradientAscent"]


@dataclass(frozen=True)
class GAParams(SGDParams):
    """Hyperparameters of GA (defaults suit small image CNNs such as the digits sample).

    Attributes:
        epochs: Passes over the forget set.
        lr: Learning rate (constant).
        batch_size: Samples per optimiser step.
        momentum: SGD momentum.
        weight_decay: L2 penalty applied by SGD.
        clip_norm: Maximum L2 norm of the gradient of all parameters together, per step.
    """

    epochs: int = 6
    lr: float = 0.007
    clip_norm: float = 1.0

    BOUNDS: ClassVar[Mapping[str, Bounds]] = {"clip_norm": (0.0, None)}

    def __post_init__(self) -> None:
        super().__post_init__()
        ok = math.isfinite(self.clip_norm) and self.clip_norm > 0
        require(self, "clip_norm", ok, "a positive number")


@register_method
class GradientAscent(UnlearningMethod):
    """Maximise cross-entropy on the forget set (minimise its negative), clipping gradients.

    The retain set is not used. The history's ``loss`` is the optimised objective, i.e. minus
    the forget cross-entropy.
    """

    name = "ga"
    display_name = "Gradient Ascent"
    Params = GAParams

    def _unlearn(
        self, model: nn.Module, forget: ArrayDataset, retain: ArrayDataset, ctx: UnlearningContext
    ) -> Sequence[Mapping[str, float]]:
        return ctx.fit(
            model,
            forget,
            self.params,
            lambda x, y, _: -F.cross_entropy(model(x), y),
            clip_norm=self.params.clip_norm,
        )
