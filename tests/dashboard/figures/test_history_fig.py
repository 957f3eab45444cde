"""Per-epoch curves: A and B on one chart with the same metrics, from runs and history files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from dashboard.figures import history as figs
from dashboard.figures import models as model_figs
from dashboard.theme import ROLE_COLORS

SAMPLE = Path(__file__).resolve().parents[3] / "sample_data" / "digits" / "models"
RUN_ROWS = [
    {"epoch": 0, "UA": 1.0, "RA": 0.99, "TUA": 0.98, "TRA": 0.97, "PS": 0.1},
    {"epoch": 1, "loss": -0.2, "UA": 0.4, "RA": 0.95, "TUA": 0.5, "TRA": 0.94, "PS": 0.6},
    {"epoch": 2, "loss": -1.5, "UA": 0.0, "RA": 0.93, "TUA": 0.0, "TRA": 0.92, "PS": 0.9},
]


def _write(path: Path, rows: object) -> Path:
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def test_load_history_normalises_and_rejects_bad_files(tmp_path: Path) -> None:
    rows = [{"epoch": 2, "train_loss": 0.5}, {"epoch": 1, "train_loss": 1}]
    hist = figs.load_history(_write(tmp_path / "h.json", rows))
    assert hist is not None and hist["epoch"].tolist() == [1, 2]
    assert hist["loss"].tolist() == [1.0, 0.5]  # train_loss is the objective: "loss"
    assert figs.load_history(None) is None
    assert figs.load_history(tmp_path / "missing.json") is None
    assert figs.load_history(_write(tmp_path / "empty.json", [])) is None
    with pytest.raises(ValueError, match="epoch"):
        figs.load_history(_write(tmp_path / "bad.json", {"loss": [1, 2]}))
    assert model_figs.load_history is figs.load_history  # the export reads it from there


def test_history_from_run_rows_keeps_epoch_zero_and_drops_empty_columns() -> None:
    rows = [*RUN_ROWS, {"epoch": 3, "UA": None, "stage_note": None}]
    hist = figs.history_from_rows(rows)
    assert hist is not None and hist["epoch"].tolist() == [0, 1, 2, 3]
    assert "stage_note" not in hist.columns
    assert figs.history_from_rows([]) is None


def test_sample_histories_share_the_loss_on_one_chart() -> None:
    """The sample's default pair: retrain (train_loss, test_accuracy) and ga (loss)."""
    retrain = figs.load_history(SAMPLE / "retrain.history.json")
    ga = figs.load_history(SAMPLE / "ga.history.json")
    shared, every = figs.history_metrics({"retrain": retrain, "ga": ga})
    assert shared == ["loss"] and every == ["loss", "test_accuracy"]
    fig = figs.history_figure({"retrain": retrain, "ga": ga}, roles={"retrain": "A", "ga": "B"})
    spec = fig.to_plotly_json()
    assert "xaxis2" not in spec["layout"]  # one chart, not panels
    assert [t["name"] for t in spec["data"]] == [
        "Objective (loss) · A: retrain",
        "Objective (loss) · B: ga",
    ]
    assert [t["line"]["color"] for t in spec["data"]] == [ROLE_COLORS["A"], ROLE_COLORS["B"]]
    assert len({t["line"]["dash"] for t in spec["data"]}) == 1  # same metric, same dash


def test_rates_left_losses_right_and_metric_styles_shared_by_models() -> None:
    run = figs.history_from_rows(RUN_ROWS)
    other = figs.history_from_rows([{**r, "UA": r["UA"] / 2} for r in RUN_ROWS])
    fig = figs.history_figure(
        {"x": run, "y": other}, roles={"x": "A", "y": "B"}, metrics=["UA", "PS", "loss"]
    )
    traces = {t.name: t for t in fig.data}
    assert len(traces) == 6
    ua_a, ua_b = traces["UA (forget, train) · A: x"], traces["UA (forget, train) · B: y"]
    assert ua_a.line.dash == ua_b.line.dash and ua_a.line.color != ua_b.line.color
    assert list(ua_b.y) == pytest.approx([0.5, 0.2, 0.0])
    assert traces["Objective (loss) · A: x"].yaxis == "y2"  # loss on the right axis
    assert ua_a.yaxis == "y" and fig.layout.yaxis.range == (-0.03, 1.03)
    assert list(traces["Objective (loss) · A: x"].x) == [1, 2]  # epoch 0 has no loss
    assert fig.layout.yaxis2.overlaying == "y"


def test_default_metrics_are_the_shared_ones_and_missing_models_are_named() -> None:
    run = figs.history_from_rows(RUN_ROWS)
    hand = pd.DataFrame({"epoch": [1, 2], "loss": [0.5, 0.3]})
    fig = figs.history_figure({"a": run, "b": hand, "c": None}, roles={"a": "A", "b": "B"})
    assert {t.name.split(" · ")[0] for t in fig.data} == {"Objective (loss)"}
    assert "none recorded for c" in fig.layout.title.text
    only_run = figs.history_figure({"a": run, "b": None}, roles={"a": "A", "b": "B"})
    assert {t.name.split(" · ")[0] for t in only_run.data} == {
        figs.metric_label(m) for m in ("UA", "RA", "TUA", "TRA", "PS", "loss")
    }
    empty = figs.history_figure({"a": None, "b": None})
    assert not empty.data and "No metric recorded" in empty.layout.annotations[0].text


def test_epoch_axis_ticks_are_whole_epochs() -> None:
    """A 4-epoch run showed ticks 1, 1.5, 2, 2.5 (a screenshot): epochs are whole numbers."""
    a = pd.DataFrame({"epoch": [1, 2, 3, 4], "loss": [0.0, -0.1, -0.8, -4.1]})
    b = pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.6, 0.3, 0.3]})
    fig = figs.history_figure({"ga": a, "salun": b}, roles={"ga": "A", "salun": "B"})
    axis = fig.layout.xaxis
    assert (axis.tick0, axis.dtick, axis.tickformat) == (0, 1, "d")
    long = pd.DataFrame({"epoch": range(201), "loss": [1.0] * 201})
    step = figs.history_figure({"r": long}).layout.xaxis.dtick
    assert step == 20 and float(step).is_integer()  # about 10 whole-epoch ticks
    assert figs.epoch_ticks([]) == {"tick0": 0, "dtick": 1, "tickformat": "d"}
