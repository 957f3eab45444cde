"""Study plots (issue 9): sweeps against forget size or deletion request, worst vs random sets.

Pure functions of an :class:`analysis.studies.StudyResult` (no Streamlit):

* :func:`sweep_figure` — scalability and sustainability: one panel per metric (UA, RA, TRA,
  PS, MIA-efficacy, run time) against the study's x (forget fraction, forget classes or
  deletion request), one line per method with the seeds' mean ± sample std as error bars, and
  the step's retrain model as a grey dashed reference wherever it has a value;
* :func:`worst_case_figure` — worst-case studies: per metric, grouped bars per method (retrain
  first) for the random and the worst forget set of the same size, mean ± std;
* :func:`study_groups_figure` — any study read per group (:func:`analysis.studies.study_groups`):
  the worst-group gap to retrain and worst-group accuracy against x per method, and per-group
  test accuracy and PS at one step;
* corrective studies plot clean accuracy, attack success and the known subset against the
  known fraction, with the poisoned original ("before", dotted) and the retrain without every
  manipulated sample (grey dashed) as references;
* :func:`study_figures` — the study's figures as :class:`~dashboard.figures.FigureSpec` (the
  data behind each is the summary's rows and columns it plots, for CSV export);
* :func:`summary_display` — the summary as "mean ± std" text for the page's table;
* :func:`page_figures` — the figures of every study given (the Export page and the report).

Example:
    >>> import pandas as pd
    >>> from analysis.studies import ScalabilityStudy
    >>> study = ScalabilityStudy(name="s", methods=("ga",), sizes=(0.1,), seeds=(0, 1))
    >>> runs = pd.DataFrame({"name": ["a", "b"], "scenario": ["s_f0.1"] * 2,
    ...     "method": ["ga"] * 2, "seed": [0, 1], "state": ["done"] * 2, "UA": [0.2, 0.4]})
    >>> [spec.key for spec in study_figures(study.aggregate(runs))]
    ['study_s_scalability']
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.studies import StudyGroups, StudyResult
from dashboard import theme
from dashboard.figures import FigureSpec

__all__ = [
    "CORRECTIVE_PANELS",
    "GROUP_PANELS",
    "METHOD_PALETTE",
    "METRIC_LABELS",
    "SET_COLORS",
    "SWEEP_METRICS",
    "WORST_CASE_METRICS",
    "method_color",
    "page_figures",
    "plot_data",
    "study_figures",
    "study_groups_data",
    "study_groups_figure",
    "study_groups_spec",
    "summary_display",
    "sweep_figure",
    "worst_case_figure",
]

SWEEP_METRICS = ("UA", "RA", "TRA", "PS", "mia_efficacy", "RT")
"""Panels of a sweep: accuracies, privacy score, the MIA audit's headline, run time."""
WORST_CASE_METRICS = ("UA_gap", "UA", "PS", "mia_efficacy")
"""Panels of a worst-case figure: the gap to retrain first (what the search maximises)."""
METRIC_LABELS = {
    "UA": "UA (forget accuracy)",
    "RA": "RA (retain accuracy)",
    "TUA": "TUA (test forget acc.)",
    "TRA": "TRA (test retain acc.)",
    "PS": "PS (privacy score)",
    "mia_efficacy": "MIA-efficacy",
    "forget_auc": "forget-vs-holdout AUC",
    "privleak": "PrivLeak (%)",
    "RT": "run time (s)",
    "acc_gap": "accuracy gap to retrain",
    "UA_gap": "UA − retrain UA",
    "clean_acc": "clean test accuracy",
    "attack": "attack success rate",
    "clean_acc_gap": "clean accuracy − retrain",
    "attack_gap": "attack success − retrain",
    "worst_gap": "worst-group gap to retrain",
    "worst_acc": "worst-group test accuracy",
}
"""Axis titles of the study metrics."""
# Okabe–Ito and Tol colours without Model A's blue, Model B's vermillion and the retrain grey:
# a method is never mistaken for a model of the pair.
METHOD_PALETTE = (
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#332288",
    "#56B4E9",
    "#882255",
    "#117733",
    "#DDCC77",
    "#44AA99",
    "#AA4499",
)
SET_COLORS = {"random": "#88CCEE", "worst": "#882255"}
"""Worst-case figures: bar colour of each forget set."""
CORRECTIVE_PANELS = ("clean_acc", "attack", "UA")
"""Panels of a corrective study's figure (the gaps are in the summary table)."""
CORRECTIVE_TITLES = {"UA": "known subset still predicted as manipulated"}
"""Corrective studies: panel titles that differ from :data:`METRIC_LABELS`."""
_RATES = {
    "UA",
    "RA",
    "TUA",
    "TRA",
    "PS",
    "mia_efficacy",
    "forget_auc",
    "acc_gap",
    "clean_acc",
    "attack",
    "worst_acc",
}


