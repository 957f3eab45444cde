"""Privacy page figures: the retrain-distinguishability attack and the audit of every MIA.

The attack (the Unlearning Comparator's "PS"): on the forget samples, an attacker thresholds one
value per sample — the entropy of softmax(logits / 2) or the logit confidence — to tell a model's
outputs from the retrain model's. Builders here draw, for Model A and Model B, the two value
distributions with the threshold, the attack-score / FPR / FNR curves, the PS bars and the
success / failure thumbnails; the audit part draws every MIA of the engine: a table with retrain
targets and gaps, log-log ROC curves and TPR at low FPR with the resolution floor flagged, and
how each reference-model attack (offline/online LiRA, RMIA, U-LiRA) was evaluated.

Every number comes from the cached :class:`analysis.compare.Comparison`; the threshold strategies
are the library's ``analysis.mia.threshold_*`` functions.

Example:
    >>> import numpy as np
    >>> format_value(0.12345, "forget_auc"), format_value(None, "PS"), format_gap(-0.5, "PS")
    ('0.123', 'N/A', '−0.500')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from analysis.compare import Comparison, audit_table
from analysis.experiment import Experiment
from analysis.exposure import EXPOSURE_SCORES, exposure_score, most_exposed
from analysis.mia import (
    Direction,
    PrivacyScore,
    RocReport,
    ThresholdChoice,
    TprAtFpr,
    threshold_common,
    threshold_custom,
    threshold_max_attack,
    threshold_max_success,
)
from dashboard.figures import FigureSpec
from dashboard.figures.images import thumbnail_grid
from dashboard.theme import FORGET_MARK, ROLE_COLORS, class_label, font_size, template

__all__ = [
    "AUDIT_METRICS",
    "CALLED_OPACITY",
    "DEFAULT_EXPOSURE",
    "DIRECTIONS",
    "EXPOSURE_SCORES",
    "ORIGINS",
    "PS_MAX_LABEL",
    "PS_MIN_LABEL",
    "ROC_ATTACKS",
    "SIGNALS",
    "SIGNAL_LABELS",
    "SIGNAL_SHORT",
    "STRATEGIES",
    "THUMBNAIL_SIZES",
    "Scales",
    "Side",
    "attack_curves_data",
    "attack_curves_figure",
    "audit_frame",
    "audit_table_figure",
    "bin_codes",
    "called_model",
    "choose_thresholds",
    "clamp_threshold",
    "default_exposure",
    "distribution_data",
    "distribution_figure",
    "exposure_attacks",
    "exposure_caption",
    "exposure_frame",
    "exposure_models",
    "format_ci",
    "format_gap",
    "format_value",
    "outcome_frame",
    "outcome_grid",
    "page_figures",
    "ps_data",
    "ps_figure",
    "reference_frame",
    "roc_data",
    "roc_figure",
    "shared_scales",
    "sides",
    "table_figure",
    "threshold_range",
    "tpr_data",
    "tpr_frame",
    "worst_signal",
]

#: Page metric -> engine signal.
SIGNALS: dict[str, str] = {"entropy": "entropy_t2", "confidence": "logit_conf"}
#: Axis label of each signal (what is plotted, in which units).
SIGNAL_LABELS: dict[str, str] = {
    "entropy_t2": "entropy of softmax(logits / 2) (nats)",
    "logit_conf": "logit confidence log p_max − log(1 − p_max)",
}
#: Short axis label of each signal (the Metric help and SIGNAL_LABELS give the definition).
SIGNAL_SHORT: dict[str, str] = {
    "entropy_t2": "entropy, T = 2 (nats)",
    "logit_conf": "logit confidence",
}
#: Threshold strategies, as the page lists them.
STRATEGIES: dict[str, str] = {
    "custom": "Custom threshold",
    "max_attack": "Max attack score",
    "max_success": "Max success rate",
    "common": "Common threshold (same for A and B)",
    "worst_case": "Worst case on this metric (PS's attack on its metric)",
}
#: Directions: which side the attacker labels "positive" (value ≥ threshold).
DIRECTIONS: dict[str, str] = {
    "model_positive": "value ≥ t → the model",
    "retrain_positive": "value ≥ t → the retrain model",
}
PS_MIN_LABEL = "PS (min form, Comparator)"
PS_MAX_LABEL = "PS (max form, NeurIPS'23)"
#: The ROC reports of the audit drawn on log-log axes.
ROC_ATTACKS: dict[str, str] = {
    "forget_auc": "Forget vs holdout (loss threshold)",
    "lira": "Offline LiRA (reference models)",
    "rmia": "Offline RMIA (reference models)",
    "lira_online": "Online LiRA (vs retrain, reference models)",
    "ulira": "U-LiRA (vs retrain, shadow models)",
}
#: Readable names of :meth:`analysis.privacy.PrivacyReport.headline` metrics.
AUDIT_METRICS: dict[str, str] = {
    "PS": PS_MIN_LABEL,
    "PS_max_form": PS_MAX_LABEL,
    "mia_efficacy": "MIA-efficacy (SalUn SVC on forget set)",
    "forget_auc": "Forget-vs-holdout AUC (loss)",
    "privleak": "PrivLeak (%)",
    "ks_d": "KS forget quality: D (loss)",
    "ks_p": "KS forget quality: p-value",
    "population_auc": "Population attack AUC (logistic)",
    "lira_offline_auc": "Offline LiRA AUC",
    "rmia_offline_auc": "Offline RMIA AUC",
    "lira_online_auc": "Online LiRA AUC (model vs retrain, ideal 0.5)",
    "ulira_auc": "U-LiRA AUC (model vs retrain, ideal 0.5)",
}
#: Headline metric -> the PrivacyReport attribute holding its ROC report (AUC intervals).
_AUC_REPORTS: dict[str, str] = {
    "forget_auc": "forget_auc",
    "lira_offline_auc": "lira",
    "rmia_offline_auc": "rmia",
    "lira_online_auc": "lira_online",
    "ulira_auc": "ulira",
}
_CURVE_COLORS = {"attack_score": None, "fpr": "#009E73", "fnr": "#CC79A7"}
_NA = "N/A"
_HEIGHT = 420


def _height(presentation: bool, extra: int = 0) -> int:
    """Figure height: taller in presentation mode, where the type is larger."""
    return (_HEIGHT + 120 if presentation else _HEIGHT) + extra


# ----------------------------------------------------------------------------- data helpers


@dataclass(frozen=True)
class Side:
    """One compared model on the page: its role ("A" or "B"), name and privacy score."""

    role: str
    name: str
    ps: PrivacyScore
    #: Training index of each forget sample, in the order of the privacy score's values.
    forget: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def color(self) -> str:
        """The model's fixed colour."""
        return ROLE_COLORS[self.role]

    @property
    def label(self) -> str:
        """``"name (Model A)"``."""
        return f"{self.name} (Model {self.role})"

    def indices(self) -> np.ndarray:
        """Training index of each forget value (positions 0..n-1 when unknown)."""
        n = len(next(iter(self.ps.model_values.values())))
        if self.forget is not None and len(self.forget) == n:
            return np.asarray(self.forget, dtype=np.int64)
        return np.arange(n, dtype=np.int64)


def sides(cmp: Comparison) -> list[Side]:
    """Model A and Model B with their privacy scores, in that order.

    Left out: a model that is the retrain model itself (indistinguishable from itself, PS = 1)
    and every model when there is no retrain model (no score).
    """
    out = []
    for role, name in (("A", cmp.a), ("B", cmp.b)):
        ps = cmp.models[name].privacy.ps
        if ps is not None and name != cmp.retrain:
            out.append(Side(role, name, ps, np.asarray(cmp.sets.forget, dtype=np.int64)))
    return out


