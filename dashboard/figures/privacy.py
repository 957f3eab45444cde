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
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

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
    threshold_worst_case,
)
from dashboard.figures import FigureSpec
from dashboard.figures.images import mosaic, thumbnail_grid, to_display
from dashboard.theme import FORGET_MARK, ROLE_COLORS, class_label, template

__all__ = [
    "AUDIT_METRICS",
    "DEFAULT_EXPOSURE",
    "DIRECTIONS",
    "EXPOSURE_SCORES",
    "PS_MAX_LABEL",
    "PS_MIN_LABEL",
    "ROC_ATTACKS",
    "SIGNALS",
    "SIGNAL_LABELS",
    "STRATEGIES",
    "Side",
    "attack_curves_data",
    "attack_curves_figure",
    "audit_frame",
    "audit_table_figure",
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
    "sides",
    "table_figure",
    "threshold_range",
    "tpr_data",
    "tpr_frame",
]

#: Page metric -> engine signal.
SIGNALS: dict[str, str] = {"entropy": "entropy_t2", "confidence": "logit_conf"}
#: Axis label of each signal (what is plotted, in which units).
SIGNAL_LABELS: dict[str, str] = {
    "entropy_t2": "entropy of softmax(logits / 2) (nats)",
    "logit_conf": "logit confidence log p_max − log(1 − p_max)",
}
#: Threshold strategies, as the page lists them.
STRATEGIES: dict[str, str] = {
    "custom": "Custom threshold",
    "max_attack": "Max attack score",
    "max_success": "Max success rate",
    "common": "Common threshold (same for A and B)",
    "worst_case": "Worst case (the attack behind PS)",
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

    @property
    def color(self) -> str:
        """The model's fixed colour."""
        return ROLE_COLORS[self.role]

    @property
    def label(self) -> str:
        """``"name (Model A)"``."""
        return f"{self.name} (Model {self.role})"


def sides(cmp: Comparison) -> list[Side]:
    """Model A and Model B with their privacy scores, in that order.

    Left out: a model that is the retrain model itself (indistinguishable from itself, PS = 1)
    and every model when there is no retrain model (no score).
    """
    out = []
    for role, name in (("A", cmp.a), ("B", cmp.b)):
        ps = cmp.models[name].privacy.ps
        if ps is not None and name != cmp.retrain:
            out.append(Side(role, name, ps))
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


def _worst_in_direction(ps: PrivacyScore, direction: Direction) -> ThresholdChoice:
    """The largest attack score over both signals with the direction fixed."""
    choices = [threshold_max_attack(ps, signal=s, direction=direction) for s in ps.model_values]
    best = max(choices, key=lambda c: c.attack_score)
    return replace(best, strategy="worst_case")


def _one(
    side: Side, strategy: str, signal: str, direction: Direction | None, custom: float | None
) -> ThresholdChoice:
    if strategy == "custom":
        auto = threshold_max_attack(side.ps, signal=signal, direction=direction)
        value = auto.threshold if custom is None else custom
        return threshold_custom(side.ps, value, signal=signal, direction=auto.direction)
    if strategy == "max_success":
        return threshold_max_success(side.ps, signal=signal, direction=direction)
    if strategy == "worst_case":
        if direction is None:
            return threshold_worst_case(side.ps)
        return _worst_in_direction(side.ps, direction)
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
            is the max-attack threshold); ``"worst_case"`` picks the signal itself.
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


