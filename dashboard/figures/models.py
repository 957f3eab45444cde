"""Models page figures: the heat-coloured models table, the trade-off scatter (seed groups with
error bars), and the per-epoch curves (built in :mod:`dashboard.figures.history`).

Data helpers turn :func:`analysis.compare.models_table` into what the page shows (filtered and
sorted rows, hyperparameters as text, per-cell colours); builders return plotly figures.

Cell colours say how far a model is from the **retrain model** (the gold standard of exact
unlearning): for UA, RA, TUA, TRA, PS and the MIA numbers the distance is
``|value − retrain's value|``, scaled per column to the largest distance in the table; ``acc_gap``
is already such a distance. Green = same as retrain, pink = furthest from it. RT (seconds) is
coloured by magnitude on its own scale (paler = faster). N/A (not computed) cells are blank.

Example:
    >>> import pandas as pd
    >>> t = pd.DataFrame({"name": ["r", "u"], "role": ["retrain", "unlearned"], "UA": [0.0, 0.5]})
    >>> distances(t, "r")["UA"].tolist()
    [0.0, 1.0]
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from analysis.compare import Comparison, pareto_mask
from dashboard.figures import FigureSpec
from dashboard.figures.history import history_figure
from dashboard.figures.history import load_history as load_history  # re-exported
from dashboard.figures.history import metric_label as metric_label  # re-exported
from dashboard.theme import ROLE_COLORS, apply, font_size, text_color

ACCURACY_COLUMNS = ("UA", "RA", "TUA", "TRA")
PRIVACY_COLUMNS = (
    "PS",
    "mia_efficacy",
    "forget_auc",
    "privleak",
    "lira_offline_auc",
    "rmia_offline_auc",
)
DISTANCE_COLUMNS = (*ACCURACY_COLUMNS, *PRIVACY_COLUMNS)
TABLE_COLUMNS = (
    "name",
    "role",
    "method",
    "base",
    "hyperparameters",
    *ACCURACY_COLUMNS,
    "RT",
    *PRIVACY_COLUMNS,
    "acc_gap",
    "pareto",
)
COLUMN_HELP = {
    "name": "Model name in experiment.toml",
    "role": "original (before unlearning), retrain (gold standard), unlearned",
    "method": "Unlearning method",
    "base": "Model the method was applied to",
    "hyperparameters": "Method / training hyperparameters as run",
    "UA": "Unlearning accuracy: accuracy on the forget set (train)",
    "RA": "Remaining accuracy: accuracy on the retain set (train)",
    "TUA": "Test accuracy on forget-class (or held-out forget-like) test samples",
    "TRA": "Test accuracy on the remaining test samples",
    "RT": "Run time of the method or training, seconds",
    "PS": "Privacy score: 1 = indistinguishable from retrain (higher is better)",
    "mia_efficacy": "MIA efficacy: share of forget samples a population attack calls non-member",
    "forget_auc": "AUC of telling forget samples from test non-members",
    "privleak": "PrivLeak (MUSE): relative AUC gap to retrain, % (0 = retrain)",
    "lira_offline_auc": "Offline LiRA AUC on the forget set",
    "rmia_offline_auc": "Offline RMIA AUC on the forget set",
    "acc_gap": "Mean |Δ| to retrain of UA, RA, TUA, TRA (lower is better)",
    "pareto": "Unlearned model no other beats on accuracy gap, PS and RT at once",
}
COLUMN_LABELS = {
    "mia_efficacy": "MIA efficacy",
    "forget_auc": "Forget AUC",
    "privleak": "PrivLeak",
    "lira_offline_auc": "LiRA AUC",
    "rmia_offline_auc": "RMIA AUC",
    "acc_gap": "Acc. gap",
    "pareto": "Pareto",
    "hyperparameters": "Hyperparameters",
    "RT": "RT (s)",
    "PS": "PS",
}
PAIR_COLUMN = "pair"
"""The app table's first column: "A" / "B" on the rows of the sidebar's Model A and Model B."""
APP_COLUMNS = (
    PAIR_COLUMN,
    "name",
    *ACCURACY_COLUMNS,
    "PS",
    "mia_efficacy",
    "acc_gap",
    "RT",
    "pareto",
    "forget_auc",
    "privleak",
    "lira_offline_auc",
    "rmia_offline_auc",
    "role",
    "method",
    "base",
    "hyperparameters",
)
"""Column order of the app's table: the pair marker and the name (pinned), then the headline
metrics (visible without scrolling at 1366 px), the other attacks, then the descriptive text."""
ALWAYS_SHOWN = (PAIR_COLUMN, "name")
APP_LABELS = {**COLUMN_LABELS, PAIR_COLUMN: "A/B", "mia_efficacy": "MIA eff.", "pareto": "★"}
APP_HELP = {
    PAIR_COLUMN: "Model A and Model B of the sidebar (the pair every other page compares)",
    "pareto": COLUMN_HELP["pareto"] + " (marked ★)",
}
PARETO_MARK = "★"
# ColorBrewer PiYG (colour-blind safe): green = same as retrain, pink = furthest.
DISTANCE_SCALE = ["#4d9221", "#a1d76a", "#f7f7f7", "#e9a3c9", "#c51b7d"]
RT_SCALE = ["#fff7ec", "#fdd49e", "#fc8d59", "#b30000"]
NA_TEXT = "N/A"
LEGEND_TEXT = (
    "Cell colour = distance to the retrain model (exact unlearning, the target): green = same "
    "as retrain, pink = furthest from it in that column. For UA, RA, TUA, TRA, PS and the MIA "
    "columns the distance is |value − retrain's value|, scaled per column; Acc. gap is itself "
    "that distance. RT is coloured by magnitude (paler = faster). N/A = not computed."
)
LEGEND_TEXT_NO_RETRAIN = (
    "This scenario has no retrain model, so cells are coloured by magnitude per column "
    "(paler = smaller). N/A = not computed."
)


# --------------------------------------------------------------------------- data helpers


def hyper_text(params: str | Mapping[str, Any] | None) -> str:
    """Hyperparameters (JSON text or mapping) as ``"k=v, k=v"``.

    Example:
        >>> hyper_text('{"epochs": 5, "lr": 0.02}')
        'epochs=5, lr=0.02'
    """
    if params is None or (isinstance(params, float) and math.isnan(params)):
        return ""
    values = json.loads(params) if isinstance(params, str) else dict(params)
    return ", ".join(f"{k}={v}" for k, v in values.items())


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table's display columns (hyperparameters as text), in :data:`TABLE_COLUMNS` order."""
    out = table.copy()
    out["hyperparameters"] = [hyper_text(p) for p in out.get("params", [None] * len(out))]
    for col in TABLE_COLUMNS:
        if col not in out:
            out[col] = np.nan
    return out.loc[:, list(TABLE_COLUMNS)].reset_index(drop=True)


