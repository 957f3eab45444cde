"""Layers page figures: per-layer CKA against a reference, the layer × layer CKA heatmap of A
vs B, and the per-layer weight change from A to B.

Data helpers turn a :class:`~analysis.compare.Comparison` into tidy DataFrames (and notes that
say what could not be drawn and why); builders turn those into Plotly figures. CKA is linear CKA
as computed by the engine and is **not** clamped: small negative values are possible and drawn
on a diverging scale centred at 0.

Example:
    >>> from dashboard.figures.layers import AGAINST
    >>> AGAINST
    ('retrain', 'original')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from analysis.cka import CKAMatrix
from analysis.compare import Comparison
from analysis.weight_change import WeightChange
from dashboard.figures import FigureSpec
from dashboard.theme import DIVERGING, ROLE_COLORS, apply, text_color

AGAINST = ("retrain", "original")
"""Reference models the per-layer CKA lines can be drawn against."""
SPLITS = ("train", "test")
GROUPS = ("forget", "retain")
ANNOTATE_MAX = 12
"""Heatmap cells carry their value as text when both sides have at most this many layers."""

_GROUP_DASH = {"forget": "solid", "retain": "dash"}
_GROUP_SYMBOL = {"forget": "x", "retain": "circle"}
_CURVE_COLUMNS = ["role", "model", "against", "split", "group", "layer", "layer_index", "cka"]


@dataclass(frozen=True)
class LayerCurves:
    """Per-layer CKA of A and B against a reference model, long format, plus notes.

    Attributes:
        data: Columns ``role`` ("A"/"B"), ``model``, ``against``, ``split``, ``group``,
            ``layer``, ``layer_index``, ``cka``; one row per drawn point.
        notes: Human sentences saying which lines are missing and why.
        against: Name of the reference model (None when the workspace has none).
    """

    data: pd.DataFrame
    notes: tuple[str, ...]
    against: str | None


def reference_name(cmp: Comparison, against: str) -> str | None:
    """Name of the ``"retrain"`` or ``"original"`` model of the comparison, or None.

    Example:
        >>> class C: retrain, original = "r", None
        >>> reference_name(C(), "retrain"), reference_name(C(), "original")
        ('r', None)
    """
    if against not in AGAINST:
        raise ValueError(f"against: expected one of {list(AGAINST)}, received {against!r}")
    name: str | None = cmp.retrain if against == "retrain" else cmp.original
    return name


def _curve_rows(
    cmp: Comparison, role: str, ref: str, split: str, group: str
) -> tuple[list[dict[str, object]], str | None]:
    """Rows of one line (``role``'s model vs ``ref``) or a note saying why there are none."""
    model = cmp.a if role == "A" else cmp.b
    if model == ref:
        return [], f"Model {role} ({model}) is the {ref} model itself: its CKA is 1 everywhere."
    matrix = cmp.layers.get(model, ref, split, group)
    if matrix is None:
        return [], None  # reported once per group by the caller
    if matrix.layers_a != matrix.layers_b:
        return [], (
            f"{model} and {ref} have different layers: no per-layer line; "
            "see the layer × layer heatmap."
        )
    return [
        {
            "role": role,
            "model": model,
            "against": ref,
            "split": split,
            "group": group,
            "layer": layer,
            "layer_index": i,
            "cka": float(v),
        }
        for i, (layer, v) in enumerate(zip(matrix.layers_a, matrix.diagonal(), strict=True))
    ], None


def layer_curves(cmp: Comparison, *, against: str = "retrain", split: str = "train") -> LayerCurves:
    """CKA per layer of A vs ``against`` and B vs ``against`` for forget and retain samples.

    Args:
        cmp: The comparison.
        against: ``"retrain"`` or ``"original"``.
        split: ``"train"`` or ``"test"`` (test "forget" = held-out samples of the forget
            classes; random-forgetting scenarios have none).

    Returns:
        The long-format data and notes on anything that could not be drawn.
    """
    ref = reference_name(cmp, against)
    if ref is None:
        return LayerCurves(
            pd.DataFrame(columns=_CURVE_COLUMNS),
            (
                f"This workspace has no {against} model: add one to "
                "experiment.toml to compare against it.",
            ),
            None,
        )
    rows: list[dict[str, object]] = []
    notes: list[str] = []
    for group in GROUPS:
        if cmp.layers.get(cmp.a, cmp.b, split, group) is None and not _any_matrix(
            cmp, ref, split, group
        ):
            notes.append(_missing_group_note(split, group))
            continue
        for role in ("A", "B"):
            found, note = _curve_rows(cmp, role, ref, split, group)
            rows += found
            if note and note not in notes:
                notes.append(note)
    return LayerCurves(pd.DataFrame(rows, columns=_CURVE_COLUMNS), tuple(notes), ref)


def _any_matrix(cmp: Comparison, ref: str, split: str, group: str) -> bool:
    return any(cmp.layers.get(m, ref, split, group) is not None for m in (cmp.a, cmp.b))


def _missing_group_note(split: str, group: str) -> str:
    if split == "test" and group == "forget":
        return (
            "No test forget samples: in a random-forgetting scenario the forget set has no "
            "held-out counterpart, so only retain (test) lines are drawn."
        )
    return f"No CKA was computed for {group} samples of the {split} split."


def cka_lines_figure(
    curves: LayerCurves, *, split: str = "train", presentation: bool = False
) -> go.Figure:
    """Per-layer CKA lines: colour = model (A/B), solid = forget samples, dashed = retain."""
    fig = go.Figure()
    data = curves.data
    for (role, group), part in data.groupby(["role", "group"], sort=False):
        part = part.sort_values("layer_index")
        model = str(part["model"].iloc[0])
        fig.add_trace(
            go.Scatter(
                x=part["layer"],
                y=part["cka"],
                mode="lines+markers",
                name=f"{role}: {model} — {group}",
                line={
                    "color": ROLE_COLORS[str(role)],
                    "dash": _GROUP_DASH[str(group)],
                    "width": 2.5,
                },
                marker={
                    "symbol": _GROUP_SYMBOL[str(group)],
                    "size": 9,
                    "color": ROLE_COLORS[str(role)],
                },
                hovertemplate=(
                    f"{role} ({model}) vs {curves.against}<br>{group} samples"
                    "<br>layer %{x}<br>CKA %{y:.3f}<extra></extra>"
                ),
            )
        )
    ref = curves.against or "reference"
    fig.update_layout(
        title=f"Linear CKA per layer with the {ref} model ({split} split)",
        xaxis_title="Layer (input → output)",
        yaxis_title=f"Linear CKA with {ref}",
        height=560 if presentation else 450,
        legend={"title": {"text": "Model — samples"}},
        hovermode="closest",
    )
    low = float(np.nanmin(data["cka"])) if len(data) else 0.0
    fig.update_yaxes(range=[min(0.0, low) - 0.05, 1.05], automargin=True)
    fig.update_xaxes(automargin=True, title_standoff=12)
    if data.empty:
        _message(fig, "; ".join(curves.notes) or "Nothing to draw.")
    return apply(fig, presentation=presentation)


def heatmap_frame(matrix: CKAMatrix) -> pd.DataFrame:
    """The layer × layer matrix in long format: ``layer_a``, ``layer_b``, ``cka``.

    Example:
        >>> m = CKAMatrix("A", "B", ("l1",), ("k1", "k2"), np.array([[0.5, -0.1]]), 10)
        >>> heatmap_frame(m)["cka"].tolist()
        [0.5, -0.1]
    """
    rows = [
        {
            "model_a": matrix.model_a,
            "model_b": matrix.model_b,
            "layer_a": la,
            "layer_b": lb,
            "cka": float(matrix.values[i, j]),
        }
        for i, la in enumerate(matrix.layers_a)
        for j, lb in enumerate(matrix.layers_b)
    ]
    return pd.DataFrame(rows, columns=["model_a", "model_b", "layer_a", "layer_b", "cka"])


def cka_heatmap_figure(
    matrix: CKAMatrix, *, split: str, group: str, presentation: bool = False
) -> go.Figure:
    """Layer × layer linear CKA of A (rows) vs B (columns), diverging scale centred at 0."""
    values = np.asarray(matrix.values, dtype=float)
    annotate = max(values.shape) <= ANNOTATE_MAX
    bound = max(1.0, float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0)
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=list(matrix.layers_b),
            y=list(matrix.layers_a),
            colorscale=DIVERGING,
            zmid=0.0,
            zmin=-bound,
            zmax=bound,
            colorbar={"title": {"text": "CKA"}, "tickvals": [-1, -0.5, 0, 0.5, 1]},
            hovertemplate=(
                f"A {matrix.model_a}: %{{y}}<br>B {matrix.model_b}: %{{x}}"
                "<br>CKA %{z:.3f}<extra></extra>"
            ),
            xgap=1,
            ygap=1,
        )
    )
    fig.update_layout(
        title=(
            f"Linear CKA between layers of A ({matrix.model_a}) and B ({matrix.model_b})"
            f" — {group} samples, {split} split (n = {matrix.n_samples})"
        ),
        xaxis_title=f"Layer of B: {matrix.model_b}",
        yaxis_title=f"Layer of A: {matrix.model_a}",
    )
    fig.update_xaxes(showgrid=False, side="bottom", automargin=True)
    fig.update_yaxes(showgrid=False, autorange="reversed", automargin=True, title_standoff=12)
    if annotate:
        fig.add_trace(_cell_numbers(matrix, values, bound))
    return apply(fig, presentation=presentation)


