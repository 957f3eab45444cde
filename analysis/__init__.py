"""Unlearning Lens analysis library: load an experiment, compare two models, audit privacy.

A notebook user needs nothing but this module:

Example:
    >>> import analysis
    >>> exp = analysis.load_experiment("sample_data/digits")
    >>> sorted(exp.models)[:3]
    ['ft', 'ga', 'l1sparse']
    >>> round(analysis.linear_cka([[0.0, 1], [1, 0], [2, 2], [3, 1], [0, 5]],
    ...                           [[0.0, 1], [1, 0], [2, 2], [3, 1], [0, 5]]), 6)
    1.0
"""

from __future__ import annotations

from analysis.bootstrap import (
    DEFAULT_N_BOOTSTRAP,
    centred_interval,
    class_mean_interval,
    mean_interval,
    percentile_interval,
)
from analysis.cka import CKAAccumulator, CKAMatrix, linear_cka, rbf_cka
from analysis.compare import (
    CompareOptions,
    Comparison,
    Embedding,
    LayerSimilarity,
    ModelOutputs,
    ModelReport,
    audit_table,
    compare,
    models_table,
    pareto_mask,
    summary_dict,
)
from analysis.data import ArrayDataset, DatasetBundle, ForgetSet, load_dataset, resolve_forget_set
from analysis.device import resolve_device
from analysis.embedding import embed_pair, stratified_subset
from analysis.errors import (
    CacheError,
    DatasetError,
    MethodError,
    SpecError,
    UlensError,
    UnsafeFileError,
    ValidationError,
    WeightsError,
)
from analysis.experiment import Experiment, load_experiment
from analysis.exposure import EXPOSURE_SCORES, ExposureScore, most_exposed
from analysis.inference import PassOutputs, forward_pass
from analysis.metrics import (
    AccuracyMetrics,
    ClassMetrics,
    accuracy_intervals,
    accuracy_metrics,
    class_metrics,
)
from analysis.mia import (
    KSResult,
    PopulationResult,
    PrivacyScore,
    RocReport,
    forget_holdout_auc,
    ks_forget_quality,
    ks_interval,
    offline_lira,
    offline_rmia,
    online_lira,
    population_attacks,
    privacy_score,
    privacy_score_interval,
    privleak,
    privleak_interval,
    roc_auc,
    roc_curve,
    roc_report,
    signals_from_logits,
    svc_mia_efficacy,
    tpr_at_fpr,
    u_lira,
)
from analysis.models import (
    available_architectures,
    build_model,
    discover_layers,
    load_weights_into,
    read_weights,
    register_architecture,
    save_weights,
)
from analysis.privacy import (
    AttackInfo,
    AuditSets,
    PrivacyReport,
    ReferenceLogits,
    SampleScores,
    ShadowLogits,
    audit_sets,
    privacy_report,
)
from analysis.spec import ArchitectureSpec, ExperimentSpec, ModelEntry, load_spec
from analysis.store import ResultCache, RunRegistry
from analysis.training import TrainConfig, accuracy, predict_logits, train_model
from analysis.unlearn import (
    UnlearningMethod,
    UnlearningResult,
    available_methods,
    get_method,
    make_method,
    register_method,
)
from analysis.weight_change import WeightChange, weight_change

__all__ = [
    "DEFAULT_N_BOOTSTRAP",
    "EXPOSURE_SCORES",
    "AccuracyMetrics",
    "ArchitectureSpec",
    "ArrayDataset",
    "AttackInfo",
    "AuditSets",
    "CKAAccumulator",
    "CKAMatrix",
    "CacheError",
    "ClassMetrics",
    "CompareOptions",
    "Comparison",
    "DatasetBundle",
    "DatasetError",
    "Embedding",
    "Experiment",
    "ExperimentSpec",
    "ExposureScore",
    "ForgetSet",
    "KSResult",
    "LayerSimilarity",
    "MethodError",
    "ModelEntry",
    "ModelOutputs",
    "ModelReport",
    "PassOutputs",
    "PopulationResult",
    "PrivacyReport",
    "PrivacyScore",
    "ReferenceLogits",
    "ResultCache",
    "RocReport",
    "RunRegistry",
    "SampleScores",
    "ShadowLogits",
    "SpecError",
    "TrainConfig",
    "UlensError",
    "UnlearningMethod",
    "UnlearningResult",
    "UnsafeFileError",
    "ValidationError",
    "WeightChange",
    "WeightsError",
    "accuracy",
    "accuracy_intervals",
    "accuracy_metrics",
    "audit_sets",
    "audit_table",
    "available_architectures",
    "available_methods",
    "build_model",
    "centred_interval",
    "class_mean_interval",
    "class_metrics",
    "compare",
    "discover_layers",
    "embed_pair",
    "forget_holdout_auc",
    "forward_pass",
    "get_method",
    "ks_forget_quality",
    "ks_interval",
    "linear_cka",
    "load_dataset",
    "load_experiment",
    "load_spec",
    "load_weights_into",
    "make_method",
    "mean_interval",
    "models_table",
    "most_exposed",
    "offline_lira",
    "offline_rmia",
    "online_lira",
    "pareto_mask",
    "percentile_interval",
    "population_attacks",
    "predict_logits",
    "privacy_report",
    "privacy_score",
    "privacy_score_interval",
    "privleak",
    "privleak_interval",
    "rbf_cka",
    "read_weights",
    "register_architecture",
    "register_method",
    "resolve_device",
    "resolve_forget_set",
    "roc_auc",
    "roc_curve",
    "roc_report",
    "save_weights",
    "signals_from_logits",
    "stratified_subset",
    "summary_dict",
    "svc_mia_efficacy",
    "tpr_at_fpr",
    "train_model",
    "u_lira",
    "weight_change",
]
