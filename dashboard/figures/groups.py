"""Group robustness figures (issue 9): per-group accuracy and PS before and after unlearning.

Pure functions of :func:`analysis.group_robustness_table`'s long table (one row per model and
group; no Streamlit):

* :func:`group_models` — which models the Classes page compares: the original ("before"),
  Model A, Model B and the retrain model (the reference), each once;
* :func:`worst_groups` — each model's worst-group gap to retrain (``max_g |TA_gap(g)|``) and
  worst-group accuracy, with the groups they occur in;
* :func:`group_figure` — three panels sharing the groups as x: test accuracy per group (the
  retrain model as the grey first bar), PS per group (forget samples, against the retrain
  model), and the test-accuracy gap to retrain with each model's worst group outlined and
  labelled;
* :func:`group_data` — the rows and columns the figure plots (its CSV export);
* :func:`group_spec` — the figure and its data as a :class:`~dashboard.figures.FigureSpec`
  (the Classes page's export, key ``classes_groups``).

Example:
    >>> group_models("retrain", "ga", original="original", retrain="retrain")
    (('retrain', 'A'), ('original', 'before'), ('ga', 'B'))
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard import theme
from dashboard.figures import FigureSpec

__all__ = [
    "GROUP_PANELS",
    "ROLE_TITLES",
    "GroupInput",
    "group_data",
    "group_figure",
    "group_labels",
    "group_models",
    "group_spec",
    "worst_groups",
]

GROUP_PANELS = ("TA", "PS", "TA_gap")
"""Panels of :func:`group_figure`, top to bottom."""
PANEL_TITLES = {
    "TA": "Test accuracy per group",
    "PS": "PS per group (forget samples, vs the retrain model)",
    "TA_gap": "Test-accuracy gap to retrain (model − retrain); outlined = the worst group",
}
ROLE_TITLES = {"before": "before", "A": "A", "B": "B", "retrain": "retrain"}
"""Legend prefix of each role."""
_ROLE_COLORS = {
    "before": theme.ROLE_COLORS["original"],
    "A": theme.ROLE_COLORS["A"],
    "B": theme.ROLE_COLORS["B"],
    "retrain": theme.ROLE_COLORS["retrain"],
}


@dataclass(frozen=True)
class GroupInput:
    """What :func:`group_spec` draws: the table, the ``(model, role)`` pairs, the retrain model
    and where the groups came from (the Export page and the report pass it as ``groups``)."""

    table: pd.DataFrame
    models: tuple[tuple[str, str], ...]
    retrain: str | None
    source: str = "classes"


def group_models(
    a: str, b: str, *, original: str | None, retrain: str | None
) -> tuple[tuple[str, str], ...]:
    """``(model, role)`` pairs, in drawing order: the retrain model first (the reference, even
    when it is A or B), then the original (``before``), A and B; a model already listed is not
    repeated (the role of A or B wins over ``before``/``retrain`` so the pair keeps its names).

    Example:
        >>> group_models("ga", "ft", original="original", retrain="retrain")
        (('retrain', 'retrain'), ('original', 'before'), ('ga', 'A'), ('ft', 'B'))
    """
    roles: dict[str, str] = {}
    for name, role in ((a, "A"), (b, "B"), (original, "before"), (retrain, "retrain")):
        if name is not None and name not in roles:
            roles[name] = role
    order = ("retrain", "before", "A", "B")
    return tuple(
        sorted(roles.items(), key=lambda item: -1 if item[0] == retrain else order.index(item[1]))
    )


def group_labels(table: pd.DataFrame) -> list[str]:
    """Display label per group (in table order): a group all of whose training samples are
    forget samples is marked like a forget class (``✖ 8 (forget)``)."""
    first = table.drop_duplicates("group")
    only_forget = (first["n_forget"] > 0) & (first["n_retain"] == 0)
    return [
        theme.class_label(str(name), forget=bool(flag))
        for name, flag in zip(first["name"], only_forget, strict=True)
    ]


def worst_groups(table: pd.DataFrame) -> pd.DataFrame:
    """Per model: ``worst_group`` / ``worst_gap`` (the largest ``|TA_gap|`` and its group,
    as in :class:`analysis.GroupMetrics`) and ``worst_acc_group`` / ``worst_acc`` (the lowest
    test accuracy of a group that keeps training samples, when ``n_retain`` is given: a group
    forgotten whole is meant to fail); NaN and "" where undefined (e.g. no retrain model).

    Example:
        >>> t = pd.DataFrame({"model": ["m", "m"], "name": ["x", "y"],
        ...     "TA": [0.9, 0.6], "TA_gap": [0.05, -0.2]})
        >>> worst_groups(t).iloc[0].tolist()
        ['m', 'y', 0.2, 'y', 0.6]
    """
    rows = []
    for model, part in table.groupby("model", sort=False):
        gaps = part["TA_gap"].astype(float).abs().to_numpy()
        acc = part["TA"].astype(float).to_numpy()
        if "n_retain" in part:
            acc = np.where(part["n_retain"].to_numpy() > 0, acc, np.nan)
        names = part["name"].astype(str).tolist()
        worst = int(np.nanargmax(gaps)) if np.isfinite(gaps).any() else None
        low = int(np.nanargmin(acc)) if np.isfinite(acc).any() else None
        rows.append(
            {
                "model": model,
                "worst_group": "" if worst is None else names[worst],
                "worst_gap": math.nan if worst is None else float(gaps[worst]),
                "worst_acc_group": "" if low is None else names[low],
                "worst_acc": math.nan if low is None else float(acc[low]),
            }
        )
    return pd.DataFrame(
        rows, columns=["model", "worst_group", "worst_gap", "worst_acc_group", "worst_acc"]
    )


def _list(values: Sequence[Any]) -> list[float | None]:
    return [float(v) if v is not None and math.isfinite(float(v)) else None for v in values]


def _legend(model: str, role: str, worst: Mapping[str, Any], reference: bool) -> str:
    head = f"{ROLE_TITLES[role]} ({model})"
    if reference and role != "retrain":
        head = f"{ROLE_TITLES[role]} = retrain ({model})"
    gap = worst.get("worst_gap", math.nan)
    if reference or not math.isfinite(gap):
        return head
    return f"{head}: worst-group gap {gap:.3f} ({worst['worst_group']})"


def group_figure(
    table: pd.DataFrame,
    models: Sequence[tuple[str, str]],
    *,
    retrain: str | None = None,
    source: str = "classes",
    presentation: bool = False,
) -> go.Figure:
    """Per-group accuracy, PS and gap to retrain of the given models.

    Args:
        table: :func:`analysis.group_robustness_table` rows of (at least) these models.
        models: ``(model, role)`` pairs (:func:`group_models`); roles ``retrain``, ``before``,
            ``A``, ``B`` set the colours (retrain grey, before near-black, A blue, B vermillion).
        retrain: The retrain model (default: the model with role ``retrain``). It is the
            reference: only its accuracy is drawn, whatever its role (A may be the retrain).
        source: Where the groups come from (the title says it).
        presentation: Larger type.

    Returns:
        Three rows of grouped bars over the groups (see the module docstring). The retrain
        model has no PS or gap bar; each other model's worst group (largest non-zero
        ``|TA_gap|``) is outlined in black and labelled ``worst``.
    """
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.09,
        subplot_titles=[PANEL_TITLES[p] for p in GROUP_PANELS],
    )
    worst: dict[str, Any] = {str(r["model"]): r for r in worst_groups(table).to_dict("records")}
    present = [(m, r) for m, r in models if (table["model"] == m).any()]
    reference = retrain or next((m for m, r in models if r == "retrain"), None)
    for model, role in present:
        part = table[table["model"] == model]
        labels = group_labels(part)
        for row, metric in enumerate(GROUP_PANELS, start=1):
            if model == reference and metric != "TA":
                continue
            fig.add_trace(
                _bar(
                    part,
                    labels,
                    model,
                    role,
                    metric,
                    worst.get(model, {}),
                    presentation,
                    reference=model == reference,
                ),
                row=row,
                col=1,
            )
    fig.update_yaxes(range=[0, 1.05], row=1, col=1, title_text="accuracy")
    fig.update_yaxes(range=[0, 1.05], row=2, col=1, title_text="PS")
    fig.update_yaxes(row=3, col=1, title_text="gap", zeroline=True, zerolinecolor="#444")
    fig.update_xaxes(type="category", tickmode="linear")
    fig.update_xaxes(row=3, col=1, title_text="group" if source != "classes" else "class")
    fig.update_annotations(font={"size": theme.font_size(presentation)})
    where = "classes" if source == "classes" else f"groups from {source}"
    fig.update_layout(
        title=f"Group robustness: per-group metrics before and after unlearning ({where})",
        barmode="group",
        height=(330 if presentation else 260) * 3 + 170,
        legend={"orientation": "h", "y": -0.1, "x": 0.0, "yanchor": "top"},
        margin={"t": 90, "b": 60},
    )
    return theme.apply(fig, presentation=presentation)


def _bar(
    part: pd.DataFrame,
    labels: list[str],
    model: str,
    role: str,
    metric: str,
    worst: Mapping[str, Any],
    presentation: bool,
    reference: bool = False,
) -> go.Bar:
    values = _list(part[metric].tolist())
    marked = [
        metric == "TA_gap" and str(name) == worst.get("worst_group") and bool(value)
        for name, value in zip(part["name"], values, strict=True)
    ]
    return go.Bar(
        x=labels,
        y=values,
        name=_legend(model, role, worst, reference),
        legendgroup=model,
        showlegend=metric == "TA",
        marker={
            "color": _ROLE_COLORS[role],
            "line": {
                "color": "#000000",
                "width": [3 if m else 0 for m in marked],
            },
        },
        text=["worst" if m else "" for m in marked],
        textposition="outside",
        textfont={"size": theme.font_size(presentation, "small")},
        cliponaxis=False,
        customdata=part[["n_forget", "n_retain", "n_test"]].to_numpy(),
        hovertemplate=f"{ROLE_TITLES[role]} ({model}) · %{{x}}<br>{metric}: %{{y:.3f}}"
        "<br>forget / retain / test samples: %{customdata[0]} / %{customdata[1]} / "
        "%{customdata[2]}<extra></extra>",
    )


def group_data(table: pd.DataFrame, models: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """The figure's data (CSV export): one row per (model, group) with the model's role, the
    sample counts, UA / RA / TA / PS, the retrain model's accuracies, the gaps and the model's
    worst-group gap."""
    roles = dict(models)
    rows = table[table["model"].isin(list(roles))].copy()
    rows.insert(1, "role", rows["model"].map(roles))
    return rows.reset_index(drop=True)


def group_spec(data: GroupInput, *, presentation: bool = False) -> FigureSpec:
    """The group figure with its data, for export (key ``classes_groups``)."""
    figure = group_figure(
        data.table,
        data.models,
        retrain=data.retrain,
        source=data.source,
        presentation=presentation,
    )
    return FigureSpec(
        "classes_groups",
        "Group robustness: per-group accuracy, PS and gap to retrain",
        figure,
        group_data(data.table, data.models),
    )