def filter_table(
    table: pd.DataFrame,
    *,
    methods: Sequence[str] = (),
    roles: Sequence[str] = (),
    sort_by: str | None = None,
    descending: bool = False,
) -> pd.DataFrame:
    """Rows whose method is in ``methods`` and role in ``roles`` (empty = all), sorted.

    Missing values sort last either way; the index is reset (row positions = display rows).

    Example:
        >>> t = pd.DataFrame({"name": ["a", "b"], "method": ["ga", "ft"], "role": ["u", "u"],
        ...                   "UA": [0.2, 0.1]})
        >>> filter_table(t, sort_by="UA")["name"].tolist()
        ['b', 'a']
    """
    keep = pd.Series(True, index=table.index)
    if methods:
        keep &= table["method"].isin(list(methods))
    if roles:
        keep &= table["role"].isin(list(roles))
    out = table.loc[keep]
    if sort_by is not None and sort_by in out:
        out = out.sort_values(sort_by, ascending=not descending, na_position="last", kind="stable")
    return out.reset_index(drop=True)


def _retrain_row(table: pd.DataFrame, retrain: str | None) -> pd.Series | None:
    if retrain is None:
        hits = table.loc[table["role"] == "retrain"]
    else:
        hits = table.loc[table["name"] == retrain]
    return None if hits.empty else hits.iloc[0]


