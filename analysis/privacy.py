"""The privacy audit of one model: every attack of DESIGN §3 run on cached logits.

The sample sets come from the experiment (:func:`audit_sets`): forget samples, retain members,
test non-members outside the forget classes, a holdout from the forget distribution and a
population for RMIA. :func:`privacy_report` then runs the retrain-distinguishability score,
KS forget quality, forget-vs-holdout AUC / PrivLeak, the population attacks with SalUn's
MIA-efficacy and, when reference models exist, offline LiRA and offline RMIA.

Example:
    >>> import analysis
    >>> exp = analysis.load_experiment("sample_data/digits")
    >>> sets = audit_sets(exp)
    >>> len(sets.forget) == len(exp.forget_indices)
    True
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from analysis.experiment import Experiment
from analysis.mia import (
    KSResult,
    PopulationResult,
    PrivacyScore,
    RocReport,
    forget_holdout_auc,
    ks_forget_quality,
    offline_lira,
    offline_rmia,
    population_attacks,
    privacy_score,
    privleak,
    roc_report,
    signals_from_logits,
)

__all__ = ["AuditSets", "PrivacyReport", "ReferenceLogits", "audit_sets", "privacy_report"]


@dataclass(frozen=True)
class AuditSets:
    """Index sets of the audit (train indices for forget/retain, test indices for the rest).

    Attributes:
        forget: Forget samples (train).
        retain: Retain samples (train): the population attacks' members.
        nonmembers: Test samples outside the forget classes: the population attacks' non-members.
        holdout: Test samples of the forget distribution (class-wise: the forget classes' test
            samples; random: a seeded half of the test set).
        population: Test samples used as RMIA's population (disjoint from ``holdout``).
    """

    forget: np.ndarray
    retain: np.ndarray
    nonmembers: np.ndarray
    holdout: np.ndarray
    population: np.ndarray


@dataclass(frozen=True)
class ReferenceLogits:
    """Reference models' logits on both splits and their training-membership masks.

    Attributes:
        train: (R, n_train, C) logits.
        test: (R, n_test, C) logits.
        members: (R, n_train) bool: was the sample in that reference model's training set.
    """

    train: np.ndarray
    test: np.ndarray
    members: np.ndarray


@dataclass(frozen=True)
class PrivacyReport:
    """Every privacy number of one model; ``*_retrain`` pairs are filled by the caller's table.

    Attributes:
        ps: Retrain-distinguishability score vs the retrain model (None without one).
        ks: KS forget quality on the forget samples' loss vs the retrain model (None without one).
        forget_auc: Forget-vs-holdout ROC report on the loss signal (lower loss = member).
        privleak: (AUC_model - AUC_retrain) / AUC_retrain × 100 (None without a retrain model).
        population: Population attacks and SalUn's MIA-efficacy.
        lira: Offline LiRA, forget (positives) vs holdout (negatives); None without references.
        rmia: Offline RMIA, same sets; None without references.
    """

    ps: PrivacyScore | None
    ks: KSResult | None
    forget_auc: RocReport
    privleak: float | None
    population: PopulationResult
    lira: RocReport | None
    rmia: RocReport | None

    def headline(self) -> dict[str, float | None]:
        """The numbers of the models table and ``summary.json``."""
        pop = {a.name: a for a in self.population.attacks}
        lr = next((a for a in pop.values() if a.kind == "logistic"), None)
        return {
            "PS": self.ps.ps if self.ps else None,
            "PS_max_form": self.ps.ps_max_form if self.ps else None,
            "mia_efficacy": self.population.mia_efficacy,
            "forget_auc": self.forget_auc.auc,
            "privleak": self.privleak,
            "ks_d": self.ks.d if self.ks else None,
            "ks_p": self.ks.p_value if self.ks else None,
            "population_auc": lr.auc if lr else None,
            "lira_offline_auc": self.lira.auc if self.lira else None,
            "rmia_offline_auc": self.rmia.auc if self.rmia else None,
            "tpr_at_1pct_fpr": self.lira.at(0.01).tpr
            if self.lira
            else self.forget_auc.at(0.01).tpr,
        }


def audit_sets(exp: Experiment, *, seed: int = 0) -> AuditSets:
    """Derive the audit's index sets from the experiment's forget scenario."""
    test_y = exp.dataset("test").targets
    if exp.forget_classes is not None:
        in_forget = np.isin(test_y, exp.forget_classes)
        holdout, population = np.flatnonzero(in_forget), np.flatnonzero(~in_forget)
        nonmembers = population
    else:
        order = np.random.default_rng(seed).permutation(len(test_y))
        half = len(order) // 2
        holdout, population = np.sort(order[:half]), np.sort(order[half:])
        nonmembers = np.arange(len(test_y))
    return AuditSets(exp.forget_indices, exp.retain_indices, nonmembers, holdout, population)


def privacy_report(
    logits: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    sets: AuditSets,
    *,
    retrain: Mapping[str, np.ndarray] | None,
    references: ReferenceLogits | None,
    seed: int = 0,
    n_bootstrap: int = 200,
    ps_grid: str = "exact",
) -> PrivacyReport:
    """Run the whole audit on one model's logits.

    Args:
        logits: ``{"train": (n_train, C), "test": (n_test, C)}`` of the audited model.
        labels: The true labels of both splits.
        sets: The audit's index sets.
        retrain: The retrain model's logits (same layout) or None.
        references: Reference models' logits and membership masks, or None.
        seed: Seed of every subsample, split and bootstrap.
        n_bootstrap: Bootstrap replicates for the intervals.
        ps_grid: ``"exact"`` (every observed value) or ``"uniform51"`` (the reference system).
    """
    f_logits, f_labels = logits["train"][sets.forget], labels["train"][sets.forget]
    h_logits, h_labels = logits["test"][sets.holdout], labels["test"][sets.holdout]
    forget_auc = forget_holdout_auc(
        f_logits, f_labels, h_logits, h_labels, n_bootstrap=n_bootstrap, seed=seed
    )
    population = population_attacks(
        logits["train"][sets.retain],
        labels["train"][sets.retain],
        logits["test"][sets.nonmembers],
        labels["test"][sets.nonmembers],
        forget_logits=f_logits,
        forget_labels=f_labels,
        seed=seed,
        n_bootstrap=n_bootstrap,
    )
    ps = ks = leak = None
    if retrain is not None:
        r_forget = retrain["train"][sets.forget]
        ps = privacy_score(f_logits, r_forget, grid=ps_grid)  # type: ignore[arg-type]
        ks = ks_forget_quality(
            signals_from_logits(f_logits, f_labels).loss,
            signals_from_logits(r_forget, f_labels).loss,
        )
        r_auc = forget_holdout_auc(
            r_forget, f_labels, retrain["test"][sets.holdout], h_labels, n_bootstrap=0, seed=seed
        )
        leak = privleak(forget_auc.auc, r_auc.auc)
    lira, rmia = (
        _reference_attacks(logits, labels, sets, references, seed, n_bootstrap)
        if references is not None
        else (None, None)
    )
    return PrivacyReport(ps, ks, forget_auc, leak, population, lira, rmia)


def _reference_attacks(
    logits: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    sets: AuditSets,
    refs: ReferenceLogits,
    seed: int,
    n_bootstrap: int,
) -> tuple[RocReport | None, RocReport | None]:
    f, h, p = sets.forget, sets.holdout, sets.population
    target = np.concatenate([logits["train"][f], logits["test"][h]])
    y = np.concatenate([labels["train"][f], labels["test"][h]])
    ref = np.concatenate([refs.train[:, f], refs.test[:, h]], axis=1)
    in_mask = np.concatenate(
        [refs.members[:, f], np.zeros((len(refs.members), len(h)), bool)], axis=1
    )
    is_member = np.r_[np.ones(len(f), bool), np.zeros(len(h), bool)]
    lira = offline_lira(target, y, ref, in_mask)
    rmia = offline_rmia(
        target, y, ref, in_mask, logits["test"][p], labels["test"][p], refs.test[:, p]
    )
    return (
        _report(lira.z, is_member, seed, n_bootstrap),
        _report(rmia.scores, is_member, seed, n_bootstrap),
    )


def _report(
    scores: np.ndarray, is_member: np.ndarray, seed: int, n_bootstrap: int
) -> RocReport | None:
    keep = np.isfinite(scores)  # samples without OUT references have no score
    if not (is_member[keep].any() and (~is_member[keep]).any()):
        warnings.warn(
            "reference attack: no scores for forget or holdout samples (too few OUT reference "
            "models); reported as N/A",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return roc_report(scores[keep], is_member[keep], n_bootstrap=n_bootstrap, seed=seed)