def _histograms(
    model: np.ndarray, retrain: np.ndarray, bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo = float(min(model.min(), retrain.min()))
    hi = float(max(model.max(), retrain.max()))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    return edges, np.histogram(model, edges)[0], np.histogram(retrain, edges)[0]


def _called(side: Side, choice: ThresholdChoice) -> tuple[str, str]:
    """What the attacker calls values above and below the threshold."""
    if choice.direction == "model_positive":
        return side.name, "retrain"
    return "retrain", side.name


def outcome_frame(
    side: Side, choice: ThresholdChoice, forget_indices: Sequence[int] | np.ndarray
) -> pd.DataFrame:
    """One row per forget sample: the model's value, what the attacker called it, success.

    ``succeeded`` is :attr:`ThresholdChoice.model` ``.correct`` (the attacker recognised the
    model's output as the model's); ``retrain_correct`` is the same for the retrain output.
    Rows are ordered by distance to the threshold (clearest cases first).
    """
    values = side.ps.model_values[choice.signal]
    above, below = _called(side, choice)
    frame = pd.DataFrame(
        {
            "forget_index": np.asarray(forget_indices, dtype=np.int64),
            "value": values,
            "called": np.where(choice.model.predicted_positive, above, below),
            "succeeded": choice.model.correct,
            "retrain_correct": choice.retrain.correct,
            "margin": np.abs(values - choice.threshold),
        }
    )
    return frame.sort_values("margin", ascending=False, kind="stable").reset_index(drop=True)


def ps_data(cmp: Comparison) -> pd.DataFrame:
    """PS (both forms) of A, B, the retrain model and the original (when present)."""
    rows = []
    for name, role in _roles(cmp).items():
        ps = cmp.models[name].privacy.ps
        if ps is not None:
            rows.append(
                {"model": name, "role": role, "ps_min_form": ps.ps, "ps_max_form": ps.ps_max_form}
            )
    return pd.DataFrame(rows, columns=["model", "role", "ps_min_form", "ps_max_form"])


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
    presentation: bool = False,
) -> go.Figure:
    """Retrain-vs-model distribution of the chosen signal on the forget set, with the threshold.

    ``style="butterfly"``: values on the vertical axis, retrain counts to the left (grey), the
    model's to the right (its colour). ``style="histogram"``: overlaid histograms.
    """
    model = side.ps.model_values[choice.signal]
    retrain = side.ps.retrain_values[choice.signal]
    edges, c_model, c_retrain = _histograms(model, retrain, bins)
    centres, width = (edges[:-1] + edges[1:]) / 2, float(edges[1] - edges[0])
    fig = go.Figure()
    if style == "butterfly":
        _butterfly(fig, side, centres, width, c_model, c_retrain)
    else:
        _overlay(fig, side, centres, width, c_model, c_retrain)
    _threshold_marks(fig, side, choice, vertical=style != "butterfly")
    fig.update_layout(
        template=template(presentation),
        height=_height(presentation),
        bargap=0.05,
        title=f"{side.label} vs retrain on the {len(model)} forget samples",
    )
    return _legend_below(fig, presentation, top=60)


def _butterfly(
    fig: go.Figure,
    side: Side,
    centres: np.ndarray,
    width: float,
    c_model: np.ndarray,
    c_retrain: np.ndarray,
) -> None:
    hover = "%{customdata} samples with value in [%{y:.3g} ± " + f"{width / 2:.2g}]<extra></extra>"
    fig.add_trace(
        go.Bar(
            y=centres,
            x=-c_retrain,
            width=width,
            orientation="h",
            name="retrain",
            marker={"color": ROLE_COLORS["retrain"]},
            customdata=c_retrain,
            hovertemplate="retrain: " + hover,
        )
    )
    fig.add_trace(
        go.Bar(
            y=centres,
            x=c_model,
            width=width,
            orientation="h",
            name=side.label,
            marker={"color": side.color},
            customdata=c_model,
            hovertemplate=f"{side.name}: " + hover,
        )
    )
    top = int(max(c_model.max(), c_retrain.max(), 1))
    ticks = _symmetric_ticks(top)
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(
        title=f"forget samples per bin (← retrain | {side.name} →)",
        tickvals=ticks,
        ticktext=[str(abs(t)) for t in ticks],
        range=[-top * 1.08, top * 1.08],
        zeroline=True,
        zerolinecolor="#444",
    )