def method_color(index: int) -> str:
    """Colour of the ``index``-th method of a study (cycles past the palette)."""
    return METHOD_PALETTE[index % len(METHOD_PALETTE)]


def _finish(fig: go.Figure, presentation: bool) -> go.Figure:
    """The app's template (and its presentation font floor where the theme offers one)."""
    apply = getattr(theme, "apply", None)
    if callable(apply):
        return apply(fig, presentation=presentation)
    fig.update_layout(template=theme.template(presentation))
    return fig


def _font(presentation: bool, small: bool = False) -> int:
    """Explicit text size: never below 16 px in presentation mode."""
    if presentation:
        return 16 if small else 20
    return 12 if small else 14


def _list(values: np.ndarray) -> list[float | None]:
    """Floats for plotly, None where undefined (no marker, no error bar)."""
    return [float(v) if math.isfinite(float(v)) else None for v in values]


def _hover(result: StudyResult, method: str, metric: str) -> list[str]:
    rows = result.summary[result.summary["method"] == method].sort_values("x")
    out = []
    for _, row in rows.iterrows():
        mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
        value = "N/A" if pd.isna(mean) else f"{mean:.3f}"
        spread = "" if pd.isna(std) else f" ± {std:.3f}"
        where = _x_text(result, float(row["x"]))
        size = "" if pd.isna(row.get("n_forget")) else f" · {int(row['n_forget'])} forget samples"
        out.append(
            f"{method} · {result.x_label} {where}{size}<br>{METRIC_LABELS.get(metric, metric)}: "
            f"{value}{spread}<br>{int(row['done'])}/{int(row['runs'])} runs done"
        )
    return out


def _x_text(result: Any, x: float) -> str:
    if result.x_label in ("forget fraction", "known fraction"):
        return f"{x:.0%}" if round(x * 100, 6).is_integer() else f"{x:.1%}"
    return f"{x:g}"


def _x_range(result: StudyResult | pd.DataFrame) -> list[float]:
    """The x span of the study's points (or of a table's ``x``) with a margin (for a panel
    without data)."""
    table = result if isinstance(result, pd.DataFrame) else result.summary
    xs = table["x"].astype(float)
    low, high = float(xs.min()), float(xs.max())
    pad = 0.08 * (high - low) if high > low else 0.5
    return [low - pad, high + pad]


