"""One visual identity for the app, the exports and the HTML report.

Model A and Model B keep one colour-blind-safe colour each everywhere (Okabe–Ito blue and
vermillion), the retrain model is grey, the original black; classes use a qualitative palette;
forget samples and classes are marked with ✖ and "(forget)".

Example:
    >>> from dashboard.theme import ROLE_COLORS, class_color
    >>> ROLE_COLORS["A"], class_color(0)
    ('#0072B2', '#CC6677')
"""

from __future__ import annotations

import functools

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from PIL import Image

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


def class_color(label: int) -> str:
    """Colour of class ``label`` (cycles past the palette's length)."""
    palette = CLASS_PALETTE if label < len(CLASS_PALETTE) else _LARGE_PALETTE
    return palette[label % len(palette)]


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


pio.templates["ulens"] = _template(14)
pio.templates["ulens_presentation"] = _template(20)


def template(presentation: bool = False) -> str:
    """Name of the plotly template for normal or presentation (projector) mode."""
    return "ulens_presentation" if presentation else "ulens"


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
