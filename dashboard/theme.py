"""One visual identity for the app, the exports and the HTML report.

Model A and Model B keep one colour-blind-safe colour each everywhere (Okabe–Ito blue and
vermillion), the retrain model is grey, the original black; classes use a qualitative palette;
forget samples and classes are marked with ✖ and "(forget)".

Every figure takes its fonts from here: one family (:data:`FONT`) and one size scale
(:func:`font_size`) for normal and presentation mode; :func:`apply` gives a figure the template
and, in presentation mode, raises every text smaller than :data:`PRESENTATION_MIN_FONT` px to it
(readable from the back of a room at 1920×1080).

Example:
    >>> from dashboard.theme import ROLE_COLORS, class_color
    >>> ROLE_COLORS["A"], class_color(0)
    ('#0072B2', '#CC6677')
    >>> font_size(False), font_size(True), font_size(True, "small")
    (14, 20, 16)
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from PIL import Image
from plotly.basedatatypes import BasePlotlyType

ROLE_COLORS = {"A": "#0072B2", "B": "#D55E00", "retrain": "#8C8C8C", "original": "#222222"}
FORGET_MARK = "✖"
FORGET_SUFFIX = " (forget)"
# Paul Tol's "muted" qualitative palette + Okabe–Ito orange: colour-blind safe and disjoint
# from the Model A / Model B colours, so a class is never mistaken for a model.
CLASS_PALETTE = [
    "#CC6677",
    "#332288",
    "#DDCC77",
    "#117733",
    "#88CCEE",
    "#882255",
    "#44AA99",
    "#999933",
    "#AA4499",
    "#E69F00",
]
_LARGE_PALETTE = [
    *CLASS_PALETTE,
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#CC79A7",
    "#661100",
    "#6699CC",
    "#AA4466",
    "#4477AA",
    "#228833",
    "#CCBB44",
    "#EE6677",
    "#66CCEE",
]
DIVERGING = "RdBu"
SEQUENTIAL = "Viridis"
FONT = "Inter, 'Helvetica Neue', Helvetica, Arial, sans-serif"
# (normal, presentation) px per text role: "small" = cell numbers, bar labels, annotations;
# "base" = ticks, legends, body; "title" = figure titles.
FONT_SIZES = {"small": (12, 16), "base": (14, 20), "title": (17, 24)}
PRESENTATION_MIN_FONT = 16
"""No text of a figure in presentation mode is smaller than this (px), see :func:`apply`."""


def class_color(label: int) -> str:
    """Colour of class ``label`` (cycles past the palette's length)."""
    palette = CLASS_PALETTE if label < len(CLASS_PALETTE) else _LARGE_PALETTE
    return palette[label % len(palette)]


def text_color(background: str) -> str:
    """Near-black or white, whichever reads better on ``background`` (``"rgb(r, g, b)"``):
    white below a relative luminance of 0.18, where both contrasts are equal.

    Example:
        >>> text_color("rgb(67, 147, 195)"), text_color("rgb(5, 48, 97)")
        ('#111111', '#ffffff')
    """
    rgb = [float(v) / 255 for v in background[background.index("(") + 1 : -1].split(",")[:3]]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    lum = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return "#ffffff" if lum < 0.18 else "#111111"


def class_label(name: str, *, forget: bool) -> str:
    """Display label of a class, marked when it is a forget class."""
    return f"{FORGET_MARK} {name}{FORGET_SUFFIX}" if forget else name


def _template(font_size: int) -> go.layout.Template:
    axis = {
        "showgrid": True,
        "gridcolor": "#E5E5E5",
        "zeroline": False,
        "linecolor": "#444",
        "ticks": "outside",
        "showline": True,
        "mirror": False,
        "title": {"font": {"size": font_size + 1}},
    }
    return go.layout.Template(
        layout=go.Layout(
            font={"family": FONT, "size": font_size, "color": "#222"},
            paper_bgcolor="white",
            plot_bgcolor="white",
            colorway=CLASS_PALETTE,
            xaxis=axis,
            yaxis=axis,
            legend={"bgcolor": "rgba(255,255,255,0.8)"},
            margin={"l": 60, "r": 20, "t": 50, "b": 50},
            title={"font": {"size": font_size + 3}, "x": 0.0, "xanchor": "left"},
            hoverlabel={"font": {"family": FONT}},
        )
    )


def font_size(presentation: bool = False, role: str = "base") -> int:
    """Font size in px of a text ``role`` ("small", "base" or "title") in either mode.

    Example:
        >>> font_size(False, "small"), font_size(True, "title")
        (12, 24)
    """
    if role not in FONT_SIZES:
        raise ValueError(f"role: expected one of {list(FONT_SIZES)}, received {role!r}")
    return FONT_SIZES[role][int(bool(presentation))]


pio.templates["ulens"] = _template(font_size(False))
pio.templates["ulens_presentation"] = _template(font_size(True))


def template(presentation: bool = False) -> str:
    """Name of the plotly template for normal or presentation (projector) mode."""
    return "ulens_presentation" if presentation else "ulens"


def apply(fig: go.Figure, *, presentation: bool = False) -> go.Figure:
    """Give ``fig`` the app's template; in presentation mode raise every smaller font to
    :data:`PRESENTATION_MIN_FONT`. Changes ``fig`` in place and returns it.

    Example:
        >>> fig = go.Figure(go.Bar(x=[1], y=[1], textfont={"size": 10}))
        >>> smallest_font_size(apply(fig, presentation=True))
        16
    """
    fig.update_layout(template=template(presentation))
    if presentation:
        for owner, key, size in _font_sizes(fig):
            owner[key]["size"] = np.maximum(np.asarray(size, float), PRESENTATION_MIN_FONT).tolist()
    return fig


def smallest_font_size(fig: go.Figure) -> float:
    """The smallest text size (px) ``fig`` shows: its own font sizes and its template's.

    Hover labels do not count (they appear on demand, at the browser's size).

    Example:
        >>> smallest_font_size(go.Figure(layout={"template": template(True)}))
        20
    """
    sizes = [np.min(np.asarray(size, float)) for _, _, size in _font_sizes(fig)]
    base = fig.layout.template.layout.font.size if fig.layout.template else None
    sizes += [base] if base is not None else []
    smallest = min(sizes, default=float("nan"))
    return int(smallest) if float(smallest).is_integer() else float(smallest)


def _font_sizes(obj: Any) -> Iterator[tuple[Any, str, Any]]:
    """(owner, font property name, size) of every explicit font size under ``obj`` (a figure or
    plotly object), skipping the template and hover labels."""
    if isinstance(obj, go.Figure):
        for trace in obj.data:
            yield from _font_sizes(trace)
        yield from _font_sizes(obj.layout)
        return
    for name in obj.to_plotly_json():
        if name in ("template", "hoverlabel"):
            continue
        child = obj[name]
        if name.endswith("font") and isinstance(child, BasePlotlyType):
            if child["size"] is not None:
                yield obj, name, child["size"]
        elif isinstance(child, BasePlotlyType):
            yield from _font_sizes(child)
        elif isinstance(child, tuple):
            for item in child:
                if isinstance(item, BasePlotlyType):
                    yield from _font_sizes(item)


@functools.cache
def app_icon(size: int = 64) -> Image.Image:
    """The page icon (a lens in Model A's blue), drawn here so no icon is fetched online.

    Streamlit turns a ``:material/...:`` or emoji page icon into a favicon URL on a public font
    or emoji server; an image array is served by the dashboard itself.

    Example:
        >>> app_icon(32).size, app_icon(32).mode
        ((32, 32), 'RGBA')
    """
    y, x = np.mgrid[0:size, 0:size] / size
    rgb = [int(ROLE_COLORS["A"][i : i + 2], 16) for i in (1, 3, 5)]
    ring = np.abs(np.hypot(x - 0.42, y - 0.42) - 0.27) < 0.07
    handle = (np.abs(x - y) < 0.09) & (x > 0.62) & (x < 0.92)
    icon = np.zeros((size, size, 4), dtype=np.uint8)
    icon[..., :3] = rgb
    icon[..., 3] = np.where(ring | handle, 255, 0)
    return Image.fromarray(icon, mode="RGBA")