def threshold_range(ps: PrivacyScore, signal: str) -> tuple[float, float]:
    """Smallest and largest value of ``signal`` over the model's and the retrain's samples."""
    pooled = np.concatenate([ps.model_values[signal], ps.retrain_values[signal]])
    return float(pooled.min()), float(pooled.max())


def clamp_threshold(value: float | None, bounds: tuple[float, float], default: float) -> float:
    """``value`` inside ``bounds`` (``default`` when missing or not finite).

    Example:
        >>> clamp_threshold(9.0, (0.0, 1.0), 0.5), clamp_threshold(None, (0.0, 1.0), 0.5)
        (1.0, 0.5)
    """
    if value is None or not math.isfinite(value):
        return float(default)
    return float(min(max(value, bounds[0]), bounds[1]))


def worst_signal(page_sides: Sequence[Side]) -> str:
    """The signal of the worst attack on the page: the PS worst case of the side with the
    lowest PS (Model A on a tie). What the "Worst case" button sets the Metric to.

    Example:
        >>> worst_signal([])
        'entropy_t2'
    """
    if not page_sides:
        return next(iter(SIGNALS.values()))
    weakest = min(page_sides, key=lambda s: s.ps.ps)
    return weakest.ps.worst_signal


def _one(
    side: Side, strategy: str, signal: str, direction: Direction | None, custom: float | None
) -> ThresholdChoice:
    if strategy == "custom":
        auto = threshold_max_attack(side.ps, signal=signal, direction=direction)
        value = auto.threshold if custom is None else custom
        return threshold_custom(side.ps, value, signal=signal, direction=auto.direction)
    if strategy == "max_success":
        return threshold_max_success(side.ps, signal=signal, direction=direction)
    if strategy == "worst_case":  # on the chosen signal: the radio drives it
        worst = threshold_max_attack(side.ps, signal=signal, direction=direction)
        return replace(worst, strategy="worst_case")
    return threshold_max_attack(side.ps, signal=signal, direction=direction)


