"""Per-sample difficulty scores that rank training samples for worst-case forget sets.

``memorization`` — the memorization estimate of Feldman & Zhang (2020), computed from the
workspace's ``reference`` models (each trained on a random half, with its membership mask):

    mem(i) = mean over references holding i  of p_y(x_i)
           − mean over references without i of p_y(x_i)

with p_y the softmax probability of the true class (a smooth version of their accuracy-based
estimate, which ties heavily with a handful of references). A high score means the models only
get the sample right when they trained on it: its influence lives in the weights, which is what
makes a forget set of such samples hard to unlearn (Zhao et al., "What makes unlearning hard
and what to do about it", NeurIPS 2024, rank forget sets by this score). Samples without an IN
or an OUT reference get NaN.

Example:
    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.8], [0.2, 0.7]])      # 2 references x 2 samples: p_y
    >>> members = np.array([[True, False], [False, True]])
    >>> memorization_from(probs, members).round(2).tolist()  # (0.9 - 0.2), (0.7 - 0.8)
    [0.7, -0.1]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from analysis.errors import ValidationError, describe

__all__ = ["DIFFICULTY_SCORES", "difficulty_scores", "memorization_from"]

DIFFICULTY_SCORES = ("memorization",)
"""The scores :func:`difficulty_scores` computes."""


def memorization_from(true_probs: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Memorization per sample from references' true-class probabilities and membership.

    Args:
        true_probs: ``(K, n)`` p_y of each reference on each training sample.
        members: ``(K, n)`` whether reference k trained on sample i.

    Returns:
        ``(n,)`` mean p_y over IN references minus mean over OUT references (NaN where one
        side has no reference).

    Raises:
        ValidationError: Shapes differ or are not 2-D.
    """
    probs = np.asarray(true_probs, dtype=np.float64)
    inside = np.asarray(members, dtype=bool)
    if probs.ndim != 2 or probs.shape != inside.shape:
        raise ValidationError(
            describe("members", f"a boolean array of shape {probs.shape}", inside.shape)
        )
    n_in, n_out = inside.sum(0), (~inside).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_in = np.where(inside, probs, 0.0).sum(0) / n_in
        mean_out = np.where(~inside, probs, 0.0).sum(0) / n_out
    return np.where((n_in > 0) & (n_out > 0), mean_in - mean_out, np.nan)


def difficulty_scores(
    exp: Any, score: str = "memorization", *, device: str | torch.device = "auto"
) -> np.ndarray:
    """Per-training-sample difficulty of an experiment (see the module docstring).

    Args:
        exp: The experiment (:func:`analysis.load_experiment`).
        score: One of :data:`DIFFICULTY_SCORES`.
        device: Where the reference models run.

    Raises:
        ValidationError: Unknown score, or fewer than two reference models (the message says
            how to train them).
    """
    from analysis.training import predict_logits

    if score not in DIFFICULTY_SCORES:
        raise ValidationError(describe("score", f"one of {list(DIFFICULTY_SCORES)}", score))
    refs = exp.names_with_role("reference")
    if len(refs) < 2:
        raise ValidationError(
            describe(
                "score",
                "at least two reference models for memorization scores "
                "(train them with: ulens references WS --count 8)",
                f"{len(refs)} reference model(s)",
                raw=True,
            )
        )
    train = exp.dataset("train")
    labels = torch.as_tensor(train.targets, dtype=torch.long)
    probs, members = [], []
    for name in refs:
        logits = predict_logits(exp.load_model(name, device=device), train, device=device)
        probs.append(torch.softmax(logits.double(), 1).gather(1, labels[:, None])[:, 0].numpy())
        members.append(exp.members_mask(name))
    return memorization_from(np.stack(probs), np.stack(members))
