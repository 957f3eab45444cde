"""Instances page figures: twin embeddings of the training subset under A and B, the class
breakdown of a selection, and an instance card's probability bars.

Data helpers (pure, tested) join :class:`~analysis.compare.Embedding` with the instance table,
define the highlight modes and pick the most changed samples; builders draw them.

Highlight modes, for a model M (A or B) and the retrain model R:

* ``all``: every sample.
* ``forget``: the forget target (every forget sample).
* ``correctly_forgotten``: forget samples that M predicts as R does (M behaves like a model that
  never saw them).
* ``not_forgotten``: forget samples that M still predicts correctly while R does not.
* ``overly_forgotten``: retain samples that M now mispredicts while R predicts them correctly.

Example:
    >>> import pandas as pd
    >>> f = pd.DataFrame({"label": [0, 0, 1], "is_forget": [True, True, False],
    ...                   "pred_a": [1, 0, 0], "pred_retrain": [1, 1, 1]})
    >>> highlight_mask(f, "not_forgotten", "A").tolist()
    [False, True, False]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.compare import Comparison
from analysis.exposure import EXPOSURE_SCORES
from dashboard.figures import FigureSpec
from dashboard.theme import FORGET_MARK, ROLE_COLORS, apply, class_color, class_label, font_size


@dataclass(frozen=True)
class HighlightMode:
    """One highlight mode: its label in the UI, the caption that defines it, and whether it
    needs the retrain model."""

    label: str
    caption: str
    needs_retrain: bool


HIGHLIGHT_MODES: dict[str, HighlightMode] = {
    "all": HighlightMode("All", "Every sample of the map.", False),
    "forget": HighlightMode("Forget target", "Every forget sample (drawn ✖).", False),
    "correctly_forgotten": HighlightMode(
        "Correctly forgotten",
        "Forget samples the model predicts exactly as the retrain model does (it behaves like "
        "a model that never saw them).",
        True,
    ),
    "not_forgotten": HighlightMode(
        "Not forgotten",
        "Forget samples the model still predicts correctly while the retrain model does not.",
        True,
    ),
    "overly_forgotten": HighlightMode(
        "Overly forgotten",
        "Retain samples the model now mispredicts while the retrain model predicts them "
        "correctly (collateral damage).",
        True,
    ),
}
DIM_OPACITY = 0.12
FULL_OPACITY = 0.85
UNSELECTED_OPACITY = 0.3
"""While a selection of two or more samples exists, the others fade to at most this opacity."""
RING_MAX = 30
"""Selections up to this size also get a thin ring per point (to find a few scattered points);
larger ones are told by the fading alone (rings would merge a cluster into a dark blob)."""


def embedding_frame(cmp: Comparison) -> pd.DataFrame:
    """One row per embedded training sample: coordinates under A and B joined with the
    instance table (label, forget flag, predictions and true-class probabilities, KL).

    Columns: ``index``, ``label``, ``is_forget``, ``ax``, ``ay``, ``bx``, ``by``, ``pred_a``,
    ``pred_b``, ``pred_retrain`` (-1 when there is no retrain model), ``prob_a``, ``prob_b``
    (probability of the true class), ``kl_a_b``.
    """
    emb = cmp.embedding
    train = cmp.instances[cmp.instances["split"] == "train"].set_index("index")
    rows = train.loc[np.asarray(emb.indices)]
    retrain = rows[f"{cmp.retrain}__pred"].to_numpy() if cmp.retrain else np.full(len(rows), -1)
    return pd.DataFrame(
        {
            "index": np.asarray(emb.indices, dtype=int),
            "label": rows["label"].to_numpy(dtype=int),
            "is_forget": rows["is_forget"].to_numpy(dtype=bool),
            "ax": emb.coords_a[:, 0],
            "ay": emb.coords_a[:, 1],
            "bx": emb.coords_b[:, 0],
            "by": emb.coords_b[:, 1],
            "pred_a": rows[f"{cmp.a}__pred"].to_numpy(dtype=int),
            "pred_b": rows[f"{cmp.b}__pred"].to_numpy(dtype=int),
            "pred_retrain": np.asarray(retrain, dtype=int),
            "prob_a": rows[f"{cmp.a}__true_prob"].to_numpy(dtype=float),
            "prob_b": rows[f"{cmp.b}__true_prob"].to_numpy(dtype=float),
            "kl_a_b": rows["kl_a_b"].to_numpy(dtype=float),
        }
    )


def highlight_mask(frame: pd.DataFrame, mode: str, model: str) -> np.ndarray:
    """Boolean mask of the rows highlighted by ``mode`` for Model ``model`` ("A" or "B").

    Modes needing the retrain model highlight nothing when ``pred_retrain`` is missing or -1.

    Example:
        >>> f = pd.DataFrame({"label": [0, 1], "is_forget": [False, False],
        ...                   "pred_b": [1, 1], "pred_retrain": [0, 1]})
        >>> highlight_mask(f, "overly_forgotten", "B").tolist()
        [True, False]
    """
    if mode not in HIGHLIGHT_MODES:
        raise ValueError(f"mode: expected one of {list(HIGHLIGHT_MODES)}, received {mode!r}")
    if model not in ("A", "B"):
        raise ValueError(f"model: expected 'A' or 'B', received {model!r}")
    n = len(frame)
    forget = frame["is_forget"].to_numpy(dtype=bool)
    if mode == "all":
        return np.ones(n, dtype=bool)
    if mode == "forget":
        return forget
    retrain = frame["pred_retrain"].to_numpy() if "pred_retrain" in frame else np.full(n, -1)
    if (retrain < 0).all():
        return np.zeros(n, dtype=bool)
    pred = frame[f"pred_{model.lower()}"].to_numpy()
    label = frame["label"].to_numpy()
    if mode == "correctly_forgotten":
        return np.asarray(forget & (pred == retrain))
    if mode == "not_forgotten":
        return np.asarray(forget & (pred == label) & (retrain != label))
    return np.asarray(~forget & (pred != label) & (retrain == label))


def _class_name(class_names: Sequence[str], forget_classes: Iterable[int], c: int) -> str:
    return class_label(class_names[c], forget=c in set(forget_classes))


def _hover(frame: pd.DataFrame, class_names: Sequence[str], a: str, b: str) -> list[str]:
    names = list(class_names)
    return [
        f"sample #{i}{' ' + FORGET_MARK + ' forget' if f else ''}<br>label: {names[y]}"
        f"<br>A ({a}) predicts {names[pa]} (p(true) = {qa:.2f})"
        f"<br>B ({b}) predicts {names[pb]} (p(true) = {qb:.2f})"
        for i, f, y, pa, pb, qa, qb in zip(
            frame["index"],
            frame["is_forget"],
            frame["label"],
            frame["pred_a"],
            frame["pred_b"],
            frame["prob_a"],
            frame["prob_b"],
            strict=True,
        )
    ]


def embedding_figure(
    frame: pd.DataFrame,
    model: str,
    *,
    name: str,
    a: str,
    b: str,
    class_names: Sequence[str],
    forget_classes: Iterable[int] = (),
    highlight: np.ndarray | None = None,
    selected: Iterable[int] = (),
    focus: int | None = None,
    ranges: tuple[tuple[float, float], tuple[float, float]] | None = None,
    method: str = "UMAP",
    presentation: bool = False,
) -> go.Figure:
    """The map of Model ``model`` ("A" or "B"): colour = that model's predicted class, ✖ =
    forget sample, non-highlighted points dimmed, selected samples ringed, the ``focus`` sample
    (the open instance card) framed by a large diamond.

    Every point's ``customdata[0]`` is its sample index (what a chart selection returns).
    """
    x, y, pred = f"{model.lower()}x", f"{model.lower()}y", f"pred_{model.lower()}"
    lit = np.ones(len(frame), bool) if highlight is None else np.asarray(highlight, bool)
    opacity = point_opacity(frame, lit, selected)
    forget_all = frame["is_forget"].to_numpy(bool)
    sizes = np.where(forget_all, 9, 6) + np.where(lit & ~lit.all(), 3, 0)
    hover = np.asarray(_hover(frame, class_names, a, b), dtype=object)
    fig = go.Figure()
    for c in sorted(frame[pred].unique()):
        rows = np.flatnonzero(frame[pred].to_numpy() == c)
        part = frame.iloc[rows]
        forget = part["is_forget"].to_numpy(bool)
        group = f"class{int(c)}"
        fig.add_trace(
            go.Scatter(
                x=part[x],
                y=part[y],
                mode="markers",
                name=_class_name(class_names, forget_classes, c),
                customdata=part[["index"]].to_numpy(),
                hovertext=hover[rows],
                hoverinfo="text",
                marker={
                    "color": class_color(int(c)),
                    "size": sizes[rows],
                    "symbol": np.where(forget, "x", "circle"),
                    "opacity": opacity[rows],
                    "line": {"width": 0},
                },
                legendgroup=group,
                showlegend=False,
            )
        )
        _add_legend_entry(
            fig, _class_name(class_names, forget_classes, c), group, class_color(int(c)), "circle"
        )
    _add_selection_ring(fig, frame, selected, x, y, hover, sizes)
    _add_focus(fig, frame, focus, x, y, hover)
    _add_symbol_key(fig)
    _layout_map(fig, model, name, ranges, method, presentation)
    return fig


def point_opacity(frame: pd.DataFrame, lit: np.ndarray, selected: Iterable[int] = ()) -> np.ndarray:
    """Opacity of every point: full when highlighted, dimmed otherwise; while two or more
    samples are selected, the points outside the selection fade further (to
    :data:`UNSELECTED_OPACITY` at most).

    Example:
        >>> f = pd.DataFrame({"index": [3, 4, 5]})
        >>> point_opacity(f, np.array([True, True, False]), [3, 5]).tolist()
        [0.85, 0.3, 0.12]
    """
    opacity = np.where(np.asarray(lit, bool), FULL_OPACITY, DIM_OPACITY)
    chosen = frame["index"].isin(list(selected)).to_numpy()
    if chosen.sum() > 1:  # one clicked sample is marked by its card's diamond instead
        opacity = np.where(chosen, opacity, np.minimum(opacity, UNSELECTED_OPACITY))
    return opacity


def _add_selection_ring(
    fig: go.Figure,
    frame: pd.DataFrame,
    selected: Iterable[int],
    x: str,
    y: str,
    hover: np.ndarray,
    sizes: np.ndarray,
) -> None:
    """A thin dark ring just around each selected point (its colour stays visible inside),
    drawn for selections of up to :data:`RING_MAX` points; the trace (legend entry, hover)
    is there for any selection."""
    rows = np.flatnonzero(frame["index"].isin(list(selected)).to_numpy())
    ring = sizes[rows] + 4 if len(rows) <= RING_MAX else np.zeros(len(rows))
    _add_overlay(
        fig,
        frame,
        rows,
        x,
        y,
        hover,
        name=f"selected ({len(rows)})",
        marker={"symbol": "circle-open", "size": ring, "line": {"width": 1}},
        group="selected",
    )


def _add_focus(
    fig: go.Figure, frame: pd.DataFrame, focus: int | None, x: str, y: str, hover: np.ndarray
) -> None:
    if focus is None:
        return
    rows = np.flatnonzero((frame["index"] == focus).to_numpy())
    _add_overlay(
        fig,
        frame,
        rows,
        x,
        y,
        hover,
        name=f"card: sample #{focus}",
        marker={"symbol": "diamond-open", "size": 20, "line": {"width": 2}},
        group="focus",
    )


def _add_overlay(
    fig: go.Figure,
    frame: pd.DataFrame,
    rows: np.ndarray,
    x: str,
    y: str,
    hover: np.ndarray,
    *,
    name: str,
    marker: dict[str, Any],
    group: str,
) -> None:
    """Black open markers over ``rows`` of the map (selection ring, card diamond)."""
    if len(rows) == 0:
        return
    part = frame.iloc[rows]
    fig.add_trace(
        go.Scatter(
            x=part[x],
            y=part[y],
            mode="markers",
            name=name,
            customdata=part[["index"]].to_numpy(),
            hovertext=hover[rows],
            hoverinfo="text",
            marker={**marker, "color": "#000000"},
            legendgroup=group,
        )
    )


def _add_legend_entry(fig: go.Figure, name: str, group: str, color: str, symbol: str) -> None:
    """A legend-only trace (no points): legend swatches stay opaque whatever the dimming."""
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            name=name,
            hoverinfo="skip",
            legendgroup=group,
            marker={"symbol": symbol, "color": color, "size": 9},
        )
    )


def _add_symbol_key(fig: go.Figure) -> None:
    """Legend-only entries explaining the marker symbols (the symbol itself is the key, so the
    labels do not repeat it)."""
    for symbol, label in (("circle", "retain sample"), ("x", "forget sample")):
        _add_legend_entry(fig, label, f"mark_{symbol}", "#555555", symbol)


def _layout_map(
    fig: go.Figure,
    model: str,
    name: str,
    ranges: tuple[tuple[float, float], tuple[float, float]] | None,
    method: str,
    presentation: bool,
) -> None:
    fig.update_layout(
        title={"text": f"Model {model}: {name}", "font": {"color": ROLE_COLORS[model]}},
        xaxis_title=f"{method} 1",
        yaxis_title=f"{method} 2",
        # Legend in a fixed bottom band (container coordinates, no automargin) so both maps
        # keep the same plot area whatever their legends hold.
        legend={
            "itemsizing": "constant",
            "title": {"text": f"Class predicted by {model}:", "side": "top"},
            "orientation": "h",
            "yref": "container",
            "yanchor": "bottom",
            "y": 0.0,
            "x": 0,
            "tracegroupgap": 2,
        },
        height=700 if presentation else 640,
        margin={"l": 30, "r": 10, "t": 50, "b": 190 if presentation else 140},
        hovermode="closest",
        dragmode="select",  # box select by default; pan, zoom and lasso stay in the modebar
    )
    fig.update_xaxes(
        showticklabels=False,
        ticks="",
        zeroline=False,
        showgrid=False,
        range=list(ranges[0]) if ranges else None,
    )
    fig.update_yaxes(
        showticklabels=False,
        ticks="",
        zeroline=False,
        showgrid=False,
        range=list(ranges[1]) if ranges else None,
    )
    apply(fig, presentation=presentation)


def shared_ranges(
    frame: pd.DataFrame, pad: float = 0.05
) -> tuple[tuple[float, float], tuple[float, float]]:
    """One x and one y range that hold both maps (aligned maps share axes).

    Example:
        >>> f = pd.DataFrame({"ax": [0.0, 1], "ay": [0.0, 1], "bx": [0.0, 2], "by": [0.0, 1]})
        >>> shared_ranges(f, pad=0.0)
        ((0.0, 2.0), (0.0, 1.0))
    """
    out = []
    for axis in ("x", "y"):
        values = frame[[f"a{axis}", f"b{axis}"]].to_numpy(dtype=float)
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        margin = (hi - lo) * pad if hi > lo else 1.0
        out.append((lo - margin, hi + margin))
    return out[0], out[1]


def selection_table(
    frame: pd.DataFrame, selected: Iterable[int], class_names: Sequence[str]
) -> pd.DataFrame:
    """The selected samples: index, label, forget flag, A/B predictions, true-class
    probabilities and KL(A‖B), largest KL first."""
    names = np.asarray(class_names, dtype=object)
    part = frame[frame["index"].isin(list(selected))].sort_values("kl_a_b", ascending=False)
    return pd.DataFrame(
        {
            "index": part["index"].to_numpy(),
            "label": names[part["label"].to_numpy()],
            "forget": part["is_forget"].to_numpy(),
            "A prediction": names[part["pred_a"].to_numpy()],
            "B prediction": names[part["pred_b"].to_numpy()],
            "A p(true)": part["prob_a"].to_numpy(),
            "B p(true)": part["prob_b"].to_numpy(),
            "KL(A‖B)": part["kl_a_b"].to_numpy(),
        }
    )


def most_changed(cmp: Comparison, k: int = 20) -> pd.DataFrame:
    """The ``k`` training samples with the largest KL(A‖B) (all training samples, not only the
    embedded subset), as a :func:`selection_table`-shaped frame."""
    train = cmp.instances[cmp.instances["split"] == "train"]
    top = train.nlargest(k, "kl_a_b")
    frame = pd.DataFrame(
        {
            "index": top["index"].to_numpy(),
            "label": top["label"].to_numpy(),
            "is_forget": top["is_forget"].to_numpy(),
            "pred_a": top[f"{cmp.a}__pred"].to_numpy(),
            "pred_b": top[f"{cmp.b}__pred"].to_numpy(),
            "prob_a": top[f"{cmp.a}__true_prob"].to_numpy(),
            "prob_b": top[f"{cmp.b}__true_prob"].to_numpy(),
            "kl_a_b": top["kl_a_b"].to_numpy(),
        }
    )
    return selection_table(frame, frame["index"], cmp.class_names)


def exposure_table(cmp: Comparison, index: int, roles: Mapping[str, str]) -> pd.DataFrame:
    """Every per-sample attack score of training sample ``index`` under each model of ``roles``.

    Rows: the attacks of :data:`analysis.exposure.EXPOSURE_SCORES` with a value for at least
    one of the models; columns: ``attack``, ``member-like when`` (higher / lower), then one
    float column per model labelled ``"<role> (<name>)"`` (NaN = not computed for this
    sample, e.g. a reference attack outside its sample sets).

    Example:
        >>> t = pd.DataFrame({"index": [4], "split": ["train"], "m__loss": [0.25]})
        >>> cmp = type("C", (), {"instances": t})()
        >>> exposure_table(cmp, 4, {"m": "A"})[["attack", "A (m)"]].values.tolist()
        [['Loss (threshold attack; lower = exposed)', 0.25]]
    """
    train = cmp.instances[cmp.instances["split"] == "train"].set_index("index")
    if index not in train.index:
        return pd.DataFrame(columns=["attack", "member-like when"])
    row: dict[Any, Any] = train.loc[int(index)].to_dict()
    rows = []
    for spec in EXPOSURE_SCORES:
        values = {
            f"{role} ({name})": float(row.get(f"{name}__{spec.column}", np.nan))
            for name, role in roles.items()
        }
        if any(np.isfinite(v) for v in values.values()):
            direction = "higher" if spec.higher_is_exposed else "lower"
            rows.append({"attack": spec.label, "member-like when": direction, **values})
    return pd.DataFrame(rows)


def class_breakdown(frame: pd.DataFrame, selected: Iterable[int], num_classes: int) -> pd.DataFrame:
    """Per class: how many selected samples have that true label, and that A / B prediction.

    Example:
        >>> f = pd.DataFrame({"index": [5, 6], "label": [0, 1], "pred_a": [0, 0],
        ...                   "pred_b": [1, 1]})
        >>> class_breakdown(f, [5, 6], 2)[["label", "pred_a", "pred_b"]].values.tolist()
        [[1, 2, 0], [1, 0, 2]]
    """
    part = frame[frame["index"].isin(list(selected))]
    counts = {
        col: np.bincount(part[col].to_numpy(dtype=int), minlength=num_classes)
        for col in ("label", "pred_a", "pred_b")
    }
    return pd.DataFrame({"class": np.arange(num_classes), **counts})


def class_breakdown_figure(
    counts: pd.DataFrame,
    *,
    class_names: Sequence[str],
    forget_classes: Iterable[int] = (),
    a: str,
    b: str,
    presentation: bool = False,
) -> go.Figure:
    """Grouped bars per class: selected samples by true label, by A's and by B's prediction."""
    forget = set(forget_classes)
    x = [class_label(class_names[c], forget=c in forget) for c in counts["class"]]
    fig = go.Figure()
    series = (
        ("label", "true label", "#777777"),
        ("pred_a", f"predicted by A ({a})", ROLE_COLORS["A"]),
        ("pred_b", f"predicted by B ({b})", ROLE_COLORS["B"]),
    )
    for col, label, color in series:
        fig.add_trace(
            go.Bar(
                x=x,
                y=counts[col],
                name=label,
                marker_color=color,
                marker_pattern_shape="/" if col == "label" else "",
                hovertemplate=f"{label}<br>class %{{x}}: %{{y}} samples<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        title=f"Class breakdown of the selection (n = {int(counts['label'].sum())})",
        xaxis_title="Class",
        yaxis_title="Selected samples (count)",
        legend={"orientation": "h", "y": -0.25, "x": 0},
    )
    fig.update_xaxes(type="category")
    most = int(counts[["label", "pred_a", "pred_b"]].to_numpy().max(initial=0))
    fig.update_yaxes(rangemode="tozero", dtick=1 if most <= 10 else None)  # whole counts
    return apply(fig, presentation=presentation)


def probability_figure(
    probs: Mapping[str, np.ndarray],
    roles: Mapping[str, str],
    *,
    class_names: Sequence[str],
    label: int,
    forget_classes: Iterable[int] = (),
    index: int | None = None,
    presentation: bool = False,
) -> go.Figure:
    """Grouped class-probability bars of one sample, one colour per role (A, B, retrain).

    Args:
        probs: Model name -> probability vector (softmax of the logits).
        roles: Model name -> role key of ``ROLE_COLORS`` ("A", "B", "retrain", "original").
        class_names: Class names.
        label: The sample's true class (its tick is marked "true").
        forget_classes: Forget classes (marked ✖).
        index: Sample index, for the title.
        presentation: Projector mode.
    """
    forget = set(forget_classes)
    # Horizontal two-line labels: a rotated ✖ would read as +.
    x = [
        class_label(n, forget=c in forget).replace(" (", "<br>(") for c, n in enumerate(class_names)
    ]
    fig = go.Figure()
    for name, p in probs.items():
        role = roles[name]
        fig.add_trace(
            go.Bar(
                x=x,
                y=np.asarray(p, float),
                name=f"{role}: {name}",
                marker_color=ROLE_COLORS[role],
                hovertemplate=f"{role} ({name})<br>%{{x}}: p = %{{y:.3f}}<extra></extra>",
            )
        )
    where = f" of sample #{index}" if index is not None else ""
    fig.update_layout(
        barmode="group",
        title=f"Class probabilities{where}",
        xaxis_title="Class",
        yaxis_title="Probability (softmax)",
        legend={"orientation": "h", "y": -0.3, "x": 0},
    )
    fig.add_vrect(
        x0=label - 0.5,
        x1=label + 0.5,
        fillcolor="#F0E442",
        opacity=0.25,
        line_width=0,
        layer="below",
        annotation_text="true class",
        annotation_position="top",
        annotation_font_size=font_size(presentation, "small"),
    )
    fig.update_yaxes(range=[0, 1.08])
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=x, tickangle=0)
    return apply(fig, presentation=presentation)


def page_figures(cmp: Comparison, *, presentation: bool = False) -> list[FigureSpec]:
    """The Instances page's figures at default settings: both maps, highlight "all"."""
    frame = embedding_frame(cmp)
    ranges = shared_ranges(frame)
    method = cmp.embedding.method.upper()
    forget = cmp.forget_classes or ()
    specs = []
    for model, name in (("A", cmp.a), ("B", cmp.b)):
        fig = embedding_figure(
            frame,
            model,
            name=name,
            a=cmp.a,
            b=cmp.b,
            class_names=cmp.class_names,
            forget_classes=forget,
            ranges=ranges,
            method=method,
            presentation=presentation,
        )
        specs.append(
            FigureSpec(
                f"instances_map_{model.lower()}",
                f"Embedding under Model {model} ({name})",
                fig,
                frame,
            )
        )
    return specs
