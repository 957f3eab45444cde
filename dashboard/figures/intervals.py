"""Bootstrap intervals of the models table, formatted for the Models page's on-demand panel.

:func:`analysis.compare.models_table` with ``intervals=True`` adds ``<metric>_ci_low`` /
``<metric>_ci_high`` columns; :func:`intervals_frame` turns them into one readable cell per
model and metric: ``"value [low, high]"`` (N/A where the number is undefined).

Example:
    >>> import pandas as pd
    >>> t = pd.DataFrame({"name": ["ga"], "role": ["unlearned"], "UA": [0.0576],
    ...                   "UA_ci_low": [0.0216], "UA_ci_high": [0.1007]})
    >>> intervals_frame(t).iloc[0].tolist()
    ['ga', 'unlearned', '0.058 [0.022, 0.101]']
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from dashboard.figures.privacy import AUDIT_METRICS, format_ci, format_value

__all__ = ["INTERVAL_METRICS", "intervals_frame"]

#: Metrics of the panel, in order, with their column titles.
INTERVAL_METRICS: dict[str, str] = {
    "UA": "UA",
    "RA": "RA",
    "TUA": "TUA",
    "TRA": "TRA",
    **{m: label for m, label in AUDIT_METRICS.items() if m != "PS_max_form"},
}


def _cell(value: Any, low: Any, high: Any, metric: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "N/A"
    return format_value(value, metric) + format_ci((float(low), float(high)), metric)


def intervals_frame(table: pd.DataFrame) -> pd.DataFrame:
    """One row per model: name, role, then ``"value [low, high]"`` per metric of
    :data:`INTERVAL_METRICS` that the table has intervals for (columns where every model is
    N/A are dropped)."""
    out = pd.DataFrame({"name": table["name"], "role": table["role"]})
    for metric, title in INTERVAL_METRICS.items():
        if f"{metric}_ci_low" not in table or metric not in table:
            continue
        cells = [
            _cell(v, lo, hi, metric)
            for v, lo, hi in zip(
                table[metric], table[f"{metric}_ci_low"], table[f"{metric}_ci_high"], strict=True
            )
        ]
        if any(c != "N/A" for c in cells):
            out[title] = cells
    return out.reset_index(drop=True)
