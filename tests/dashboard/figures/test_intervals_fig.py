"""The models table's intervals as readable cells."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.figures.intervals import INTERVAL_METRICS, intervals_frame


def test_cells_show_value_and_interval_and_na() -> None:
    table = pd.DataFrame(
        {
            "name": ["retrain", "ga"],
            "role": ["retrain", "unlearned"],
            "UA": [0.0, 0.0576],
            "UA_ci_low": [0.0, 0.0216],
            "UA_ci_high": [0.0, 0.1007],
            "TUA": [None, None],
            "TUA_ci_low": [np.nan, np.nan],
            "TUA_ci_high": [np.nan, np.nan],
            "privleak": [0.0, -5.4896],
            "privleak_ci_low": [0.0, -21.49],
            "privleak_ci_high": [0.0, 13.44],
            "ulira_auc": [None, 0.7],
            "ulira_auc_ci_low": [np.nan, 0.6],
            "ulira_auc_ci_high": [np.nan, 0.8],
            "PS": [1.0, 0.5],  # no interval columns: not shown
        }
    )
    frame = intervals_frame(table)
    assert list(frame.columns) == ["name", "role", "UA", INTERVAL_METRICS["privleak"],
                                   INTERVAL_METRICS["ulira_auc"]]  # fmt: skip
    assert frame.loc[1, "UA"] == "0.058 [0.022, 0.101]"
    assert frame.loc[1, "PrivLeak (%)"] == "−5.49 % [−21.49, 13.44]"
    assert frame.loc[0, INTERVAL_METRICS["ulira_auc"]] == "N/A"  # TUA dropped: all N/A