def _grid(count: int) -> tuple[int, int]:
    columns = 3 if count > 4 else min(count, 2) or 1
    return -(-count // columns), columns


def sweep_figure(
    result: StudyResult,
    *,
    metrics: Sequence[str] = SWEEP_METRICS,
    presentation: bool = False,
) -> go.Figure:
    """Scalability / sustainability: each metric against the study's x, one line per method.

    Args:
        result: A study result (any family; x is used as a number).
        metrics: Study metrics, one panel each (default :data:`SWEEP_METRICS`).
        presentation: Larger type.

    Returns:
        Per panel: one trace per method (legend group = method) with the mean over seeds and
        the sample std as error bars, plus a grey dashed ``retrain`` trace where the retrain
        models have values. A panel whose metric is N/A everywhere says so.
    """
    rows, cols = _grid(len(metrics))
    names = {**METRIC_LABELS, **(CORRECTIVE_TITLES if result.kind == "corrective" else {})}
    titles = [names.get(m, m) for m in metrics]
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=titles,
        horizontal_spacing=0.07,
        vertical_spacing=0.16 if rows > 1 else 0.1,
    )
    lines = _lines(result)
    for i, metric in enumerate(metrics):
        row, col = divmod(i, cols)
        shown = _sweep_panel(fig, result, metric, lines, row + 1, col + 1, first=i == 0)
        if not shown:  # an empty trace gives the panel its axes, then the note
            fig.add_trace(
                go.Scatter(x=[], y=[], showlegend=False, hoverinfo="skip"),
                row=row + 1,
                col=col + 1,
            )
            fig.update_xaxes(row=row + 1, col=col + 1, range=_x_range(result))
            _na_note(fig, i + 1, presentation)
        _sweep_axes(fig, result, metric, row + 1, col + 1, last_row=row == rows - 1)
    fig.update_annotations(font={"size": _font(presentation)})
    fig.update_layout(
        title=f"{result.name}: {_kind_title(result)}"
        + ("" if presentation else " (mean ± std over seeds)"),
        height=(330 if presentation else 280) * rows + 140,
        legend={"orientation": "h", "y": -0.16 if rows > 1 else -0.3, "x": 0.0},
        hovermode="closest",
        margin={"t": 90},
    )
    return _finish(fig, presentation)


def _kind_title(result: StudyResult) -> str:
    return {
        "scalability": "metrics against forget size",
        "sustainability": "after each deletion request, vs retrain on all removed",
        "worst_case": "worst-case vs random forget set",
        "corrective": "clean accuracy and attack success against the known fraction",
    }.get(result.kind, result.kind)


def _lines(result: StudyResult) -> list[tuple[str, str, str, str]]:
    """``(method, colour, dash, legend name)`` of a sweep's lines: the references first (the
    retrain model grey dashed; a corrective study's poisoned original, "before", near-black
    dotted), then each method in :data:`METHOD_PALETTE` order."""
    retrain = (
        "retrain without all manipulated (reference)"
        if result.kind == "corrective"
        else "retrain (reference)"
    )
    lines = []
    if "retrain" in result.methods:
        lines.append(("retrain", theme.ROLE_COLORS["retrain"], "dash", retrain))
    if result.kind == "corrective" and "original" in result.methods:
        before = "before (poisoned original)"
        lines.append(("original", theme.ROLE_COLORS["original"], "dot", before))
    references = ("retrain", "original") if result.kind == "corrective" else ("retrain",)
    methods = [m for m in result.methods if m not in references]
    lines += [(m, method_color(i), "solid", m) for i, m in enumerate(methods)]
    return lines


def _sweep_panel(
    fig: go.Figure,
    result: StudyResult,
    metric: str,
    lines: Sequence[tuple[str, str, str, str]],
    row: int,
    col: int,
    *,
    first: bool,
) -> bool:
    """Draw one metric's traces (:func:`_lines`); return whether any value was finite."""
    any_value = False
    for j, (method, colour, dash, name) in enumerate(lines):
        x, mean, std = result.series(method, metric)
        x = x + _dodge(result, j, len(lines))
        if not np.isfinite(mean).any():
            continue
        any_value = True
        reference = dash != "solid"
        fig.add_trace(
            go.Scatter(
                x=x,
                y=_list(mean),
                error_y={"type": "data", "array": _list(std), "visible": True, "thickness": 1.5},
                mode="lines+markers",
                name=name,
                legendgroup=method,
                showlegend=first or not _in_legend(fig, method),
                line={"color": colour, "dash": dash, "width": 2},
                marker={"size": 7, "symbol": "diamond" if reference else "circle"},
                hovertext=_hover(result, method, metric),
                hoverinfo="text",
            ),
            row=row,
            col=col,
        )
    return any_value


def _dodge(result: StudyResult, index: int, count: int) -> float:
    """A small x shift of the ``index``-th of ``count`` lines (±1.5 % of the x span per line),
    so methods with equal values and their error bars do not hide each other; the hover text
    keeps the true x."""
    xs = result.summary["x"].astype(float)
    span = float(xs.max() - xs.min()) or max(abs(float(xs.max())), 1.0)
    return (index - (count - 1) / 2) * 0.015 * span


