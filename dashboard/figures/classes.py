"""Classes page figures: per-class accuracy difference B − A and the prediction matrices.

* :func:`class_diff_figure` — twin diverging bars (train | test) of per-class accuracy B − A,
  bars in B's colour where B is more accurate and A's where A is, forget classes hatched and
  marked ✖, a dashed line at the retain-class average difference; the values stand in a column
  at each panel's right edge, where neither the bars nor the average line reach.
* :func:`prediction_matrix_figure` — A's and B's prediction matrices side by side: share of
  true-class-i samples predicted j and their mean softmax confidence for j, as a heatmap with
  "share / confidence" text or as bubbles (area = share, colour = confidence); a chosen true
  class row is outlined in both. The cells fill the chart's width (no fixed aspect ratio) and
  the rows are :func:`row_height` px tall, so the numbers get the room the screen has.

Example:
    >>> import pandas as pd
    >>> retain_average(pd.DataFrame({"diff": [0.1, -0.9, 0.3], "forget": [False, True, False]}))
    0.2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.compare import Comparison
from dashboard.figures import FigureSpec
from dashboard.theme import FORGET_MARK, ROLE_COLORS, apply, class_label, font_size

SPLITS = ("train", "test")
MODES = ("heatmap", "bubble")
# Light-to-dark purple: distinct from Model A blue and Model B vermillion, prints in greyscale.
SHARE_SCALE = [[0.0, "#ffffff"], [0.05, "#efedf5"], [0.4, "#9e9ac8"], [1.0, "#3f007d"]]
CONFIDENCE_SCALE = "Viridis"
MAX_CELL_TEXT_CLASSES = 20
"""Matrices of more classes carry no numbers in their cells (hover shows them)."""
LABEL_ROOM = 0.42
"""Share of a class-difference panel's half-width kept free at the right for the values."""


# --------------------------------------------------------------------------- data helpers


def class_labels(cmp: Comparison) -> list[str]:
    """Display label of every class, forget classes marked ✖ ... (forget)."""
    forget = set(cmp.forget_classes or ())
    return [class_label(n, forget=i in forget) for i, n in enumerate(cmp.class_names)]


def _metrics(cmp: Comparison, name: str, split: str) -> Any:
    rep = cmp.models[name]
    return rep.classes_train if split == "train" else rep.classes_test