def _overlay(
    fig: go.Figure,
    side: Side,
    centres: np.ndarray,
    width: float,
    c_model: np.ndarray,
    c_retrain: np.ndarray,
) -> None:
    for name, counts, color in (
        ("retrain", c_retrain, ROLE_COLORS["retrain"]),
        (side.label, c_model, side.color),
    ):
        fig.add_trace(
            go.Bar(
                x=centres,
                y=counts,
                width=width,
                name=name,
                opacity=0.6,
                marker={"color": color, "line": {"color": color, "width": 1}},
                hovertemplate="%{y} samples at %{x:.3g}<extra>" + name + "</extra>",
            )
        )
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(title="forget samples per bin")


def _threshold_marks(
    fig: go.Figure, side: Side, choice: ThresholdChoice, *, vertical: bool
) -> None:
    above, below = _called(side, choice)
    label = SIGNAL_LABELS.get(choice.signal, choice.signal)
    line = {"color": "#111", "width": 2, "dash": "dash"}
    t = choice.threshold
    if vertical:
        fig.add_vline(x=t, line=line)
        fig.update_xaxes(title=label)
        fig.add_annotation(
            x=t,
            y=1.0,
            yref="paper",
            xanchor="left",
            yanchor="top",
            text=f" t = {t:.3g}<br> ≥ t → “{above}”<br> &lt; t → “{below}”",
            showarrow=False,
            align="left",
            bgcolor="rgba(255,255,255,0.85)",
        )
    else:
        fig.add_hline(y=t, line=line)
        fig.update_yaxes(title=label)
        fig.add_annotation(
            x=1.0,
            xref="paper",
            y=t,
            xanchor="right",
            yanchor="bottom",
            text=f"t = {t:.3g}: above → “{above}”",
            showarrow=False,
            bgcolor="rgba(255,255,255,0.85)",
        )
        fig.add_annotation(
            x=1.0,
            xref="paper",
            y=t,
            xanchor="right",
            yanchor="top",
            text=f"below → “{below}”",
            showarrow=False,
            bgcolor="rgba(255,255,255,0.85)",
        )