def choose_thresholds(
    page_sides: Sequence[Side],
    *,
    strategy: str,
    signal: str,
    direction: Direction | None = None,
    custom: Mapping[str, float] | None = None,
) -> dict[str, ThresholdChoice]:
    """The threshold of each side (role -> choice) under one strategy.

    Args:
        page_sides: The sides of :func:`sides`.
        strategy: A key of :data:`STRATEGIES`. ``"common"`` needs both sides (with one side it
            is the max-attack threshold). ``"worst_case"``: the largest attack score over both
            directions (unless ``direction`` is fixed) and every threshold of ``signal``, the
            attack behind PS when ``signal`` is the side's :attr:`PrivacyScore.worst_signal`
            (:func:`worst_signal` gives the page's).
        signal: ``"entropy_t2"`` or ``"logit_conf"``.
        direction: Fixed direction, or None for the strategy's choice (for ``"custom"``: the
            direction of the max-attack threshold).
        custom: Role -> threshold for ``"custom"`` (missing: the max-attack threshold).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy: expected one of {list(STRATEGIES)}, received {strategy!r}")
    if strategy == "common" and len(page_sides) == 2:
        both = threshold_common(
            page_sides[0].ps, page_sides[1].ps, signal=signal, direction=direction
        )
        return {page_sides[0].role: both.a, page_sides[1].role: both.b}
    custom = custom or {}
    return {s.role: _one(s, strategy, signal, direction, custom.get(s.role)) for s in page_sides}


def distribution_data(
    side: Side, signal: str, forget_indices: Sequence[int] | np.ndarray | None = None
) -> pd.DataFrame:
    """Long table of the two value sets: model, side (model / retrain), forget index, value."""
    frames = []
    for which, values in (
        ("model", side.ps.model_values[signal]),
        ("retrain", side.ps.retrain_values[signal]),
    ):
        index = (
            np.asarray(forget_indices)
            if forget_indices is not None and len(forget_indices) == len(values)
            else np.arange(len(values))
        )
        frames.append(
            pd.DataFrame(
                {
                    "model": side.name,
                    "side": which,
                    "forget_index": index,
                    "signal": signal,
                    "value": values,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class Scales:
    """Axes shared by Model A's and Model B's panels, so the two compare side by side.

    Attributes:
        value: Range of the signal axis (every value of both models and the retrain model).
        width: Bin width of the distribution plots (the same for both panels).
        count: Largest number of samples in one bin over both panels and both sides (the
            count axis of the butterfly and of the histograms).
    """

    value: tuple[float, float]
    width: float
    count: int


def _value_bounds(page_sides: Sequence[Side], signal: str) -> tuple[float, float]:
    pooled = np.concatenate(
        [v for s in page_sides for v in (s.ps.model_values[signal], s.ps.retrain_values[signal])]
    )
    lo, hi = float(pooled.min()), float(pooled.max())
    return (lo - 0.5, hi + 0.5) if hi <= lo else (lo, hi)


def bin_codes(values: np.ndarray, threshold: float, width: float) -> np.ndarray:
    """Bin of each value on a grid of bins ``width`` wide with ``threshold`` on a bin edge.

    A value equal to the threshold falls in the bin above it (value ≥ t is "positive"), so no
    bin straddles the threshold and every dot of a bin is on one side of the line.

    Example:
        >>> bin_codes(np.array([0.9, 1.0, 1.4]), 1.0, 0.5).tolist()
        [-1, 0, 0]
    """
    return np.floor((np.asarray(values, dtype=np.float64) - threshold) / width).astype(np.int64)


def _max_bin_count(side: Side, choice: ThresholdChoice, width: float) -> int:
    counts = [
        np.unique(bin_codes(v, choice.threshold, width), return_counts=True)[1].max(initial=0)
        for v in (side.ps.model_values[choice.signal], side.ps.retrain_values[choice.signal])
    ]
    return int(max(counts))


def shared_scales(
    page_sides: Sequence[Side], choices: Mapping[str, ThresholdChoice], *, bins: int = 30
) -> Scales:
    """The axes both panels share: value range, bin width and the largest bin count.

    Args:
        page_sides: The sides of :func:`sides` (one or two).
        choices: Role -> the threshold shown in that side's panel (all on one signal).
        bins: Bins across the value range.
    """
    signal = choices[page_sides[0].role].signal
    lo, hi = _value_bounds(page_sides, signal)
    width = (hi - lo) / bins
    count = max(_max_bin_count(s, choices[s.role], width) for s in page_sides)
    pad = 0.02 * (hi - lo)
    return Scales((lo - pad, hi + pad), width, max(count, 1))


def _called(side: Side, choice: ThresholdChoice) -> tuple[str, str]:
    """What the attacker calls values above and below the threshold."""
    if choice.direction == "model_positive":
        return side.name, "retrain"
    return "retrain", side.name


def called_model(choice: ThresholdChoice, origin: str) -> np.ndarray:
    """Whether the attacker calls each forget value of ``origin`` (``"model"``: the model's
    outputs, ``"retrain"``: the retrain model's) the model's output.

    Example:
        >>> from analysis.mia import privacy_score_from_values, threshold_custom
        >>> r = privacy_score_from_values({"s": [0.0, 1.0]}, {"s": [5.0, 6.0]})
        >>> c = threshold_custom(r, 5.5, signal="s", direction="retrain_positive")
        >>> called_model(c, "model").tolist(), called_model(c, "retrain").tolist()
        ([True, True], [True, False])
    """
    outcome = choice.model if origin == "model" else choice.retrain
    positive = outcome.predicted_positive
    return np.asarray(positive if choice.direction == "model_positive" else ~positive)


def outcome_frame(
    side: Side, choice: ThresholdChoice, forget_indices: Sequence[int] | np.ndarray
) -> pd.DataFrame:
    """One row per forget sample and origin: the value, what the attacker called it, success.

    Each forget sample appears twice, once per origin: ``"model"`` (the model's output on it)
    and ``"retrain"`` (the retrain model's output). ``called`` is the attacker's decision
    (``"model"`` / ``"retrain"``) and ``succeeded`` whether it matches the origin
    (:attr:`ThresholdChoice.model` / ``.retrain`` ``.correct``). Rows are ordered by distance
    to the threshold (``margin``, clearest cases first).
    """
    frames = []
    for origin, outcome in (("model", choice.model), ("retrain", choice.retrain)):
        values = (side.ps.model_values if origin == "model" else side.ps.retrain_values)[
            choice.signal
        ]
        frames.append(
            pd.DataFrame(
                {
                    "forget_index": np.asarray(forget_indices, dtype=np.int64),
                    "origin": origin,
                    "value": values,
                    "called": np.where(called_model(choice, origin), "model", "retrain"),
                    "succeeded": outcome.correct,
                    "margin": np.abs(values - choice.threshold),
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    return frame.sort_values("margin", ascending=False, kind="stable").reset_index(drop=True)


def ps_data(cmp: Comparison, current: Mapping[str, ThresholdChoice] | None = None) -> pd.DataFrame:
    """PS of A, B, the retrain model and the original (when present): both ε forms, whether
    the max form is saturated, and for A and B the PS at the current threshold
    (1 − attack score at t, NaN without ``current``, a role -> choice mapping)."""
    current = current or {}
    rows = []
    for name, role in _roles(cmp).items():
        ps = cmp.models[name].privacy.ps
        if ps is not None:
            at_t = current.get(role) if name != cmp.retrain else None
            rows.append(
                {
                    "model": name,
                    "role": role,
                    "ps_min_form": ps.ps,
                    "ps_max_form": ps.ps_max_form,
                    "max_form_saturated": ps.max_form_saturated,
                    "ps_at_threshold": math.nan if at_t is None else 1.0 - at_t.attack_score,
                }
            )
    return pd.DataFrame(rows, columns=_PS_COLUMNS)


_PS_COLUMNS = [
    "model",
    "role",
    "ps_min_form",
    "ps_max_form",
    "max_form_saturated",
    "ps_at_threshold",
]


def _roles(cmp: Comparison, *, original: bool = True) -> dict[str, str]:
    """Name -> role key of ROLE_COLORS: A, B, retrain, original (first role wins)."""
    roles: dict[str, str] = {}
    for name, role in (
        (cmp.a, "A"),
        (cmp.b, "B"),
        (cmp.retrain, "retrain"),
        (cmp.original if original else None, "original"),
    ):
        if name is not None and name not in roles:
            roles[name] = role
    return roles


def _role_label(name: str, role: str, cmp: Comparison) -> str:
    if role in ("A", "B"):
        extra = ", retrain" if name == cmp.retrain else ""
        return f"{name} (Model {role}{extra})"
    return name if name == role else f"{name} ({role})"


# ------------------------------------------------------------------------- formatting


def format_value(value: Any, metric: str = "") -> str:
    """A headline number for a table: N/A for None/NaN, p-values in scientific notation.

    Example:
        >>> format_value(2.3e-48, "ks_p"), format_value(-5.4896, "privleak")
        ('2.3e-48', '−5.49 %')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return _NA
    number = float(value)
    if metric == "ks_p" or (number != 0 and abs(number) < 1e-3):
        text = f"{number:.2g}" if metric == "ks_p" else f"{number:.1e}"
    elif metric == "privleak":
        text = f"{number:.2f} %"
    else:
        text = f"{number:.3f}"
    return "−" + text[1:] if text.startswith("-") else text


def format_gap(value: Any, metric: str = "") -> str:
    """A signed gap to the retrain model (N/A for None/NaN).

    Example:
        >>> format_gap(0.25, "forget_auc"), format_gap(float("nan"))
        ('+0.250', 'N/A')
    """
    text = format_value(value, metric)
    if text == _NA or text.startswith("−"):
        return text
    return "+" + text


def _format_ci(ci: tuple[float, float]) -> str:
    if not all(math.isfinite(v) for v in ci):
        return ""
    return f" [{ci[0]:.3f}, {ci[1]:.3f}]"


def format_ci(ci: tuple[float, float], metric: str = "") -> str:
    """`` [low, high]`` in the metric's number format; empty when there is no interval.

    Example:
        >>> format_ci((0.41, 0.58), "PS"), format_ci((-21.5, 13.4), "privleak")
        (' [0.410, 0.580]', ' [−21.50, 13.40]')
        >>> format_ci((float("nan"), float("nan")))
        ''
    """
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in ci):
        return ""
    lo, hi = (format_value(v, metric) for v in ci)
    if metric == "privleak":
        return f" [{lo.removesuffix(' %')}, {hi.removesuffix(' %')}]"
    return f" [{lo}, {hi}]"


def _fraction_text(floor: float) -> str:
    return f"1/{round(1.0 / floor)}" if math.isfinite(floor) and floor > 0 else "1/0"


def format_tpr(entry: TprAtFpr, floor: float) -> str:
    """TPR at a target FPR with its interval, or the floor flag (never a bare number).

    Example:
        >>> format_tpr(TprAtFpr(0.001, 0.03, (0.01, 0.07), True), 1 / 35)
        'below resolution floor 1/35'
    """
    if entry.below_floor:
        return f"below resolution floor {_fraction_text(floor)}"
    if not math.isfinite(entry.tpr):
        return _NA
    return f"{entry.tpr:.3f}{_format_ci(entry.ci)}"


# ------------------------------------------------------------------------------- figures


def distribution_figure(
    side: Side,
    choice: ThresholdChoice,
    *,
    style: str = "butterfly",
    bins: int = 30,
    scales: Scales | None = None,
    focus: int | None = None,
    presentation: bool = False,
) -> go.Figure:
    """Retrain-vs-model distribution of the chosen signal on the forget set, with the threshold.

    ``style="butterfly"`` (the Comparator's): one dot per forget sample and origin, the value
    on the vertical axis (binned, with the threshold on a bin edge), the retrain model's outputs
    stacked to the left in grey, the model's to the right in its colour. A dot is opaque when
    the attacker, at this threshold, calls it the model's output and faded when it calls it the
    retrain model's. Each dot carries its training index (``customdata[0]``): a click on it
    can open the sample. ``style="histogram"``: overlaid histograms on the same bins.

    Args:
        side: The model.
        choice: The threshold shown.
        style: ``"butterfly"`` or ``"histogram"``.
        bins: Bins across the value range (when ``scales`` is not given).
        scales: Axes shared with the other model's panel (:func:`shared_scales`); default:
            this panel's own.
        focus: Training index of a sample to ring (the open instance card).
        presentation: Larger type.
    """
    scales = scales or shared_scales([side], {side.role: choice}, bins=bins)
    fig = go.Figure()
    if style == "butterfly":
        _dots(fig, side, choice, scales, presentation)
        _focus_ring(fig, side, choice, scales, focus, presentation)
    else:
        _overlay(fig, side, choice, scales)
    meaning = _threshold_marks(fig, side, choice, vertical=style != "butterfly")
    n = len(side.ps.model_values[choice.signal])
    fig.update_layout(
        template=template(presentation),
        height=_height(presentation, 40),
        bargap=0.05,
        title={
            "text": f"{side.name} vs retrain ({n} forget samples)",
            "subtitle": {"text": meaning},
        },
    )
    top = 60 + int(1.5 * font_size(presentation, "small"))
    return _legend_below(fig, presentation, top=top, rows=2)


def _stack(values: np.ndarray, choice: ThresholdChoice, width: float) -> tuple[np.ndarray, ...]:
    """(bin centre, position in the bin's stack starting at 0.5) of every value."""
    codes = bin_codes(values, choice.threshold, width)
    order = np.lexsort((values, codes))
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, len(values)]))
    rank = np.empty(len(values), dtype=np.float64)
    rank[order] = np.arange(len(values)) - first
    return choice.threshold + (codes + 0.5) * width, rank + 0.5