def _in_legend(fig: go.Figure, group: str) -> bool:
    return any(t.legendgroup == group and t.showlegend is not False for t in fig.data)


def _na_note(fig: go.Figure, panel: int, presentation: bool) -> None:
    suffix = "" if panel == 1 else str(panel)
    fig.add_annotation(
        text="N/A for this study",
        xref=f"x{suffix} domain",
        yref=f"y{suffix} domain",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": _font(presentation, small=True), "color": "#666"},
    )


def _sweep_axes(
    fig: go.Figure, result: StudyResult, metric: str, row: int, col: int, *, last_row: bool
) -> None:
    xs = sorted(set(result.summary["x"].astype(float)))
    xaxis: dict[str, Any] = {"tickvals": xs, "ticktext": [_x_text(result, x) for x in xs]}
    if last_row:
        xaxis["title"] = {"text": result.x_label}
    fig.update_xaxes(row=row, col=col, **xaxis)
    if metric in _RATES and metric != "acc_gap":
        fig.update_yaxes(row=row, col=col, range=[-0.05, 1.05])
    elif metric == "RT":
        fig.update_yaxes(row=row, col=col, rangemode="tozero")


def worst_case_figure(
    result: StudyResult,
    *,
    metrics: Sequence[str] = WORST_CASE_METRICS,
    presentation: bool = False,
) -> go.Figure:
    """Worst-case studies: per metric, the methods on the random vs the worst forget set.

    Args:
        result: A worst-case study's result (points ``random`` and ``worst``).
        metrics: Study metrics, one panel each (default :data:`WORST_CASE_METRICS`).
        presentation: Larger type.

    Returns:
        Grouped bars: x = the methods (the retrain models first, as the reference), one bar
        trace per forget set (legend group = the set) with mean ± std over seeds.
    """
    rows, cols = _grid(len(metrics))
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[METRIC_LABELS.get(m, m) for m in metrics],
        horizontal_spacing=0.08,
        vertical_spacing=0.2,
    )
    summary = result.summary
    methods = result.methods
    for i, metric in enumerate(metrics):
        row, col = divmod(i, cols)
        for point, colour in SET_COLORS.items():
            cells = summary[summary["point"] == point].set_index("method").reindex(methods)
            fig.add_trace(
                go.Bar(
                    x=methods,
                    y=_list(cells[f"{metric}_mean"].to_numpy(dtype=float)),
                    error_y={
                        "type": "data",
                        "array": _list(cells[f"{metric}_std"].to_numpy(dtype=float)),
                        "visible": True,
                    },
                    name=f"{point} forget set",
                    legendgroup=point,
                    showlegend=i == 0,
                    marker={"color": colour},
                    hovertemplate=f"%{{x}} · {point} set<br>{METRIC_LABELS.get(metric, metric)}: "
                    "%{y:.3f}<extra></extra>",
                ),
                row=row + 1,
                col=col + 1,
            )
        if not np.isfinite(summary[f"{metric}_mean"].to_numpy(dtype=float)).any():
            _na_note(fig, i + 1, presentation)
    fig.update_annotations(font={"size": _font(presentation)})
    size = summary["n_forget"].dropna() if "n_forget" in summary else pd.Series(dtype=float)
    count = f", {int(size.iloc[0])} samples each" if len(size) else ""
    fig.update_layout(
        title=f"{result.name}: worst-case vs random forget set{count} (mean ± std over seeds)",
        barmode="group",
        height=(330 if presentation else 280) * rows + 140,
        legend={"orientation": "h", "y": -0.15, "x": 0.0},
    )
    return _finish(fig, presentation)


GROUP_PANELS = ("worst_gap", "worst_acc", "TA", "PS")
"""Panels of :func:`study_groups_figure`: the worst-group headlines against x, then per group
(test accuracy, PS) at one x."""


