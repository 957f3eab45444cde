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


def thumbnail_grid(
    xs: Sequence[np.ndarray],
    *,
    labels: Sequence[str] = (),
    columns: int = 10,
    title: str = "",
    border_colors: Sequence[str] = (),
    presentation: bool = False,
) -> go.Figure:
    """A grid of small sample images with an optional caption per cell (hover text)."""
    imgs = [to_display(x) for x in xs]
    tile = mosaic(imgs, columns=columns)
    gap = 1.0 if tile.ndim == 3 else 0.0  # white gaps: RGB 1.0, reversed grey scale 0.0
    fig = go.Figure(_image_trace(np.nan_to_num(tile, nan=gap)))
    if imgs:
        _annotate_cells(fig, imgs[0].shape[:2], len(imgs), columns, labels, border_colors)
    rows = max(1, -(-len(imgs) // columns))
    fig.update_layout(
        template=template(presentation),
        title=title,
        height=min(900, 60 + rows * 60),
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return fig


def _annotate_cells(
    fig: go.Figure,
    hw: tuple[int, int],
    n: int,
    columns: int,
    labels: Sequence[str],
    colors: Sequence[str],
) -> None:
    h, w = hw
    for i in range(n):
        r, c = divmod(i, columns)
        x0, y0 = c * (w + 1) - 0.5, r * (h + 1) - 0.5
        if i < len(colors) and colors[i]:
            fig.add_shape(
                type="rect",
                x0=x0,
                y0=y0,
                x1=x0 + w,
                y1=y0 + h,
                line={"color": colors[i], "width": 2},
            )
        if i < len(labels) and labels[i]:
            fig.add_trace(
                go.Scatter(
                    x=[x0 + w / 2],
                    y=[y0 + h / 2],
                    mode="markers",
                    marker={"opacity": 0, "size": 12},
                    hovertext=labels[i],
                    hoverinfo="text",
                    showlegend=False,
                )
            )
