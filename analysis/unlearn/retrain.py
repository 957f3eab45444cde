"""Retrain: the gold standard. Re-initialise the model and train it from scratch on the retain set.

Example:
    >>> import torch
    >>> from analysis.data import ArrayDataset
    >>> ds = ArrayDataset(torch.randn(16, 3), torch.arange(16) % 2)
    >>> res = Retrain(epochs=1).run(torch.nn.Linear(3, 2), ds, ds, device="cpu")
    >>> len(res.history)
    1
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from torch import nn

from analysis.data import ArrayDataset
from analysis.training import Schedule, TrainConfig, reinitialize, train_model
from analysis.unlearn.base import (
    SGDParams,
    UnlearningContext,
    UnlearningMethod,
    register_method,
    require,
)

__all__ = ["Retrain", "RetrainParams"]

_DEFAULT = TrainConfig()


@dataclass(frozen=True)
class RetrainParams(SGDParams):
    """The :class:`~analysis.training.TrainConfig` fields except ``seed`` (the run's seed is used).

    The defaults are :class:`~analysis.training.TrainConfig`'s, i.e. the settings the sample's
    original model is trained with.

    Attributes:
        epochs: Passes over the retain set.
        lr: Initial learning rate.
        batch_size: Samples per optimiser step.
        momentum: SGD momentum.
        weight_decay: L2 penalty applied by SGD.
        schedule: ``"cosine"`` (per-step annealing to 0) or ``"none"``.

    Example:
        >>> RetrainParams().config(seed=3).seed
        3
    """

    epochs: int = _DEFAULT.epochs
    lr: float = _DEFAULT.lr
    batch_size: int = _DEFAULT.batch_size
    momentum: float = _DEFAULT.momentum
    weight_decay: float = _DEFAULT.weight_decay
    schedule: Schedule = _DEFAULT.schedule

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self, "schedule", self.schedule in ("cosine", "none"), "'cosine' or 'none'")

    def config(self, seed: int) -> TrainConfig:
        """The :class:`TrainConfig` of a run with ``seed``."""
        return TrainConfig(
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            seed=seed,
            schedule=self.schedule,
        )


@register_method
class Retrain(UnlearningMethod):
    """Re-initialise every layer (seeded) and train on the retain set only.

    The result depends on the architecture, the retain set and the seed, never on the
    original's weights. The forget set is not used.
    """

    name = "retrain"
    display_name = "Retrain"
    Params = RetrainParams

    def _unlearn(
        self, model: nn.Module, forget: ArrayDataset, retain: ArrayDataset, ctx: UnlearningContext
    ) -> Sequence[Mapping[str, float]]:
        reinitialize(model, ctx.seed)
        config = self.params.config(ctx.seed)
        result = train_model(
            model,
            retain,
            config,
            device=ctx.device,
            progress=ctx.progress,
            end_of_epoch=lambda epoch, _: ctx.end_of_epoch(epoch),
            should_stop=ctx.should_stop,
        )
        return [{"loss": h.pop("train_loss"), **h} for h in (dict(row) for row in result.history)]