def study_groups_figure(
    groups: StudyGroups, *, x: float | None = None, presentation: bool = False
) -> go.Figure:
    """Group robustness of a study's runs (:func:`analysis.studies.study_groups`).

    Args:
        groups: The study's per-group metrics.
        x: The step whose per-group bars are drawn (default: the largest x with a done run).
        presentation: Larger type.

    Returns:
        Top: the worst-group gap to retrain and the worst-group test accuracy against the
        study's x, one line per method (mean ± std over seeds; the retrain models grey dashed
        in the accuracy panel). Bottom: per group at ``x``, test accuracy and PS, grouped
        bars per method (retrain grey first), mean ± std over seeds.
    """
    fig = make_subplots(
        rows=2,
        cols=2,
        horizontal_spacing=0.08,
        vertical_spacing=0.2,
        subplot_titles=_group_titles(groups, x),
    )
    lines = _group_lines(groups)
    at = _step(groups, x)
    for panel, metric in enumerate(GROUP_PANELS, start=1):
        row, col = divmod(panel - 1, 2)
        drawn = False
        for j, (method, colour, dash) in enumerate(lines):
            if method == "retrain" and metric in ("worst_gap", "PS"):
                continue  # its gap to itself; its PS against itself
            if row == 0:
                trace = _worst_trace(groups, method, metric, colour, dash, j, len(lines))
            else:
                trace = _group_bar(groups, method, metric, colour, at)
            if trace is not None:
                trace.showlegend = not _in_legend(fig, method)
                fig.add_trace(trace, row=row + 1, col=col + 1)
                drawn = True
        if not drawn:  # an empty trace gives the panel its axes, then the note
            empty = go.Scatter(x=[], y=[], showlegend=False, hoverinfo="skip")
            fig.add_trace(empty, row=row + 1, col=col + 1)
            if row == 0:
                fig.update_xaxes(row=1, col=col + 1, range=_x_range(groups.worst))
            _na_note(fig, panel, presentation)
    for col in (1, 2):
        _group_x_axis(fig, groups, col)
        axis = "class" if groups.source == "classes" else "group"
        fig.update_xaxes(row=2, col=col, type="category", title_text=axis)
    for row, col in ((1, 2), (2, 1), (2, 2)):
        fig.update_yaxes(row=row, col=col, range=[-0.05, 1.05])
    fig.update_yaxes(row=1, col=1, rangemode="tozero")
    fig.update_annotations(font={"size": _font(presentation)})
    where = "classes" if groups.source == "classes" else f"groups from {groups.source}"
    fig.update_layout(
        title=f"{groups.name}: group robustness ({where})"
        + ("" if presentation else " (mean ± std over seeds)"),
        barmode="group",
        height=(360 if presentation else 300) * 2 + 160,
        legend={"orientation": "h", "y": -0.14, "x": 0.0},
        margin={"t": 90},
    )
    return _finish(fig, presentation)


def _group_titles(groups: StudyGroups, x: float | None) -> list[str]:
    at = _step(groups, x)
    where = "" if at is None else f" at {groups.x_label} {_x_text(groups, at)}"
    return [
        METRIC_LABELS["worst_gap"],
        METRIC_LABELS["worst_acc"],
        f"test accuracy per group{where}",
        f"PS per group{where} (forget samples)",
    ]


def _step(groups: StudyGroups, x: float | None) -> float | None:
    """``x`` when given, else the largest x with a done run (None without any)."""
    if x is not None:
        return float(x)
    done = groups.worst[groups.worst["done"] > 0]["x"].astype(float)
    return float(done.max()) if len(done) else None


def _group_lines(groups: StudyGroups) -> list[tuple[str, str, str]]:
    """The references first (retrain grey dashed, "before" unlearning near-black dotted),
    then each method."""
    methods = list(dict.fromkeys(groups.worst["method"]))
    lines = [("retrain", theme.ROLE_COLORS["retrain"], "dash")] if "retrain" in methods else []
    if "before" in methods:
        lines.append(("before", theme.ROLE_COLORS["original"], "dot"))
    others = [m for m in methods if m not in ("retrain", "before")]
    return lines + [(m, method_color(i), "solid") for i, m in enumerate(others)]