def _cell_numbers(matrix: CKAMatrix, values: np.ndarray, bound: float) -> go.Scatter:
    """The cells' numbers, each near-black or white by its cell's colour (plotly's own pick
    drew grey on mid blue, hard to read on a projector)."""
    rows, cols = np.nonzero(np.isfinite(values))
    shown = values[rows, cols]
    fills = sample_colorscale(DIVERGING, list((shown + bound) / (2 * bound)), colortype="rgb")
    return go.Scatter(
        x=[matrix.layers_b[j] for j in cols],
        y=[matrix.layers_a[i] for i in rows],
        mode="text",
        text=[f"{v:.2f}" for v in shown],
        textfont={"color": [text_color(c) for c in fills]},
        name="CKA values",
        hoverinfo="skip",
        showlegend=False,
    )


def weight_change_frame(wc: WeightChange | None) -> pd.DataFrame | None:
    """``layer``, ``relative`` (‖W_B − W_A‖/‖W_A‖) and ``absolute`` per layer; None if no data.

    Example:
        >>> wc = WeightChange(("fc",), np.array([0.1]), np.array([0.5]))
        >>> weight_change_frame(wc)["relative"].tolist()
        [0.1]
    """
    if wc is None:
        return None
    return pd.DataFrame(
        {
            "layer": list(wc.layers),
            "relative": np.asarray(wc.relative, float),
            "absolute": np.asarray(wc.absolute, float),
        }
    )


