"""ROC utilities for membership-inference attacks: curve, AUC, TPR at fixed FPR, bootstrap CIs.

Convention: a higher score means "member"; ``is_member`` marks the positives. TPR at a target
FPR is the largest TPR among ROC points with FPR <= target, and every report flags targets below
the resolution floor 1 / #non-members (such a TPR is measured at FPR 0, not at the target).
A report whose scores are all equal is flagged ``all_tied`` and its numbers are NaN: such an
attack cannot rank anything, and the AUC of 0.5 the tie convention would give is an artefact.

Example:
    >>> import numpy as np
    >>> from analysis.mia.roc import roc_auc
    >>> roc_auc(np.array([0.9, 0.8, 0.3, 0.1]), np.array([True, False, True, False]))
    0.75
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from analysis.bootstrap import auc_tpr_replicates, chunks, percentile_interval, resample_indices
from analysis.errors import ValidationError, describe
from analysis.mia._common import (
    BoolArray,
    FloatArray,
    validate_float_array,
    validate_fraction,
    validate_int,
    validate_mask,
    validate_seed,
    warn_degenerate,
)

__all__ = [
    "DEFAULT_FPR_TARGETS",
    "RocCurve",
    "RocReport",
    "TprAtFpr",
    "roc_auc",
    "roc_curve",
    "roc_report",
    "tpr_at_fpr",
]

#: The FPRs at which :func:`roc_report` reports the TPR (1%, 0.1%, 0.01%).
DEFAULT_FPR_TARGETS: tuple[float, ...] = (0.01, 0.001, 0.0001)


@dataclass(frozen=True)
class RocCurve:
    """ROC points at every distinct score, from threshold +inf (0, 0) down to the minimum (1, 1).

    Attributes:
        fpr: False-positive rates, non-decreasing, shape (k + 1,).
        tpr: True-positive rates, non-decreasing, shape (k + 1,).
        thresholds: Decreasing; point i predicts "member" for scores >= thresholds[i];
            thresholds[0] is +inf.
    """

    fpr: FloatArray
    tpr: FloatArray
    thresholds: FloatArray


@dataclass(frozen=True)
class TprAtFpr:
    """TPR at one target FPR.

    Attributes:
        target: The FPR asked for.
        tpr: Largest TPR among ROC points with FPR <= target.
        ci: Bootstrap percentile interval (lo, hi); NaN without bootstrap.
        below_floor: True when target < 1 / #non-members (the FPR cannot be resolved).
    """

    target: float
    tpr: float
    ci: tuple[float, float]
    below_floor: bool


@dataclass(frozen=True)
class RocReport:
    """Everything reported for one attack's scores.

    Attributes:
        fpr: ROC false-positive rates (starts at 0, ends at 1), for plotting.
        tpr: ROC true-positive rates (starts at 0, ends at 1).
        thresholds: Score thresholds of the ROC points (first is +inf).
        auc: Area under the ROC curve (ties count one half).
        auc_ci: Bootstrap percentile interval of the AUC.
        balanced_accuracy: max over thresholds of (TPR + 1 - FPR) / 2 (optimistic: the
            threshold is chosen on the same data).
        best_threshold: The threshold reaching ``balanced_accuracy``.
        tpr_at: TPR at each target FPR, in the order asked.
        n_members: Number of positives.
        n_nonmembers: Number of negatives.
        fpr_floor: Resolution floor 1 / n_nonmembers (inf without non-members).
        n_bootstrap: Number of bootstrap replicates behind the intervals.
        ci_level: Coverage of the intervals (e.g. 0.95).
        all_tied: True when every score is equal: the attack is uninformative and the AUC,
            intervals and TPRs are NaN (not the 0.5 ± 0 that ties would give).
    """

    fpr: FloatArray
    tpr: FloatArray
    thresholds: FloatArray
    auc: float
    auc_ci: tuple[float, float]
    balanced_accuracy: float
    best_threshold: float
    tpr_at: tuple[TprAtFpr, ...]
    n_members: int
    n_nonmembers: int
    fpr_floor: float
    n_bootstrap: int
    ci_level: float
    all_tied: bool = False

    def at(self, target: float) -> TprAtFpr:
        """Return the entry of ``tpr_at`` for ``target``.

        Example:
            >>> import numpy as np
            >>> r = roc_report(np.arange(4.0), np.array([0, 0, 1, 1]), n_bootstrap=0)
            >>> r.at(0.01).tpr, r.at(0.01).below_floor
            (1.0, True)
        """
        for entry in self.tpr_at:
            if entry.target == target:
                return entry
        asked = [entry.target for entry in self.tpr_at]
        raise ValidationError(describe("target", f"one of {asked}", target))


# ------------------------------------------------------------------------------- validation


def _validate_scores_members(
    scores: ArrayLike, is_member: ArrayLike
) -> tuple[FloatArray, BoolArray]:
    checked = validate_float_array(
        scores, "scores", ndim=1, expected="a 1-D float array without NaN", allow_inf=True
    )
    return checked, validate_mask(is_member, "is_member", shape=checked.shape)


def _validate_targets(fpr_targets: Sequence[float]) -> tuple[float, ...]:
    if isinstance(fpr_targets, str | bytes) or not isinstance(fpr_targets, Sequence):
        raise ValidationError(
            describe("fpr_targets", "a sequence of numbers in [0, 1]", fpr_targets)
        )
    return tuple(validate_fraction(t, "fpr_targets") for t in fpr_targets)


def _validate_ci(ci: object) -> float:
    return validate_fraction(ci, "ci", low_open=True, high_open=True)


def _degenerate(is_member: BoolArray) -> bool:
    n_pos = int(is_member.sum())
    if n_pos == 0 or n_pos == is_member.size:
        kind = "non-members" if n_pos else "members"
        warn_degenerate(f"ROC undefined: no {kind} among the scores; results are NaN", stacklevel=4)
        return True
    return False


# ---------------------------------------------------------------------------------- compute


def _curve(scores: FloatArray, is_member: BoolArray) -> RocCurve:
    order = np.argsort(-scores, kind="stable")
    ranked, members = scores[order], is_member[order]
    last_of_tie = np.r_[ranked[1:] != ranked[:-1], True]
    tps = np.r_[0, np.cumsum(members)[last_of_tie]].astype(np.float64)
    fps = np.r_[0, np.cumsum(~members)[last_of_tie]].astype(np.float64)
    n_pos, n_neg = tps[-1], fps[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr, fpr = tps / n_pos, fps / n_neg
    return RocCurve(fpr=fpr, tpr=tpr, thresholds=np.r_[np.inf, ranked[last_of_tie]])


def _auc(scores: FloatArray, is_member: BoolArray) -> float:
    n_pos = int(is_member.sum())
    n_neg = is_member.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata  # scipy loads on use, not with the app

    rank_sum = float(rankdata(scores)[is_member].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _tpr_at(fpr: FloatArray, tpr: FloatArray, target: float) -> float:
    allowed = fpr <= target
    return float(tpr[allowed].max()) if allowed.any() else float("nan")


def roc_curve(scores: ArrayLike, is_member: ArrayLike) -> RocCurve:
    """ROC curve with one point per distinct score (no point dropped).

    Args:
        scores: 1-D scores, higher = member; +-inf allowed, NaN refused.
        is_member: Boolean (or 0/1) array of the same length; True marks members.

    Returns:
        The curve; the same points as ``sklearn.metrics.roc_curve(is_member, scores,
        drop_intermediate=False)``. Rates of a class with no samples are NaN (with a warning).

    Raises:
        ValidationError: On NaN scores or mismatched shapes.

    Example:
        >>> import numpy as np
        >>> c = roc_curve(np.array([3.0, 2.0, 2.0, 1.0]), np.array([1, 1, 0, 0]))
        >>> c.fpr.tolist(), c.tpr.tolist()
        ([0.0, 0.0, 0.5, 1.0], [0.0, 0.5, 1.0, 1.0])
    """
    checked, members = _validate_scores_members(scores, is_member)
    _degenerate(members)
    return _curve(checked, members)


def roc_auc(scores: ArrayLike, is_member: ArrayLike) -> float:
    """Area under the ROC curve via the Mann-Whitney rank sum (ties count one half).

    Args:
        scores: 1-D scores, higher = member.
        is_member: Boolean (or 0/1) array of the same length.

    Returns:
        The AUC, or NaN with a warning when members or non-members are missing.

    Example:
        >>> import numpy as np
        >>> roc_auc(np.array([1.0, 1.0, 0.0]), np.array([True, False, False]))
        0.75
    """
    checked, members = _validate_scores_members(scores, is_member)
    _degenerate(members)
    return _auc(checked, members)


def tpr_at_fpr(fpr: ArrayLike, tpr: ArrayLike, target: float) -> float:
    """The largest TPR among ROC points whose FPR is <= ``target``.

    Args:
        fpr: ROC false-positive rates (e.g. :attr:`RocCurve.fpr`).
        tpr: Matching true-positive rates.
        target: FPR in [0, 1].

    Returns:
        The TPR (NaN if no point qualifies, e.g. an undefined curve).

    Example:
        >>> tpr_at_fpr([0.0, 0.1, 0.5, 1.0], [0.0, 0.4, 0.9, 1.0], 0.2)
        0.4
    """
    expected = "a 1-D float array of rates"
    rates_f = validate_float_array(fpr, "fpr", ndim=1, expected=expected, allow_nan=True)
    rates_t = validate_float_array(tpr, "tpr", ndim=1, expected=expected, allow_nan=True)
    if rates_t.shape != rates_f.shape:
        received = f"shape {rates_t.shape} vs fpr shape {rates_f.shape}"
        raise ValidationError(describe("tpr", "the shape of fpr", received, raw=True))
    return _tpr_at(rates_f, rates_t, validate_fraction(target, "target"))


# -------------------------------------------------------------------------------- bootstrap


def _bootstrap(
    scores: FloatArray,
    is_member: BoolArray,
    targets: tuple[float, ...],
    n_bootstrap: int,
    seed: int,
) -> tuple[FloatArray, FloatArray]:
    """Replicates resampling members and non-members separately: AUCs (B,), TPRs (B, T).

    Scores are coded by rank among the distinct values once; each chunk of replicates is then
    evaluated by :func:`analysis.bootstrap.auc_tpr_replicates` from per-row histograms.
    """
    _, codes = np.unique(scores, return_inverse=True)
    n_bins = int(codes.max()) + 1
    pos, neg = codes[is_member], codes[~is_member]
    rng = np.random.default_rng(seed)
    aucs, tprs = [np.empty(0)], [np.empty((0, len(targets)))]
    for rows in chunks(n_bootstrap, max(n_bins, pos.size, neg.size)):
        auc, tpr = auc_tpr_replicates(
            pos[resample_indices(rng, pos.size, rows)],
            neg[resample_indices(rng, neg.size, rows)],
            n_bins,
            targets,
        )
        aucs.append(auc)
        tprs.append(tpr)
    return np.concatenate(aucs), np.concatenate(tprs)


def _interval(replicates: FloatArray, level: float) -> tuple[float, float]:
    return percentile_interval(replicates, level)


# ----------------------------------------------------------------------------------- report


def _nan_report(
    curve: RocCurve,
    members: BoolArray,
    targets: tuple[float, ...],
    n_boot: int,
    ci: float,
    *,
    all_tied: bool = False,
) -> RocReport:
    nan = float("nan")
    n_pos = int(members.sum())
    n_neg = members.size - n_pos
    floor = 1.0 / n_neg if n_neg else float("inf")
    entries = tuple(TprAtFpr(t, nan, (nan, nan), bool(t < floor)) for t in targets)
    return RocReport(
        fpr=curve.fpr,
        tpr=curve.tpr,
        thresholds=curve.thresholds,
        auc=nan,
        auc_ci=(nan, nan),
        balanced_accuracy=nan,
        best_threshold=nan,
        tpr_at=entries,
        n_members=n_pos,
        n_nonmembers=n_neg,
        fpr_floor=floor,
        n_bootstrap=n_boot,
        ci_level=ci,
        all_tied=all_tied,
    )


def _all_tied(scores: FloatArray) -> bool:
    if scores.size and bool((scores == scores[0]).all()):
        warn_degenerate(
            f"all {scores.size} scores are equal: the attack ranks nothing; its AUC and TPRs "
            "are reported as NaN (flagged all_tied), not as 0.5",
            stacklevel=4,
        )
        return True
    return False


def roc_report(
    scores: ArrayLike,
    is_member: ArrayLike,
    *,
    fpr_targets: Sequence[float] = DEFAULT_FPR_TARGETS,
    n_bootstrap: int = 200,
    seed: int = 0,
    ci: float = 0.95,
) -> RocReport:
    """ROC curve, AUC, TPR at fixed FPRs and bootstrap percentile intervals for one attack.

    The bootstrap resamples members and non-members separately (seeded) and evaluates every
    replicate from per-replicate histograms over the distinct scores: no per-replicate sort,
    so 10k scores x 200 replicates take a fraction of a second.

    Args:
        scores: 1-D scores, higher = member (NaN refused, +-inf allowed).
        is_member: Boolean (or 0/1) array of the same length.
        fpr_targets: FPRs at which to report the TPR.
        n_bootstrap: Number of replicates (0: no intervals, they are NaN).
        seed: Seed of the resampling.
        ci: Coverage of the percentile intervals, in (0, 1).

    Returns:
        The report. With no members or no non-members, or with every score equal (flagged
        ``all_tied``): a warning and NaN numbers.

    Raises:
        ValidationError: On bad scores, mask, targets or options.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> member = np.r_[np.ones(500, bool), np.zeros(500, bool)]
        >>> r = roc_report(rng.normal(size=1000) + member, member, seed=1)
        >>> r.auc_ci[0] < r.auc < r.auc_ci[1], r.fpr_floor, r.at(0.001).below_floor
        (True, 0.002, True)
    """
    checked, members = _validate_scores_members(scores, is_member)
    targets = _validate_targets(fpr_targets)
    n_boot = validate_int(n_bootstrap, "n_bootstrap", minimum=0)
    level, rng_seed = _validate_ci(ci), validate_seed(seed)
    curve = _curve(checked, members)
    if _degenerate(members):
        return _nan_report(curve, members, targets, n_boot, level)
    if _all_tied(checked):
        return _nan_report(curve, members, targets, n_boot, level, all_tied=True)
    return _build_report(checked, members, curve, targets, n_boot, rng_seed, level)


def _build_report(
    scores: FloatArray,
    members: BoolArray,
    curve: RocCurve,
    targets: tuple[float, ...],
    n_boot: int,
    seed: int,
    level: float,
) -> RocReport:
    aucs, tprs = _bootstrap(scores, members, targets, n_boot, seed)
    n_pos = int(members.sum())
    n_neg = members.size - n_pos
    floor = 1.0 / n_neg
    entries = tuple(
        TprAtFpr(t, _tpr_at(curve.fpr, curve.tpr, t), _interval(tprs[:, i], level), t < floor)
        for i, t in enumerate(targets)
    )
    balanced = (curve.tpr + 1.0 - curve.fpr) / 2.0
    best = int(np.argmax(balanced))
    return RocReport(
        fpr=curve.fpr,
        tpr=curve.tpr,
        thresholds=curve.thresholds,
        auc=_auc(scores, members),
        auc_ci=_interval(aucs, level),
        balanced_accuracy=float(balanced[best]),
        best_threshold=float(curve.thresholds[best]),
        tpr_at=entries,
        n_members=n_pos,
        n_nonmembers=n_neg,
        fpr_floor=floor,
        n_bootstrap=n_boot,
        ci_level=level,
    )