def _worst_trace(
    groups: StudyGroups, method: str, metric: str, colour: str, dash: str, j: int, count: int
) -> go.Scatter | None:
    rows = groups.worst[groups.worst["method"] == method].sort_values("x")
    mean = rows[f"{metric}_mean"].to_numpy(dtype=float)
    if not np.isfinite(mean).any():
        return None
    xs = groups.worst["x"].astype(float)
    span = float(xs.max() - xs.min()) or max(abs(float(xs.max())), 1.0)
    shift = (j - (count - 1) / 2) * 0.015 * span
    retrain = method == "retrain"
    return go.Scatter(
        x=rows["x"].to_numpy(dtype=float) + shift,
        y=_list(mean),
        error_y={
            "type": "data",
            "array": _list(rows[f"{metric}_std"].to_numpy(dtype=float)),
            "visible": True,
            "thickness": 1.5,
        },
        mode="lines+markers",
        name="retrain (reference)" if retrain else method,
        legendgroup=method,
        line={"color": colour, "dash": dash, "width": 2},
        marker={"size": 7, "symbol": "diamond" if retrain else "circle"},
        customdata=rows["x"].to_numpy(dtype=float),
        hovertemplate=f"{method} · {groups.x_label} %{{customdata:g}}<br>"
        f"{METRIC_LABELS[metric]}: %{{y:.3f}}<extra></extra>",
    )


def _group_x_axis(fig: go.Figure, groups: StudyGroups, col: int) -> None:
    xs = sorted(set(groups.worst["x"].astype(float)))
    fig.update_xaxes(
        row=1,
        col=col,
        tickvals=xs,
        ticktext=[_x_text(groups, x) for x in xs],
        title_text=groups.x_label,
    )


def _group_bar(
    groups: StudyGroups, method: str, metric: str, colour: str, at: float | None
) -> go.Bar | None:
    if at is None:
        return None
    table = groups.per_group
    rows = table[(table["method"] == method) & (table["x"].astype(float) == at)]
    mean = rows[f"{metric}_mean"].to_numpy(dtype=float)
    if not len(rows) or not np.isfinite(mean).any():
        return None
    return go.Bar(
        x=rows["group_name"].astype(str).tolist(),
        y=_list(mean),
        error_y={
            "type": "data",
            "array": _list(rows[f"{metric}_std"].to_numpy(dtype=float)),
            "visible": True,
        },
        name="retrain (reference)" if method == "retrain" else method,
        legendgroup=method,
        marker={"color": colour},
        hovertemplate=f"{method} · group %{{x}}<br>{metric}: %{{y:.3f}}<extra></extra>",
    )


def study_groups_data(groups: StudyGroups) -> pd.DataFrame:
    """The data of :func:`study_groups_figure` (its CSV export): the worst-group rows
    (``part`` = ``worst``) then the per-group rows (``part`` = ``group``)."""
    worst = groups.worst.assign(part="worst")
    per_group = groups.per_group.assign(part="group")
    columns = dict.fromkeys(["part", *worst.columns, *per_group.columns])
    return pd.concat([worst, per_group], ignore_index=True).reindex(columns=list(columns))


