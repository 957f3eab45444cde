"""Per-epoch curves of Model A and Model B: one chart, one epoch axis, the same metrics.

Histories come from two places and are put in one vocabulary by :func:`normalise_history`:

* registry runs (``RunRecord.history_data`` or their ``.history.json``): ``epoch`` (0 = the
  base model before unlearning), ``loss``, ``UA``, ``RA``, ``TUA``, ``TRA``, ``PS`` and
  method values;
* hand-written models' ``history`` JSON files (e.g. ``sample_data/digits/models/*.history.json``):
  ``epoch`` with ``loss`` (unlearning objective) or ``train_loss`` + ``test_accuracy``
  (training). ``train_loss`` is read as ``loss`` (the objective the run minimised).

:func:`history_figure` draws every chosen metric of both models on one chart: colour = model
(A blue, B vermillion), dash and marker = metric; rates in [0, 1] (UA, RA, TUA, TRA, PS,
accuracies) on the left axis, losses and other values on the right axis.

Example:
    >>> import pandas as pd
    >>> a = pd.DataFrame({"epoch": [1, 2], "train_loss": [2.0, 1.0], "test_accuracy": [0.3, 0.8]})
    >>> b = pd.DataFrame({"epoch": [0, 1], "loss": [None, -0.5], "UA": [1.0, 0.2]})
    >>> history_metrics({"a": a, "b": b})
    (['loss'], ['UA', 'loss', 'test_accuracy'])
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.theme import ROLE_COLORS, apply

__all__ = [
    "CANONICAL_METRICS",
    "RATE_METRICS",
    "epoch_ticks",
    "history_figure",
    "history_from_rows",
    "history_metrics",
    "load_history",
    "metric_label",
    "normalise_history",
]

CANONICAL_METRICS = ("UA", "RA", "TUA", "TRA", "PS", "loss")
"""The metrics runs record each epoch, in display order."""
RATE_METRICS = frozenset({*CANONICAL_METRICS[:5], "test_accuracy", "train_accuracy", "mask_share"})
"""Metrics in [0, 1], drawn on the left axis."""
ALIASES = {"train_loss": "loss"}
"""Hand-written history keys read as a canonical metric (when that one is absent)."""
_LABELS = {
    "UA": "UA (forget, train)",
    "RA": "RA (retain, train)",
    "TUA": "TUA (forget, test)",
    "TRA": "TRA (retain, test)",
    "PS": "PS (privacy score)",
    "loss": "Objective (loss)",
    "test_loss": "Test loss",
    "train_accuracy": "Training accuracy",
    "test_accuracy": "Test accuracy (all classes)",
    "forget_kl": "Forget-set KL",
    "mask_share": "Saliency mask share",
}
_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "cross", "star", "hexagon")


def metric_label(metric: str) -> str:
    """Readable name of a history metric.

    Example:
        >>> metric_label("UA"), metric_label("my_metric")
        ('UA (forget, train)', 'My metric')
    """
    return _LABELS.get(metric, metric.replace("_", " ").capitalize())


def normalise_history(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """Numeric columns, aliases renamed (``train_loss`` -> ``loss``), empty columns dropped,
    sorted by epoch; None when there is no row.

    Example:
        >>> normalise_history(pd.DataFrame({"epoch": [2, 1], "train_loss": [1.0, 2.0]}))
           epoch  loss
        0      1   2.0
        1      2   1.0
    """
    if frame is None or frame.empty or "epoch" not in frame.columns:
        return None
    out = frame.apply(pd.to_numeric, errors="coerce")
    renames = {k: v for k, v in ALIASES.items() if k in out.columns and v not in out.columns}
    out = out.rename(columns=renames)
    keep = ["epoch", *[c for c in out.columns if c != "epoch" and out[c].notna().any()]]
    out = out.loc[out["epoch"].notna(), keep]
    if out.empty:
        return None
    return out.sort_values("epoch", kind="stable").reset_index(drop=True)


def history_from_rows(rows: Sequence[Mapping[str, Any]] | None) -> pd.DataFrame | None:
    """A registry run's ``history_data`` rows as a normalised history (None when empty).

    Example:
        >>> history_from_rows([{"epoch": 0, "UA": 1.0}, {"epoch": 1, "UA": 0.1, "loss": -2}])
           epoch   UA  loss
        0      0  1.0   NaN
        1      1  0.1  -2.0
    """
    if not rows:
        return None
    return normalise_history(pd.DataFrame([dict(r) for r in rows if "epoch" in r]))


def load_history(path: str | Path | None) -> pd.DataFrame | None:
    """A per-epoch history JSON file (a list of objects with ``epoch``), normalised; None when
    there is no path, no file or no row.

    Raises:
        ValueError: The file is not a JSON list of objects with an ``epoch`` field.
        OSError: The file cannot be read.
    """
    if path is None or not Path(path).is_file():
        return None
    rows = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "epoch" in r for r in rows):
        raise ValueError(
            f"{Path(path).name}: expected a JSON list of objects with an 'epoch' field"
        )
    return history_from_rows(rows)


def _order(metrics: set[str]) -> list[str]:
    canonical = [m for m in CANONICAL_METRICS if m in metrics]
    return canonical + sorted(metrics - set(CANONICAL_METRICS))


def history_metrics(
    histories: Mapping[str, pd.DataFrame | None],
) -> tuple[list[str], list[str]]:
    """``(shared, every)`` metric of the recorded histories, in display order: ``shared`` =
    recorded for every model that has a history, ``every`` = recorded for any."""
    present = [normalise_history(h) for h in histories.values()]
    sets = [{c for c in h.columns if c != "epoch"} for h in present if h is not None]
    if not sets:
        return [], []
    return _order(set.intersection(*sets)), _order(set.union(*sets))


def epoch_ticks(histories: Iterable[pd.DataFrame]) -> dict[str, Any]:
    """Whole-epoch ticks for the x axis (never 1.5 or 2.5): every epoch up to 12 of them,
    then a whole step that keeps about 10 ticks.

    Example:
        >>> epoch_ticks([pd.DataFrame({"epoch": [0, 1, 2, 3]})])
        {'tick0': 0, 'dtick': 1, 'tickformat': 'd'}
        >>> epoch_ticks([pd.DataFrame({"epoch": range(101)})])["dtick"]
        10
    """
    epochs = [float(e) for h in histories for e in h["epoch"].dropna()]
    span = max(epochs) - min(epochs) if epochs else 0.0
    step = 1 if span <= 12 else math.ceil(span / 10)
    return {"tick0": 0, "dtick": step, "tickformat": "d"}


def _axes(metrics: Sequence[str]) -> dict[str, str]:
    """Metric -> plotly axis: rates on ``y`` and the rest on ``y2`` (all on ``y`` if one kind)."""
    rates = [m for m in metrics if m in RATE_METRICS]
    if not rates or len(rates) == len(metrics):
        return dict.fromkeys(metrics, "y")
    return {m: "y" if m in RATE_METRICS else "y2" for m in metrics}


def history_figure(
    histories: Mapping[str, pd.DataFrame | None],
    *,
    roles: Mapping[str, str] | None = None,
    metrics: Sequence[str] | None = None,
    presentation: bool = False,
) -> go.Figure:
    """A and B (and any other model given) on one chart with the same metrics.

    Args:
        histories: Model name -> its history (None or empty: not recorded).
        roles: Model name -> ``"A"``, ``"B"``, ``"retrain"`` or ``"original"`` (line colour).
        metrics: Metrics to draw (default: those every recorded model shares, else all).
        presentation: Larger type.
    """
    roles = roles or {}
    present = {n: normalise_history(h) for n, h in histories.items()}
    recorded = {n: h for n, h in present.items() if h is not None}
    shared, every = history_metrics(recorded)
    chosen = [m for m in (metrics if metrics is not None else (shared or every)) if m in every]
    axes = _axes(chosen)
    fig = go.Figure()
    for i, metric in enumerate(chosen):
        for name, hist in recorded.items():
            if metric in hist.columns and hist[metric].notna().any():
                _line(fig, name, roles.get(name), hist, metric, i, axes[metric])
    _layout(fig, histories, recorded, chosen, axes, presentation)
    return fig


def _line(
    fig: go.Figure,
    name: str,
    role: str | None,
    hist: pd.DataFrame,
    metric: str,
    i: int,
    axis: str,
) -> None:
    rows = hist.loc[hist[metric].notna()]
    who = f"{role}: {name}" if role in ("A", "B") else name
    fig.add_trace(
        go.Scatter(
            x=rows["epoch"],
            y=rows[metric],
            yaxis=axis,
            mode="lines+markers",
            name=f"{metric_label(metric)} · {who}",
            legendgroup=metric,
            line={"color": ROLE_COLORS.get(role or "", None), "width": 2, "dash": _DASHES[i % 6]},
            marker={"symbol": _SYMBOLS[i % len(_SYMBOLS)], "size": 7},
            hovertemplate=f"{who}<br>epoch %{{x}}<br>{metric} %{{y:.4g}}<extra></extra>",
        )
    )


def _layout(
    fig: go.Figure,
    histories: Mapping[str, pd.DataFrame | None],
    recorded: Mapping[str, pd.DataFrame],
    chosen: Sequence[str],
    axes: Mapping[str, str],
    presentation: bool,
) -> None:
    missing = [n for n in histories if n not in recorded]
    title = "Per-epoch curves (one epoch axis, the same metrics for both models)"
    if missing:
        title += f" — none recorded for {', '.join(missing)}"
    left = [m for m in chosen if axes[m] == "y"]
    right = [m for m in chosen if axes[m] == "y2"]
    fig.update_layout(
        title=title,
        xaxis_title="Epoch (0 = the base model before unlearning)",
        yaxis_title=" / ".join(left) if left else "value",
        height=540 if presentation else 460,
        legend={"orientation": "h", "yanchor": "top", "y": -0.3 if presentation else -0.22, "x": 0},
        margin={"b": 190 if presentation else 130},
    )
    if left and all(m in RATE_METRICS for m in left):
        fig.update_yaxes(range=[-0.03, 1.03])
    if right:
        fig.update_layout(
            yaxis2={
                "title": " / ".join(right),
                "overlaying": "y",
                "side": "right",
                "showgrid": False,
            }
        )
    if not chosen:
        fig.add_annotation(
            text="No metric recorded for these models",
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            showarrow=False,
        )
    fig.update_xaxes(**epoch_ticks(recorded.values()))
    apply(fig, presentation=presentation)