WEIGHT_CHANGE_MISSING = (
    "No weight change: Model A and Model B have different architectures, "
    "so their weights cannot be subtracted layer by layer."
)


def weight_change_figure(
    frame: pd.DataFrame | None, *, a: str, b: str, presentation: bool = False
) -> go.Figure:
    """Bars of the relative weight change ‖W_B − W_A‖_F / ‖W_A‖_F per layer (in %)."""
    fig = go.Figure()
    if frame is not None:
        fig.add_trace(
            go.Bar(
                x=frame["layer"],
                y=frame["relative"],
                marker_color=ROLE_COLORS["B"],
                customdata=frame[["absolute"]].to_numpy(),
                name=f"{b} relative to {a}",
                text=[f"{v:.1%}" if np.isfinite(v) else "n/a" for v in frame["relative"]],
                textposition="outside",
                cliponaxis=False,
                hovertemplate=(
                    "layer %{x}<br>relative change %{y:.2%}"
                    "<br>‖W_B − W_A‖ = %{customdata[0]:.3g}<extra></extra>"
                ),
            )
        )
    fig.update_layout(
        title=f"Per-layer weight change from A ({a}) to B ({b})",
        xaxis_title="Layer (input → output)",
        yaxis_title="‖W_B − W_A‖ / ‖W_A‖ (Frobenius, %)",
        showlegend=False,
    )
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", automargin=True)
    fig.update_xaxes(automargin=True, title_standoff=12)
    if frame is None:
        _message(fig, WEIGHT_CHANGE_MISSING)
    return apply(fig, presentation=presentation)


def _message(fig: go.Figure, text: str) -> None:
    """Write ``text`` across an otherwise empty figure."""
    fig.add_annotation(
        text=text,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 14, "color": "#555"},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)


def default_reference(cmp: Comparison, order: Sequence[str] = AGAINST) -> str:
    """The first of ``order`` that exists and is neither A nor B, else the first that exists.

    Example:
        >>> class C: a, b, retrain, original = "r", "u", "r", "o"
        >>> default_reference(C())
        'original'
    """
    present = [g for g in order if reference_name(cmp, g) is not None]
    distinct = [g for g in present if reference_name(cmp, g) not in (cmp.a, cmp.b)]
    return (distinct or present or list(order))[0]


def page_figures(cmp: Comparison, *, presentation: bool = False) -> list[FigureSpec]:
    """The Layers page's figures at default settings (train split, forget samples)."""
    specs: list[FigureSpec] = []
    curves = layer_curves(cmp, against=default_reference(cmp), split="train")
    if not curves.data.empty:
        specs.append(
            FigureSpec(
                "layers_cka_lines",
                "CKA per layer",
                cka_lines_figure(curves, split="train", presentation=presentation),
                curves.data,
            )
        )
    for group in GROUPS:
        matrix = cmp.layers.get(cmp.a, cmp.b, "train", group)
        if matrix is not None:
            specs.append(
                FigureSpec(
                    f"layers_cka_heatmap_{group}",
                    f"Layer × layer CKA, A vs B ({group} samples)",
                    cka_heatmap_figure(
                        matrix, split="train", group=group, presentation=presentation
                    ),
                    heatmap_frame(matrix),
                )
            )
    frame = weight_change_frame(cmp.layers.weight_change)
    if frame is not None:
        specs.append(
            FigureSpec(
                "layers_weight_change",
                "Per-layer weight change",
                weight_change_figure(frame, a=cmp.a, b=cmp.b, presentation=presentation),
                frame,
            )
        )
    return specs