def distances(table: pd.DataFrame, retrain: str | None = None) -> pd.DataFrame:
    """Per-cell colour positions in [0, 1] (NaN = N/A), indexed like ``table``.

    With a retrain row: ``|value − retrain|`` / column max for the metric columns, ``acc_gap``
    / column max; without one: value / column max. RT: value / column max.
    """
    ref = _retrain_row(table, retrain)
    out = pd.DataFrame(index=table.index)
    for col in (*DISTANCE_COLUMNS, "acc_gap", "RT"):
        if col not in table:
            continue
        values = pd.to_numeric(table[col], errors="coerce").astype(float)
        if ref is not None and col in DISTANCE_COLUMNS:
            target = pd.to_numeric(pd.Series([ref[col]]), errors="coerce").astype(float).iloc[0]
            values = (values - target).abs()  # retrain N/A -> every gap N/A
        out[col] = _scaled(values)
    return out


def _scaled(values: pd.Series) -> pd.Series:
    top = values.abs().max(skipna=True)
    if not np.isfinite(top) or top == 0:
        return values.where(values.isna(), 0.0)
    return values.abs() / top


def _css(position: float, scale: Sequence[str]) -> str:
    if not np.isfinite(position):
        return ""
    bg = sample_colorscale(list(scale), [float(position)], colortype="rgb")[0]
    return f"background-color: {bg}; color: {text_color(bg)}"


def cell_styles(table: pd.DataFrame, retrain: str | None = None) -> pd.DataFrame:
    """CSS per cell (empty for uncoloured and N/A cells), indexed like ``table``."""
    dist = distances(table, retrain)
    has_ref = _retrain_row(table, retrain) is not None
    styles = pd.DataFrame("", index=table.index, columns=table.columns)
    for col in dist:
        if col not in styles:
            continue
        scale = RT_SCALE if col == "RT" or not has_ref else DISTANCE_SCALE
        styles[col] = [_css(p, scale) for p in dist[col]]
    return styles


def app_rows(shown: pd.DataFrame, *, a: str, b: str) -> pd.DataFrame:
    """The app table's rows: ``shown`` with the :data:`PAIR_COLUMN` marker first, the Pareto
    flag as a ★ and empty text (not None) in the descriptive columns.

    Example:
        >>> t = pd.DataFrame({"name": ["r", "g", "f"], "pareto": [False, True, False],
        ...                   "method": [None, "ga", "ft"]})
        >>> app_rows(t, a="r", b="g").values.tolist()
        [['A', 'r', '', ''], ['B', 'g', '★', 'ga'], ['', 'f', '', 'ft']]
    """
    out = shown.copy()
    names = out["name"].astype(str)
    out.insert(0, PAIR_COLUMN, np.select([names == a, names == b], ["A", "B"], ""))
    if "pareto" in out:
        flags = out["pareto"].fillna(False).astype(bool)
        out["pareto"] = np.where(flags, PARETO_MARK, "")
    for col in ("role", "method", "base", "hyperparameters"):
        if col in out:
            out[col] = out[col].fillna("").astype(str)
    return out


def styled_table(
    shown: pd.DataFrame,
    full: pd.DataFrame,
    retrain: str | None = None,
    *,
    labels: Mapping[str, str] | None = None,
) -> Any:
    """A pandas Styler of ``shown`` (display rows) coloured against ``full`` (every model).

    Colours are computed on the full table so filtering does not change them; numbers show
    3 decimals, N/A (None/NaN) shows "N/A", never 0; the :data:`PAIR_COLUMN` cells (from
    :func:`app_rows`) take Model A's and Model B's colours. ``labels`` renames the columns
    (for a static table, which has no column configuration).
    """
    styles = cell_styles(full, retrain).set_index(full["name"])
    css = styles.reindex(shown["name"], fill_value="").reindex(columns=shown.columns, fill_value="")
    css.index = shown.index
    if PAIR_COLUMN in shown:
        css[PAIR_COLUMN] = [_pair_css(v) for v in shown[PAIR_COLUMN]]
    text = ("name", "role", "method", "base", "hyperparameters", "pareto", PAIR_COLUMN)
    numeric = [c for c in shown.columns if c not in text]
    fmt: dict[str, Any] = {c: ("{:.2f}" if c in ("RT", "privleak") else "{:.3f}") for c in numeric}
    fmt["pareto"] = lambda v: v if isinstance(v, str) else (PARETO_MARK if bool(v) else "")
    if labels:
        shown = shown.rename(columns=lambda c: labels.get(c, c))
        css.columns = shown.columns
        fmt = {labels.get(c, c): f for c, f in fmt.items()}
    fmt = {c: f for c, f in fmt.items() if c in shown.columns}
    return shown.style.apply(lambda _: css, axis=None).format(fmt, na_rep=NA_TEXT)


