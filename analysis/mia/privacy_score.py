"""Retrain-distinguishability privacy score (the Unlearning Comparator's "PS").

On the forget samples, an attacker thresholds one value per sample — the entropy of
softmax(logits / 2) or the logit confidence log p_max - log(1 - p_max) — to tell the model's
values from the retrain model's. A threshold t labels a value >= t "positive"; in the direction
``"model_positive"`` the model's values are the positives and the retrain model's the
negatives, in ``"retrain_positive"`` the reverse. At each threshold, with δ = 1e-5 and FPR, FNR
clipped to [1e-10, 1 - δ - 1e-10]:

    ε = max(0, min(log(1 - δ - FPR) - log FNR, log(1 - δ - FNR) - log FPR))
    attack score = 1 - 2^(-ε)

and PS = 1 - (the largest attack score over signals, directions and thresholds). The
``max_form`` variants put max in place of the inner min: the form of the NeurIPS 2023 machine
unlearning challenge, a much harsher score. It is uninformative whenever some threshold has a
zero FPR (or FNR) on one side and a positive rate on the other — i.e. whenever the extreme
value of one model lies beyond every value of the other, which finite samples of two different
models almost always show: the clip 1e-10 then sets ε ≈ 16-23 and the max form ≈ 1e-6 whatever
the models. :attr:`PrivacyScore.max_form_saturated` flags that case (see :data:`MAX_FORM_NOTE`).
The exact grid evaluates every distinct observed value, which is the exact worst
case (a threshold above every value gives ε = 0); ``"uniform51"`` is the reference system's grid
of 51 evenly spaced thresholds between the minimum and maximum value.

Example:
    >>> import numpy as np
    >>> logits = np.random.default_rng(0).normal(size=(30, 10))
    >>> privacy_score(logits, logits).ps   # a model is indistinguishable from itself
    1.0
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike

from analysis.bootstrap import (
    NAN_INTERVAL,
    Interval,
    centred_interval,
    chunks,
    generator,
    resample_indices,
    row_histograms,
    validate_bootstrap,
)
from analysis.errors import ValidationError, describe
from analysis.mia._common import (
    BoolArray,
    FloatArray,
    IntArray,
    validate_float_array,
    validate_logits,
)
from analysis.mia.signals import entropy_at_temperature, logit_confidence

__all__ = [
    "DELTA",
    "DIRECTIONS",
    "MAX_FORM_NOTE",
    "PS_SIGNALS",
    "RATE_CLIP",
    "AttackCurve",
    "CommonThresholdChoice",
    "Direction",
    "Grid",
    "PrivacyScore",
    "SideOutcome",
    "ThresholdChoice",
    "attack_score_from_epsilon",
    "epsilon_from_rates",
    "privacy_score",
    "privacy_score_from_values",
    "privacy_score_interval",
    "privacy_score_replicates",
    "threshold_common",
    "threshold_custom",
    "threshold_max_attack",
    "threshold_max_success",
    "threshold_worst_case",
]

Direction = Literal["model_positive", "retrain_positive"]
Grid = Literal["exact", "uniform51"]

#: δ of the ε formula.
DELTA: Final = 1e-5
#: Lower clip of FPR and FNR (the upper clip is 1 - δ - RATE_CLIP).
RATE_CLIP: Final = 1e-10
#: Signals of :func:`privacy_score`, in the order they are searched.
PS_SIGNALS: Final = ("entropy_t2", "logit_conf")
#: Both directions, in the order they are searched.
DIRECTIONS: Final[tuple[Direction, Direction]] = ("model_positive", "retrain_positive")

#: What the max form measures and when it says nothing (shown beside a saturated value).
MAX_FORM_NOTE: Final = (
    "Max form (NeurIPS 2023 challenge): ε = max of the two one-sided bounds instead of their "
    "min. It is saturated (≈ 0, set by the 1e-10 rate clip, not by the models) as soon as one "
    "threshold catches some samples of one side and none of the other, i.e. whenever one "
    "model's extreme value lies beyond all of the other's. A saturated value is uninformative: "
    "compare models with the min form (PS)."
)

_GRIDS: Final = ("exact", "uniform51")
_UNIFORM_POINTS: Final = 51


@dataclass(frozen=True)
class AttackCurve:
    """The threshold sweep of one signal in one direction (arrays share one length).

    Attributes:
        signal: Signal name.
        direction: Which side are the positives.
        thresholds: Increasing thresholds (a value >= t is labelled positive).
        fpr: Share of negatives labelled positive (not clipped).
        fnr: Share of positives labelled negative (not clipped).
        epsilon: ε (min form, the PS form).
        attack_score: 1 - 2^(-ε).
        success_rate: Share of all samples (both sides) labelled correctly.
        epsilon_max_form: ε with max in place of the inner min (NeurIPS 2023 challenge form).
        attack_score_max_form: 1 - 2^(-epsilon_max_form).
    """

    signal: str
    direction: Direction
    thresholds: FloatArray
    fpr: FloatArray
    fnr: FloatArray
    epsilon: FloatArray
    attack_score: FloatArray
    success_rate: FloatArray
    epsilon_max_form: FloatArray
    attack_score_max_form: FloatArray


@dataclass(frozen=True)
class PrivacyScore:
    """Privacy score of a model against the retrain model on the forget samples.

    Attributes:
        ps: 1 - worst-case attack score, min form (the Comparator's PS; 1 = indistinguishable).
        ps_max_form: The same with the max form of ε (NeurIPS 2023 challenge form).
        max_form_saturated: True when ``ps_max_form``'s worst threshold has a raw FPR or FNR
            of 0 with ε > 0: the value is set by the rate clip, not by the models, and says
            nothing beyond "the extremes differ" (:data:`MAX_FORM_NOTE`).
        worst_signal: Signal of the worst case of ``ps``.
        worst_direction: Direction of that worst case.
        worst_threshold: Threshold of that worst case.
        curves: One curve per signal and direction (signals outer, directions inner).
        model_values: Per signal, the model's values on the forget samples.
        retrain_values: Per signal, the retrain model's values.
        grid: The threshold grid used.
    """

    ps: float
    ps_max_form: float
    max_form_saturated: bool
    worst_signal: str
    worst_direction: Direction
    worst_threshold: float
    curves: tuple[AttackCurve, ...]
    model_values: Mapping[str, FloatArray]
    retrain_values: Mapping[str, FloatArray]
    grid: Grid

    def curve(self, signal: str, direction: Direction) -> AttackCurve:
        """Return the curve of ``signal`` in ``direction``."""
        _check_signal(self, signal)
        _check_direction(direction)
        return next(c for c in self.curves if c.signal == signal and c.direction == direction)


@dataclass(frozen=True)
class SideOutcome:
    """Per-sample outcome of a threshold on one side (the model's or the retrain's values).

    Attributes:
        predicted_positive: value >= threshold.
        correct: Whether the sample is labelled as its side (positives: predicted positive;
            negatives: not).
    """

    predicted_positive: BoolArray
    correct: BoolArray


@dataclass(frozen=True)
class ThresholdChoice:
    """A threshold picked by one strategy, with its rates and per-sample outcomes.

    Attributes:
        strategy: ``"custom"``, ``"max_attack"``, ``"max_success"``, ``"common"`` or
            ``"worst_case"``.
        signal: Signal thresholded.
        direction: Which side are the positives.
        threshold: The threshold t (value >= t is positive).
        epsilon: ε at t (min form).
        attack_score: 1 - 2^(-ε).
        fpr: Share of negatives labelled positive.
        fnr: Share of positives labelled negative.
        success_rate: Share of all samples labelled correctly.
        model: Outcome of the model's values.
        retrain: Outcome of the retrain model's values.
    """

    strategy: str
    signal: str
    direction: Direction
    threshold: float
    epsilon: float
    attack_score: float
    fpr: float
    fnr: float
    success_rate: float
    model: SideOutcome
    retrain: SideOutcome


@dataclass(frozen=True)
class CommonThresholdChoice:
    """One threshold shared by models A and B against the same retrain model.

    Attributes:
        a: The choice evaluated for model A.
        b: The choice evaluated for model B.
        mean_attack_score: (a.attack_score + b.attack_score) / 2, the maximised quantity.
    """

    a: ThresholdChoice
    b: ThresholdChoice
    mean_attack_score: float


# ------------------------------------------------------------------------------ validation


def _check_direction(direction: object) -> Direction:
    for known in DIRECTIONS:
        if direction == known:
            return known
    raise ValidationError(describe("direction", f"one of {list(DIRECTIONS)}", direction))


def _check_grid(grid: object) -> Grid:
    if grid == "exact":
        return "exact"
    if grid == "uniform51":
        return "uniform51"
    raise ValidationError(describe("grid", f"one of {list(_GRIDS)}", grid))


def _check_signal(result: PrivacyScore, signal: object) -> str:
    if not isinstance(signal, str) or signal not in result.model_values:
        raise ValidationError(describe("signal", f"one of {list(result.model_values)}", signal))
    return signal


def _validate_values(values: object, name: str) -> dict[str, FloatArray]:
    if not isinstance(values, Mapping) or not values:
        raise ValidationError(describe(name, "a non-empty mapping signal -> 1-D values", values))
    expected = "a non-empty 1-D array of finite numbers"
    return {
        str(key): validate_float_array(array, f"{name}[{key!r}]", ndim=1, expected=expected)
        for key, array in values.items()
    }


def _validate_rates(value: ArrayLike, name: str) -> FloatArray:
    expected = "rates in [0, 1]"
    array = validate_float_array(np.atleast_1d(value), name, ndim=1, expected=expected)
    if ((array < 0) | (array > 1)).any():
        received = f"values in [{array.min()}, {array.max()}]"
        raise ValidationError(describe(name, expected, received, raw=True))
    return array


# ------------------------------------------------------------------------------ the formula


def _epsilons(fpr: FloatArray, fnr: FloatArray, delta: float) -> tuple[FloatArray, FloatArray]:
    """(ε min form, ε max form) from raw rates.

    ``1 - δ - clip(r)`` is computed as ``clip(1 - δ - r)`` (the same value in exact arithmetic)
    so that equal rate pairs give exactly ε = 0 instead of rounding noise.
    """
    high = (1.0 - delta) - RATE_CLIP
    fpr_c, fnr_c = np.clip(fpr, RATE_CLIP, high), np.clip(fnr, RATE_CLIP, high)
    slack_fpr = np.clip((1.0 - delta) - fpr, RATE_CLIP, high)
    slack_fnr = np.clip((1.0 - delta) - fnr, RATE_CLIP, high)
    first = np.log(slack_fpr) - np.log(fnr_c)
    second = np.log(slack_fnr) - np.log(fpr_c)
    return np.maximum(0.0, np.minimum(first, second)), np.maximum(0.0, np.maximum(first, second))


def epsilon_from_rates(
    fpr: ArrayLike, fnr: ArrayLike, *, delta: float = DELTA, form: Literal["min", "max"] = "min"
) -> FloatArray:
    """ε of a threshold attack from its FPR and FNR (both clipped to [1e-10, 1 - δ - 1e-10]).

    ``form="min"``: max(0, min(log(1-δ-FPR) - log FNR, log(1-δ-FNR) - log FPR)) (the PS form);
    ``form="max"``: the same with max in place of min (NeurIPS 2023 challenge form).

    Args:
        fpr: False-positive rates in [0, 1] (scalar or 1-D).
        fnr: False-negative rates, same shape.
        delta: δ in [0, 0.5).
        form: ``"min"`` or ``"max"``.

    Returns:
        ε per entry (1-D).

    Example:
        >>> round(float(epsilon_from_rates(0.1, 0.2)[0]), 6)
        1.504066
    """
    rates_p, rates_n = _validate_rates(fpr, "fpr"), _validate_rates(fnr, "fnr")
    if rates_p.shape != rates_n.shape:
        received = f"shape {rates_n.shape} vs fpr shape {rates_p.shape}"
        raise ValidationError(describe("fnr", "the shape of fpr", received, raw=True))
    if isinstance(delta, bool) or not isinstance(delta, int | float | np.floating):
        raise ValidationError(describe("delta", "a number in [0, 0.5)", delta))
    if not 0 <= delta < 0.5:
        raise ValidationError(describe("delta", "a number in [0, 0.5)", delta))
    if form not in ("min", "max"):
        raise ValidationError(describe("form", "'min' or 'max'", form))
    eps_min, eps_max = _epsilons(rates_p, rates_n, float(delta))
    return eps_min if form == "min" else eps_max


def attack_score_from_epsilon(epsilon: ArrayLike) -> FloatArray:
    """Attack score 1 - 2^(-ε) (0 for ε = 0, towards 1 as ε grows).

    Example:
        >>> attack_score_from_epsilon([0.0, 1.0]).tolist()
        [0.0, 0.5]
    """
    eps = np.asarray(epsilon, dtype=np.float64)
    out: FloatArray = -np.expm1(-eps * np.log(2.0))
    return np.atleast_1d(out)


# ----------------------------------------------------------------------------------- sweep


def _grid(values: list[FloatArray], grid: Grid) -> FloatArray:
    pooled = np.concatenate(values)
    if grid == "exact":
        return np.unique(pooled)
    return np.linspace(pooled.min(), pooled.max(), _UNIFORM_POINTS)


def _count_at_or_above(values: FloatArray, thresholds: FloatArray) -> IntArray:
    """For each threshold, how many values are >= it (values sorted once)."""
    out: IntArray = values.size - np.searchsorted(np.sort(values), thresholds, side="left")
    return out


def _sides(model: FloatArray, retrain: FloatArray, direction: Direction) -> tuple[FloatArray, ...]:
    return (model, retrain) if direction == "model_positive" else (retrain, model)


def _sweep(
    signal: str, direction: Direction, pos: FloatArray, neg: FloatArray, thresholds: FloatArray
) -> AttackCurve:
    tp, fp = _count_at_or_above(pos, thresholds), _count_at_or_above(neg, thresholds)
    fpr, fnr = fp / neg.size, (pos.size - tp) / pos.size
    eps_min, eps_max = _epsilons(fpr, fnr, DELTA)
    return AttackCurve(
        signal=signal,
        direction=direction,
        thresholds=thresholds,
        fpr=fpr,
        fnr=fnr,
        epsilon=eps_min,
        attack_score=attack_score_from_epsilon(eps_min),
        success_rate=(tp + (neg.size - fp)) / (pos.size + neg.size),
        epsilon_max_form=eps_max,
        attack_score_max_form=attack_score_from_epsilon(eps_max),
    )


def _curves(
    model: dict[str, FloatArray], retrain: dict[str, FloatArray], grid: Grid
) -> tuple[AttackCurve, ...]:
    curves = []
    for signal in model:
        thresholds = _grid([model[signal], retrain[signal]], grid)
        for direction in DIRECTIONS:
            pos, neg = _sides(model[signal], retrain[signal], direction)
            curves.append(_sweep(signal, direction, pos, neg, thresholds))
    return tuple(curves)


def _max_form_saturated(curves: tuple[AttackCurve, ...]) -> bool:
    """Whether the max form's worst case sits at a zero raw FPR or FNR (clip-driven)."""
    worst = max(curves, key=lambda c: float(c.epsilon_max_form.max()))
    i = int(np.argmax(worst.epsilon_max_form))
    return bool(worst.epsilon_max_form[i] > 0 and (worst.fpr[i] == 0 or worst.fnr[i] == 0))


def privacy_score_from_values(
    model_values: Mapping[str, ArrayLike],
    retrain_values: Mapping[str, ArrayLike],
    *,
    grid: Grid = "exact",
) -> PrivacyScore:
    """Privacy score from per-signal values (any signals; the module docstring has the formula).

    Args:
        model_values: Signal name -> the model's values on the forget samples (1-D, finite).
        retrain_values: The same signals for the retrain model (sizes may differ).
        grid: ``"exact"`` (every distinct observed value) or ``"uniform51"``.

    Returns:
        The score, its max-form variant, the worst case and every curve.

    Raises:
        ValidationError: On mismatched signal names, empty or non-finite values, unknown grid.

    Example:
        >>> r = privacy_score_from_values({"s": [0.0, 1.0]}, {"s": [5.0, 6.0]})
        >>> r.ps < 1e-6, r.worst_direction, r.worst_threshold
        (True, 'retrain_positive', 5.0)
    """
    grid_kind = _check_grid(grid)
    model = _validate_values(model_values, "model_values")
    retrain = _validate_values(retrain_values, "retrain_values")
    if set(model) != set(retrain):
        expected = f"the signals of model_values {sorted(model)}"
        raise ValidationError(describe("retrain_values", expected, sorted(retrain)))
    retrain = {signal: retrain[signal] for signal in model}  # model_values' order
    curves = _curves(model, retrain, grid_kind)
    scores = np.array([c.attack_score.max() for c in curves])
    worst = curves[int(np.argmax(scores))]
    return PrivacyScore(
        ps=float(1.0 - scores.max()),
        ps_max_form=float(1.0 - max(c.attack_score_max_form.max() for c in curves)),
        max_form_saturated=_max_form_saturated(curves),
        worst_signal=worst.signal,
        worst_direction=worst.direction,
        worst_threshold=float(worst.thresholds[int(np.argmax(worst.attack_score))]),
        curves=curves,
        model_values=MappingProxyType(model),
        retrain_values=MappingProxyType(retrain),
        grid=grid_kind,
    )


def privacy_score(
    model_logits: ArrayLike, retrain_logits: ArrayLike, *, grid: Grid = "exact"
) -> PrivacyScore:
    """Privacy score of a model against the retrain model from their forget-set logits.

    Uses :data:`PS_SIGNALS`: entropy of softmax(logits / 2) and the logit confidence
    log p_max - log(1 - p_max) at temperature 1 (no labels needed).

    Args:
        model_logits: Logits (n, C) of the model on the forget samples.
        retrain_logits: Logits (n', C) of the retrain model on the forget samples.
        grid: ``"exact"`` or ``"uniform51"``.

    Returns:
        See :func:`privacy_score_from_values`. ``ps`` is exactly 1 when both logits are equal.

    Raises:
        ValidationError: On bad logits or differing class counts.

    Example:
        >>> import numpy as np
        >>> sure, unsure = np.array([[9.0, 0.0]] * 5), np.array([[0.5, 0.0]] * 5)
        >>> privacy_score(sure, unsure).ps < 1e-6   # perfectly separable
        True
    """
    model = validate_logits(model_logits, "model_logits")
    retrain = validate_logits(retrain_logits, "retrain_logits")
    if retrain.shape[1] != model.shape[1]:
        expected = f"{model.shape[1]} classes like model_logits"
        raise ValidationError(
            describe("retrain_logits", expected, f"shape {retrain.shape}", raw=True)
        )

    def values(logits: FloatArray) -> dict[str, ArrayLike]:
        return {
            "entropy_t2": entropy_at_temperature(logits, temperature=2.0),
            "logit_conf": logit_confidence(logits),
        }

    return privacy_score_from_values(values(model), values(retrain), grid=grid)


# ------------------------------------------------------------------------------- bootstrap


def _log_tables(n: int, delta: float = DELTA) -> tuple[FloatArray, FloatArray]:
    """For counts c = 0..n: log(clip(1 - δ - c/n)) and log(clip(c/n)), as :func:`_epsilons`."""
    rates = np.arange(n + 1) / n
    high = (1.0 - delta) - RATE_CLIP
    slack = np.log(np.clip((1.0 - delta) - rates, RATE_CLIP, high))
    return slack, np.log(np.clip(rates, RATE_CLIP, high))


def _at_or_above(codes: IntArray, n_bins: int) -> IntArray:
    """Per row, how many codes are >= j for j = 0..n_bins (column n_bins: none)."""
    cum = np.cumsum(row_histograms(codes, n_bins), axis=1)
    out = np.empty((codes.shape[0], n_bins + 1), np.int64)
    out[:, 0] = codes.shape[1]
    out[:, 1:] = codes.shape[1] - cum
    return out


def _uniform_columns(thresholds: FloatArray, code_m: IntArray, code_r: IntArray) -> IntArray:
    """Per row, the columns of :func:`_at_or_above` at the 51 evenly spaced thresholds between
    that replicate's smallest and largest value (``"uniform51"``)."""
    lo = thresholds[np.minimum(code_m.min(axis=1), code_r.min(axis=1))]
    hi = thresholds[np.maximum(code_m.max(axis=1), code_r.max(axis=1))]
    grid = np.linspace(lo, hi, _UNIFORM_POINTS, axis=1)  # the same arithmetic as _grid
    out: IntArray = np.searchsorted(thresholds, grid, side="left")  # value >= t <=> code >= col
    return out


def _candidates(has_pos: BoolArray, has_neg: BoolArray) -> IntArray:
    """Thresholds (indices of the distinct values) that can hold the worst case of a direction.

    ε never decreases when a threshold moves up past values of the negatives only (FP falls, FN
    stays) and never increases when it moves up past values of the positives only (FN grows, FP
    stays), in the sample and in any resample of it (a value absent from a resample changes
    nothing). So only distinct values holding positives whose predecessor does not hold
    positives only can be the maximum (ε above every value is 0).
    """
    positives_only = has_pos & ~has_neg
    out: IntArray = np.flatnonzero(has_pos & ~np.r_[False, positives_only[:-1]])
    return out


def _counts_at(
    thresholds: FloatArray,
    code_m: IntArray,
    code_r: IntArray,
    idx_m: IntArray,
    idx_r: IntArray,
    grid: Grid,
) -> tuple[IntArray, IntArray, tuple[Any, Any]]:
    """Per replicate, the model's and the retrain model's counts of values >= each evaluated
    threshold, and the columns each direction evaluates (model_positive, retrain_positive)."""
    n_codes = thresholds.size
    if grid == "uniform51":
        ge_m, ge_r = _at_or_above(code_m[idx_m], n_codes), _at_or_above(code_r[idx_r], n_codes)
        cols = _uniform_columns(thresholds, code_m[idx_m], code_r[idx_r])
        every = slice(None)
        return np.take_along_axis(ge_m, cols, 1), np.take_along_axis(ge_r, cols, 1), (every, every)
    has_m = np.bincount(code_m, minlength=n_codes) > 0
    has_r = np.bincount(code_r, minlength=n_codes) > 0
    cand_m, cand_r = _candidates(has_m, has_r), _candidates(has_r, has_m)
    kept = np.union1d(cand_m, cand_r)  # histograms over the kept thresholds only
    bins_m = np.searchsorted(kept, code_m, side="right")  # value >= kept[j] <=> bin > j
    bins_r = np.searchsorted(kept, code_r, side="right")
    ge_m = _at_or_above(bins_m[idx_m], kept.size + 1)[:, 1:]
    ge_r = _at_or_above(bins_r[idx_r], kept.size + 1)[:, 1:]
    return ge_m, ge_r, (np.searchsorted(kept, cand_m), np.searchsorted(kept, cand_r))


def _signal_epsilons(
    model: FloatArray, retrain: FloatArray, idx_m: IntArray, idx_r: IntArray, grid: Grid
) -> tuple[FloatArray, FloatArray]:
    """Largest ε (min form, max form) per replicate of one signal, over both directions and
    every threshold. The exact grid evaluates the distinct values of the ORIGINAL sample that
    :func:`_candidates` keeps: a superset of what each replicate's own exact grid can reach,
    so the maximum is the replicate's exact worst case."""
    thresholds = np.unique(np.r_[model, retrain])
    code_m = np.searchsorted(thresholds, model)
    code_r = np.searchsorted(thresholds, retrain)
    ge_m, ge_r, columns = _counts_at(thresholds, code_m, code_r, idx_m, idx_r, grid)
    n_m, n_r = idx_m.shape[1], idx_r.shape[1]
    (slack_m, rate_m), (slack_r, rate_r) = _log_tables(n_m), _log_tables(n_r)
    best_min, best_max = np.zeros(idx_m.shape[0]), np.zeros(idx_m.shape[0])
    # model_positive: FP = retrain values >= t, FN = model values < t; retrain_positive: reverse
    for cols, fp, fn, slack_p, rate_p, slack_n, rate_n in (
        (columns[0], ge_r, n_m - ge_m, slack_r, rate_r, slack_m, rate_m),
        (columns[1], ge_m, n_r - ge_r, slack_m, rate_m, slack_r, rate_r),
    ):
        fp_c, fn_c = fp[:, cols], fn[:, cols]
        if fp_c.shape[1] == 0:
            continue
        first = slack_p[fp_c] - rate_n[fn_c]  # log(1 - δ - FPR) - log FNR
        second = slack_n[fn_c] - rate_p[fp_c]  # log(1 - δ - FNR) - log FPR
        best_min = np.maximum(best_min, np.minimum(first, second).max(axis=1))
        best_max = np.maximum(best_max, np.maximum(first, second).max(axis=1))
    return best_min, best_max


def privacy_score_replicates(
    result: PrivacyScore, idx_model: ArrayLike, idx_retrain: ArrayLike | None = None
) -> tuple[FloatArray, FloatArray]:
    """PS and PS max form recomputed on resamples given as index matrices (exact worst case).

    Args:
        result: The point estimate (its values, signals and grid are resampled).
        idx_model: (B, n_model) indices into the model's values, one resample per row.
        idx_retrain: (B, n_retrain) indices into the retrain model's values; None = the same
            rows as ``idx_model`` (paired: sample i brings both its values).

    Returns:
        (PS, PS max form), each of shape (B,). The identity resample gives ``result.ps``.

    Example:
        >>> import numpy as np
        >>> r = privacy_score_from_values({"s": [0.0, 1.0, 2.0]}, {"s": [1.5, 2.5, 3.0]})
        >>> ps, _ = privacy_score_replicates(r, np.arange(3)[None])
        >>> bool(ps[0] == r.ps)
        True
    """
    idx_m = np.atleast_2d(np.asarray(idx_model, dtype=np.int64))
    idx_r = idx_m if idx_retrain is None else np.atleast_2d(np.asarray(idx_retrain, np.int64))
    best_min, best_max = np.zeros(idx_m.shape[0]), np.zeros(idx_m.shape[0])
    for signal, values in result.model_values.items():
        eps_min, eps_max = _signal_epsilons(
            values, result.retrain_values[signal], idx_m, idx_r, result.grid
        )
        best_min, best_max = np.maximum(best_min, eps_min), np.maximum(best_max, eps_max)
    return 1.0 - attack_score_from_epsilon(best_min), 1.0 - attack_score_from_epsilon(best_max)


def privacy_score_interval(
    result: PrivacyScore, *, n_bootstrap: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[Interval, Interval]:
    """Bootstrap intervals of PS and of its max form, resampling the forget samples.

    The intervals are :func:`analysis.bootstrap.centred_interval`: the percentile interval's
    spread around the bootstrap median, placed at the estimate (PS is a worst case over
    thresholds, and a resample's worst case is biased towards distinguishability, so the plain
    percentile interval of a PS near 1 can lie entirely below it). With as many model as
    retrain values the resampling is paired (a drawn sample brings its value under both
    models); otherwise each side is resampled on its own. Every replicate is the exact worst
    case over signals, directions and thresholds (no approximation), evaluated for all
    replicates at once from per-row histograms and log tables of the rates.

    Args:
        result: The point estimate of :func:`privacy_score` / :func:`privacy_score_from_values`.
        n_bootstrap: Replicates (0: NaN intervals).
        seed: Seed of the draws.
        level: Coverage in (0, 1).

    Returns:
        (PS interval, PS max-form interval); NaN with a warning below 2 samples a side.

    Example:
        >>> import numpy as np
        >>> z = np.random.default_rng(0).normal(size=(60, 10))
        >>> ci, _ = privacy_score_interval(privacy_score(z, z + 0.3), n_bootstrap=200)
        >>> bool(ci[0] <= privacy_score(z, z + 0.3).ps <= ci[1])
        True
    """
    n_boot, rng_seed, lvl = validate_bootstrap(n_bootstrap, seed, level)
    n_m = next(iter(result.model_values.values())).size
    n_r = next(iter(result.retrain_values.values())).size
    if n_boot == 0:
        return NAN_INTERVAL, NAN_INTERVAL
    if min(n_m, n_r) < 2:
        warnings.warn(
            f"bootstrap of PS: {min(n_m, n_r)} forget sample(s), at least 2 needed; "
            "interval is NaN",
            RuntimeWarning,
            stacklevel=2,
        )
        return NAN_INTERVAL, NAN_INTERVAL
    if n_m == n_r and all(
        np.array_equal(v, result.retrain_values[s]) for s, v in result.model_values.items()
    ):  # paired resamples of identical values are identical: every replicate is PS = 1
        return (1.0, 1.0), (1.0, 1.0)
    rng = generator(rng_seed, "PS")
    width = 2 * (n_m + n_r) * len(result.model_values)
    parts = []
    for rows in chunks(n_boot, width):
        idx_m = resample_indices(rng, n_m, rows)
        idx_r = None if n_m == n_r else resample_indices(rng, n_r, rows)
        parts.append(privacy_score_replicates(result, idx_m, idx_r))
    ps = np.concatenate([p[0] for p in parts])
    ps_max = np.concatenate([p[1] for p in parts])
    return (
        centred_interval(ps, result.ps, lvl, (0.0, 1.0)),
        centred_interval(ps_max, result.ps_max_form, lvl, (0.0, 1.0)),
    )


# ------------------------------------------------------------------------------ strategies


def _choice(
    result: PrivacyScore, strategy: str, signal: str, direction: Direction, threshold: float
) -> ThresholdChoice:
    model, retrain = result.model_values[signal], result.retrain_values[signal]
    pos, neg = _sides(model, retrain, direction)
    point = _sweep(signal, direction, pos, neg, np.array([threshold], dtype=np.float64))
    model_pos, retrain_pos = model >= threshold, retrain >= threshold
    model_is_positive = direction == "model_positive"
    return ThresholdChoice(
        strategy=strategy,
        signal=signal,
        direction=direction,
        threshold=float(threshold),
        epsilon=float(point.epsilon[0]),
        attack_score=float(point.attack_score[0]),
        fpr=float(point.fpr[0]),
        fnr=float(point.fnr[0]),
        success_rate=float(point.success_rate[0]),
        model=SideOutcome(model_pos, model_pos if model_is_positive else ~model_pos),
        retrain=SideOutcome(retrain_pos, ~retrain_pos if model_is_positive else retrain_pos),
    )


def _directions(direction: Direction | None) -> tuple[Direction, ...]:
    return DIRECTIONS if direction is None else (_check_direction(direction),)


def _argmax_over(
    result: PrivacyScore, signal: str, direction: Direction | None, field: str
) -> tuple[Direction, float]:
    """Direction and threshold maximising a curve field (first maximum wins)."""
    curves = [result.curve(signal, d) for d in _directions(direction)]
    best = [float(getattr(c, field).max()) for c in curves]
    curve = curves[int(np.argmax(best))]
    return curve.direction, float(curve.thresholds[int(np.argmax(getattr(curve, field)))])


def threshold_custom(
    result: PrivacyScore, threshold: float, *, signal: str, direction: Direction
) -> ThresholdChoice:
    """Evaluate a user-chosen threshold.

    Example:
        >>> r = privacy_score_from_values({"s": [0.0, 1.0]}, {"s": [5.0, 6.0]})
        >>> c = threshold_custom(r, 5.5, signal="s", direction="retrain_positive")
        >>> c.fnr, c.fpr, c.retrain.correct.tolist(), c.success_rate
        (0.5, 0.0, [False, True], 0.75)
    """
    _check_signal(result, signal)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.number):
        raise ValidationError(describe("threshold", "a number", threshold))
    if np.isnan(threshold):
        raise ValidationError(describe("threshold", "a number (not NaN)", threshold))
    return _choice(result, "custom", signal, _check_direction(direction), float(threshold))


def threshold_max_attack(
    result: PrivacyScore, *, signal: str, direction: Direction | None = None
) -> ThresholdChoice:
    """The threshold with the largest attack score for one signal (both directions if None).

    Example:
        >>> r = privacy_score_from_values({"s": [0.0, 1.0]}, {"s": [5.0, 6.0]})
        >>> threshold_max_attack(r, signal="s").threshold
        5.0
    """
    _check_signal(result, signal)
    best_direction, threshold = _argmax_over(result, signal, direction, "attack_score")
    return _choice(result, "max_attack", signal, best_direction, threshold)


def threshold_max_success(
    result: PrivacyScore, *, signal: str, direction: Direction | None = None
) -> ThresholdChoice:
    """The threshold with the largest success rate for one signal (both directions if None).

    Example:
        >>> r = privacy_score_from_values({"s": [0.0, 1.0]}, {"s": [5.0, 6.0]})
        >>> threshold_max_success(r, signal="s").success_rate
        1.0
    """
    _check_signal(result, signal)
    best_direction, threshold = _argmax_over(result, signal, direction, "success_rate")
    return _choice(result, "max_success", signal, best_direction, threshold)


def threshold_worst_case(result: PrivacyScore) -> ThresholdChoice:
    """The worst case behind ``result.ps`` (largest attack score over everything).

    Example:
        >>> r = privacy_score_from_values({"s": [0.0, 1.0]}, {"s": [5.0, 6.0]})
        >>> round(1.0 - threshold_worst_case(r).attack_score, 6) == round(r.ps, 6)
        True
    """
    return _choice(
        result, "worst_case", result.worst_signal, result.worst_direction, result.worst_threshold
    )


def _common_grid(a: PrivacyScore, b: PrivacyScore, signal: str) -> FloatArray:
    values = [a.model_values[signal], b.model_values[signal], a.retrain_values[signal]]
    return _grid(values, a.grid)


def _check_same_retrain(a: PrivacyScore, b: PrivacyScore, signal: str) -> None:
    if not np.array_equal(a.retrain_values[signal], b.retrain_values[signal]):
        expected = "the same retrain values as result_a (both against one retrain model)"
        raise ValidationError(describe("result_b", expected, "different values", raw=True))


def threshold_common(
    result_a: PrivacyScore,
    result_b: PrivacyScore,
    *,
    signal: str,
    direction: Direction | None = None,
) -> CommonThresholdChoice:
    """One threshold for models A and B (same retrain, signal and direction) maximising the mean
    of their two attack scores; both directions are searched when ``direction`` is None.

    The grid is result_a's kind over the values of A, B and the retrain model together (exact:
    every distinct value, so the maximum is exact).

    Example:
        >>> a = privacy_score_from_values({"s": [0.0, 1.0]}, {"s": [5.0, 6.0]})
        >>> b = privacy_score_from_values({"s": [2.0, 3.0]}, {"s": [5.0, 6.0]})
        >>> c = threshold_common(a, b, signal="s", direction="retrain_positive")
        >>> c.a.threshold, c.a.fnr, c.b.fpr
        (5.0, 0.0, 0.0)
    """
    _check_signal(result_a, signal)
    _check_signal(result_b, signal)
    _check_same_retrain(result_a, result_b, signal)
    thresholds = _common_grid(result_a, result_b, signal)
    candidates = []  # (mean attack score, direction index, threshold index)
    for index, d in enumerate(_directions(direction)):
        mean = np.zeros(thresholds.size)
        for result in (result_a, result_b):
            pos, neg = _sides(result.model_values[signal], result.retrain_values[signal], d)
            mean += _sweep(signal, d, pos, neg, thresholds).attack_score / 2.0
        k = int(np.argmax(mean))
        candidates.append((float(mean[k]), -index, k))
    score, neg_index, k = max(candidates)  # ties: the first direction
    chosen, threshold = _directions(direction)[-neg_index], float(thresholds[k])
    return CommonThresholdChoice(
        a=_choice(result_a, "common", signal, chosen, threshold),
        b=_choice(result_b, "common", signal, chosen, threshold),
        mean_attack_score=score,
    )
