"""Membership-inference suite: signals, ROC reporting, population, retrain-distinguishability,
KS, PrivLeak and reference-model attacks (LiRA, RMIA, U-LiRA), all on numpy arrays of logits
and labels.

Every attack scores samples so that higher means "member"; build ROC reports with
:func:`roc_report`. Degenerate-but-valid input gives a ``RuntimeWarning`` and NaN; bad input a
:class:`analysis.errors.ValidationError` naming the argument.

Example:
    >>> import numpy as np
    >>> from analysis.mia import roc_report, signals_from_logits, member_score
    >>> rng = np.random.default_rng(0)
    >>> logits = rng.normal(size=(400, 10)) + 3.0 * np.eye(10)[np.repeat(np.arange(10), 40)]
    >>> labels = np.repeat(np.arange(10), 40)
    >>> scores = member_score(signals_from_logits(logits, labels), "loss")
    >>> report = roc_report(scores, np.arange(400) % 2 == 0, n_bootstrap=50)
    >>> 0.4 < report.auc < 0.6   # no membership signal in random data
    True
"""

from __future__ import annotations

from analysis.mia.ks import KSResult, ks_forget_quality, ks_interval, ks_p_value
from analysis.mia.population import (
    DEFAULT_POPULATION_SIGNALS,
    SVC_RETAIN_RULES,
    AttackResult,
    PopulationResult,
    SvcMiaResult,
    population_attacks,
    svc_mia_efficacy,
)
from analysis.mia.privacy_score import (
    DELTA,
    DIRECTIONS,
    MAX_FORM_NOTE,
    PS_SIGNALS,
    RATE_CLIP,
    AttackCurve,
    CommonThresholdChoice,
    Direction,
    Grid,
    PrivacyScore,
    SideOutcome,
    ThresholdChoice,
    attack_score_from_epsilon,
    epsilon_from_rates,
    privacy_score,
    privacy_score_from_values,
    privacy_score_interval,
    privacy_score_replicates,
    threshold_common,
    threshold_custom,
    threshold_max_attack,
    threshold_max_success,
    threshold_worst_case,
)
from analysis.mia.privleak import (
    forget_holdout_auc,
    forget_holdout_scores,
    privleak,
    privleak_interval,
)
from analysis.mia.reference import (
    LIRA_CENTRES,
    LIRA_OWN_STD_MIN,
    LiraResult,
    OnlineLiraResult,
    RmiaResult,
    ULiraResult,
    offline_lira,
    offline_rmia,
    online_lira,
    u_lira,
)
from analysis.mia.roc import (
    DEFAULT_FPR_TARGETS,
    RocCurve,
    RocReport,
    TprAtFpr,
    roc_auc,
    roc_curve,
    roc_report,
    tpr_at_fpr,
)
from analysis.mia.signals import (
    MODIFIED_ENTROPY_CLIP,
    SIGNAL_DIRECTIONS,
    SIGNAL_NAMES,
    Signals,
    entropy_at_temperature,
    logit_confidence,
    member_score,
    signals_from_logits,
)

__all__ = [
    "DEFAULT_FPR_TARGETS",
    "DEFAULT_POPULATION_SIGNALS",
    "DELTA",
    "DIRECTIONS",
    "LIRA_CENTRES",
    "LIRA_OWN_STD_MIN",
    "MAX_FORM_NOTE",
    "MODIFIED_ENTROPY_CLIP",
    "PS_SIGNALS",
    "RATE_CLIP",
    "SIGNAL_DIRECTIONS",
    "SIGNAL_NAMES",
    "SVC_RETAIN_RULES",
    "AttackCurve",
    "AttackResult",
    "CommonThresholdChoice",
    "Direction",
    "Grid",
    "KSResult",
    "LiraResult",
    "OnlineLiraResult",
    "PopulationResult",
    "PrivacyScore",
    "RmiaResult",
    "RocCurve",
    "RocReport",
    "SideOutcome",
    "Signals",
    "SvcMiaResult",
    "ThresholdChoice",
    "TprAtFpr",
    "ULiraResult",
    "attack_score_from_epsilon",
    "entropy_at_temperature",
    "epsilon_from_rates",
    "forget_holdout_auc",
    "forget_holdout_scores",
    "ks_forget_quality",
    "ks_interval",
    "ks_p_value",
    "logit_confidence",
    "member_score",
    "offline_lira",
    "offline_rmia",
    "online_lira",
    "population_attacks",
    "privacy_score",
    "privacy_score_from_values",
    "privacy_score_interval",
    "privacy_score_replicates",
    "privleak",
    "privleak_interval",
    "roc_auc",
    "roc_curve",
    "roc_report",
    "signals_from_logits",
    "svc_mia_efficacy",
    "threshold_common",
    "threshold_custom",
    "threshold_max_attack",
    "threshold_max_success",
    "threshold_worst_case",
    "tpr_at_fpr",
    "u_lira",
]