def _pair_css(marker: str) -> str:
    if marker not in ("A", "B"):
        return ""
    return f"background-color: {ROLE_COLORS[marker]}; color: #ffffff; font-weight: bold"


def legend_html(has_retrain: bool = True) -> str:
    """A small HTML colour legend for the table (gradient strips with end labels)."""

    def strip(scale: Sequence[str], left: str, right: str) -> str:
        grad = ", ".join(scale)
        return (
            f'<span style="font-size:0.85em">{left}</span> '
            f'<span style="display:inline-block;width:140px;height:12px;vertical-align:middle;'
            f'border:1px solid #999;background:linear-gradient(to right, {grad})"></span> '
            f'<span style="font-size:0.85em">{right}</span>'
        )

    if not has_retrain:
        return strip(RT_SCALE, "small", "large")
    return (
        strip(DISTANCE_SCALE, "same as retrain", "furthest from retrain")
        + " &nbsp;&nbsp; RT: "
        + strip(RT_SCALE, "fast", "slow")
    )


def table_from_comparison(cmp: Comparison) -> pd.DataFrame:
    """A models table of the comparison's models only (RT unknown), for exports without one."""
    rows = []
    for name, rep in cmp.models.items():
        acc = rep.accuracy
        rows.append(
            {
                "name": name,
                "role": rep.role,
                "method": "",
                "base": "",
                "params": None,
                "UA": acc.ua,
                "RA": acc.ra,
                "TUA": acc.tua,
                "TRA": acc.tra,
                "RT": np.nan,
                **rep.privacy.headline(),
            }
        )
    table = pd.DataFrame(rows)
    ref = _retrain_row(table, cmp.retrain)
    acc_cols = [c for c in ACCURACY_COLUMNS if table[c].notna().any()]
    if ref is None:
        table["acc_gap"] = np.nan
    else:
        diffs = table[acc_cols].astype(float) - ref[acc_cols].astype(float)
        table["acc_gap"] = diffs.abs().mean(axis=1)
    table["pareto"] = pareto_mask(
        table[["acc_gap", "PS"]].to_numpy(dtype=float), maximise=(False, True)
    ) & (table["role"] == "unlearned")
    return table


# --------------------------------------------------------------------------- selection


def names_from_selection(selection: Mapping[str, Any] | None) -> list[str]:
    """Model names of the clicked/selected scatter points (their ``customdata``), in order.

    Example:
        >>> names_from_selection({"selection": {"points": [{"customdata": ["ga"]}]}})
        ['ga']
    """
    if not selection:
        return []
    inner = selection.get("selection", selection)
    names: list[str] = []
    for point in inner.get("points", []) or []:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if isinstance(data, str) and data not in names:
            names.append(data)
    return names


# --------------------------------------------------------------------------- figures