#: Dot opacity when the attacker calls it the model's output / the retrain model's.
CALLED_OPACITY: dict[str, float] = {"model": 1.0, "retrain": 0.3}


def _dot_size(scales: Scales, presentation: bool) -> float:
    """Dot diameter (px) so a bin's dots neither overlap vertically nor crowd a row."""
    plot_px = _height(presentation) - 200
    per_bin = plot_px * scales.width / (scales.value[1] - scales.value[0])
    per_unit = 560 / (2 * scales.count + 2)
    return float(np.clip(0.85 * min(per_bin, per_unit), 2.5, 10.0))


def _dots(
    fig: go.Figure, side: Side, choice: ThresholdChoice, scales: Scales, presentation: bool
) -> None:
    size = _dot_size(scales, presentation)
    index = side.indices()
    names = {"model": side.name, "retrain": "retrain"}
    for origin, sign, color in (
        ("retrain", -1.0, ROLE_COLORS["retrain"]),
        ("model", 1.0, side.color),
    ):
        values = (side.ps.model_values if origin == "model" else side.ps.retrain_values)[
            choice.signal
        ]
        y, rank = _stack(values, choice, scales.width)
        says_model = called_model(choice, origin)
        for called in ("model", "retrain"):
            mask = says_model == (called == "model")
            opacity = CALLED_OPACITY[called]
            fig.add_trace(
                go.Scatter(
                    x=sign * rank[mask],
                    y=y[mask],
                    mode="markers",
                    name=f"{names[origin]} outputs called “{names[called]}”",
                    showlegend=False,  # the two legend keys below explain the opacity
                    marker={"color": color, "size": size, "opacity": opacity},
                    selected={"marker": {"opacity": opacity}},
                    unselected={"marker": {"opacity": opacity}},
                    customdata=np.column_stack([index[mask], values[mask]]),
                    hovertemplate=(
                        f"train #%{{customdata[0]}}<br>{names[origin]} output: "
                        f"%{{customdata[1]:.4g}}<br>the attacker says “{names[called]}”"
                        "<br>click: open the sample<extra></extra>"
                    ),
                )
            )
    for called, text in (
        ("model", f"the attacker says “{side.name}”"),
        ("retrain", "says “retrain”"),
    ):
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=text,
                marker={"color": "#555", "size": 12, "opacity": CALLED_OPACITY[called]},
                hoverinfo="skip",
            )
        )
    ticks = _symmetric_ticks(scales.count)
    fig.update_xaxes(
        title=f"samples per bin: ← retrain | {side.name} →",
        tickvals=ticks,
        ticktext=[str(abs(t)) for t in ticks],
        range=[-(scales.count + 1), scales.count + 1],
        zeroline=True,
        zerolinecolor="#444",
    )
    fig.update_yaxes(range=list(scales.value))


def _focus_ring(
    fig: go.Figure,
    side: Side,
    choice: ThresholdChoice,
    scales: Scales,
    focus: int | None,
    presentation: bool,
) -> None:
    """Ring both dots (model and retrain output) of the sample whose card is open."""
    where = np.flatnonzero(side.indices() == focus) if focus is not None else np.array([])
    if len(where) == 0:
        return
    xs, ys = [], []
    for sign, values in (
        (-1.0, side.ps.retrain_values[choice.signal]),
        (1.0, side.ps.model_values[choice.signal]),
    ):
        y, rank = _stack(values, choice, scales.width)
        xs.append(sign * rank[where[0]])
        ys.append(y[where[0]])
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            name=f"train #{focus} (selected)",
            marker={
                "symbol": "circle-open",
                "size": _dot_size(scales, presentation) + 10,
                "color": "#111",
                "line": {"width": 2.5},
            },
            customdata=[[focus, float("nan")]] * 2,
            hoverinfo="skip",
        )
    )


def _overlay(fig: go.Figure, side: Side, choice: ThresholdChoice, scales: Scales) -> None:
    for name, values, color in (
        ("retrain", side.ps.retrain_values[choice.signal], ROLE_COLORS["retrain"]),
        (side.label, side.ps.model_values[choice.signal], side.color),
    ):
        codes, counts = np.unique(
            bin_codes(values, choice.threshold, scales.width), return_counts=True
        )
        fig.add_trace(
            go.Bar(
                x=choice.threshold + (codes + 0.5) * scales.width,
                y=counts,
                width=scales.width,
                name=name,
                opacity=0.6,
                marker={"color": color, "line": {"color": color, "width": 1}},
                hovertemplate="%{y} samples at %{x:.3g}<extra>" + name + "</extra>",
            )
        )
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(title="forget samples per bin", range=[0, scales.count * 1.08])
    fig.update_xaxes(range=list(scales.value))


def _threshold_marks(fig: go.Figure, side: Side, choice: ThresholdChoice, *, vertical: bool) -> str:
    """Draw the threshold line; return what it means, for the figure's subtitle (written
    inside the plot, the text hid the dots next to the threshold in a narrow panel)."""
    above, below = _called(side, choice)
    label = SIGNAL_SHORT.get(choice.signal, choice.signal)
    line = {"color": "#111", "width": 2, "dash": "dash"}
    t = choice.threshold
    if vertical:
        fig.add_vline(x=t, line=line)
        fig.update_xaxes(title=label)
        return f"dashed line t = {t:.3g}: ≥ t → “{above}”, &lt; t → “{below}”"
    fig.add_hline(y=t, line=line)
    fig.update_yaxes(title=label)
    return f"dashed line t = {t:.3g}: above → “{above}”, below → “{below}”"


def _font(presentation: bool) -> int:
    """The template's base font size (px) in either mode (16 px or more in presentation)."""
    return int(pio.templates[template(presentation)].layout.font.size)


def _legend_below(
    fig: go.Figure, presentation: bool, *, top: int, rows: int = 1, axis_lines: int = 1
) -> go.Figure:
    """A horizontal legend under the x-axis title, with room for both at either font size.

    ``axis_lines``: lines of the x tick labels (a two-line label needs more room).
    """
    font = _font(presentation)
    axis_px = int((1.25 * axis_lines + 1.15) * font + 24)  # tick labels + axis title
    legend_px = int(rows * 1.6 * font + 12)
    height = int(fig.layout.height or _HEIGHT)
    bottom = axis_px + legend_px
    plot = max(height - top - bottom, 100)
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    fig.update_layout(
        height=max(height, top + bottom + 100),
        margin={"t": top, "b": bottom},
        legend={
            "orientation": "h",
            "x": 0.0,
            "xanchor": "left",
            "y": -axis_px / plot,
            "yanchor": "top",
        },
    )
    return fig


def _symmetric_ticks(top: int) -> list[int]:
    step = max(1, _nice_step(top / 3))
    half = list(range(step, top + 1, step))
    return [-t for t in reversed(half)] + [0] + half


