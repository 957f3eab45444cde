"""Pure figure builders: analysis results in, plotly Figures out (no Streamlit).

Each page module offers builders for its views and ``page_figures(cmp, *, presentation)``, the
page's figures with default settings, for the Export page and the HTML report.

Example:
    >>> import plotly.graph_objects as go, pandas as pd
    >>> spec = FigureSpec("demo", "A demo", go.Figure(), pd.DataFrame({"x": [1]}))
    >>> spec.key
    'demo'
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go


@dataclass(frozen=True)
class FigureSpec:
    """A figure with its export name, a human title and the data behind it (for CSV export)."""

    key: str
    title: str
    figure: go.Figure
    data: pd.DataFrame