def table_figure(
    table: pd.DataFrame, *, retrain: str | None = None, presentation: bool = False
) -> go.Figure:
    """The models table as a heat-coloured plotly table (for exports and the HTML report)."""
    shown = display_table(table)
    dist = distances(shown, retrain)
    has_ref = _retrain_row(shown, retrain) is not None
    fills, fonts, values = [], [], []
    for col in shown.columns:
        values.append([_cell_text(col, v) for v in shown[col]])
        scale = RT_SCALE if col == "RT" or not has_ref else DISTANCE_SCALE
        colours = [
            sample_colorscale(list(scale), [p], colortype="rgb")[0] if np.isfinite(p) else ""
            for p in (dist[col] if col in dist else [np.nan] * len(shown))
        ]
        fills.append([c or "white" for c in colours])
        fonts.append([text_color(c) if c else "#111111" for c in colours])
    size = font_size(presentation, "small")
    lines = [max(1, -(-len(t) // 27)) for t in values[list(shown.columns).index("hyperparameters")]]
    fig = go.Figure(
        go.Table(
            header={
                "values": [f"<b>{_header(c)}</b>" for c in shown.columns],
                "fill_color": "#EEEEEE",
                "align": "left",
                "font": {"size": size},
            },
            cells={
                "values": values,
                "fill_color": fills,
                "align": "left",
                "font": {"size": size, "color": fonts},
                "height": size + 10,
            },
            columnwidth=[
                max(1.1, 0.11 * max(len(str(n)) for n in shown["name"])),
                1,
                0.9,
                0.9,
                3.2,
                *([0.85] * (len(shown.columns) - 5)),
            ],
        )
    )
    fig.update_layout(
        title="Models: accuracy, time and privacy (colour = distance to retrain)",
        height=130 + sum(10 + (size + 5) * n for n in lines),
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return apply(fig, presentation=presentation)


def _header(col: str) -> str:
    label = COLUMN_LABELS.get(col, col)
    return "Priv-<br>Leak" if col == "privleak" else label.replace(" ", "<br>")


def _cell_text(col: str, value: Any) -> str:
    if col == "pareto":
        return "★" if bool(value) else ""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return NA_TEXT
    if isinstance(value, (float, np.floating)):
        return f"{value:.2f}" if col in ("RT", "privleak") else f"{value:.3f}"
    return str(value)


def tradeoff_figure(
    table: pd.DataFrame,
    *,
    a: str | None = None,
    b: str | None = None,
    presentation: bool = False,
    groups: pd.DataFrame | None = None,
) -> go.Figure:
    """Accuracy gap (x) vs privacy score (y) vs run time (colour), Pareto front connected.

    Every point carries its model name as ``customdata`` (click selection -> name). Retrain is a
    grey star, the original a black diamond; Models A and B get a ring in their colour.
    ``groups`` (:func:`analysis.groups.group_table`): each group of two or more seeds is drawn
    at its mean with error bars of ± one sample standard deviation on both axes.
    """
    ok = table["acc_gap"].notna() & table["PS"].notna()
    data = table.loc[ok].assign(label=lambda d: point_labels(d["acc_gap"], d["PS"], d["name"]))
    fig = go.Figure()
    _pareto_trace(fig, data.loc[data["pareto"].astype(bool)])
    _unlearned_trace(fig, data.loc[data["role"] == "unlearned"], presentation)
    for role, symbol, label in (
        ("retrain", "star", "Retrain (target)"),
        ("original", "diamond", "Original (before unlearning)"),
    ):
        _role_trace(fig, data.loc[data["role"] == role], role, symbol, label, presentation)
    if groups is not None:
        _group_trace(fig, groups)
    for role, name in (("A", a), ("B", b)):
        _ring_trace(fig, data.loc[data["name"] == name], role)
    _tradeoff_layout(fig, table, int((~ok).sum()), presentation)
    return fig


def point_labels(x: pd.Series, y: pd.Series, names: pd.Series, *, tol: float = 0.02) -> list[str]:
    """One text label per cluster of (nearly) coincident points, e.g. ``"rl, salun"``.

    Points closer than ``tol`` (as a share of each axis' span) share the first point's label;
    the others get ``""``. Labels are padded on the left to clear the marker rings.

    Example:
        >>> point_labels(pd.Series([0.0, 0.001, 1.0]), pd.Series([0.0, 0.0, 1.0]),
        ...              pd.Series(["rl", "salun", "ft"]))
        ['\u2007\u2007\u2007rl, salun', '', '\u2007\u2007\u2007ft']
    """
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    span_x = max(float(np.ptp(xs)) if len(xs) else 0.0, 1e-9)
    span_y = max(float(np.ptp(ys)) if len(ys) else 0.0, 1e-9)
    owner = list(range(len(xs)))
    for i in range(len(xs)):
        for j in range(i):
            if (
                owner[j] == j
                and abs(xs[i] - xs[j]) / span_x < tol
                and abs(ys[i] - ys[j]) / span_y < tol
            ):
                owner[i] = j
                break
    labels = [str(n) for n in names]
    groups = {
        j: ", ".join(n for n, o in zip(labels, owner, strict=True) if o == j) for j in set(owner)
    }
    return [_PAD + groups[i] if owner[i] == i else "" for i in range(len(xs))]


_PAD = "\u2007" * 3  # figure spaces: keep labels clear of the A/B rings


def _hover(rows: pd.DataFrame) -> list[str]:
    return [
        f"<b>{r['name']}</b> ({r['role']})<br>acc. gap {r['acc_gap']:.3f}<br>PS {r['PS']:.3f}"
        f"<br>RT {_cell_text('RT', r['RT'])} s"
        for _, r in rows.iterrows()
    ]


def _unlearned_trace(fig: go.Figure, rows: pd.DataFrame, presentation: bool) -> None:
    rt = pd.to_numeric(rows["RT"], errors="coerce").astype(float)
    fig.add_trace(
        go.Scatter(
            x=rows["acc_gap"],
            y=rows["PS"],
            mode="markers+text",
            name="Unlearned models",
            text=rows["label"],
            textposition="middle right",
            customdata=rows["name"],
            hovertext=_hover(rows),
            hoverinfo="text",
            textfont={"size": font_size(presentation, "small")},
            marker={
                "size": 14,
                "color": rt.fillna(rt.min() if rt.notna().any() else 0),
                "colorscale": "Viridis",
                "showscale": bool(rt.notna().any()),
                "line": {"color": "#333", "width": 1},
                "colorbar": {
                    "title": {"text": "RT (s)"},
                    "thickness": 14,
                    "len": 0.6,
                    "y": 0.3,
                    "yanchor": "middle",
                },
            },
        )
    )


def plane_front(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows no other row beats on accuracy gap (lower) and PS (higher), by accuracy gap.

    These are the Pareto-optimal models that stay optimal in the plotted plane; joining only
    them keeps the front monotone (RT can make a model optimal off the plane).

    Example:
        >>> t = pd.DataFrame({"acc_gap": [0.1, 0.2, 0.3], "PS": [0.5, 0.4, 0.9]})
        >>> plane_front(t).index.tolist()
        [0, 2]
    """
    keep = pareto_mask(rows[["acc_gap", "PS"]].to_numpy(dtype=float), maximise=(False, True))
    return rows.loc[keep].sort_values("acc_gap", kind="stable")


def _pareto_trace(fig: go.Figure, rows: pd.DataFrame) -> None:
    front = plane_front(rows)
    fig.add_trace(
        go.Scatter(
            x=front["acc_gap"],
            y=front["PS"],
            mode="lines",
            name="Pareto front in this plane",
            hoverinfo="skip",
            line={"color": "#009E73", "width": 2, "dash": "dash"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=rows["acc_gap"],
            y=rows["PS"],
            mode="markers",
            name="Pareto-optimal (gap, PS, RT)",
            customdata=rows["name"],
            hovertext=_hover(rows),
            hoverinfo="text",
            marker={"symbol": "circle-open", "size": 20, "color": "#009E73", "line": {"width": 2}},
        )
    )


def _role_trace(
    fig: go.Figure, rows: pd.DataFrame, role: str, symbol: str, label: str, presentation: bool
) -> None:
    if rows.empty:
        return
    fig.add_trace(
        go.Scatter(
            x=rows["acc_gap"],
            y=rows["PS"],
            mode="markers+text",
            name=label,
            text=rows["label"],
            textposition="middle right",
            customdata=rows["name"],
            textfont={"size": font_size(presentation, "small")},
            hovertext=_hover(rows),
            hoverinfo="text",
            marker={
                "symbol": symbol,
                "size": 18,
                "color": ROLE_COLORS[role],
                "line": {"color": "white", "width": 1},
            },
        )
    )


def _group_trace(fig: go.Figure, groups: pd.DataFrame) -> None:
    """Seed groups (n >= 2 with finite means): mean point with ± 1 std error bars."""
    needed = {"n", "acc_gap_mean", "acc_gap_std", "PS_mean", "PS_std", "label"}
    if groups.empty or not needed <= set(groups.columns):
        return
    rows = groups.loc[
        (groups["n"] >= 2) & groups["acc_gap_mean"].notna() & groups["PS_mean"].notna()
    ]
    if rows.empty:
        return
    hover = [
        f"<b>{r['label']}</b><br>{r['n']} seeds {r['seeds']}<br>"
        f"acc. gap {r['acc_gap_mean']:.3f} ± {r['acc_gap_std']:.3f}<br>"
        f"PS {r['PS_mean']:.3f} ± {r['PS_std']:.3f}"
        for _, r in rows.iterrows()
    ]
    fig.add_trace(
        go.Scatter(
            x=rows["acc_gap_mean"],
            y=rows["PS_mean"],
            mode="markers",
            name="Seed group: mean ± 1 std",
            error_x={"type": "data", "array": rows["acc_gap_std"].fillna(0), "thickness": 1.5},
            error_y={"type": "data", "array": rows["PS_std"].fillna(0), "thickness": 1.5},
            hovertext=hover,
            hoverinfo="text",
            marker={"symbol": "square-open", "size": 16, "color": "#444", "line": {"width": 2}},
        )
    )


def _ring_trace(fig: go.Figure, rows: pd.DataFrame, role: str) -> None:
    if rows.empty:
        return
    fig.add_trace(
        go.Scatter(
            x=rows["acc_gap"],
            y=rows["PS"],
            mode="markers",
            name=f"Model {role}: {rows['name'].iloc[0]}",
            customdata=rows["name"],
            hovertext=_hover(rows),
            hoverinfo="text",
            marker={
                "symbol": "circle-open",
                "size": 30,
                "color": ROLE_COLORS[role],
                "line": {"width": 3},
            },
        )
    )


def _tradeoff_layout(fig: go.Figure, table: pd.DataFrame, missing: int, presentation: bool) -> None:
    fig.update_layout(
        title="Trade-off: accuracy gap to retrain vs privacy vs run time",
        xaxis_title="Accuracy gap to retrain: mean |Δ| of UA, RA, TUA, TRA (lower is better)",
        yaxis_title="Privacy score PS (higher is better)",
        clickmode="event+select",
        dragmode="zoom",
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0.0},
        margin={"b": 160},
        height=600,
    )
    gap = pd.to_numeric(table["acc_gap"], errors="coerce")
    top = float(gap.max()) if gap.notna().any() else 1.0
    fig.update_xaxes(range=[-0.04 * top - 0.01, top * 1.12 + 0.01])
    fig.update_yaxes(range=[-0.05, 1.1])
    if missing:
        fig.add_annotation(
            text=f"{missing} model(s) not shown: accuracy gap or PS is N/A",
            xref="paper",
            yref="paper",
            x=1,
            y=1.02,
            showarrow=False,
            xanchor="right",
            font={"size": font_size(presentation, "small"), "color": "#666"},
        )
    apply(fig, presentation=presentation)


def page_figures(
    cmp: Comparison,
    *,
    presentation: bool = False,
    table: pd.DataFrame | None = None,
    histories: Mapping[str, pd.DataFrame | None] | None = None,
) -> list[FigureSpec]:
    """The Models page's figures at default settings, each with the data behind it.

    Args:
        cmp: The comparison (its pair is ringed in the scatter).
        presentation: Larger type.
        table: The scenario's models table (``cached.table``); without it, a table of the
            comparison's models only (RT unknown, Pareto front on accuracy gap and PS).
        histories: Model name -> per-epoch history, to include the curves of A and B.
    """
    full = table if table is not None else table_from_comparison(cmp)
    specs = [
        FigureSpec(
            "models_table",
            "Models table",
            table_figure(full, retrain=cmp.retrain, presentation=presentation),
            display_table(full),
        ),
        FigureSpec(
            "models_tradeoff",
            "Trade-off: accuracy gap vs privacy vs time",
            tradeoff_figure(full, a=cmp.a, b=cmp.b, presentation=presentation),
            full.loc[:, ["name", "role", "method", "acc_gap", "PS", "RT", "pareto"]],
        ),
    ]
    if histories and any(h is not None and not h.empty for h in histories.values()):
        roles = {cmp.a: "A", cmp.b: "B"}
        data = pd.concat(
            [h.assign(model=n) for n, h in histories.items() if h is not None], ignore_index=True
        )
        specs.append(
            FigureSpec(
                "models_history",
                "Per-epoch history of A and B",
                history_figure(histories, roles=roles, presentation=presentation),
                data,
            )
        )
    return specs