def _nice_step(raw: float) -> int:
    if raw <= 1:
        return 1
    power = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= mult * power:
            return int(mult * power)
    return int(10 * power)


def attack_curves_data(side: Side, choice: ThresholdChoice) -> pd.DataFrame:
    """The sweep behind :func:`attack_curves_figure` (one row per threshold)."""
    curve = side.ps.curve(choice.signal, choice.direction)
    return pd.DataFrame(
        {
            "model": side.name,
            "signal": curve.signal,
            "direction": curve.direction,
            "threshold": curve.thresholds,
            "attack_score": curve.attack_score,
            "fpr": curve.fpr,
            "fnr": curve.fnr,
            "epsilon": curve.epsilon,
            "success_rate": curve.success_rate,
            "attack_score_max_form": curve.attack_score_max_form,
        }
    )


def attack_curves_figure(
    side: Side,
    choice: ThresholdChoice,
    *,
    scales: Scales | None = None,
    presentation: bool = False,
) -> go.Figure:
    """Attack score, FPR and FNR against the threshold, the chosen threshold marked.

    The attack-score trace has a marker per threshold so a click selects a threshold; the
    threshold axis spans ``scales.value`` when given (the range both panels share).
    """
    data = attack_curves_data(side, choice)
    fig = go.Figure()
    styles = {
        "attack_score": ("attack score", side.color, "solid", 3),
        "fpr": ("FPR", _CURVE_COLORS["fpr"], "dash", 2),
        "fnr": ("FNR", _CURVE_COLORS["fnr"], "dot", 2),
    }
    for column, (name, color, dash, width) in styles.items():
        fig.add_trace(
            go.Scatter(
                x=data["threshold"],
                y=data[column],
                name=name,
                line_shape="hv",
                mode="lines+markers" if column == "attack_score" else "lines",
                marker={"size": 4, "color": color},
                line={"color": color, "dash": dash, "width": width},
                hovertemplate=f"t = %{{x:.4g}}<br>{name} %{{y:.3f}}<extra></extra>",
            )
        )
    for column, value in (
        ("attack_score", choice.attack_score),
        ("fpr", choice.fpr),
        ("fnr", choice.fnr),
    ):
        fig.add_trace(
            go.Scatter(
                x=[choice.threshold],
                y=[value],
                mode="markers",
                showlegend=False,
                hoverinfo="skip",
                marker={
                    "size": 11,
                    "color": "white",
                    "line": {"color": styles[column][1], "width": 2.5},
                },
            )
        )
    fig.add_vline(x=choice.threshold, line={"color": "#111", "width": 1.5, "dash": "dash"})
    lo, hi = scales.value if scales is not None else _span(data["threshold"])
    right_half = choice.threshold > lo + 0.6 * (hi - lo)
    fig.add_annotation(
        x=choice.threshold,
        y=1.0,
        yref="paper",
        xanchor="right" if right_half else "left",
        yanchor="bottom",
        showarrow=False,
        text=f" t = {choice.threshold:.3g} ",
    )
    above, _ = _called(side, choice)
    fig.update_layout(
        template=template(presentation),
        height=_height(presentation),
        title={"text": f"{side.name}: attack curves (≥ t → {above})", "y": 0.97},
    )
    _legend_below(fig, presentation, top=80)
    fig.update_xaxes(title=f"threshold t: {SIGNAL_SHORT.get(choice.signal, choice.signal)}")
    if scales is not None:
        fig.update_xaxes(range=list(scales.value))
    fig.update_yaxes(title="attack score / rate", range=[-0.02, 1.02])
    return fig


def _span(values: Any) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    return (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)


#: Thumbnail size control -> thumbnails per row in a panel's grid.
THUMBNAIL_SIZES: dict[str, int] = {"small": 16, "medium": 10, "large": 6}
#: Origin filter of the grids: which outputs are shown.
ORIGINS: dict[str, str] = {
    "both": "both origins",
    "model": "the model's outputs",
    "retrain": "the retrain model's outputs",
}
_MAX_FORM_MEANING = (
    "Bars: PS (min form, the worst case) · ◇ PS at the current threshold<br>"
    "Under each name: the max form (NeurIPS'23); * saturated by the rate clip, says nothing"
)


def _ps_tick(row: Any) -> str:
    """A model's axis label: its name, then its max-form PS as a secondary number (``*``:
    saturated, set by the rate clip)."""
    star = " *" if row.max_form_saturated else ""
    return f"{row.model}<br>max form<br>{format_value(float(row.ps_max_form))}{star}"


def ps_figure(
    cmp: Comparison,
    *,
    current: Mapping[str, ThresholdChoice] | None = None,
    presentation: bool = False,
) -> go.Figure:
    """PS of A, B, the retrain model (= 1) and the original, with the PS at the current threshold.

    One bar per model: the PS in its min form (the Comparator's, the worst case). The max form
    (NeurIPS 2023 challenge) is a secondary number under the model's name, marked "saturated"
    when the rate clip sets it (≈ 1e-7 for any two different models), never a bar. With
    ``current`` (role -> the threshold shown in that model's panel), a diamond beside A's and
    B's bars marks 1 − the attack score at that threshold.
    """
    data = ps_data(cmp, current)
    fig = go.Figure()
    records: list[Any] = list(data.itertuples(index=False))
    for i, row in enumerate(records):
        role = str(row.role)
        fig.add_trace(
            go.Bar(
                x=[i],
                y=[float(row.ps_min_form)],
                width=0.55,
                name=_role_label(str(row.model), role, cmp),
                marker={
                    "color": ROLE_COLORS[role],
                    "pattern": {"shape": "/" if role in ("retrain", "original") else ""},
                },
                text=[format_value(float(row.ps_min_form))],
                textposition="outside",
                cliponaxis=False,
                customdata=[[float(row.ps_max_form)]],
                hovertemplate=(
                    f"{row.model}<br>PS (min form) %{{y:.4g}}<br>"
                    "max form %{customdata[0]:.3g}<extra></extra>"
                ),
            )
        )
    _current_marks(fig, data)
    fig.add_hline(y=1.0, line={"color": "#444", "width": 1, "dash": "dot"})
    fig.update_layout(
        template=template(presentation),
        height=_height(presentation, 60),
        barmode="overlay",
        title={
            "text": "Privacy score vs the retrain model (1 = indistinguishable from retraining)",
            "subtitle": {"text": _MAX_FORM_MEANING},
        },
    )
    fig.update_xaxes(
        tickvals=list(range(len(data))),
        ticktext=[_ps_tick(r) for r in records],
        range=[-0.5, len(data) - 0.2],
        showgrid=False,
        tickangle=0,
    )
    fig.update_yaxes(title="PS = 1 − worst attack score", range=[0, 1.18])
    return _legend_below(fig, presentation, top=130 if presentation else 110, rows=2, axis_lines=3)


def _current_marks(fig: go.Figure, data: pd.DataFrame) -> None:
    """Diamonds beside A's and B's bars: the PS at the threshold shown in their panels."""
    at = data[data["ps_at_threshold"].notna()]
    if at.empty:
        return
    fig.add_trace(
        go.Scatter(
            x=[int(i) + 0.36 for i in at.index],
            y=at["ps_at_threshold"],
            mode="markers+text",
            name="PS at the current threshold",
            marker={
                "symbol": "diamond",
                "size": 15,
                "color": "white",
                "line": {"color": [ROLE_COLORS[str(r)] for r in at["role"]], "width": 3},
            },
            text=[f"at t: {v:.3f}" for v in at["ps_at_threshold"]],
            textposition="middle right",
            cliponaxis=False,
            hovertemplate="PS at the current threshold: %{y:.4g}<extra></extra>",
        )
    )


