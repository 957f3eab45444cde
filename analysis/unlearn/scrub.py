"""SCRUB (Kurmanji et al., 2023): teacher-student max-min distillation.

The teacher is a frozen copy of the original. Each epoch first runs (for the first
``max_epochs`` epochs only) a *max* pass over the forget set that pushes the student's
predictions away from the teacher's, then a *min* pass over the retain set that keeps them
close to the teacher's while fitting the labels.

Divergence: ``d(x) = KL(p_teacher(x) ‖ p_student(x))`` on temperature-``T`` softmaxes, scaled by
``T²`` (the paper's ``d(x; w_u) = KL(p(f(x; w_o)) ‖ p(f(x; w_u)))`` and its reference code's
``DistillKL``). Max steps minimise ``−d`` on forget batches; min steps minimise
``α·d + γ·CE`` on retain batches. Both use one SGD optimiser.

Example:
    >>> Scrub(alpha=0.5, temperature=2.0).params.max_epochs
    5
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from analysis.data import ArrayDataset
from analysis.training import ProgressTracker, count_train_batches, make_optimizer
from analysis.unlearn.base import (
    Bounds,
    SGDParams,
    UnlearningContext,
    UnlearningMethod,
    register_method,
    require,
)

__all__ = ["SCRUBParams", "Scrub", "distill_kl"]


def distill_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Batch-mean ``KL(softmax(teacher/T) ‖ softmax(student/T)) · T²``.

    Example:
        >>> z = torch.randn(4, 3)
        >>> float(distill_kl(z, z, 2.0))
        0.0
    """
    log_s = F.log_softmax(student / temperature, dim=1)
    log_t = F.log_softmax(teacher / temperature, dim=1)
    kl = F.kl_div(log_s, log_t, reduction="batchmean", log_target=True)
    return kl * temperature**2


@dataclass(frozen=True)
class SCRUBParams(SGDParams):
    """Hyperparameters of SCRUB (defaults suit small image CNNs such as the digits sample).

    Attributes:
        epochs: Epochs; each has a min pass over the retain set.
        lr: Learning rate (constant) of both kinds of step.
        batch_size: Retain samples per min step.
        momentum: SGD momentum.
        weight_decay: L2 penalty applied by SGD.
        max_epochs: The first ``max_epochs`` epochs also run a max pass over the forget set
            before their min pass (``msteps`` in the paper); at most ``epochs``.
        forget_batch_size: Forget samples per max step. The default takes a small forget set
            (the digits sample's 146 class-3 images) in one step per max pass: smaller max
            batches make the unbounded divergence take off abruptly and erratically.
        alpha: Weight of the distillation term of the min steps.
        gamma: Weight of the cross-entropy term of the min steps.
        temperature: Softmax temperature of the distillation.
    """

    epochs: int = 6
    lr: float = 0.02
    max_epochs: int = 5
    forget_batch_size: int = 256
    alpha: float = 1.0
    gamma: float = 1.0
    temperature: float = 4.0

    BOUNDS: ClassVar[Mapping[str, Bounds]] = {
        "max_epochs": (0, None),
        "forget_batch_size": (1, None),
        "alpha": (0.0, None),
        "gamma": (0.0, None),
        "temperature": (0.0, None),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            self,
            "max_epochs",
            0 <= self.max_epochs <= self.epochs,
            f"an integer in [0, epochs={self.epochs}]",
        )
        require(self, "forget_batch_size", self.forget_batch_size >= 1, "a positive integer")
        for name in ("alpha", "gamma"):
            value = getattr(self, name)
            require(self, name, math.isfinite(value) and value >= 0, "a non-negative number")
        ok = math.isfinite(self.temperature) and self.temperature > 0
        require(self, "temperature", ok, "a positive number")


@register_method
class Scrub(UnlearningMethod):
    """SCRUB: max steps on the forget set, min steps on the retain set, against a frozen teacher.

    The history has, per epoch, ``forget_kl`` (mean divergence over the max steps, when the
    epoch has them) and ``loss`` (mean min-step loss).
    """

    name = "scrub"
    display_name = "SCRUB"
    Params = SCRUBParams

    def _unlearn(
        self, model: nn.Module, forget: ArrayDataset, retain: ArrayDataset, ctx: UnlearningContext
    ) -> Sequence[Mapping[str, float]]:
        p = self.params
        teacher = copy.deepcopy(model).eval().requires_grad_(False)
        optimizer = make_optimizer(
            model.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay
        )
        steps = p.max_epochs * count_train_batches(len(forget), p.forget_batch_size)
        steps += p.epochs * count_train_batches(len(retain), p.batch_size)
        tracker = ProgressTracker(ctx.progress, epochs=p.epochs, steps=steps)

        def max_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return -distill_kl(model(x), _frozen_logits(teacher, x), p.temperature)

        def min_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            logits = model(x)
            kl = distill_kl(logits, _frozen_logits(teacher, x), p.temperature)
            return p.alpha * kl + p.gamma * F.cross_entropy(logits, y)

        history: list[dict[str, float]] = []
        for epoch in range(1, p.epochs + 1):
            model.train()
            record = {"epoch": float(epoch)}
            if epoch <= p.max_epochs:
                batches = ctx.batches(forget, p.forget_batch_size)
                record["forget_kl"] = -_pass(batches, max_loss, optimizer, tracker, epoch)
            batches = ctx.batches(retain, p.batch_size)
            record["loss"] = _pass(batches, min_loss, optimizer, tracker, epoch)
            history.append({**record, **ctx.end_of_epoch(epoch)})
            if ctx.should_stop():
                break
        return history


def _frozen_logits(teacher: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return teacher(x)


def _pass(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    tracker: ProgressTracker,
    epoch: int,
) -> float:
    """One optimisation pass; returns the mean loss of its steps."""
    values: list[float] = []
    for x, y in batches:
        loss = loss_fn(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        values.append(float(loss.detach().item()))
        tracker.advance(epoch, {"loss": values[-1]})
    return sum(values) / max(1, len(values))