def class_diff_data(cmp: Comparison) -> pd.DataFrame:
    """One row per (split, class): accuracy of A and B, ``diff`` = B − A, sample count.

    Example:
        >>> # columns: split, class, name, label, forget, n, acc_a, acc_b, diff
    """
    forget = set(cmp.forget_classes or ())
    labels = class_labels(cmp)
    frames = []
    for split in SPLITS:
        ma, mb = _metrics(cmp, cmp.a, split), _metrics(cmp, cmp.b, split)
        acc_a, acc_b = np.asarray(ma.accuracy, float), np.asarray(mb.accuracy, float)
        frames.append(
            pd.DataFrame(
                {
                    "split": split,
                    "class": np.arange(len(cmp.class_names)),
                    "name": list(cmp.class_names),
                    "label": labels,
                    "forget": [i in forget for i in range(len(cmp.class_names))],
                    "n": np.asarray(ma.counts),
                    "acc_a": acc_a,
                    "acc_b": acc_b,
                    "diff": acc_b - acc_a,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def retain_average(rows: pd.DataFrame) -> float:
    """Mean ``diff`` over the non-forget classes of ``rows`` (NaN-ignoring; NaN if none)."""
    values = rows.loc[~rows["forget"].astype(bool), "diff"].astype(float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")


def matrix_data(cmp: Comparison, split: str) -> pd.DataFrame:
    """Long table of both matrices: model role/name, true, predicted, share, confidence, count."""
    _validate_split(split)
    frames = []
    for role, name in (("A", cmp.a), ("B", cmp.b)):
        m = _metrics(cmp, name, split)
        c = len(cmp.class_names)
        true, pred = np.divmod(np.arange(c * c), c)
        frames.append(
            pd.DataFrame(
                {
                    "split": split,
                    "model": role,
                    "name": name,
                    "true": true,
                    "pred": pred,
                    "share": np.asarray(m.prediction, float).ravel(),
                    "confidence": np.asarray(m.confidence, float).ravel(),
                    "count": np.round(
                        np.asarray(m.prediction, float).ravel()
                        * np.repeat(np.asarray(m.counts, float), c)
                    ),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def cell_samples(cmp: Comparison, split: str, true: int, pred: int) -> pd.DataFrame:
    """Samples of ``split`` with label ``true`` that A or B predicts as ``pred``.

    Columns: index, forget (✖ for a forget sample or a sample of a forget class), true class,
    A's and B's prediction and probability of the true class (column names carry the model names).
    """
    _validate_split(split)
    inst = cmp.instances
    a, b = cmp.a, cmp.b
    rows = inst.loc[
        (inst["split"] == split)
        & (inst["label"] == true)
        & ((inst[f"{a}__pred"] == pred) | (inst[f"{b}__pred"] == pred))
    ]
    names = cmp.class_names
    return pd.DataFrame(
        {
            "index": rows["index"].to_numpy(),
            "forget": np.where(
                rows["is_forget"].to_numpy(bool) | rows["forget_class"].to_numpy(bool),
                FORGET_MARK,
                "",
            ),
            "true class": [names[i] for i in rows["label"]],
            f"A ({a}) predicted": [names[i] for i in rows[f"{a}__pred"]],
            f"B ({b}) predicted": [names[i] for i in rows[f"{b}__pred"]],
            f"A ({a}) P(true)": rows[f"{a}__true_prob"].to_numpy(float),
            f"B ({b}) P(true)": rows[f"{b}__true_prob"].to_numpy(float),
        }
    )


def cell_from_selection(selection: Mapping[str, Any] | None) -> tuple[int, int] | None:
    """(true, predicted) class of the clicked matrix cell, or None.

    Reads the point's ``customdata`` (``[true, pred, ...]``) or, for a heatmap point, its
    (x, y) = (pred, true).

    Example:
        >>> cell_from_selection({"selection": {"points": [{"customdata": [3, 1, "A"]}]}})
        (3, 1)
    """
    if not selection:
        return None
    points = selection.get("selection", selection).get("points", []) or []
    for point in points:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)) and len(data) >= 2:
            return int(data[0]), int(data[1])
        if point.get("x") is not None and point.get("y") is not None:
            return round(float(point["y"])), round(float(point["x"]))
    return None


def _validate_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {list(SPLITS)}, received {split!r}")


# --------------------------------------------------------------------------- class differences


def class_diff_figure(cmp: Comparison, *, presentation: bool = False) -> go.Figure:
    """Twin diverging bars (train | test) of per-class accuracy B − A with the retain average.

    Each panel's values stand in a column at its right edge (``x`` = the range's end), clear
    of the bars and of the dashed average line.
    """
    data = class_diff_data(cmp)
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.04,
        subplot_titles=("Train split", "Test split"),
    )
    finite = np.abs(data["diff"].to_numpy(float))
    limit = 1.15 * max(0.05, float(np.nanmax(finite, initial=0.0)))
    right = limit * (1 + LABEL_ROOM)
    for col, split in enumerate(SPLITS, start=1):
        rows = data.loc[data["split"] == split]
        _diff_bars(fig, rows, col, cmp, presentation)
        _value_column(fig, rows, col, right, presentation)
        _average_line(fig, retain_average(rows), col, bool(cmp.forget_classes), presentation)
    for title in fig.layout.annotations[:2]:
        title.font.size = font_size(presentation)
    labels = class_labels(cmp)
    fig.update_xaxes(
        range=[-limit, right],
        zeroline=True,
        zerolinecolor="#444",
        zerolinewidth=1.5,
        title_text=f"Accuracy B − A ({cmp.b} − {cmp.a})",
    )
    fig.update_yaxes(
        tickvals=list(range(len(labels))),
        ticktext=labels,
        range=[len(labels) - 0.5, -1.4],
        showgrid=False,
    )
    fig.update_yaxes(title_text="Class", col=1)
    if cmp.forget_classes:
        fig.add_trace(
            go.Bar(
                x=[None],
                y=[None],
                name=f"{FORGET_MARK} forget class (hatched)",
                marker={
                    "color": "#BBBBBB",
                    "pattern": {"shape": "x", "fgcolor": "white", "fillmode": "overlay"},
                },
            ),
            row=1,
            col=1,
        )
    fig.update_layout(
        barmode="overlay",
        bargap=0.25,
        title=f"Per-class accuracy difference, Model B ({cmp.b}) − Model A ({cmp.a})",
        height=max(420, 200 + 34 * len(labels)) + (120 if presentation else 0),
        margin={"l": 120, "t": 90, "b": 170 if presentation else 110},
        legend={"orientation": "h", "yanchor": "top", "y": -0.26 if presentation else -0.2, "x": 0},
    )
    return apply(fig, presentation=presentation)


def _value_column(
    fig: go.Figure, rows: pd.DataFrame, col: int, right: float, presentation: bool
) -> None:
    """The panel's B − A values, right-aligned at ``right`` (in the colour of the better model)."""
    diff = rows["diff"].to_numpy(float)
    ok = np.isfinite(diff)
    fig.add_trace(
        go.Scatter(
            x=np.full(int(ok.sum()), right),
            y=rows["class"].to_numpy()[ok],
            mode="text",
            text=[f"{d:+.2f}" for d in diff[ok]],
            textposition="middle left",
            textfont={
                "size": font_size(presentation, "small"),
                "color": [ROLE_COLORS["B" if d >= 0 else "A"] for d in diff[ok]],
            },
            hoverinfo="skip",
            showlegend=False,
            name=f"values {col}",
            cliponaxis=False,
        ),
        row=1,
        col=col,
    )


def _diff_bars(
    fig: go.Figure, rows: pd.DataFrame, col: int, cmp: Comparison, presentation: bool = False
) -> None:
    diff = rows["diff"].to_numpy(float)
    for role, sign, label in (
        ("B", diff >= 0, f"B ({cmp.b}) more accurate"),
        ("A", diff < 0, f"A ({cmp.a}) more accurate"),
    ):
        sub = rows.loc[sign]
        fig.add_trace(
            go.Bar(
                x=sub["diff"],
                y=sub["class"],
                width=0.7,
                orientation="h",
                name=label,
                legendgroup=role,
                showlegend=col == 1,
                marker={
                    "color": ROLE_COLORS[role],
                    "line": {"color": "#222", "width": 0.5},
                    "pattern": {
                        "shape": ["x" if f else "" for f in sub["forget"]],
                        "fgcolor": "white",
                        "size": 6,
                        "fillmode": "overlay",
                    },
                },
                customdata=np.stack([sub["acc_a"], sub["acc_b"], sub["n"]], axis=1),
                hovertext=sub["label"],
                hovertemplate="%{hovertext}<br>A %{customdata[0]:.3f} → B %{customdata[1]:.3f}"
                "<br>B − A %{x:+.3f}<br>%{customdata[2]} samples<extra></extra>",
            ),
            row=1,
            col=col,
        )
    missing = rows.loc[~np.isfinite(diff)]
    for _, r in missing.iterrows():
        fig.add_annotation(
            x=0,
            y=r["class"],
            text="N/A",
            showarrow=False,
            xanchor="left",
            font={"color": "#666", "size": font_size(presentation, "small")},
            row=1,
            col=col,
        )


def _average_line(
    fig: go.Figure, avg: float, col: int, has_forget: bool, presentation: bool
) -> None:
    if not np.isfinite(avg):
        return
    name = "Retain-class average" if has_forget else "Class average"
    fig.add_vline(x=avg, line={"color": "#009E73", "dash": "dash", "width": 2}, row=1, col=col)
    fig.add_annotation(
        x=avg,
        y=1.0,
        xref="x" if col == 1 else f"x{col}",
        yref="paper",
        text=f"{name.lower()} {avg:+.3f}",
        showarrow=False,
        yanchor="top",
        bgcolor="rgba(255,255,255,0.9)",
        font={"color": "#007A5A", "size": font_size(presentation, "small")},
    )
    if col == 1:
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                name=f"{name} (B − A)",
                line={"color": "#009E73", "dash": "dash", "width": 2},
            ),
            row=1,
            col=1,
        )


# --------------------------------------------------------------------------- matrices


def prediction_matrix_figure(
    cmp: Comparison,
    *,
    split: str = "train",
    mode: str = "heatmap",
    cell: tuple[int, int] | None = None,
    presentation: bool = False,
) -> go.Figure:
    """A's and B's prediction matrices side by side (rows = true class, columns = predicted).

    Args:
        cmp: The comparison.
        split: ``"train"`` or ``"test"``.
        mode: ``"heatmap"`` (colour = share, text "share / confidence") or ``"bubble"``
            (area = share, colour = mean confidence).
        cell: (true, predicted) of a chosen cell: its row is outlined in both matrices.
        presentation: Larger type.

    Every cell carries ``customdata = [true, pred, role]`` for click selection.
    """
    _validate_split(split)
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {list(MODES)}, received {mode!r}")
    data = matrix_data(cmp, split)
    labels = class_labels(cmp)
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.03,
        subplot_titles=(f"Model A: {cmp.a}", f"Model B: {cmp.b}"),
    )
    for col, role in enumerate(("A", "B"), start=1):
        rows = data.loc[data["model"] == role]
        if mode == "heatmap":
            _heatmap(fig, rows, labels, col, presentation)
        else:
            _bubbles(fig, rows, labels, col, presentation)
        fig.layout.annotations[col - 1].font.update(
            color=ROLE_COLORS[role], size=font_size(presentation, "title")
        )
    if cell is not None:
        _outline(fig, cell, len(labels))
    _matrix_layout(fig, cmp, labels, split, mode, presentation)
    return fig


def _cell_hover(name: str) -> str:
    return (
        f"{name}<br>true %{{customdata[3]}} → predicted %{{customdata[4]}}"
        "<br>share %{customdata[5]:.3f} (%{customdata[6]} samples)"
        "<br>mean confidence %{customdata[7]:.3f}<extra></extra>"
    )


def _customdata(rows: pd.DataFrame, labels: Sequence[str]) -> np.ndarray:
    return np.stack(
        [
            rows["true"],
            rows["pred"],
            rows["model"],
            [labels[i] for i in rows["true"]],
            [labels[i] for i in rows["pred"]],
            rows["share"],
            rows["count"].astype(int),
            rows["confidence"],
        ],
        axis=1,
    ).astype(object)


def row_height(c: int, presentation: bool = False) -> int:
    """Height in px of one matrix row for ``c`` classes: roomy for a few classes (two numbers
    per cell at 12 px, 16 px in presentation), down to 8 px for a hundred.

    Example:
        >>> row_height(10), row_height(10, True), row_height(100)
        (56, 64, 8)
    """
    top, budget = (64, 800) if presentation else (56, 700)
    return int(np.clip(budget // max(c, 1), 8, top))


def cell_text(share: np.ndarray, conf: np.ndarray, presentation: bool = False) -> np.ndarray:
    """The numbers written in a heatmap's cells: "share<br>confidence" for up to 12 classes,
    the share alone up to :data:`MAX_CELL_TEXT_CLASSES`, none beyond; presentation mode and
    the one-number form write only cells with a share of at least 5 %.

    Example:
        >>> cell_text(np.array([[0.9, 0.1], [0.0, 1.0]]), np.array([[0.8, 0.2], [0.0, 0.9]]))
        array([['0.90<br>0.80', '0.10<br>0.20'],
               ['', '1.00<br>0.90']], dtype='<U12')
    """
    c = share.shape[0]
    if c > MAX_CELL_TEXT_CLASSES:
        return np.full(share.shape, "", dtype="<U12")
    two = c <= 12
    shown = share >= 0.05 if presentation or not two else (share >= 0.005) | (conf >= 0.005)
    text = np.char.add(np.char.add(_fmt(share), "<br>"), _fmt(conf)) if two else _fmt(share)
    return np.where(shown, text, "").astype("<U12")


def _heatmap(
    fig: go.Figure, rows: pd.DataFrame, labels: Sequence[str], col: int, presentation: bool
) -> None:
    c = len(labels)
    share = rows["share"].to_numpy(float).reshape(c, c)
    conf = rows["confidence"].to_numpy(float).reshape(c, c)
    fig.add_trace(
        go.Heatmap(
            z=share,
            x=list(range(c)),
            y=list(range(c)),
            coloraxis="coloraxis",
            text=cell_text(share, conf, presentation),
            texttemplate="%{text}",
            hoverinfo="skip",
            xgap=1,
            ygap=1,
            textfont={"size": font_size(presentation, "small")},
        ),
        row=1,
        col=col,
    )
    fig.add_trace(
        go.Scatter(  # invisible, clickable cell centres
            x=rows["pred"],
            y=rows["true"],
            mode="markers",
            showlegend=False,
            name=f"cells {rows['model'].iloc[0]}",
            marker={"size": row_height(c, presentation), "symbol": "square", "opacity": 0},
            customdata=_customdata(rows, labels),
            hovertemplate=_cell_hover(rows["name"].iloc[0]),
        ),
        row=1,
        col=col,
    )


def _fmt(values: np.ndarray) -> np.ndarray:
    return np.vectorize(lambda v: "N/A" if not np.isfinite(v) else f"{v:.2f}")(values)


def _bubbles(
    fig: go.Figure, rows: pd.DataFrame, labels: Sequence[str], col: int, presentation: bool
) -> None:
    c = len(labels)
    share = rows["share"].to_numpy(float)
    biggest = 0.8 * row_height(c, presentation)  # diameter in px of a share-1 bubble
    fig.add_trace(
        go.Scatter(
            x=rows["pred"],
            y=rows["true"],
            mode="markers",
            showlegend=False,
            name=f"cells {rows['model'].iloc[0]}",
            marker={
                "size": np.nan_to_num(share),
                "sizemode": "area",
                "sizemin": 0,
                "sizeref": 2.0 / biggest**2,
                "color": rows["confidence"],
                "coloraxis": "coloraxis",
                "line": {"color": "#444", "width": 0.5},
            },
            customdata=_customdata(rows, labels),
            hovertemplate=_cell_hover(rows["name"].iloc[0]),
        ),
        row=1,
        col=col,
    )


def _outline(fig: go.Figure, cell: tuple[int, int], c: int) -> None:
    true, pred = cell
    for col in (1, 2):
        ref = "" if col == 1 else "2"
        fig.add_shape(
            type="rect",
            xref=f"x{ref}",
            yref=f"y{ref}",
            x0=-0.5,
            x1=c - 0.5,
            y0=true - 0.5,
            y1=true + 0.5,
            line={"color": "#111", "width": 3},
        )
        fig.add_shape(
            type="rect",
            xref=f"x{ref}",
            yref=f"y{ref}",
            x0=pred - 0.5,
            x1=pred + 0.5,
            y0=true - 0.5,
            y1=true + 0.5,
            line={"color": "#E69F00", "width": 3},
        )


def _matrix_layout(
    fig: go.Figure,
    cmp: Comparison,
    labels: Sequence[str],
    split: str,
    mode: str,
    presentation: bool,
) -> None:
    c = len(labels)
    ticks = {"tickvals": list(range(c)), "showgrid": False}
    # Horizontal two-line x labels: a rotated ✖ would read as +.
    fig.update_xaxes(
        **ticks,
        ticktext=[t.replace(" (", "<br>(") for t in labels],
        title_text="Predicted class",
        tickangle=0,
        range=[-0.5, c - 0.5],
        automargin=True,
    )
    fig.update_yaxes(
        **ticks,
        ticktext=labels,
        title_text="True class",
        autorange=False,
        range=[c - 0.5, -0.5],
        automargin=True,
    )
    # Rows align across the panels: B's y labels would only repeat A's and eat the width.
    fig.update_yaxes(showticklabels=False, title_text=None, row=1, col=2)
    if mode == "heatmap":
        bar = {"title": {"text": "Share of<br>true class"}, "thickness": 14}
        scale: Any = SHARE_SCALE
        what = "colour and first number = share predicted; second = mean confidence"
    else:
        bar = {"title": {"text": "Mean<br>confidence"}, "thickness": 14}
        scale = CONFIDENCE_SCALE
        what = "bubble area = share predicted; colour = mean confidence"
    top, bottom = 80, 110 if presentation else 90
    fig.update_layout(
        coloraxis={"colorscale": scale, "cmin": 0, "cmax": 1, "colorbar": bar},
        title=f"Prediction matrices ({split} split): {what}",
        height=c * row_height(c, presentation) + top + bottom,
        clickmode="event+select",
        dragmode=False,
        margin={"l": 90, "r": 20, "t": top, "b": bottom},
    )
    if presentation:
        fig.update_layout(title=f"Prediction matrices ({split} split)")
    apply(fig, presentation=presentation)


def page_figures(
    cmp: Comparison, *, presentation: bool = False, groups: Any = None
) -> list[FigureSpec]:
    """The Classes page's figures at default settings, each with the data behind it; with
    ``groups`` (a :class:`dashboard.figures.groups.GroupInput`), the group-robustness figure
    last."""
    specs = [
        FigureSpec(
            "classes_diff",
            "Per-class accuracy difference B − A",
            class_diff_figure(cmp, presentation=presentation),
            class_diff_data(cmp),
        )
    ]
    for split in SPLITS:
        specs.append(
            FigureSpec(
                f"classes_matrix_{split}",
                f"Prediction matrices ({split})",
                prediction_matrix_figure(cmp, split=split, presentation=presentation),
                matrix_data(cmp, split),
            )
        )
    if groups is not None:
        from dashboard.figures.groups import group_spec

        specs.append(group_spec(groups, presentation=presentation))
    return specs
