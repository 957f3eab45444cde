"""Sample images for instance cards and thumbnail grids (any 1- or 3-channel input, or vectors).

Inputs are shown min–max scaled per image, which undoes any normalisation the dataset adapter
applied; non-image inputs (vectors) are drawn as a one-row strip.

Example:
    >>> import numpy as np
    >>> to_display(np.arange(64.0).reshape(1, 8, 8)).shape
    (8, 8)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from dashboard.theme import template


def to_display(x: np.ndarray) -> np.ndarray:
    """(H, W) grey or (H, W, 3) RGB in [0, 1] for an input of shape (C, H, W), (H, W) or (D,)."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[0] in (1, 3):
        arr = arr[0] if arr.shape[0] == 1 else np.transpose(arr, (1, 2, 0))
    elif arr.ndim == 1:
        arr = arr[None, :]
    elif arr.ndim != 2:
        arr = arr.reshape(arr.shape[0], -1)
    lo, hi = float(arr.min()), float(arr.max())
    return (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)


def image_figure(
    x: np.ndarray, *, title: str = "", presentation: bool = False, size: int = 220
) -> go.Figure:
    """One sample as a picture (greyscale or RGB), no axes."""
    img = to_display(x)
    fig = go.Figure(_image_trace(img))
    fig.update_layout(
        template=template(presentation),
        title=title,
        width=size,
        height=size,
        margin={"l": 0, "r": 0, "t": 30 if title else 0, "b": 0},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return fig


def _image_trace(img: np.ndarray) -> go.Image | go.Heatmap:
    if img.ndim == 3:
        return go.Image(z=(img * 255).astype(np.uint8))
    return go.Heatmap(z=img, colorscale="gray_r", showscale=False, hoverinfo="skip")


def mosaic(images: Sequence[np.ndarray], *, columns: int = 10, pad: int = 1) -> np.ndarray:
    """Tile display images (all the same shape) into one array, ``pad`` pixels apart (NaN gaps)."""
    if not images:
        return np.zeros((1, 1))
    first = images[0]
    h, w = first.shape[:2]
    rows = -(-len(images) // columns)
    shape = (rows * (h + pad) - pad, columns * (w + pad) - pad, *first.shape[2:])
    out = np.full(shape, np.nan)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = img
    return out


#: Width (px) a grid is assumed to get on the page (half of a wide layout), for its height.
GRID_WIDTH_PX = 640


def thumbnail_grid(
    xs: Sequence[np.ndarray],
    *,
    labels: Sequence[str] = (),
    columns: int = 10,
    title: str = "",
    border_colors: Sequence[str] = (),
    customdata: Sequence[int] = (),
    focus: Sequence[int] = (),
    presentation: bool = False,
) -> go.Figure:
    """A grid of small sample images, ``columns`` per row.

    Args:
        xs: The inputs (any shape :func:`to_display` takes, all the same shape).
        labels: Hover text per cell.
        columns: Cells per row (fewer columns: larger thumbnails).
        title: Figure title.
        border_colors: A border colour per cell (empty string: none).
        customdata: A value per cell (e.g. its training index), reported when the cell is
            clicked in a chart with point selection.
        focus: Cells to outline in black (e.g. the sample whose card is open).
        presentation: Larger type and thicker borders.
    """
    imgs = [to_display(x) for x in xs]
    h, w = imgs[0].shape[:2] if imgs else (1, 1)
    pad = max(1, h // 8)
    tile = mosaic(imgs, columns=columns, pad=pad)
    gap = 1.0 if tile.ndim == 3 else np.nan  # white gaps: RGB 1.0; grey: blank (NaN)
    fig = go.Figure(_image_trace(np.where(np.isnan(tile), gap, tile)))
    cell_px = GRID_WIDTH_PX / max(columns, 1)
    if imgs:
        cells = _Cells((h, w), pad, columns, cell_px)
        _cell_borders(fig, cells, len(imgs), border_colors, 3 if presentation else 2)
        _cell_focus(fig, cells, [i for i in focus if 0 <= i < len(imgs)])
        _cell_targets(fig, cells, len(imgs), labels, customdata)
    rows = max(1, -(-len(imgs) // columns))
    top = 70 if presentation else 50
    fig.update_layout(
        template=template(presentation),
        title=title,
        height=int(top + 10 + rows * cell_px * (h + pad) / (w + pad)),
        margin={"l": 0, "r": 0, "t": top, "b": 10},
        dragmode=False,
    )
    # whole tiles, aspect kept: a narrower page shrinks the domain (kept at the top left)
    fig.update_xaxes(
        visible=False,
        range=[-0.5, tile.shape[1] - 0.5],
        constrain="domain",
        constraintoward="left",
    )
    fig.update_yaxes(
        visible=False,
        range=[tile.shape[0] - 0.5, -0.5],
        constrain="domain",
        constraintoward="top",
        scaleanchor="x",
    )
    return fig


class _Cells:
    """Geometry of a mosaic: the data-space box of cell ``i``."""

    def __init__(self, hw: tuple[int, int], pad: int, columns: int, cell_px: float) -> None:
        self.h, self.w = hw
        self.pad, self.columns, self.cell_px = pad, columns, cell_px

    def box(self, i: int) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of cell ``i`` in data coordinates (pixel edges)."""
        r, c = divmod(i, self.columns)
        x0, y0 = c * (self.w + self.pad) - 0.5, r * (self.h + self.pad) - 0.5
        return x0, y0, x0 + self.w, y0 + self.h


def _cell_borders(
    fig: go.Figure, cells: _Cells, n: int, colors: Sequence[str], width: float
) -> None:
    rects: list[dict[str, Any]] = []
    for i in range(min(n, len(colors))):
        if colors[i]:
            x0, y0, x1, y1 = cells.box(i)
            rects.append(_rect(x0, y0, x1, y1, colors[i], width))
    _add_shapes(fig, rects)


def _rect(x0: float, y0: float, x1: float, y1: float, color: str, width: float) -> dict[str, Any]:
    return {
        "type": "rect",
        "x0": x0,
        "y0": y0,
        "x1": x1,
        "y1": y1,
        "line": {"color": color, "width": width},
    }


def _add_shapes(fig: go.Figure, rects: list[dict[str, Any]]) -> None:
    """Add shapes in one layout update (``add_shape`` per cell costs ~15 ms each)."""
    if rects:
        fig.update_layout(shapes=[*fig.layout.shapes, *rects])


def _cell_focus(fig: go.Figure, cells: _Cells, focus: Sequence[int]) -> None:
    """A thick dark frame just outside each focused cell."""
    grow = cells.pad / 2
    rects: list[dict[str, Any]] = []
    for i in focus:
        x0, y0, x1, y1 = cells.box(i)
        rects.append(_rect(x0 - grow, y0 - grow, x1 + grow, y1 + grow, "#111", 4))
    _add_shapes(fig, rects)


def _cell_targets(
    fig: go.Figure, cells: _Cells, n: int, labels: Sequence[str], customdata: Sequence[int]
) -> None:
    """One invisible marker per cell: its hover text, and its value when clicked."""
    if not labels and not customdata:
        return
    centres = [cells.box(i) for i in range(n)]
    fig.add_trace(
        go.Scatter(
            x=[(b[0] + b[2]) / 2 for b in centres],
            y=[(b[1] + b[3]) / 2 for b in centres],
            mode="markers",
            marker={"symbol": "square", "opacity": 0, "size": max(12.0, 0.8 * cells.cell_px)},
            selected={"marker": {"opacity": 0}},
            unselected={"marker": {"opacity": 0}},
            hovertext=[labels[i] if i < len(labels) else "" for i in range(n)],
            hoverinfo="text",
            customdata=[[customdata[i]] for i in range(min(n, len(customdata)))] or None,
            showlegend=False,
        )
    )