def _legend_below(fig: go.Figure, presentation: bool, *, top: int, rows: int = 1) -> go.Figure:
    """A horizontal legend under the x-axis title, with room for both at either font size."""
    font = 20 if presentation else 14
    axis_px = int(2.4 * font + 24)  # tick labels + axis title
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
    side: Side, choice: ThresholdChoice, *, presentation: bool = False
) -> go.Figure:
    """Attack score, FPR and FNR against the threshold, the chosen threshold marked.

    The attack-score trace has a marker per threshold so a click selects a threshold.
    """
    data = attack_curves_data(side, choice)
    fig = go.Figure()
    styles = {
        "attack_score": ("attack score 1 − 2^(−ε)", side.color, "solid", 3),
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
    fig.add_annotation(
        x=choice.threshold,
        y=1.0,
        yref="paper",
        xanchor="left",
        yanchor="bottom",
        showarrow=False,
        text=(
            f" t = {choice.threshold:.3g}: attack score "
            f"{choice.attack_score:.3f}, FPR {choice.fpr:.2f}, "
            f"FNR {choice.fnr:.2f}"
        ),
    )
    fig.update_layout(
        template=template(presentation),
        height=_height(presentation),
        title={"text": f"{side.label}: attack curves ({DIRECTIONS[choice.direction]})", "y": 0.97},
    )
    _legend_below(fig, presentation, top=80)
    fig.update_xaxes(title=f"threshold t on the {SIGNAL_LABELS.get(choice.signal, '')}")
    fig.update_yaxes(title="rate / attack score", range=[-0.02, 1.02])
    return fig


def ps_figure(cmp: Comparison, *, presentation: bool = False) -> go.Figure:
    """PS of A, B, the retrain model (= 1) and the original, in both ε forms."""
    data = ps_data(cmp)
    fig = go.Figure()
    forms = [PS_MIN_LABEL, PS_MAX_LABEL]
    for model, role, ps_min, ps_max in data.itertuples(index=False):
        values = [float(ps_min), float(ps_max)]
        fig.add_trace(
            go.Bar(
                x=forms,
                y=values,
                name=_role_label(str(model), str(role), cmp),
                marker={
                    "color": ROLE_COLORS[str(role)],
                    "pattern": {"shape": "/" if role in ("retrain", "original") else ""},
                },
                text=[format_value(v) for v in values],
                textposition="outside",
                cliponaxis=False,
                hovertemplate=f"%{{x}}<br>{model}: %{{y:.4g}}<extra></extra>",
            )
        )
    fig.add_hline(y=1.0, line={"color": "#444", "width": 1, "dash": "dot"})
    fig.update_layout(
        template=template(presentation),
        height=_height(presentation),
        barmode="group",
        title="Privacy score vs the retrain model (1 = indistinguishable from retraining)",
    )
    fig.update_yaxes(title="PS = 1 − worst attack score", range=[0, 1.15])
    return _legend_below(fig, presentation, top=70, rows=2)


def outcome_grid(
    images: np.ndarray,
    frame: pd.DataFrame,
    side: Side,
    *,
    succeeded: bool,
    cap: int = 50,
    columns: int = 10,
    presentation: bool = False,
) -> go.Figure:
    """Thumbnails of the forget samples on which the attack succeeded (or failed) for a model.

    Args:
        images: The training inputs (indexed by forget index).
        frame: :func:`outcome_frame` of the side.
        side: The model.
        succeeded: Which outcome to show.
        cap: At most this many thumbnails (the clearest cases first); the title gives the count.
        columns: Thumbnails per row.
        presentation: Larger type.
    """
    rows = frame[frame["succeeded"] == succeeded]
    shown = rows.head(cap)
    what = "succeeded" if succeeded else "failed"
    title = f"{side.name} ({side.role}): attack {what} on {len(rows)} of {len(frame)}" + (
        f" (showing {len(shown)})" if len(shown) < len(rows) else ""
    )
    labels = [
        f"{FORGET_MARK} train #{r.forget_index}<br>value {r.value:.3g}<br>called “{r.called}”"
        for r in shown.itertuples(index=False)
    ]
    xs = [images[int(i)] for i in shown["forget_index"]]
    fig = thumbnail_grid(xs, labels=labels, columns=columns, title=title, presentation=presentation)
    if xs:
        tile = mosaic([to_display(x) for x in xs], columns=columns)
        if isinstance(fig.data[0], go.Heatmap):
            # greyscale: leave the gaps between thumbnails blank (NaN), not ink-coloured
            fig.data[0].z = tile
        # whole tiles visible: keep the aspect by shrinking the domain, never the range
        fig.update_xaxes(range=[-0.5, tile.shape[1] - 0.5], constrain="domain")
        fig.update_yaxes(range=[tile.shape[0] - 0.5, -0.5], constrain="domain")
    if not xs:
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
        out[f"retrain target ({cmp.retrain})"] = [
            _audit_cell(cmp, cmp.retrain, m, target["value"].get(m), _row_ci(target, m))
            for m in AUDIT_METRICS
        ]
    return out


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
        frame[f"retrain ({cmp.retrain})"] = ranked["retrain_score"]
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
    for side in page_sides:
        choice = choices[side.role]
        tag = side.role.lower()
        specs.append(
            FigureSpec(
                f"privacy_distribution_{tag}",
                f"Retrain vs {side.label}: value distribution",
                distribution_figure(side, choice, presentation=presentation),
                distribution_data(side, choice.signal, cmp.sets.forget),
            )
        )
        specs.append(
            FigureSpec(
                f"privacy_curves_{tag}",
                f"{side.label}: attack score, FPR and FNR",
                attack_curves_figure(side, choice, presentation=presentation),
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
                ps_figure(cmp, presentation=presentation),
                ps_data(cmp),
            )
        )
        if experiment is not None:
            specs += _grid_specs(cmp, experiment, choices, page_sides, presentation)
    return specs + _audit_specs(cmp, presentation) + _exposure_specs(cmp, presentation)
