"""Unlearning Lens analysis library: load an experiment, compare two models, audit privacy.

A notebook user needs nothing but this module. Its names are imported on first use (PEP 562):
``import analysis`` and the light modules (``analysis.errors``, ``analysis.trust``,
``analysis.spec``) do not load torch, scikit-learn or pandas, so a command that only checks its
arguments (``ulens dashboard``) starts at once.

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

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        pair_embedding,
        pareto_mask,
        summary_dict,
    )
    from analysis.data import (
        ArrayDataset,
        DatasetBundle,
        ForgetSet,
        load_dataset,
        resolve_forget_set,
    )
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
    from analysis.group_robustness import (
        GroupLabels,
        GroupMetrics,
        group_metrics,
        group_robustness_table,
        load_groups,
    )
    from analysis.groups import (
        WelchTest,
        assign_groups,
        compare_groups,
        group_key,
        group_table,
        model_seeds,
        welch_test,
    )
    from analysis.inference import PassOutputs, forward_pass
    from analysis.manipulation import (
        MANIPULATION_KINDS,
        CorrectiveMetrics,
        Manipulation,
        corrective_metrics,
    )
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
    from analysis.runs.api import (
        add_scenario,
        cancel,
        delete_run,
        ensure_workers,
        list_runs,
        run_jobs,
    )
    from analysis.runs.jobs import ReferencesJob, ShadowsJob, TrainJob, UnlearnJob, grid_jobs
    from analysis.runs.plan import submit
    from analysis.runs.registry import (
        StudyRecord,
    )
    from analysis.spec import ArchitectureSpec, ExperimentSpec, ModelEntry, load_spec
    from analysis.store import ResultCache, RunRegistry
    from analysis.studies import (
        CorrectiveStudy,
        ScalabilityStudy,
        Study,
        StudyDeletion,
        StudyGroups,
        StudyResult,
        StudyStatus,
        SustainabilityStudy,
        WorstCaseStudy,
        cancel_study,
        delete_study,
        list_studies,
        run_study,
        study_groups,
        study_results,
        study_status,
        submit_study,
    )
    from analysis.training import TrainConfig, accuracy, predict_logits, train_model
    from analysis.trust import (
        OutsideWorkspaceError,
        ResourceLimitError,
        TrustNotice,
        TrustPolicy,
        UntrustedCodeError,
        confine,
        current_policy,
        display_path,
        import_reference,
        trust_policy,
    )
    from analysis.unlearn import (
        UnlearningMethod,
        UnlearningResult,
        available_methods,
        get_method,
        make_method,
        register_method,
    )
    from analysis.weight_change import WeightChange, weight_change

_SOURCES: dict[str, str] = {
    "analysis.bootstrap": (
        "DEFAULT_N_BOOTSTRAP centred_interval class_mean_interval mean_interval percentile_interval"
    ),
    "analysis.cka": "CKAAccumulator CKAMatrix linear_cka rbf_cka",
    "analysis.compare": (
        "CompareOptions Comparison Embedding LayerSimilarity ModelOutputs "
        "ModelReport audit_table compare models_table pair_embedding pareto_mask summary_dict"
    ),
    "analysis.data": "ArrayDataset DatasetBundle ForgetSet load_dataset resolve_forget_set",
    "analysis.device": "resolve_device",
    "analysis.embedding": "embed_pair stratified_subset",
    "analysis.errors": (
        "CacheError DatasetError MethodError SpecError UlensError UnsafeFileError "
        "ValidationError WeightsError"
    ),
    "analysis.experiment": "Experiment load_experiment",
    "analysis.exposure": "EXPOSURE_SCORES ExposureScore most_exposed",
    "analysis.groups": (
        "WelchTest assign_groups compare_groups group_key group_table model_seeds welch_test"
    ),
    "analysis.inference": "PassOutputs forward_pass",
    "analysis.metrics": (
        "AccuracyMetrics ClassMetrics accuracy_intervals accuracy_metrics class_metrics"
    ),
    "analysis.mia": (
        "KSResult PopulationResult PrivacyScore RocReport forget_holdout_auc "
        "ks_forget_quality ks_interval offline_lira offline_rmia online_lira "
        "population_attacks privacy_score privacy_score_interval privleak "
        "privleak_interval roc_auc roc_curve roc_report signals_from_logits "
        "svc_mia_efficacy tpr_at_fpr u_lira"
    ),
    "analysis.models": (
        "available_architectures build_model discover_layers load_weights_into "
        "read_weights register_architecture save_weights"
    ),
    "analysis.privacy": (
        "AttackInfo AuditSets PrivacyReport ReferenceLogits SampleScores "
        "ShadowLogits audit_sets privacy_report"
    ),
    "analysis.runs.api": "add_scenario cancel delete_run ensure_workers list_runs run_jobs",
    "analysis.runs.jobs": "ReferencesJob ShadowsJob TrainJob UnlearnJob grid_jobs",
    "analysis.runs.plan": "submit",
    "analysis.spec": "ArchitectureSpec ExperimentSpec ModelEntry load_spec",
    "analysis.store": "ResultCache RunRegistry",
    "analysis.training": "TrainConfig accuracy predict_logits train_model",
    "analysis.trust": (
        "OutsideWorkspaceError ResourceLimitError TrustNotice TrustPolicy "
        "UntrustedCodeError confine current_policy display_path import_reference "
        "trust_policy"
    ),
    "analysis.unlearn": (
        "UnlearningMethod UnlearningResult available_methods get_method make_method register_method"
    ),
    "analysis.group_robustness": (
        "GroupLabels GroupMetrics group_metrics group_robustness_table load_groups"
    ),
    "analysis.manipulation": "MANIPULATION_KINDS CorrectiveMetrics Manipulation corrective_metrics",
    "analysis.runs.registry": "StudyRecord",
    "analysis.studies": (
        "CorrectiveStudy ScalabilityStudy Study StudyDeletion StudyGroups StudyResult "
        "StudyStatus SustainabilityStudy WorstCaseStudy cancel_study delete_study list_studies "
        "run_study study_groups study_results study_status submit_study"
    ),
    "analysis.weight_change": "WeightChange weight_change",
}
"""Where each public name lives (space-separated); the imports above list the same names for
type checkers, and the tests check that the two agree."""
_WHERE = {name: module for module, names in _SOURCES.items() for name in names.split()}

__all__ = [
    "DEFAULT_N_BOOTSTRAP",
    "EXPOSURE_SCORES",
    "MANIPULATION_KINDS",
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
    "CorrectiveMetrics",
    "CorrectiveStudy",
    "DatasetBundle",
    "DatasetError",
    "Embedding",
    "Experiment",
    "ExperimentSpec",
    "ExposureScore",
    "ForgetSet",
    "GroupLabels",
    "GroupMetrics",
    "KSResult",
    "LayerSimilarity",
    "Manipulation",
    "MethodError",
    "ModelEntry",
    "ModelOutputs",
    "ModelReport",
    "OutsideWorkspaceError",
    "PassOutputs",
    "PopulationResult",
    "PrivacyReport",
    "PrivacyScore",
    "ReferenceLogits",
    "ReferencesJob",
    "ResourceLimitError",
    "ResultCache",
    "RocReport",
    "RunRegistry",
    "SampleScores",
    "ScalabilityStudy",
    "ShadowLogits",
    "ShadowsJob",
    "SpecError",
    "Study",
    "StudyDeletion",
    "StudyGroups",
    "StudyRecord",
    "StudyResult",
    "StudyStatus",
    "SustainabilityStudy",
    "TrainConfig",
    "TrainJob",
    "TrustNotice",
    "TrustPolicy",
    "UlensError",
    "UnlearnJob",
    "UnlearningMethod",
    "UnlearningResult",
    "UnsafeFileError",
    "UntrustedCodeError",
    "ValidationError",
    "WeightChange",
    "WeightsError",
    "WelchTest",
    "WorstCaseStudy",
    "accuracy",
    "accuracy_intervals",
    "accuracy_metrics",
    "add_scenario",
    "assign_groups",
    "audit_sets",
    "audit_table",
    "available_architectures",
    "available_methods",
    "build_model",
    "cancel",
    "cancel_study",
    "centred_interval",
    "class_mean_interval",
    "class_metrics",
    "compare",
    "compare_groups",
    "confine",
    "corrective_metrics",
    "current_policy",
    "delete_run",
    "delete_study",
    "discover_layers",
    "display_path",
    "embed_pair",
    "ensure_workers",
    "forget_holdout_auc",
    "forward_pass",
    "get_method",
    "grid_jobs",
    "group_key",
    "group_metrics",
    "group_robustness_table",
    "group_table",
    "import_reference",
    "ks_forget_quality",
    "ks_interval",
    "linear_cka",
    "list_runs",
    "list_studies",
    "load_dataset",
    "load_experiment",
    "load_groups",
    "load_spec",
    "load_weights_into",
    "make_method",
    "mean_interval",
    "model_seeds",
    "models_table",
    "most_exposed",
    "offline_lira",
    "offline_rmia",
    "online_lira",
    "pair_embedding",
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
    "run_jobs",
    "run_study",
    "save_weights",
    "signals_from_logits",
    "stratified_subset",
    "study_groups",
    "study_results",
    "study_status",
    "submit",
    "submit_study",
    "summary_dict",
    "svc_mia_efficacy",
    "tpr_at_fpr",
    "train_model",
    "trust_policy",
    "u_lira",
    "weight_change",
    "welch_test",
]


def __getattr__(name: str) -> Any:
    """Import the module defining ``name`` on first use and keep the value here."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """The package module: importing a submodule named like one of its functions
    (``analysis.compare``, ``analysis.weight_change``) does not replace the function."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _WHERE.get(name) == value.__name__:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
