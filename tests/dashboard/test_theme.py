"""The app's one font scheme: sizes per text role and mode, and the presentation floor."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from dashboard import theme


def test_font_sizes_per_role_and_mode() -> None:
    for role in theme.FONT_SIZES:
        normal, big = theme.font_size(False, role), theme.font_size(True, role)
        assert big > normal and big >= theme.PRESENTATION_MIN_FONT
    assert theme.font_size(False, "small") >= 12  # cell numbers stay legible on a laptop
    with pytest.raises(ValueError, match="role"):
        theme.font_size(False, "huge")


def _busy_figure() -> go.Figure:
    """Every kind of text a page figure sets: subplot titles (plotly's own 16 px), bar and
    heatmap text, annotations, tick fonts, a legend title and a table."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("left", "right"))
    bars = go.Bar(x=[1, 2], y=[1, 2], text=["x", "y"], textfont={"size": [9, 10]})
    fig.add_trace(bars, row=1, col=1)
    fig.add_trace(go.Heatmap(z=[[1, 2]], texttemplate="%{z}", textfont={"size": 8}), row=1, col=2)
    fig.add_annotation(text="note", font={"size": 11}, x=0, y=0)
    fig.update_xaxes(tickfont={"size": 10})
    fig.update_layout(legend={"title": {"text": "t", "font": {"size": 9}}})
    return fig


def test_apply_raises_every_text_to_the_floor_in_presentation_only() -> None:
    normal = theme.apply(_busy_figure(), presentation=False)
    assert normal.layout.template.layout.font.size == theme.font_size(False)
    assert theme.smallest_font_size(normal) == 8  # normal mode keeps the figure's choices
    big = theme.apply(_busy_figure(), presentation=True)
    assert theme.smallest_font_size(big) >= theme.PRESENTATION_MIN_FONT
    assert big.layout.template.layout.font.size == theme.font_size(True)
    assert big.layout.annotations[0].font.size == 16  # plotly's subplot title kept
    assert big.layout.annotations[2].font.size == theme.PRESENTATION_MIN_FONT  # 11 raised
    assert list(big.data[0].textfont.size) == [16, 16]  # per-point sizes too
    assert big.data[1].textfont.size == 16
    assert big.layout.template.layout.font.family == theme.FONT


def test_smallest_font_size_counts_the_template_and_skips_hover_labels() -> None:
    fig = go.Figure(layout={"template": theme.template(False), "hoverlabel": {"font_size": 8}})
    assert theme.smallest_font_size(fig) == theme.font_size(False)
    assert theme.smallest_font_size(theme.apply(fig, presentation=True)) == theme.font_size(True)


def test_text_color_picks_the_more_legible_of_near_black_and_white() -> None:
    """Cell numbers on mid-blue CKA cells were drawn grey (plotly's pick): hard to read."""
    assert theme.text_color("rgb(67, 147, 195)") == "#111111"  # mid blue: black reads better
    assert theme.text_color("rgb(5, 48, 97)") == "#ffffff"  # dark blue
    assert theme.text_color("rgba(255, 255, 255, 1)") == "#111111"