def outcome_grid(
    images: np.ndarray,
    frame: pd.DataFrame,
    side: Side,
    *,
    succeeded: bool,
    origin: str = "both",
    cap: int | None = None,
    columns: int = 10,
    focus: int | None = None,
    presentation: bool = False,
) -> go.Figure:
    """Thumbnails of the outputs on which the attack succeeded (or failed) for a model.

    Each thumbnail is a forget sample under one origin (the model's output on it, or the retrain
    model's); its border encodes the attacker's decision at the current threshold (the model's
    colour: "the model's output", grey: "the retrain model's"), so in the "succeeded" grid the
    border matches the origin and in the "failed" grid it does not. Clicking a thumbnail reports
    its training index (``customdata``).

    Args:
        images: The training inputs (indexed by training index).
        frame: :func:`outcome_frame` of the side.
        side: The model.
        succeeded: Which outcome to show.
        origin: A key of :data:`ORIGINS`: both origins, the model's outputs or the retrain's.
        cap: At most this many thumbnails, the clearest cases first (default: 6 rows).
        columns: Thumbnails per row (the size control, :data:`THUMBNAIL_SIZES`).
        focus: Training index of a sample to frame in black (its card is open).
        presentation: Larger type.
    """
    if origin not in ORIGINS:
        raise ValueError(f"origin: expected one of {list(ORIGINS)}, received {origin!r}")
    pool = frame if origin == "both" else frame[frame["origin"] == origin]
    rows = pool[pool["succeeded"] == succeeded]
    shown = rows.head(cap if cap is not None else columns * 6)
    names = {"model": side.name, "retrain": "retrain"}
    what = "succeeded" if succeeded else "failed"
    title = f"{side.name}: {what} {len(rows)}/{len(pool)}" + (
        f" · first {len(shown)}" if len(shown) < len(rows) else ""
    )
    records: list[Any] = list(shown.itertuples(index=False))
    labels = [
        f"{FORGET_MARK} train #{r.forget_index}<br>{names[r.origin]} output: {r.value:.3g}"
        f"<br>the attacker says “{names[r.called]}”"
        for r in records
    ]
    colors = [side.color if c == "model" else ROLE_COLORS["retrain"] for c in shown["called"]]
    fig = thumbnail_grid(
        [images[int(i)] for i in shown["forget_index"]],
        labels=labels,
        columns=columns,
        title=title,
        border_colors=colors,
        customdata=[int(i) for i in shown["forget_index"]],
        focus=[k for k, i in enumerate(shown["forget_index"]) if int(i) == focus],
        presentation=presentation,
    )
    if shown.empty:
        fig.add_annotation(text="none", x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    return fig


# ---------------------------------------------------------------------------------- audit


def audit_frame(cmp: Comparison) -> pd.DataFrame:
    """Every MIA of the engine as a readable wide table (strings; N/A where undefined).

    Rows are metrics; per model a value column and a gap-to-retrain column; then the retrain
    target. AUCs carry their bootstrap interval, TPR @ 1% FPR its resolution-floor flag.
    """
    raw = audit_table(cmp)
    out = pd.DataFrame({"metric": [AUDIT_METRICS.get(m, m) for m in AUDIT_METRICS]})
    for name, role in _roles(cmp).items():
        if role == "retrain":
            continue  # its numbers are the target column
        sub = raw[raw["model"] == name].set_index("metric")
        out[_role_label(name, role, cmp)] = [
            _audit_cell(cmp, name, m, sub["value"].get(m), _row_ci(sub, m)) for m in AUDIT_METRICS
        ]
        if cmp.retrain is not None and name != cmp.retrain:
            out[f"{name}: gap to retrain"] = [
                _audit_gap(cmp, name, m, sub["gap"].get(m)) for m in AUDIT_METRICS
            ]
    if cmp.retrain is not None:
        target = raw[raw["model"] == cmp.retrain].set_index("metric")
        out[_named("retrain target", cmp.retrain)] = [
            _audit_cell(cmp, cmp.retrain, m, target["value"].get(m), _row_ci(target, m))
            for m in AUDIT_METRICS
        ]
    return out


def _named(label: str, model: str) -> str:
    """A column header naming a model, without repeating it ("retrain", not "retrain
    (retrain)", when the retrain model is called retrain).

    Example:
        >>> _named("retrain target", "retrain"), _named("retrain target", "r_cls")
        ('retrain target', 'retrain target (r_cls)')
    """
    return label if model in label.split() else f"{label} ({model})"


def _row_ci(rows: pd.DataFrame, metric: str) -> tuple[float, float]:
    """The (low, high) interval of ``metric`` in audit rows indexed by metric (NaN if none)."""
    if metric not in rows.index:
        return (math.nan, math.nan)
    lo: Any = rows.loc[metric, "ci_low"]
    hi: Any = rows.loc[metric, "ci_high"]
    return (math.nan if lo is None else float(lo), math.nan if hi is None else float(hi))


def _audit_gap(cmp: Comparison, name: str, metric: str, gap: Any) -> str:
    return format_gap(gap, metric)


def _report_of(cmp: Comparison, name: str, attack: str) -> RocReport | None:
    privacy = cmp.models[name].privacy
    report: RocReport | None = getattr(privacy, attack)
    return report


def _audit_cell(
    cmp: Comparison, name: str, metric: str, value: Any, ci: tuple[float, float]
) -> str:
    """A value with its bootstrap interval, or N/A with the reason, or a saturation note."""
    text = format_value(value, metric)
    privacy = cmp.models[name].privacy
    attack = _AUC_REPORTS.get(metric)
    report = _report_of(cmp, name, attack) if attack else None
    if report is not None and report.all_tied:
        return f"{_NA} (all scores tied: uninformative)"
    info = privacy.info.get(attack or "")
    if text == _NA:
        return f"{_NA} ({info.reason})" if info is not None and info.reason else text
    if metric == "PS_max_form" and privacy.ps is not None and privacy.ps.max_form_saturated:
        return f"{text} (saturated: set by the rate clip, uninformative)"
    return text + format_ci(ci, metric)


def reference_frame(cmp: Comparison) -> pd.DataFrame:
    """How each reference-model attack was evaluated, per model (strings; N/A with a reason).

    Columns: attack, model, models used, positives, negatives, dropped samples (too few
    reference/shadow models), RMIA population size, and the game (or why it is N/A).
    """
    rows = []
    for attack in ("lira", "rmia", "lira_online", "ulira"):
        for name, role in _roles(cmp).items():
            info = cmp.models[name].privacy.info.get(attack)
            if info is None:
                continue
            rows.append(
                {
                    "attack": ROC_ATTACKS[attack],
                    "model": _role_label(name, role, cmp),
                    "models used": str(info.n_models),
                    "positives": str(info.n_positives) if not info.reason else _NA,
                    "negatives": str(info.n_negatives) if not info.reason else _NA,
                    "dropped": str(info.n_dropped),
                    "population": _NA if info.n_population is None else str(info.n_population),
                    "evaluation": f"{_NA}: {info.reason}" if info.reason else info.game,
                }
            )
    return pd.DataFrame(rows)


def table_figure(frame: pd.DataFrame, *, title: str, presentation: bool = False) -> go.Figure:
    """A plotly table of a formatted frame (for export and the HTML report)."""
    size = 16 if presentation else 12
    widths = [max(len(str(c)), *(len(str(v)) for v in frame[c])) for c in frame.columns]
    widths = [min(max(w, 8), 40) for w in widths]
    # characters that fit per column at a 1000 px width (≈ 0.55 em per character)
    fits = [max(4, int(w / sum(widths) * 960 / (0.55 * size)) - 2) for w in widths]
    lines = [
        max(-(-len(str(v)) // f) for v, f in zip(row, fits, strict=True))
        for row in frame.itertuples(index=False)
    ]
    row_height = int(size * 1.45)
    fig = go.Figure(
        go.Table(
            columnwidth=widths,
            header={
                "values": [f"<b>{c}</b>" for c in frame.columns],
                "align": "left",
                "fill_color": "#EEEEEE",
                "font": {"size": size},
                "height": row_height * 2,
            },
            cells={
                "values": [frame[c].astype(str).tolist() for c in frame.columns],
                "align": "left",
                "font": {"size": size},
                "height": row_height + 8,
            },
        )
    )
    body = sum(row_height * n + 10 for n in lines)
    fig.update_layout(
        template=template(presentation),
        title=title,
        height=90 + row_height * 2 + body,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig


def audit_table_figure(cmp: Comparison, *, presentation: bool = False) -> go.Figure:
    """:func:`audit_frame` as a table figure."""
    return table_figure(
        audit_frame(cmp),
        presentation=presentation,
        title="Privacy audit: every membership-inference attack vs retrain",
    )


def _roc_models(cmp: Comparison) -> dict[str, str]:
    return _roles(cmp, original=False)


def roc_data(cmp: Comparison, attack: str) -> pd.DataFrame:
    """ROC points (model, role, fpr, tpr) of one attack for A, B and the retrain model."""
    frames = []
    for name, role in _roc_models(cmp).items():
        report = _report_of(cmp, name, attack)
        if report is not None:
            frames.append(
                pd.DataFrame(
                    {
                        "model": name,
                        "role": role,
                        "attack": attack,
                        "fpr": report.fpr,
                        "tpr": report.tpr,
                    }
                )
            )
    if not frames:
        return pd.DataFrame(columns=["model", "role", "attack", "fpr", "tpr"])
    return pd.concat(frames, ignore_index=True)


def roc_figure(cmp: Comparison, attack: str, *, presentation: bool = False) -> go.Figure | None:
    """Log-log ROC of one attack for A, B and retrain; axes from the floor 1/n to 1.

    Points at FPR 0 (or TPR 0) are drawn at the floor. None when no model has the report.
    """
    reports = {
        n: (r, rep)
        for n, r in _roc_models(cmp).items()
        if (rep := _report_of(cmp, n, attack)) is not None
    }
    reports = {n: v for n, v in reports.items() if math.isfinite(v[1].auc)}
    if not reports:
        return None
    fpr_floor = min(rep.fpr_floor for _, rep in reports.values())
    tpr_floor = min(1.0 / max(rep.n_members, 1) for _, rep in reports.values())
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[fpr_floor, 1.0],
            y=[fpr_floor, 1.0],
            mode="lines",
            name="chance (TPR = FPR)",
            hoverinfo="skip",
            line={"color": "#999", "dash": "dot", "width": 1.5},
        )
    )
    for name, (role, rep) in reports.items():
        fig.add_trace(
            go.Scatter(
                x=np.clip(rep.fpr, fpr_floor, 1.0),
                y=np.clip(rep.tpr, tpr_floor, 1.0),
                mode="lines",
                name=f"{_role_label(name, role, cmp)} · AUC {rep.auc:.3f}{_format_ci(rep.auc_ci)}",
                line={
                    "color": ROLE_COLORS[role],
                    "width": 2.5,
                    "dash": "dash" if role == "retrain" else "solid",
                },
                hovertemplate=f"{name}<br>FPR %{{x:.3g}}<br>TPR %{{y:.3g}}<extra></extra>",
            )
        )
    n_neg = round(1.0 / fpr_floor)
    fig.update_layout(
        template=template(presentation),
        height=_height(presentation, 100),
        title=f"ROC, log-log: {ROC_ATTACKS.get(attack, attack)}",
        # the last x tick, "100%", is centred on the plot's right edge: plotly drops it when
        # half of it does not fit in the right margin (it did in presentation mode)
        margin={"r": int(1.6 * _font(presentation))},
    )
    fig.update_xaxes(
        type="log",
        range=[math.log10(fpr_floor), 0],
        title=f"FPR (axis starts at the floor 1/{n_neg})",
        **_log_ticks(fpr_floor),
    )
    fig.update_yaxes(
        type="log", range=[math.log10(tpr_floor), 0], title="TPR", **_log_ticks(tpr_floor)
    )
    return _legend_below(fig, presentation, top=60, rows=2)


def _log_ticks(floor: float) -> dict[str, Any]:
    """Decade ticks from ``floor`` to 1 as percentages, plus the floor itself as 1/n.

    Example:
        >>> _log_ticks(0.02)["ticktext"]
        ['1/50', '10%', '100%']
    """
    decades = [10.0**k for k in range(math.ceil(math.log10(floor)), 1)]
    decades = [d for d in decades if d > floor * 1.6]
    return {
        "tickvals": [floor, *decades],
        "ticktext": [_fraction_text(floor)] + [f"{d * 100:g}%" for d in decades],
    }


def tpr_data(cmp: Comparison) -> pd.DataFrame:
    """TPR at each low FPR target for every ROC report of A, B and retrain (raw numbers)."""
    rows = []
    for attack in ROC_ATTACKS:
        for name, role in _roc_models(cmp).items():
            report = _report_of(cmp, name, attack)
            if report is None:
                continue
            for entry in report.tpr_at:
                rows.append(
                    {
                        "attack": attack,
                        "model": name,
                        "role": role,
                        "target_fpr": entry.target,
                        "tpr": entry.tpr,
                        "ci_low": entry.ci[0],
                        "ci_high": entry.ci[1],
                        "below_floor": entry.below_floor,
                        "fpr_floor": report.fpr_floor,
                        "n_nonmembers": report.n_nonmembers,
                    }
                )
    return pd.DataFrame(rows)


def tpr_frame(cmp: Comparison) -> pd.DataFrame:
    """TPR at 1% / 0.1% / 0.01% FPR with intervals, floors flagged (strings)."""
    rows = []
    for attack, title in ROC_ATTACKS.items():
        for name, role in _roc_models(cmp).items():
            report = _report_of(cmp, name, attack)
            if report is None:
                continue
            row = {
                "attack": title,
                "model": _role_label(name, role, cmp),
                "non-members n": str(report.n_nonmembers),
            }
            for entry in report.tpr_at:
                row[f"TPR @ {entry.target * 100:g}% FPR"] = format_tpr(entry, report.fpr_floor)
            row["TPR at FPR 0 (the lowest resolvable FPR)"] = _tpr_at_zero(report)
            rows.append(row)
    return pd.DataFrame(rows)


def _tpr_at_zero(report: RocReport) -> str:
    """TPR with no false positive: the ROC's highest TPR at FPR 0 (its interval when known)."""
    below = [e for e in report.tpr_at if e.below_floor]
    if below:  # a target under the floor is measured at FPR 0
        return format_tpr(replace(below[0], below_floor=False), report.fpr_floor)
    at_zero = report.tpr[report.fpr <= 0]
    return f"{at_zero.max():.3f}" if at_zero.size and math.isfinite(at_zero.max()) else _NA


# -------------------------------------------------------------------------------- exposure

#: The list's attack when the user has not picked one: the first available of these.
DEFAULT_EXPOSURE: tuple[str, ...] = ("lira_offline", "rmia_offline", "loss")


def exposure_models(cmp: Comparison) -> dict[str, str]:
    """Models whose forget samples the "most exposed" list can rank: name -> display label
    (Model A, Model B, then the original; the retrain model is the reference beside them)."""
    roles = _roles(cmp)
    return {
        name: _role_label(name, role, cmp)
        for name, role in roles.items()
        if role != "retrain" and name != cmp.retrain
    }


def exposure_attacks(cmp: Comparison, model: str) -> dict[str, str]:
    """Attacks with a per-sample score on some forget sample of ``model``: key -> label."""
    table = cmp.instances
    forget = table[(table["split"] == "train") & table["is_forget"].astype(bool)]
    return {
        e.key: e.label
        for e in EXPOSURE_SCORES
        if f"{model}__{e.column}" in forget and forget[f"{model}__{e.column}"].notna().any()
    }


def default_exposure(available: Sequence[str]) -> str | None:
    """The list's default attack among ``available`` (None when there is none).

    Example:
        >>> default_exposure(["loss", "entropy"]), default_exposure([])
        ('loss', None)
    """
    return next((a for a in DEFAULT_EXPOSURE if a in available), next(iter(available), None))


def exposure_frame(cmp: Comparison, model: str, attack: str, *, k: int = 20) -> pd.DataFrame:
    """The ``k`` forget samples ``attack`` finds most member-like under ``model``, ranked.

    Columns: rank, sample (training index), true class, ``<model>`` prediction, score, and the
    retrain model's score on the same sample (for online LiRA and U-LiRA: in ``model``'s
    game) when there is a retrain model. Numbers stay numbers (the page formats them).
    """
    ranked = most_exposed(cmp.instances, model, attack, retrain=cmp.retrain, k=k)
    names = cmp.class_names
    forget_classes = set(cmp.forget_classes or ())
    frame = pd.DataFrame(
        {
            "rank": ranked["rank"],
            "sample": ranked["index"],
            "true class": [
                class_label(names[int(c)], forget=int(c) in forget_classes) for c in ranked["label"]
            ],
            "predicted": [names[int(c)] for c in ranked["pred"]],
            "score": ranked["score"],
        }
    )
    if cmp.retrain is not None:
        frame[_named("retrain", cmp.retrain)] = ranked["retrain_score"]
    return frame


def exposure_caption(attack: str) -> str:
    """What the list's scores mean (direction, pairing).

    Example:
        >>> exposure_caption("loss").startswith("Lower")
        True
    """
    spec = exposure_score(attack)
    first = (
        "Higher score = looks more like a training member"
        if spec.higher_is_exposed
        else "Lower value = looks more like a training member"
    )
    if spec.paired:
        return first + "; the retrain column is the retrain model's score in this model's game."
    return first + "; the retrain column is the retrain model's value on the same sample."


def _exposure_specs(cmp: Comparison, presentation: bool) -> list[FigureSpec]:
    specs = []
    for name, label in exposure_models(cmp).items():
        attack = default_exposure(list(exposure_attacks(cmp, name)))
        if attack is None:
            continue
        frame = exposure_frame(cmp, name, attack)
        shown = frame.astype(object).map(
            lambda v: format_value(v) if isinstance(v, float) else str(v)
        )
        specs.append(
            FigureSpec(
                f"privacy_most_exposed_{name}",
                f"Most exposed forget samples: {label}",
                table_figure(
                    shown,
                    title=f"{label}: most exposed forget samples ({exposure_score(attack).label})",
                    presentation=presentation,
                ),
                frame,
            )
        )
    return specs


# ---------------------------------------------------------------------------- page figures


def _attack_specs(
    cmp: Comparison,
    choices: Mapping[str, ThresholdChoice],
    page_sides: Sequence[Side],
    presentation: bool,
) -> list[FigureSpec]:
    specs = []
    scales = shared_scales(page_sides, choices)
    for side in page_sides:
        choice = choices[side.role]
        tag = side.role.lower()
        specs.append(
            FigureSpec(
                f"privacy_distribution_{tag}",
                f"Retrain vs {side.label}: value distribution",
                distribution_figure(side, choice, scales=scales, presentation=presentation),
                distribution_data(side, choice.signal, cmp.sets.forget),
            )
        )
        specs.append(
            FigureSpec(
                f"privacy_curves_{tag}",
                f"{side.label}: attack score, FPR and FNR",
                attack_curves_figure(side, choice, scales=scales, presentation=presentation),
                attack_curves_data(side, choice),
            )
        )
    return specs


def _grid_specs(
    cmp: Comparison,
    experiment: Experiment,
    choices: Mapping[str, ThresholdChoice],
    page_sides: Sequence[Side],
    presentation: bool,
) -> list[FigureSpec]:
    images = experiment.dataset("train").x.numpy()
    specs = []
    for side in page_sides:
        frame = outcome_frame(side, choices[side.role], cmp.sets.forget)
        for succeeded in (True, False):
            what = "succeeded" if succeeded else "failed"
            specs.append(
                FigureSpec(
                    f"privacy_{what}_{side.role.lower()}",
                    f"{side.label}: attack {what}",
                    outcome_grid(
                        images, frame, side, succeeded=succeeded, presentation=presentation
                    ),
                    frame[frame["succeeded"] == succeeded].reset_index(drop=True),
                )
            )
    return specs


def _audit_specs(cmp: Comparison, presentation: bool) -> list[FigureSpec]:
    specs = [
        FigureSpec(
            "privacy_audit",
            "Audit: every membership-inference attack",
            audit_table_figure(cmp, presentation=presentation),
            audit_table(cmp),
        )
    ]
    for attack, title in ROC_ATTACKS.items():
        fig = roc_figure(cmp, attack, presentation=presentation)
        if fig is not None:
            specs.append(
                FigureSpec(
                    f"privacy_roc_{attack}", f"ROC (log-log): {title}", fig, roc_data(cmp, attack)
                )
            )
    references = reference_frame(cmp)
    if not references.empty:
        specs.append(
            FigureSpec(
                "privacy_reference_attacks",
                "How the reference-model attacks were evaluated",
                table_figure(
                    references,
                    title="Reference-model attacks: samples, models, dropped samples",
                    presentation=presentation,
                ),
                references,
            )
        )
    specs.append(
        FigureSpec(
            "privacy_tpr_low_fpr",
            "TPR at low FPR",
            table_figure(
                tpr_frame(cmp),
                title="TPR at low FPR (95% bootstrap intervals)",
                presentation=presentation,
            ),
            tpr_data(cmp),
        )
    )
    return specs


def page_figures(
    cmp: Comparison,
    *,
    presentation: bool = False,
    experiment: Experiment | None = None,
) -> list[FigureSpec]:
    """The Privacy page's figures at default settings (entropy, max attack score).

    Args:
        cmp: The comparison.
        presentation: Larger type.
        experiment: The experiment, for the thumbnail grids (skipped without it).
    """
    page_sides = sides(cmp)
    specs: list[FigureSpec] = []
    if page_sides:
        choices = choose_thresholds(page_sides, strategy="max_attack", signal="entropy_t2")
        specs += _attack_specs(cmp, choices, page_sides, presentation)
        specs.append(
            FigureSpec(
                "privacy_ps",
                "Privacy score (both ε forms)",
                ps_figure(cmp, current=choices, presentation=presentation),
                ps_data(cmp, choices),
            )
        )
        if experiment is not None:
            specs += _grid_specs(cmp, experiment, choices, page_sides, presentation)
    return specs + _audit_specs(cmp, presentation) + _exposure_specs(cmp, presentation)
