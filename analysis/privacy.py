"""The privacy audit of one model: every attack of DESIGN §3 run on cached logits.

The sample sets come from the experiment (:func:`audit_sets`): forget samples, retain members,
test non-members outside the forget classes, a holdout from the forget distribution, and RMIA's
negatives and population. :func:`privacy_report` then runs the retrain-distinguishability score,
KS forget quality, forget-vs-holdout AUC / PrivLeak, the population attacks with SalUn's
MIA-efficacy and, when reference or shadow models exist, the reference-model attacks:

* offline LiRA and offline RMIA — positives: the model's forget samples; negatives: holdout test
  samples (RMIA: its own half of them, the other test samples being its population);
* online LiRA — per-sample Gaussians of φ over the reference models trained WITH the sample
  (IN) and WITHOUT it (OUT). Its game is the unlearning game of U-LiRA: positives are the audited
  model's scores on its forget samples, negatives the retrain model's scores on the same samples
  (a test sample has no IN model, so forget-vs-test is not available online). Ideal AUC 0.5; the
  retrain model against itself scores exactly 0.5;
* U-LiRA (Hayes et al. 2024) — per-sample Gaussians of φ over shadow models that UNLEARNED the
  sample with the audited model's method vs shadow models RETRAINED without it; same game.

Samples without enough reference/shadow models are dropped from an attack and counted
(:attr:`AttackInfo.n_dropped`), never silently.

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
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from analysis.bootstrap import NAN_INTERVAL, Interval, mean_interval, validate_bootstrap
from analysis.errors import ValidationError, describe
from analysis.experiment import Experiment
from analysis.mia import (
    MAX_FORM_NOTE,
    KSResult,
    PopulationResult,
    PrivacyScore,
    RocReport,
    forget_holdout_auc,
    forget_holdout_scores,
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
    roc_report,
    signals_from_logits,
    u_lira,
)

__all__ = [
    "ATTACK_NAMES",
    "PAIRED_GAMES",
    "REFERENCE_ATTACKS",
    "TPR_TARGETS",
    "AttackInfo",
    "AuditSets",
    "PrivacyReport",
    "ReferenceLogits",
    "SampleScores",
    "ShadowLogits",
    "audit_sets",
    "privacy_report",
]

#: The reference-model attacks of the audit: :class:`PrivacyReport` attribute -> headline key.
REFERENCE_ATTACKS: Mapping[str, str] = MappingProxyType(
    {
        "lira": "lira_offline_auc",
        "rmia": "rmia_offline_auc",
        "lira_online": "lira_online_auc",
        "ulira": "ulira_auc",
    }
)

#: Every ROC-reported attack: :meth:`PrivacyReport.reports` key -> name in summary.json.
ATTACK_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "forget_auc": "forget_holdout_loss",
        "population": "population_logistic",
        "lira": "lira_offline",
        "rmia": "rmia_offline",
        "lira_online": "lira_online",
        "ulira": "ulira",
    }
)

#: Attacks whose negatives are the retrain model's scores: the retrain model's own value is
#: 0.5 by construction, which is the target of their AUC.
PAIRED_GAMES: tuple[str, ...] = ("lira_online", "ulira")

#: FPRs whose TPR the audit table and summary.json report per attack: (target, key suffix).
TPR_TARGETS: tuple[tuple[float, str], ...] = ((0.01, "1pct"), (0.001, "0.1pct"))

_GAME_HOLDOUT = "forget samples (positives) vs holdout test samples (negatives), this model"
_GAME_RETRAIN = (
    "this model's forget samples (positives) vs the retrain model's same samples "
    "(negatives); ideal 0.5"
)


@dataclass(frozen=True)
class AuditSets:
    """Index sets of the audit (train indices for forget/retain, test indices for the rest).

    Attributes:
        forget: Forget samples (train).
        retain: Retain samples (train): the population attacks' members.
        nonmembers: Test samples outside the forget classes: the population attacks' and the
            SVC's non-members.
        holdout: Test samples of the forget distribution: the negatives of the forget-vs-holdout
            AUC, PrivLeak and offline LiRA (class-wise: the forget classes' test samples;
            random or listed forgetting: every test sample).
        rmia_holdout: RMIA's negatives: a seeded half of ``holdout``.
        population: RMIA's population: every test sample not in ``rmia_holdout`` (so it is
            disjoint from RMIA's negatives and, class-wise, holds forget-class samples too).
    """

    forget: np.ndarray
    retain: np.ndarray
    nonmembers: np.ndarray
    holdout: np.ndarray
    rmia_holdout: np.ndarray
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
class ShadowLogits:
    """Shadow models of one unlearning method (U-LiRA), logits on the training split.

    Attributes:
        method: The unlearning method the ``unlearned`` shadows ran.
        unlearned: (K_u, n_train, C) logits of the shadows that ran the method.
        unlearned_mask: (K_u, n_train) bool: the samples each of them unlearned.
        retrained: (K_r, n_train, C) logits of the shadows retrained from scratch.
        retrained_out: (K_r, n_train) bool: the samples each of them was trained WITHOUT.
    """

    method: str
    unlearned: np.ndarray
    unlearned_mask: np.ndarray
    retrained: np.ndarray
    retrained_out: np.ndarray


@dataclass(frozen=True)
class AttackInfo:
    """How a reference-model attack was evaluated (or why it is N/A).

    Attributes:
        game: What the positives and negatives are.
        n_models: Reference or shadow models used.
        n_positives: Positives scored.
        n_negatives: Negatives scored.
        n_dropped: Samples left out for lack of reference/shadow models (both sides).
        n_population: RMIA's population size (None for the other attacks).
        reason: Why the attack is N/A ("" when it ran).
    """

    game: str
    n_models: int = 0
    n_positives: int = 0
    n_negatives: int = 0
    n_dropped: int = 0
    n_population: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class SampleScores:
    """Per-sample scores of one reference-model attack on one model (higher = more member-like).

    Arrays cover the whole splits; a sample the attack did not score (outside its sets, or
    without enough reference/shadow models) is NaN.

    Attributes:
        train: (n_train,) scores of training samples (the forget samples).
        test: (n_test,) scores of test samples (the attack's holdout negatives).
        retrain_train: For the games against the retrain model (online LiRA, U-LiRA): the
            retrain model's scores on the same forget samples in THIS model's game (its
            negatives), else None.
    """

    train: np.ndarray
    test: np.ndarray
    retrain_train: np.ndarray | None = None


@dataclass(frozen=True)
class PrivacyReport:
    """Every privacy number of one model; ``*_retrain`` pairs are filled by the caller's table.

    Attributes:
        ps: Retrain-distinguishability score vs the retrain model (None without one).
        ks: KS forget quality on the forget samples' loss vs the retrain model (None without one).
        forget_auc: Forget-vs-holdout ROC report on the loss signal (lower loss = member).
        privleak: (AUC_model - AUC_retrain) / AUC_retrain × 100 (None without a retrain model).
        population: Population attacks and SalUn's MIA-efficacy.
        lira: Offline LiRA, forget (positives) vs holdout (negatives); None when N/A.
        rmia: Offline RMIA, forget vs RMIA's half of the holdout; None when N/A.
        lira_online: Online LiRA, this model vs the retrain model on the forget samples.
        ulira: U-LiRA with the model's method's shadows, same game; None when N/A.
        info: Per reference attack (keys of :data:`REFERENCE_ATTACKS`): how it was evaluated.
        intervals: Bootstrap intervals of the headline numbers without a ROC report (``PS``,
            ``PS_max_form``, ``ks_d``, ``ks_p``, ``privleak``, ``mia_efficacy``); the AUCs'
            and TPRs' intervals live in their :class:`RocReport`. Empty without bootstrap.
        sample_scores: Per reference attack that ran (keys of :data:`REFERENCE_ATTACKS`): its
            per-sample scores.
        n_bootstrap: Bootstrap replicates behind every interval (0: none).
        ci_level: Coverage of the intervals.
    """

    ps: PrivacyScore | None
    ks: KSResult | None
    forget_auc: RocReport
    privleak: float | None
    population: PopulationResult
    lira: RocReport | None
    rmia: RocReport | None
    lira_online: RocReport | None = None
    ulira: RocReport | None = None
    info: Mapping[str, AttackInfo] = field(default_factory=dict)
    intervals: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    sample_scores: Mapping[str, SampleScores] = field(default_factory=dict)
    n_bootstrap: int = 0
    ci_level: float = 0.95

    def interval(self, metric: str) -> tuple[float, float]:
        """The bootstrap interval of a :meth:`headline` number (NaN when it has none).

        Example:
            >>> z, y = np.random.default_rng(0).normal(size=(40, 3)), np.zeros(40, int)
            >>> rows = np.arange(40)
            >>> sets = AuditSets(rows[:10], rows[10:], rows, rows, rows[:20], rows[20:])
            >>> logits, labels = {"train": z, "test": z}, {"train": y, "test": y}
            >>> rep = privacy_report(logits, labels, sets, retrain=logits, references=None)
            >>> rep.interval("PS"), rep.interval("ks_d")  # the retrain model vs itself
            ((1.0, 1.0), (0.0, 0.0))
        """
        if metric in self.intervals:
            return tuple(self.intervals[metric])  # type: ignore[return-value]
        report = self.reports().get(_AUC_SOURCE.get(metric, ""))
        return NAN_INTERVAL if report is None else report.auc_ci

    def headline(self) -> dict[str, float | None]:
        """The numbers of the models table and ``summary.json`` (one float each, None = N/A)."""
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
            **{key: _auc(getattr(self, attr)) for attr, key in REFERENCE_ATTACKS.items()},
        }

    def reports(self) -> dict[str, RocReport | None]:
        """Every attack's ROC report: forget-vs-holdout, population (logistic), reference."""
        lr = next((a for a in self.population.attacks if a.kind == "logistic"), None)
        return {
            "forget_auc": self.forget_auc,
            "population": lr.roc if lr else None,
            **{attr: getattr(self, attr) for attr in REFERENCE_ATTACKS},
        }

    def ps_max_form_note(self) -> str | None:
        """The explanation shown beside a saturated (uninformative) PS max form, else None."""
        return MAX_FORM_NOTE if self.ps is not None and self.ps.max_form_saturated else None

    def attacks_document(self) -> dict[str, dict[str, object]]:
        """Per attack (``summary.json`` names): AUC with CI, TPR at 1 % / 0.1 % FPR with
        ``below_floor`` and the floor, sample counts, and why it is N/A when it is."""
        return {
            ATTACK_NAMES[key]: _attack_document(report, self.info.get(key))
            for key, report in self.reports().items()
        }

    def audit_rows(self) -> list[dict[str, object]]:
        """Rows (metric, value, ci_low, ci_high, below_floor, fpr_floor, note) of the audit:
        every headline number, then each attack's TPR at 1 % and 0.1 % FPR."""
        reports = self.reports()
        rows = []
        for metric, value in self.headline().items():
            report = reports.get(_AUC_SOURCE.get(metric, ""))
            note = self._note(_AUC_SOURCE.get(metric), report, metric)
            rows.append(_row(metric, value, self.interval(metric), None, None, note))
        for key, report in reports.items():
            for target, suffix in TPR_TARGETS:
                entry = report.at(target) if report is not None else None
                rows.append(
                    _row(
                        f"{ATTACK_NAMES[key]}_tpr_at_{suffix}_fpr",
                        None if entry is None else entry.tpr,
                        (None, None) if entry is None else entry.ci,
                        None if entry is None else entry.below_floor,
                        None if report is None else report.fpr_floor,
                        self._note(key, report, ""),
                    )
                )
        return rows

    def _note(self, key: str | None, report: RocReport | None, metric: str) -> str:
        if metric == "PS_max_form":
            return self.ps_max_form_note() or ""
        if report is not None and report.all_tied:
            return "all scores tied: uninformative"
        info = self.info.get(key or "")
        if info is None:
            return ""
        if info.reason:
            return info.reason
        extra = f"; RMIA population {info.n_population}" if info.n_population is not None else ""
        dropped = f"; {info.n_dropped} sample(s) dropped (too few models)" if info.n_dropped else ""
        return f"{info.n_models} models{extra}{dropped}"


#: Headline AUC key -> the :meth:`PrivacyReport.reports` key whose ROC report holds it.
_AUC_SOURCE: Mapping[str, str] = MappingProxyType(
    {
        "forget_auc": "forget_auc",
        "population_auc": "population",
        **{v: k for k, v in REFERENCE_ATTACKS.items()},
    }
)


def _auc(report: RocReport | None) -> float | None:
    return None if report is None else report.auc


def _num(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _row(
    metric: str,
    value: float | None,
    ci: tuple[float | None, float | None],
    below_floor: bool | None,
    fpr_floor: float | None,
    note: str,
) -> dict[str, object]:
    return {
        "metric": metric,
        "value": value,
        "ci_low": _num(ci[0]),
        "ci_high": _num(ci[1]),
        "below_floor": below_floor,
        "fpr_floor": fpr_floor,
        "note": note,
    }


def _attack_document(report: RocReport | None, info: AttackInfo | None) -> dict[str, object]:
    doc: dict[str, object] = {"available": report is not None}
    if info is not None:
        doc.update(
            game=info.game,
            n_models=info.n_models,
            n_dropped=info.n_dropped,
            n_population=info.n_population,
            reason=info.reason or None,
        )
    if report is None:
        return doc
    doc.update(
        auc=_num(report.auc),
        auc_ci=[_num(report.auc_ci[0]), _num(report.auc_ci[1])],
        all_tied=report.all_tied,
        n_positives=report.n_members,
        n_negatives=report.n_nonmembers,
        fpr_floor=report.fpr_floor,
    )
    for target, suffix in TPR_TARGETS:
        entry = report.at(target)
        doc[f"tpr_at_{suffix}_fpr"] = {
            "tpr": _num(entry.tpr),
            "ci": [_num(entry.ci[0]), _num(entry.ci[1])],
            "below_floor": entry.below_floor,
            "floor": report.fpr_floor,
        }
    return doc


# ------------------------------------------------------------------------------- sets


def audit_sets(exp: Experiment, *, seed: int = 0) -> AuditSets:
    """Derive the audit's index sets from the experiment's forget scenario.

    Class-wise forgetting: the holdout is the forget classes' test samples; non-members are
    the other test samples. Random or listed forgetting: the holdout and the non-members are
    every test sample (DESIGN §3). RMIA's negatives are a seeded half of the holdout and its
    population every other test sample (disjoint; its size is reported with the attack).
    """
    test_y = exp.dataset("test").targets
    everything = np.arange(len(test_y))
    if exp.forget_classes is not None:
        in_forget = np.isin(test_y, exp.forget_classes)
        holdout, nonmembers = np.flatnonzero(in_forget), np.flatnonzero(~in_forget)
    else:
        holdout = nonmembers = everything
    order = np.random.default_rng(seed).permutation(holdout)
    rmia_holdout = np.sort(order[: len(order) // 2])
    population = np.setdiff1d(everything, rmia_holdout)
    return AuditSets(
        exp.forget_indices, exp.retain_indices, nonmembers, holdout, rmia_holdout, population
    )


# ------------------------------------------------------------------------------- report


def _validate_shadows(shadows: object) -> ShadowLogits | None:
    if shadows is None or isinstance(shadows, ShadowLogits):
        return shadows
    raise ValidationError(describe("shadows", "a ShadowLogits or None", type(shadows).__name__))


def privacy_report(
    logits: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    sets: AuditSets,
    *,
    retrain: Mapping[str, np.ndarray] | None,
    references: ReferenceLogits | None,
    shadows: ShadowLogits | None = None,
    seed: int = 0,
    n_bootstrap: int = 200,
    ci_level: float = 0.95,
    ps_grid: str = "exact",
    svc_retain: str = "salun",
    balance_references: bool = True,
    lira_centre: str = "median",
    bootstrap_thresholds: bool = False,
) -> PrivacyReport:
    """Run the whole audit on one model's logits.

    Args:
        logits: ``{"train": (n_train, C), "test": (n_test, C)}`` of the audited model.
        labels: The true labels of both splits.
        sets: The audit's index sets.
        retrain: The retrain model's logits (same layout) or None.
        references: Reference models' logits and membership masks, or None.
        shadows: Shadow models of the audited model's unlearning method (U-LiRA), or None.
        seed: Seed of every subsample, split and bootstrap.
        n_bootstrap: Bootstrap replicates of every interval (0: no intervals, all NaN): the
            ROC reports' AUC/TPR intervals and :attr:`PrivacyReport.intervals` (PS by
            :func:`analysis.mia.privacy_score_interval`, KS by :func:`analysis.mia.ks_interval`,
            PrivLeak by :func:`analysis.mia.privleak_interval`, MIA-efficacy resampling the
            forget samples' SVC predictions, the SVC held fixed).
        ci_level: Coverage of the intervals.
        ps_grid: ``"exact"`` (every observed value) or ``"uniform51"`` (the reference system).
        svc_retain: Which retain samples train SalUn's SVC: ``"salun"`` (its code: the first
            len(non-members) retain samples in index order) or ``"random"``.
        balance_references: Offline LiRA/RMIA only use, for each test sample, the OUT
            references of a randomly drawn forget sample (seeded), so test and forget samples
            have the same distribution of OUT-reference counts (a training sample is OUT for
            about half the references, a test sample for all of them). False uses them all.
        lira_centre: Centre of LiRA's and U-LiRA's Gaussians: ``"median"`` (the reference
            code) or ``"mean"``.
        bootstrap_thresholds: Also bootstrap the population threshold attacks' ROC reports
            (not reported by the audit; off by default to save time).
    """
    chosen_shadows = _validate_shadows(shadows)
    if not isinstance(balance_references, bool):
        raise ValidationError(describe("balance_references", "True or False", balance_references))
    n_boot, seed, ci_level = validate_bootstrap(n_bootstrap, seed, ci_level)
    f_logits, f_labels = logits["train"][sets.forget], labels["train"][sets.forget]
    h_logits, h_labels = logits["test"][sets.holdout], labels["test"][sets.holdout]
    forget_auc = forget_holdout_auc(
        f_logits, f_labels, h_logits, h_labels, n_bootstrap=n_boot, seed=seed, ci=ci_level
    )
    population = population_attacks(
        logits["train"][sets.retain],
        labels["train"][sets.retain],
        logits["test"][sets.nonmembers],
        labels["test"][sets.nonmembers],
        forget_logits=f_logits,
        forget_labels=f_labels,
        svc_retain=svc_retain,
        bootstrap_thresholds=bootstrap_thresholds,
        n_bootstrap=n_boot,
        seed=seed,
        ci=ci_level,
    )
    ctx = _Ctx(logits, labels, sets, retrain, seed, n_boot, lira_centre, ci_level)
    vs_retrain = _retrain_numbers(ctx, forget_auc, ps_grid)
    results = {
        **_offline_attacks(ctx, references, balance_references),
        "lira_online": _online_lira(ctx, references),
        "ulira": _ulira(ctx, chosen_shadows),
    }
    return PrivacyReport(
        vs_retrain.ps,
        vs_retrain.ks,
        forget_auc,
        vs_retrain.leak,
        population,
        results["lira"][0],
        results["rmia"][0],
        results["lira_online"][0],
        results["ulira"][0],
        info=MappingProxyType({k: v[1] for k, v in results.items()}),
        intervals=_intervals(ctx, vs_retrain, population),
        sample_scores={k: v[2] for k, v in results.items() if v[2] is not None},
        n_bootstrap=n_boot,
        ci_level=ci_level,
    )


@dataclass(frozen=True)
class _VsRetrain:
    """The numbers measured against the retrain model, and the per-sample inputs of their
    intervals."""

    ps: PrivacyScore | None = None
    ks: KSResult | None = None
    leak: float | None = None
    losses: tuple[np.ndarray, np.ndarray] | None = None  # model, retrain on the forget samples
    holdout_scores: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # model, retrain, mask


def _retrain_numbers(ctx: _Ctx, forget_auc: RocReport, ps_grid: str) -> _VsRetrain:
    """PS, KS and PrivLeak against the retrain model (all None without one)."""
    if ctx.retrain is None:
        return _VsRetrain()
    s, train = ctx.sets, ctx.logits["train"]
    f_labels, h_labels = ctx.labels["train"][s.forget], ctx.labels["test"][s.holdout]
    r_forget, r_holdout = ctx.retrain["train"][s.forget], ctx.retrain["test"][s.holdout]
    ps = privacy_score(train[s.forget], r_forget, grid=ps_grid)  # type: ignore[arg-type]
    losses = (
        signals_from_logits(train[s.forget], f_labels).loss,
        signals_from_logits(r_forget, f_labels).loss,
    )
    model_scores, is_forget = forget_holdout_scores(
        train[s.forget], f_labels, ctx.logits["test"][s.holdout], h_labels
    )
    r_scores, _ = forget_holdout_scores(r_forget, f_labels, r_holdout, h_labels)
    r_auc = roc_report(r_scores, is_forget, n_bootstrap=0)
    return _VsRetrain(
        ps,
        ks_forget_quality(*losses),
        privleak(forget_auc.auc, r_auc.auc),
        losses,
        (model_scores, r_scores, is_forget),
    )


def _intervals(
    ctx: _Ctx, vs: _VsRetrain, population: PopulationResult
) -> dict[str, tuple[float, float]]:
    """Bootstrap intervals of the headline numbers that have no ROC report."""
    if ctx.n_bootstrap == 0:
        return {}
    n, seed, level = ctx.n_bootstrap, ctx.seed, ctx.ci_level
    out: dict[str, Interval] = {}
    if population.svc is not None:
        forgotten = ~population.svc.forget_predicted_member
        out["mia_efficacy"] = mean_interval(
            forgotten, n_bootstrap=n, seed=seed, level=level, name="mia_efficacy"
        )
    if vs.ps is not None:
        out["PS"], out["PS_max_form"] = privacy_score_interval(
            vs.ps, n_bootstrap=n, seed=seed, level=level
        )
    if vs.losses is not None:
        out["ks_d"], out["ks_p"] = ks_interval(*vs.losses, n_bootstrap=n, seed=seed, level=level)
    if vs.holdout_scores is not None:
        finite = vs.leak is not None and np.isfinite(vs.leak)
        out["privleak"] = (
            privleak_interval(*vs.holdout_scores, n_bootstrap=n, seed=seed, level=level)
            if finite
            else NAN_INTERVAL
        )
    return out


# ---------------------------------------------------------------------- reference attacks


@dataclass(frozen=True)
class _Ctx:
    logits: Mapping[str, np.ndarray]
    labels: Mapping[str, np.ndarray]
    sets: AuditSets
    retrain: Mapping[str, np.ndarray] | None
    seed: int
    n_bootstrap: int
    centre: str
    ci_level: float = 0.95

    def sample_scores(
        self,
        forget: np.ndarray,
        test_rows: np.ndarray | None = None,
        test: np.ndarray | None = None,
        retrain_forget: np.ndarray | None = None,
    ) -> SampleScores:
        """Whole-split score arrays (NaN elsewhere) from scores of the forget samples, of some
        test rows and, for the games against the retrain model, of its forget samples."""
        n_train, n_test = self.logits["train"].shape[0], self.logits["test"].shape[0]
        train_scores, test_scores = np.full(n_train, np.nan), np.full(n_test, np.nan)
        train_scores[self.sets.forget] = forget
        if test_rows is not None and test is not None:
            test_scores[test_rows] = test
        retrain_scores = None
        if retrain_forget is not None:
            retrain_scores = np.full(n_train, np.nan)
            retrain_scores[self.sets.forget] = retrain_forget
        return SampleScores(train_scores, test_scores, retrain_scores)


#: An attack's ROC report (None when N/A), how it was evaluated, its per-sample scores.
_Result = tuple[RocReport | None, AttackInfo, SampleScores | None]


def _na(game: str, reason: str, n_models: int = 0) -> _Result:
    return None, AttackInfo(game, n_models=n_models, reason=reason), None


def _test_availability(
    refs: ReferenceLogits, sets: AuditSets, seed: int, balance: bool
) -> np.ndarray:
    """(R, n_test) mask of references a test sample must NOT use (True = left out).

    Balanced: each test sample borrows the membership column of a random forget sample, so its
    OUT references are as many (and as correlated) as a forget sample's. Otherwise none.
    """
    n_test = refs.test.shape[1]
    if not balance or len(sets.forget) == 0:
        return np.zeros((refs.test.shape[0], n_test), bool)
    columns = np.random.default_rng(seed).integers(0, len(sets.forget), size=n_test)
    out: np.ndarray = refs.members[:, sets.forget][:, columns]
    return out


def _offline_attacks(ctx: _Ctx, refs: ReferenceLogits | None, balance: bool) -> dict[str, _Result]:
    game_rmia = _GAME_HOLDOUT.replace("holdout", "half of the holdout") + " (RMIA population: "
    game_rmia += "the other test samples)"
    if refs is None:
        reason = "needs reference models (role = 'reference' with a members mask)"
        return {"lira": _na(_GAME_HOLDOUT, reason), "rmia": _na(game_rmia, reason)}
    s, n_refs = ctx.sets, refs.train.shape[0]
    skip = _test_availability(refs, s, ctx.seed, balance)
    f_refs, f_mask = refs.train[:, s.forget], refs.members[:, s.forget]

    def stacked(test_rows: np.ndarray) -> tuple[np.ndarray, ...]:
        target = np.concatenate([ctx.logits["train"][s.forget], ctx.logits["test"][test_rows]])
        y = np.concatenate([ctx.labels["train"][s.forget], ctx.labels["test"][test_rows]])
        ref = np.concatenate([f_refs, refs.test[:, test_rows]], axis=1)
        mask = np.concatenate([f_mask, skip[:, test_rows]], axis=1)
        member = np.r_[np.ones(len(s.forget), bool), np.zeros(len(test_rows), bool)]
        return target, y, ref, mask, member

    target, y, ref, mask, member = stacked(s.holdout)
    lira = offline_lira(target, y, ref, mask, centre=ctx.centre)
    lira_result = _evaluate(lira.z, member, ctx, _GAME_HOLDOUT, n_refs)
    n_f = len(s.forget)
    lira_scores = ctx.sample_scores(lira.z[:n_f], s.holdout, lira.z[n_f:])
    target, y, ref, mask, member = stacked(s.rmia_holdout)
    rmia = offline_rmia(
        target,
        y,
        ref,
        mask,
        ctx.logits["test"][s.population],
        ctx.labels["test"][s.population],
        refs.test[:, s.population],
        population_in_mask=skip[:, s.population],
    )
    rmia_result = _evaluate(rmia.scores, member, ctx, game_rmia, n_refs, rmia.n_population)
    rmia_scores = ctx.sample_scores(rmia.scores[:n_f], s.rmia_holdout, rmia.scores[n_f:])
    return {"lira": (*lira_result, lira_scores), "rmia": (*rmia_result, rmia_scores)}


def _online_lira(ctx: _Ctx, refs: ReferenceLogits | None) -> _Result:
    if refs is None:
        return _na(_GAME_RETRAIN, "needs reference models (role = 'reference' with a members mask)")
    if ctx.retrain is None:
        return _na(_GAME_RETRAIN, "needs the retrain model", refs.train.shape[0])
    f = ctx.sets.forget
    y, ref, mask = ctx.labels["train"][f], refs.train[:, f], refs.members[:, f]
    model = online_lira(ctx.logits["train"][f], y, ref, mask, centre=ctx.centre).scores
    retrain = online_lira(ctx.retrain["train"][f], y, ref, mask, centre=ctx.centre).scores
    report, info = _evaluate_paired(model, retrain, ctx, refs.train.shape[0])
    return report, info, ctx.sample_scores(model, retrain_forget=retrain)


def _ulira(ctx: _Ctx, shadows: ShadowLogits | None) -> _Result:
    game = _GAME_RETRAIN
    if shadows is None:
        return _na(game, "needs shadow models of this model's unlearning method (ulens shadows)")
    n_models = shadows.unlearned.shape[0] + shadows.retrained.shape[0]
    if shadows.unlearned.shape[0] == 0 or shadows.retrained.shape[0] == 0:
        return _na(game, "needs both unlearned and retrained shadow models", n_models)
    if ctx.retrain is None:
        return _na(game, "needs the retrain model", n_models)
    f = ctx.sets.forget
    args = (
        shadows.unlearned[:, f],
        shadows.unlearned_mask[:, f],
        shadows.retrained[:, f],
        shadows.retrained_out[:, f],
    )
    y = ctx.labels["train"][f]
    model = u_lira(ctx.logits["train"][f], y, *args, centre=ctx.centre).scores
    retrain = u_lira(ctx.retrain["train"][f], y, *args, centre=ctx.centre).scores
    report, info = _evaluate_paired(model, retrain, ctx, n_models)
    return report, info, ctx.sample_scores(model, retrain_forget=retrain)


_Evaluated = tuple[RocReport | None, AttackInfo]


def _evaluate_paired(
    model: np.ndarray, retrain: np.ndarray, ctx: _Ctx, n_models: int
) -> _Evaluated:
    """Positives: the model's scores; negatives: the retrain model's on the same samples."""
    scores = np.r_[model, retrain]
    member = np.r_[np.ones(model.size, bool), np.zeros(retrain.size, bool)]
    return _evaluate(scores, member, ctx, _GAME_RETRAIN, n_models, paired=True)


def _evaluate(
    scores: np.ndarray,
    member: np.ndarray,
    ctx: _Ctx,
    game: str,
    n_models: int,
    n_population: int | None = None,
    *,
    paired: bool = False,
) -> _Evaluated:
    """ROC of the finite scores; samples without a score are dropped and counted."""
    keep = np.isfinite(scores)
    dropped = int((~keep).sum()) // (2 if paired else 1)
    info = AttackInfo(
        game,
        n_models=n_models,
        n_positives=int((keep & member).sum()),
        n_negatives=int((keep & ~member).sum()),
        n_dropped=dropped,
        n_population=n_population,
    )
    if info.n_positives == 0 or info.n_negatives == 0:
        reason = "no sample has enough reference/shadow models on both sides"
        warnings.warn(
            f"reference attack: {reason} ({n_models} models); reported as N/A",
            RuntimeWarning,
            stacklevel=3,
        )
        return None, AttackInfo(game, n_models=n_models, n_dropped=dropped, reason=reason)
    report = roc_report(
        scores[keep], member[keep], n_bootstrap=ctx.n_bootstrap, seed=ctx.seed, ci=ctx.ci_level
    )
    return report, info
