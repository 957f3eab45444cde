"""Per-sample exposure: which forget samples each attack finds most member-like.

Every attack with a per-sample output has a column per model in the instance table
(``instances.parquet``), named ``<model>__<column>`` (:data:`EXPOSURE_SCORES` lists them):

* the population threshold attacks' signals: loss, confidence p_y, entropy, modified entropy
  (the attacks threshold these values; lower loss / entropy means more member-like);
* the PS signals: entropy of softmax(logits / 2) and the logit confidence (higher confidence
  means more member-like);
* the reference-model attacks (:class:`analysis.privacy.SampleScores`): offline LiRA's z,
  offline RMIA's score, online LiRA's and U-LiRA's log-likelihood ratios, higher = member-like.
  Online LiRA and U-LiRA play against the retrain model: ``<model>__mia_<attack>_retrain``
  holds the retrain model's scores in that model's game. NaN where the attack scored nothing
  (outside its sample sets, too few reference/shadow models, or the attack is N/A).

:func:`most_exposed` ranks a model's forget samples by one of them, the retrain model's value
beside each.

Example:
    >>> [e.key for e in EXPOSURE_SCORES][:3]
    ['loss', 'confidence', 'entropy']
    >>> exposure_score("lira_offline").column
    'mia_lira_offline'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import ValidationError, describe
from analysis.privacy import ATTACK_NAMES, PAIRED_GAMES, REFERENCE_ATTACKS, SampleScores

__all__ = [
    "EXPOSURE_SCORES",
    "ExposureScore",
    "attack_columns",
    "exposure_score",
    "most_exposed",
]


@dataclass(frozen=True)
class ExposureScore:
    """One per-sample score of the instance table.

    Attributes:
        key: Identifier (``"loss"``, ``"lira_offline"``, ...).
        label: Display name.
        column: Column suffix in the instance table (``<model>__<column>``).
        higher_is_exposed: True when a higher value means "looks more like a member".
        paired: The attack plays against the retrain model: ``<model>__<column>_retrain``
            holds the retrain model's scores in this model's game.
    """

    key: str
    label: str
    column: str
    higher_is_exposed: bool
    paired: bool = False


#: Every per-sample score, in display order.
EXPOSURE_SCORES: tuple[ExposureScore, ...] = (
    ExposureScore("loss", "Loss (threshold attack; lower = exposed)", "loss", False),
    ExposureScore("confidence", "Confidence p_y (threshold attack)", "true_prob", True),
    ExposureScore("entropy", "Entropy (threshold attack; lower = exposed)", "entropy", False),
    ExposureScore(
        "modified_entropy",
        "Modified entropy (threshold attack; lower = exposed)",
        "modified_entropy",
        False,
    ),
    ExposureScore(
        "ps_entropy", "PS signal: entropy at T = 2 (lower = exposed)", "entropy_t2", False
    ),
    ExposureScore("ps_confidence", "PS signal: logit confidence", "logit_conf", True),
    ExposureScore("lira_offline", "Offline LiRA (z)", "mia_lira_offline", True),
    ExposureScore("rmia_offline", "Offline RMIA", "mia_rmia_offline", True),
    ExposureScore("lira_online", "Online LiRA (log LR)", "mia_lira_online", True, paired=True),
    ExposureScore("ulira", "U-LiRA (log LR)", "mia_ulira", True, paired=True),
)

_BY_KEY = {e.key: e for e in EXPOSURE_SCORES}


def exposure_score(key: str) -> ExposureScore:
    """The :class:`ExposureScore` called ``key`` (a clear error otherwise)."""
    if not isinstance(key, str) or key not in _BY_KEY:
        raise ValidationError(describe("attack", f"one of {list(_BY_KEY)}", key))
    return _BY_KEY[key]


def attack_columns(
    name: str, scores: Mapping[str, SampleScores], split: str, n: int
) -> dict[str, np.ndarray]:
    """Instance-table columns of the reference-model attacks of model ``name`` on one split.

    Args:
        name: Model name (the column prefix).
        scores: :attr:`analysis.privacy.PrivacyReport.sample_scores` of that model.
        split: ``"train"`` or ``"test"``.
        n: Rows of that split.

    Returns:
        ``{"<name>__mia_<attack>": (n,) scores}`` for every reference attack (all NaN when it
        did not run), plus ``..._retrain`` columns of the games against the retrain model
        (train split only; NaN on test).
    """
    out: dict[str, np.ndarray] = {}
    for attack in REFERENCE_ATTACKS:
        public = ATTACK_NAMES[attack]
        found = scores.get(attack)
        values = None if found is None else (found.train if split == "train" else found.test)
        out[f"{name}__mia_{public}"] = np.full(n, np.nan) if values is None else values
        if attack in PAIRED_GAMES:
            paired = None if found is None or split != "train" else found.retrain_train
            out[f"{name}__mia_{public}_retrain"] = np.full(n, np.nan) if paired is None else paired
    return out


def _retrain_column(
    instances: pd.DataFrame, model: str, spec: ExposureScore, retrain: str | None
) -> str | None:
    if spec.paired and f"{model}__{spec.column}_retrain" in instances:
        return f"{model}__{spec.column}_retrain"
    if retrain is not None and f"{retrain}__{spec.column}" in instances:
        return f"{retrain}__{spec.column}"
    return None


def most_exposed(
    instances: pd.DataFrame,
    model: str,
    attack: str,
    *,
    retrain: str | None = None,
    k: int = 20,
) -> pd.DataFrame:
    """The ``k`` forget samples that ``attack`` finds most member-like under ``model``.

    Ranks the forget training samples with a score (NaN rows are left out) from most to least
    exposed (ties: lower index first).

    Args:
        instances: The instance table of a comparison (:attr:`analysis.Comparison.instances`).
        model: Model whose scores are ranked.
        attack: A key of :data:`EXPOSURE_SCORES`.
        retrain: The retrain model, whose score is shown beside (for online LiRA and U-LiRA:
            its score in ``model``'s game).
        k: Rows to return (>= 1).

    Returns:
        Columns rank (1 = most exposed), index (training index), label, pred (``model``'s
        prediction), score, retrain_score (NaN without one).

    Raises:
        ValidationError: Unknown attack, model without columns, or k < 1.

    Example:
        >>> table = pd.DataFrame({"index": [0, 1, 2], "split": ["train"] * 3,
        ...                       "label": [1, 1, 1], "is_forget": [True, True, False],
        ...                       "m__pred": [1, 0, 1], "m__loss": [0.2, 0.1, 0.0]})
        >>> most_exposed(table, "m", "loss")["index"].tolist()
        [1, 0]
    """
    spec = exposure_score(attack)
    column = f"{model}__{spec.column}"
    if column not in instances:
        raise ValidationError(describe("model", "a model of the instance table", model))
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValidationError(describe("k", "an integer >= 1", k))
    rows = instances[(instances["split"] == "train") & instances["is_forget"].astype(bool)]
    rows = rows[rows[column].notna()]
    other = _retrain_column(instances, model, spec, retrain)
    ranked = rows.sort_values(
        [column, "index"], ascending=[not spec.higher_is_exposed, True], kind="mergesort"
    ).head(k)
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(ranked) + 1),
            "index": ranked["index"].to_numpy(),
            "label": ranked["label"].to_numpy(),
            "pred": ranked[f"{model}__pred"].to_numpy(),
            "score": ranked[column].to_numpy(dtype=float),
            "retrain_score": ranked[other].to_numpy(dtype=float)
            if other
            else np.full(len(ranked), np.nan),
        }
    )
