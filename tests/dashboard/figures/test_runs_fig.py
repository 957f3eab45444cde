"""Queue rows, metrics JSON, seed-group text and the Welch table (no Streamlit)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.groups import assign_groups, group_key, group_table, welch_test
from analysis.runs import RunRecord
from dashboard.figures import models as model_figs
from dashboard.figures import runs as figs

NOW = 1000.0


def _record(**fields: object) -> RunRecord:
    base: dict[str, object] = {
        "name": "ga_classwise_1",
        "role": "unlearned",
        "file": Path("/ws/models/runs/ga_classwise_1.safetensors"),
        "forget": "classwise",
        "method": "ga",
        "base": "original",
        "kind": "unlearn",
        "seed": 1,
        "state": "queued",
    }
    return RunRecord(**{**base, **fields})  # type: ignore[arg-type]


def test_queue_rows_show_live_state_newest_first() -> None:
    running = _record(
        id=2,
        name="b",
        state="running",
        stage="unlearning",
        step=5,
        steps=10,
        epoch=1,
        epochs=2,
        started_at=NOW - 20,
        current={"UA": 0.5, "RA": 0.9},
    )
    queued = _record(id=1, name="a", depends_on="ref_s0_000")
    failed = _record(
        id=3,
        name="c",
        state="failed",
        error="WeightsError: bad\ntrace",
        started_at=NOW - 5,
        finished_at=NOW - 1,
    )
    upload = _record(id=4, name="u", kind="upload", state="done")
    rows = figs.queue_rows([queued, running, failed, upload], now=NOW)
    assert [r.name for r in rows] == ["c", "b", "a"]  # uploads are not runs of the queue
    c, b, a = rows
    assert b.progress == "unlearning · epoch 1/2 · step 5/10" and b.fraction == 0.5
    assert b.metrics == "UA 0.500 · RA 0.900"
    assert b.timing == "elapsed 0:20 · ETA 0:20" and b.active and not b.cancelling
    assert a.progress == "queued · waits for ref_s0_000" and a.timing == "waiting for a worker"
    assert a.what == "unlearn · ga on classwise from original · seed 1"
    assert c.error.startswith("WeightsError") and not c.active
    assert c.title == ":material/error: c · failed"
    assert c.timing == "elapsed 0:04"
    done = figs.queue_rows([_record(id=5, state="done", metrics={"UA": 0.0, "RA": None})])[0]
    assert done.metrics == "UA 0.000 · RA N/A" and done.fraction == 1.0
    cancelling = figs.queue_rows([_record(id=6, state="running", cancel_requested=True)])[0]
    assert cancelling.cancelling and "cancelling…" in cancelling.progress


def test_metrics_json_names_no_server_path() -> None:
    record = _record(
        state="done",
        metrics={"UA": 0.1, "PS": float("nan")},
        rt=1.5,
        history_data=({"epoch": 0, "UA": 1.0}, {"epoch": 1, "UA": 0.1}),
    )
    data = json.loads(figs.run_metrics_json(record))
    assert data["metrics"] == {"UA": 0.1, "PS": None}
    assert data["weights_file"] == "ga_classwise_1.safetensors"
    assert [r["epoch"] for r in data["history"]] == [0, 1]
    assert "/ws" not in figs.run_metrics_json(record)


def _groups() -> tuple[pd.DataFrame, pd.DataFrame]:
    table = pd.DataFrame(
        {
            "name": ["g0", "g1", "h0", "ft"],
            "role": ["unlearned"] * 4,
            "method": ["ga", "ga", "ga", "ft"],
            "base": ["original"] * 4,
            "params": ['{"lr": 0.1, "epochs": 1}'] * 2 + ['{"lr": 0.2, "epochs": 1}', "{}"],
            "UA": [0.1, 0.3, 0.5, 0.0],
            "PS": [0.6, 0.8, 0.9, np.nan],
            "acc_gap": [0.1, 0.2, 0.3, 0.0],
        }
    )
    grouped = assign_groups(table, {"g0": 0, "g1": 1, "h0": 0})
    return grouped, group_table(grouped)


def test_group_display_and_short_labels() -> None:
    _, groups = _groups()
    shown = figs.group_display(groups)
    assert list(shown["group"]) == ["ga from original (lr=0.1)", "ga from original (lr=0.2)", "ft"]
    assert list(shown["n"]) == [2, 1, 1] and list(shown["seeds"]) == ["0, 1", "0", "?"]
    assert shown.loc[0, "UA"] == f"0.200 ± {math.sqrt(0.02):.3f}"
    assert shown.loc[1, "UA"] == "0.500" and shown.loc[2, "PS"] == "N/A"


def test_welch_display_states_the_test_and_the_sizes() -> None:
    tests = {"PS": welch_test([0.6, 0.8, 0.7], [0.1, 0.2]), "UA": welch_test([0.1], [0.2, 0.3])}
    table = figs.welch_display(tests, "ga", "ga")  # equal labels still give two columns
    assert list(table.columns[:3]) == ["metric", "1: ga", "2: ga"]
    ps, ua = table.iloc[0], table.iloc[1]
    assert ps["1: ga"] == "0.700 ± 0.100 (n=3)" and ps["2: ga"].endswith("(n=2)")
    assert ps["p-value"] == f"{tests['PS'].p_value:.3g}"
    assert ps["difference (1 − 2)"] == "0.550" and float(ps["Welch t"]) > 0  # same sign
    assert ps["verdict"].startswith("significant") == (tests["PS"].p_value < 0.05)
    assert ua["p-value"] == "N/A" and "cannot be tested" in ua["verdict"]


def test_tradeoff_draws_groups_with_std_error_bars() -> None:
    grouped, groups = _groups()
    table = grouped.assign(RT=1.0, pareto=False)
    fig = model_figs.tradeoff_figure(table, groups=groups)
    (bars,) = [t for t in fig.data if t.name == "Seed group: mean ± 1 std"]
    assert list(bars.x) == pytest.approx([0.15]) and list(bars.y) == pytest.approx([0.7])
    assert list(bars.error_y.array) == pytest.approx([np.std([0.6, 0.8], ddof=1)])
    assert list(bars.error_x.array) == pytest.approx([np.std([0.1, 0.2], ddof=1)])
    plain = model_figs.tradeoff_figure(table)
    assert not [t for t in plain.data if t.name.startswith("Seed group")]
    key = group_key(role="unlearned", method="ga", base="original", params={"lr": 0.1, "epochs": 1})
    assert groups.loc[0, "group"] == key
