"""RL: random labelling. Forget samples get random wrong labels and join the retain set.

Example:
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> y = torch.tensor([0, 1, 2, 3])
    >>> bool((random_labels(y, 4, generator=g) != y).all())
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from analysis.data import ArrayDataset
from analysis.errors import ValidationError, describe
from analysis.unlearn.base import SGDParams, UnlearningContext, UnlearningMethod, register_method

__all__ = ["RLParams", "RandomLabel", "num_outputs", "random_labels", "relabel"]


def random_labels(
    labels: torch.Tensor, num_classes: int, *, generator: torch.Generator
) -> torch.Tensor:
    """Draw, for each label, a class uniformly among the ``num_classes - 1`` other classes.

    Raises:
        ValidationError: Fewer than two classes, or a label outside ``[0, num_classes)``.

    Example:
        >>> g = torch.Generator().manual_seed(1)
        >>> random_labels(torch.zeros(5, dtype=torch.long), 2, generator=g).tolist()
        [1, 1, 1, 1, 1]
    """
    if num_classes < 2:
        raise ValidationError(describe("num_classes", "at least 2 classes", num_classes))
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValidationError(
            describe(
                "labels",
                f"class ids in [0, {num_classes})",
                f"labels in [{int(labels.min())}, {int(labels.max())}]",
                raw=True,
            )
        )
    offsets = torch.randint(1, num_classes, labels.shape, generator=generator)
    return (labels + offsets.to(labels.device)) % num_classes


def num_outputs(model: nn.Module, dataset: ArrayDataset, device: torch.device) -> int:
    """Width of ``model``'s output (the number of classes), from one sample in eval mode.

    Example:
        >>> ds = ArrayDataset(torch.zeros(2, 3), torch.zeros(2))
        >>> num_outputs(nn.Linear(3, 7), ds, torch.device("cpu"))
        7
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(dataset.x[:1].to(device))
    finally:
        model.train(was_training)
    return int(out.shape[-1])


def relabel(model: nn.Module, forget: ArrayDataset, ctx: UnlearningContext) -> ArrayDataset:
    """``forget`` with every label replaced by a random other class (drawn from ``ctx.generator``).

    The inputs are shared with ``forget`` (no copy).

    Example:
        >>> from analysis.unlearn.base import UnlearningContext
        >>> ctx = UnlearningContext(torch.device("cpu"), torch.Generator().manual_seed(0), None, 0)
        >>> ds = ArrayDataset(torch.zeros(3, 2), torch.tensor([0, 1, 2]))
        >>> relabel(nn.Linear(2, 3), ds, ctx).y.ne(ds.y).all().item()
        True
    """
    classes = num_outputs(model, forget, ctx.device)
    return ArrayDataset(forget.x, random_labels(forget.y, classes, generator=ctx.generator))


@dataclass(frozen=True)
class RLParams(SGDParams):
    """Hyperparameters of RL (defaults suit small image CNNs such as the digits sample).

    Attributes:
        epochs: Passes over the forget and retain sets together.
        lr: Learning rate (constant).
        batch_size: Samples per optimiser step (drawn from both sets, shuffled together).
        momentum: SGD momentum.
        weight_decay: L2 penalty applied by SGD.
    """

    epochs: int = 3
    lr: float = 0.01


@register_method
class RandomLabel(UnlearningMethod):
    """Minimise cross-entropy on the forget set with random wrong labels plus the retain set.

    Each forget sample gets one label, drawn once per run from the seeded generator uniformly
    among the classes other than its true one; forget and retain samples are shuffled together.
    """

    name = "rl"
    display_name = "Random Labeling"
    Params = RLParams

    def _unlearn(
        self, model: nn.Module, forget: ArrayDataset, retain: ArrayDataset, ctx: UnlearningContext
    ) -> Sequence[Mapping[str, float]]:
        relabelled = relabel(model, forget, ctx)
        loss = lambda x, y, _: F.cross_entropy(model(x), y)  # noqa: E731
        return ctx.fit(model, [relabelled, retain], self.params, loss)