def plot_data(result: StudyResult, metrics: Sequence[str]) -> pd.DataFrame:
    """The summary rows and columns a figure plots (its CSV export): method, x, point,
    n_forget, runs, done and ``<metric>_mean`` / ``<metric>_std`` per metric."""
    keys = [c for c in ("method", "x", "point", "n_forget", "runs", "done") if c in result.summary]
    stats = [f"{m}_{s}" for m in metrics for s in ("mean", "std")]
    return result.summary.reindex(columns=keys + stats).reset_index(drop=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "study"


def study_figures(
    result: StudyResult, *, presentation: bool = False, groups: StudyGroups | None = None
) -> list[FigureSpec]:
    """The study's figures with their data: a sweep (for worst-case studies the grouped bars;
    for corrective studies clean accuracy, attack success and the known subset against the
    known fraction), then, with ``groups``, the group-robustness figure.

    Keys are ``study_<name>_<kind>`` and ``study_<name>_groups``, so every study's figures
    have their own export file names.
    """
    key = f"study_{_slug(result.name)}_{result.kind}"
    title = f"Study {result.name}: {_kind_title(result)}"
    if result.kind == "worst_case":
        figure = worst_case_figure(result, presentation=presentation)
        metrics: Sequence[str] = WORST_CASE_METRICS
    elif result.kind == "corrective":
        figure = sweep_figure(result, metrics=CORRECTIVE_PANELS, presentation=presentation)
        metrics = result.metrics
    else:
        figure = sweep_figure(result, presentation=presentation)
        metrics = SWEEP_METRICS
    specs = [FigureSpec(key, title, figure, plot_data(result, metrics))]
    if groups is not None and not groups.worst.empty:
        specs.append(study_groups_spec(groups, presentation=presentation))
    return specs


def study_groups_spec(groups: StudyGroups, *, presentation: bool = False) -> FigureSpec:
    """:func:`study_groups_figure` with its data (key ``study_<name>_groups``)."""
    return FigureSpec(
        f"study_{_slug(groups.name)}_groups",
        f"Study {groups.name}: group robustness",
        study_groups_figure(groups, presentation=presentation),
        study_groups_data(groups),
    )


def summary_display(result: StudyResult, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """The summary as text: one row per (method, x), "mean ± std" per metric (N/A: no value).

    ``metrics`` defaults to the sweep metrics and ``UA_gap``, or for a corrective study its
    own metrics (clean accuracy, attack success, known-subset UA, their gaps, run time).

    Example:
        >>> import pandas as pd
        >>> from analysis.studies import ScalabilityStudy
        >>> study = ScalabilityStudy(name="s", methods=("ga",), sizes=(0.1,), seeds=(0, 1))
        >>> runs = pd.DataFrame({"name": ["a", "b"], "scenario": ["s_f0.1"] * 2,
        ...     "method": ["ga"] * 2, "seed": [0, 1], "state": ["done"] * 2, "UA": [0.2, 0.4]})
        >>> summary_display(study.aggregate(runs), ["UA"]).iloc[0].tolist()
        ['ga', '10%', '', '2/2', '0.300 ± 0.141']
    """
    if metrics is None:
        default = (*SWEEP_METRICS, "UA_gap")
        metrics = result.metrics if result.kind == "corrective" else default
    out = pd.DataFrame(
        {
            "method": result.summary["method"].astype(str),
            result.x_label: [_where(result, row) for _, row in result.summary.iterrows()],
            "forget samples": [
                "" if pd.isna(n) else str(int(n))
                for n in result.summary.get("n_forget", pd.Series([np.nan] * len(result.summary)))
            ],
            "runs done": [
                f"{int(d)}/{int(r)}"
                for d, r in zip(result.summary["done"], result.summary["runs"], strict=True)
            ],
        }
    )
    for metric in metrics:
        out[METRIC_LABELS.get(metric, metric)] = [
            _mean_std(m, s)
            for m, s in zip(
                result.summary[f"{metric}_mean"], result.summary[f"{metric}_std"], strict=True
            )
        ]
    return out


def _where(result: StudyResult, row: pd.Series) -> str:
    point = row.get("point")
    return point if isinstance(point, str) and point else _x_text(result, float(row["x"]))


def _mean_std(mean: Any, std: Any) -> str:
    if mean is None or pd.isna(mean):
        return "N/A"
    return f"{mean:.3f}" if std is None or pd.isna(std) else f"{mean:.3f} ± {std:.3f}"


def page_figures(
    cmp: Any,
    *,
    presentation: bool = False,
    studies: Mapping[str, StudyResult] | None = None,
    study_groups: Mapping[str, StudyGroups] | None = None,
) -> list[FigureSpec]:
    """Every given study's figures, in the mapping's order (the Export page and the report).

    Args:
        cmp: The comparison (unused: studies do not depend on the pair).
        presentation: Larger type.
        studies: Study name -> result (:func:`dashboard.export.study_results_of`); none: [].
        study_groups: Study name -> per-group metrics (:func:`dashboard.export.study_groups_of`);
            a study without them has no group figure.
    """
    specs: list[FigureSpec] = []
    for name, result in (studies or {}).items():
        groups = (study_groups or {}).get(name)
        specs.extend(study_figures(result, presentation=presentation, groups=groups))
    return specs
