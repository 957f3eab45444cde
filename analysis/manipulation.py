"""Training-set manipulations for corrective unlearning: label flips and trigger patches.

A :class:`Manipulation` is data, not code: a frozen dataclass stored as JSON in the study's spec
and in every job of a corrective study (``TrainJob.manipulation`` / ``UnlearnJob.manipulation``).
The worker applies it to the training split right after loading the workspace's dataset
(:func:`analysis.runs.execute.run_job`), so the poisoned original, the retrain and the unlearning
runs all see the same manipulated training set; the test split is never changed.

What it does, reproducibly from ``seed``:

* **Which samples**: ``count = max(1, round(fraction * n_train))`` training samples, drawn by
  ``numpy.random.default_rng([seed, 0]).permutation`` among the eligible ones (all samples; with
  a ``target`` class, the samples not of that class). :meth:`Manipulation.indices`.
* ``label_flip``: each chosen sample's label becomes ``target``, or with ``target=None`` a random
  *other* class, ``(y + k) mod C`` with ``k`` drawn uniformly from 1..C-1 by
  ``default_rng([seed, 1])``.
* ``trigger`` (a backdoor): a ``patch`` × ``patch`` square at the bottom-right corner of every
  channel of the chosen inputs is set to ``value`` (default: the maximum of the clean training
  inputs, i.e. max intensity after the dataset's normalisation), and their label becomes
  ``target``. Flat inputs ``(n, d)`` get their last ``patch**2`` features set instead.

Attack success (:func:`corrective_metrics`): for label flips, the share of all manipulated
training samples predicted as their manipulated label; for a trigger, the share of triggered
test inputs not of the target class that are classified as the target.

Example:
    >>> import numpy as np
    >>> m = Manipulation(kind="label_flip", fraction=0.25, seed=0)
    >>> labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    >>> idx = m.indices(labels)
    >>> len(idx), bool((m.labels(labels, 3)[idx] != labels[idx]).all())
    (2, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from analysis.data import ArrayDataset, DatasetBundle
from analysis.errors import ValidationError, describe

__all__ = [
    "MANIPULATION_KINDS",
    "CorrectiveMetrics",
    "Manipulation",
    "corrective_metrics",
]

MANIPULATION_KINDS = ("label_flip", "trigger")
"""The manipulations a corrective study can apply."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass(frozen=True, kw_only=True)
class Manipulation:
    """A seeded manipulation of a fraction of the training set (see the module docstring).

    Attributes:
        kind: ``label_flip`` or ``trigger``.
        fraction: Share of the training samples manipulated, in (0, 1).
        seed: Seed of the draw (samples, and the random labels of a flip).
        target: The label given to the manipulated samples (required for ``trigger``; None for
            a flip to a random other class).
        patch: Side of the square trigger patch in pixels (``trigger`` only).
        value: The patch's value (None: the maximum of the clean training inputs).
    """

    kind: str
    fraction: float
    seed: int = 0
    target: int | None = None
    patch: int = 3
    value: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in MANIPULATION_KINDS:
            raise ValidationError(
                describe("manipulation.kind", f"one of {list(MANIPULATION_KINDS)}", self.kind)
            )
        ok = isinstance(self.fraction, int | float) and not isinstance(self.fraction, bool)
        if not ok or not math.isfinite(float(self.fraction)) or not 0 < self.fraction < 1:
            raise ValidationError(
                describe("manipulation.fraction", "a fraction in (0, 1)", self.fraction)
            )
        if not _is_int(self.seed) or self.seed < 0:
            raise ValidationError(
                describe("manipulation.seed", "a non-negative integer", self.seed)
            )
        if self.target is not None and (not _is_int(self.target) or self.target < 0):
            raise ValidationError(describe("manipulation.target", "a class id", self.target))
        if self.kind == "trigger" and self.target is None:
            raise ValidationError(
                describe("manipulation.target", "a target class for a trigger", None)
            )
        if not _is_int(self.patch) or self.patch < 1:
            raise ValidationError(
                describe("manipulation.patch", "a positive patch side in pixels", self.patch)
            )
        if self.value is not None and (
            not isinstance(self.value, int | float)
            or isinstance(self.value, bool)
            or not math.isfinite(float(self.value))
        ):
            raise ValidationError(
                describe("manipulation.value", "a finite number or None", self.value)
            )

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (see :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Manipulation:
        """Rebuild from :meth:`to_dict`'s output (or pass a Manipulation through).

        Raises:
            ValidationError: Not a mapping, unknown keys, or invalid values.

        Example:
            >>> Manipulation.from_dict({"kind": "trigger", "fraction": 0.1, "target": 0}).patch
            3
        """
        if isinstance(data, Manipulation):
            return data
        if not isinstance(data, Mapping):
            raise ValidationError(
                describe("manipulation", "a mapping such as {kind, fraction, ...}", data)
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(describe("manipulation", f"keys among {sorted(known)}", unknown))
        if "kind" not in data or "fraction" not in data:
            raise ValidationError(describe("manipulation", "kind and fraction", sorted(data)))
        return cls(**dict(data))

    # ------------------------------------------------------------------ the draw

    def indices(self, labels: np.ndarray) -> np.ndarray:
        """Sorted indices of the manipulated training samples.

        Raises:
            ValidationError: ``target`` is not a class of ``labels``, or fewer eligible samples
                than the fraction asks for.
        """
        labels = np.asarray(labels)
        n = len(labels)
        if self.target is not None and self.target not in set(np.unique(labels).tolist()):
            raise ValidationError(
                describe(
                    "manipulation.target",
                    f"a class among {np.unique(labels).tolist()}",
                    self.target,
                )
            )
        eligible = np.arange(n) if self.target is None else np.flatnonzero(labels != self.target)
        count = max(1, round(float(self.fraction) * n))
        if count > len(eligible):
            raise ValidationError(
                describe(
                    "manipulation.fraction",
                    f"at most {len(eligible) / n:.3f} (the samples not of the target class)",
                    self.fraction,
                )
            )
        rng = np.random.default_rng([int(self.seed), 0])
        return np.sort(rng.permutation(eligible)[:count]).astype(np.int64)

    def labels(self, labels: np.ndarray, num_classes: int) -> np.ndarray:
        """The full label array after the manipulation (a copy)."""
        labels = np.asarray(labels, dtype=np.int64)
        if self.target is not None and self.target >= num_classes:
            raise ValidationError(
                describe("manipulation.target", f"a class id below {num_classes}", self.target)
            )
        idx = self.indices(labels)
        out = labels.copy()
        if self.target is not None:
            out[idx] = self.target
        else:
            rng = np.random.default_rng([int(self.seed), 1])
            out[idx] = (labels[idx] + rng.integers(1, num_classes, size=len(idx))) % num_classes
        return out

    def patch_value(self, clean_train_x: torch.Tensor) -> float:
        """The trigger's value: ``value``, else the maximum of the clean training inputs."""
        return float(self.value) if self.value is not None else float(clean_train_x.max())

    def stamp(self, x: torch.Tensor, value: float) -> torch.Tensor:
        """A copy of inputs ``x`` (batch first) with the trigger patch set to ``value``.

        Raises:
            ValidationError: The patch does not fit the inputs.

        Example:
            >>> m = Manipulation(kind="trigger", fraction=0.1, target=0, patch=2)
            >>> m.stamp(torch.zeros(1, 1, 3, 3), 1.0)[0, 0].tolist()
            [[0.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]
        """
        out = x.clone()
        k = int(self.patch)
        if out.ndim >= 3:
            if k > out.shape[-1] or k > out.shape[-2]:
                raise ValidationError(
                    describe(
                        "manipulation.patch",
                        f"at most the input's height and width {tuple(out.shape[-2:])}",
                        k,
                    )
                )
            out[..., -k:, -k:] = value
            return out
        if k * k > out.shape[-1]:
            raise ValidationError(
                describe("manipulation.patch", f"patch**2 <= {out.shape[-1]} features", k)
            )
        out[:, -k * k :] = value
        return out

    # ------------------------------------------------------------------ datasets

    def apply(self, data: DatasetBundle) -> DatasetBundle:
        """The bundle with its training split manipulated (the test split unchanged)."""
        train = data.train
        idx = self.indices(train.targets)
        y = torch.as_tensor(self.labels(train.targets, data.num_classes))
        x = train.x
        if self.kind == "trigger":
            x = x.clone()
            x[idx] = self.stamp(train.x[idx], self.patch_value(train.x))
        return replace(data, train=ArrayDataset(x, y))

    def triggered_test(self, data: DatasetBundle) -> ArrayDataset:
        """Test inputs not of the target class with the trigger stamped (labels unchanged).

        ``data`` is the clean bundle (the patch value comes from its training inputs).
        """
        if self.kind != "trigger":
            raise ValidationError(describe("manipulation.kind", "'trigger'", self.kind))
        keep = np.flatnonzero(data.test.targets != self.target)
        x = self.stamp(data.test.x[keep], self.patch_value(data.train.x))
        return ArrayDataset(x, data.test.y[keep])


@dataclass(frozen=True)
class CorrectiveMetrics:
    """A model's corrective-unlearning numbers (see the module docstring).

    Attributes:
        clean_acc: Accuracy on the clean test set.
        attack: Attack success rate (label flip: manipulated training samples predicted as
            their manipulated label; trigger: triggered non-target test inputs predicted as
            the target).
        UA: Share of the known manipulated samples (the forget set) predicted as their
            manipulated label (NaN without a known subset).
        n_manipulated: Manipulated training samples.
        n_known: Known ones (the forget set).
    """

    clean_acc: float
    attack: float
    UA: float
    n_manipulated: int
    n_known: int


def corrective_predictions(
    model: nn.Module,
    data: DatasetBundle,
    manipulation: Manipulation,
    *,
    device: str | torch.device = "auto",
) -> dict[str, np.ndarray]:
    """The predictions :func:`corrective_metrics` needs (one pass per split).

    Returns:
        ``indices`` (manipulated training samples), ``labels`` (their manipulated labels),
        ``train`` (predictions on the manipulated inputs), ``test`` (clean test predictions),
        ``attack`` (1 where the attack succeeds on its evaluation set).
    """
    from analysis.device import resolve_device
    from analysis.training import predict_logits

    resolved = resolve_device(device)
    poisoned = manipulation.apply(data)
    idx = manipulation.indices(data.train.targets)
    manipulated = poisoned.train.subset(idx)
    train_pred = predict_logits(model, manipulated, device=resolved).numpy().argmax(1)
    test_pred = predict_logits(model, data.test, device=resolved).numpy().argmax(1)
    labels = manipulated.targets
    if manipulation.kind == "trigger":
        triggered = manipulation.triggered_test(data)
        trig = predict_logits(model, triggered, device=resolved).numpy().argmax(1)
        attack = trig == manipulation.target
    else:
        attack = train_pred == labels
    return {
        "indices": idx,
        "labels": labels,
        "train": train_pred,
        "test": test_pred,
        "test_labels": data.test.targets,
        "attack": attack,
    }


def metrics_from_predictions(
    predictions: Mapping[str, np.ndarray], known: np.ndarray | None = None
) -> CorrectiveMetrics:
    """:class:`CorrectiveMetrics` from :func:`corrective_predictions` and a known subset.

    Raises:
        ValidationError: ``known`` holds indices that are not manipulated samples.
    """
    idx = np.asarray(predictions["indices"])
    attack = np.asarray(predictions["attack"])
    test_ok = np.asarray(predictions["test"]) == np.asarray(predictions["test_labels"])
    ua, n_known = math.nan, 0
    if known is not None:
        known = np.asarray(known, dtype=np.int64)
        mask = np.isin(idx, known)
        if int(mask.sum()) != len(np.unique(known)):
            raise ValidationError(
                describe("known", "indices of manipulated samples", "other indices", raw=True)
            )
        n_known = int(mask.sum())
        hits = np.asarray(predictions["train"])[mask] == np.asarray(predictions["labels"])[mask]
        ua = float(hits.mean()) if n_known else math.nan
    return CorrectiveMetrics(
        clean_acc=float(test_ok.mean()),
        attack=float(attack.mean()) if len(attack) else math.nan,
        UA=ua,
        n_manipulated=len(idx),
        n_known=n_known,
    )


def corrective_metrics(
    model: nn.Module,
    data: DatasetBundle,
    manipulation: Manipulation,
    *,
    known: np.ndarray | None = None,
    device: str | torch.device = "auto",
) -> CorrectiveMetrics:
    """Clean test accuracy, attack success and forget accuracy of a model.

    Args:
        model: The classifier.
        data: The *clean* dataset bundle (the manipulation is applied here).
        manipulation: The manipulation the model's training set had.
        known: Indices of the known manipulated samples (the forget set), or None.
        device: ``"auto"``, ``"cpu"``, ``"cuda[:N]"``.

    Returns:
        The :class:`CorrectiveMetrics`.

    Raises:
        ValidationError: Bad ``known`` indices, or a manipulation the dataset cannot take.

    Example:
        >>> import analysis
        >>> exp = analysis.load_experiment("sample_data/digits")
        >>> m = Manipulation(kind="label_flip", fraction=0.1, seed=0)
        >>> r = corrective_metrics(exp.load_model("original"), exp.data, m, device="cpu")
        >>> r.n_manipulated, r.attack < 0.2 < r.clean_acc
        (144, True)
    """
    manipulation = Manipulation.from_dict(manipulation)
    preds = corrective_predictions(model, data, manipulation, device=device)
    return metrics_from_predictions(preds, known)
