"""The models table: every model of a scenario with its role, method and accuracy metrics.

Example:
    >>> import analysis
    >>> table = model_overview(analysis.load_experiment("sample_data/digits"))
    >>> {"name", "role", "UA", "RA", "TUA", "TRA", "RT"} <= set(table.columns)
    True
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from analysis.experiment import Experiment
from analysis.inference import forward_pass
from analysis.metrics import accuracy_metrics

__all__ = ["model_logits", "model_overview"]


def model_logits(exp: Experiment, name: str, *, device: str | torch.device = "auto"
                 ) -> dict[str, np.ndarray]:
    """Logits of model ``name`` on the train and test splits (one batched pass each)."""
    model = exp.load_model(name, device=device)
    return {split: forward_pass({name: model}, exp.dataset(split), device=device)[name].logits
            for split in ("train", "test")}


def model_overview(exp: Experiment, *, device: str | torch.device = "auto") -> pd.DataFrame:
    """One row per model of the scenario: role, method, base, RT and UA / RA / TUA / TRA."""
    rows = []
    train_y, test_y = exp.dataset("train").targets, exp.dataset("test").targets
    for name, entry in exp.models.items():
        logits = model_logits(exp, name, device=device)
        acc = accuracy_metrics(
            logits["train"].argmax(1), train_y, logits["test"].argmax(1), test_y,
            forget_indices=exp.forget_indices, forget_classes=exp.forget_classes,
            num_classes=exp.num_classes,
        )
        rows.append({"name": name, "role": entry.role, "method": entry.method or "",
                     "base": entry.base or "", "UA": acc.ua, "RA": acc.ra, "TUA": acc.tua,
                     "TRA": acc.tra, "RT": entry.rt})
    return pd.DataFrame(rows)
