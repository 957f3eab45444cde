"""Tests of dashboard/figures/studies.py against hand-made study results (no runs needed)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.studies import (
    ScalabilityStudy,
    StudyResult,
    SustainabilityStudy,
    WorstCaseStudy,
)
from dashboard import theme
from dashboard.figures import studies as figs


def _scalability_result() -> StudyResult:
    study = ScalabilityStudy(name="grow", methods=("ga", "ft"), sizes=(0.05, 0.1), seeds=(0, 1))
    rows = []
    for tag, x in (("f0.05", 0.05), ("f0.1", 0.1)):
        scenario = f"grow_{tag}"
        rows.append(("retrain", 0, scenario, "done", 0.90 - x, 0.98, 5.0))
        for method, base in (("ga", 0.5), ("ft", 0.8)):
            for seed, jitter in ((0, -0.1), (1, 0.1)):
                ua = base + jitter + x
                rows.append((method, seed, scenario, "done", ua, 0.95, 1.0 + seed))
    frame = pd.DataFrame(rows, columns=["method", "seed", "scenario", "state", "UA", "RA", "RT"])
    frame["name"] = [f"r{i}" for i in range(len(frame))]
    frame["n_forget"] = frame["scenario"].map({"grow_f0.05": 72, "grow_f0.1": 144})
    return study.aggregate(frame)


def _traces(fig, panel: int) -> dict[str, object]:
    axis = "x" if panel == 1 else f"x{panel}"
    return {t.legendgroup: t for t in fig.data if t.xaxis == axis}


def test_sweep_draws_each_method_with_seed_error_bars_and_the_retrain_in_grey() -> None:
    result = _scalability_result()
    fig = figs.sweep_figure(result)
    ua = _traces(fig, 1)  # the UA panel
    assert set(ua) == {"retrain", "ga", "ft"}
    ga = ua["ga"]
    # lines are shifted by ±1.5 % of the x span per method so equal values stay visible
    assert ga.x == pytest.approx([0.05, 0.1], abs=0.002) and ga.x[0] != ua["ft"].x[0]
    assert "5%" in ga.hovertext[0]  # the hover keeps the true forget fraction
    assert ga.y == pytest.approx([0.55, 0.6])  # mean over seeds 0.5 ± 0.1 + x
    assert ga.error_y.array == pytest.approx([math.sqrt(0.02)] * 2)  # sample std of ±0.1
    retrain = ua["retrain"]
    assert retrain.line.color == theme.ROLE_COLORS["retrain"] and retrain.line.dash == "dash"
    assert retrain.y == pytest.approx([0.85, 0.8])
    assert retrain.error_y.array == (None, None)  # one retrain per size: no spread
    assert ga.line.color != ua["ft"].line.color
    # one legend entry per method; the x axis shows fractions as percentages
    assert sum(bool(t.showlegend) for t in fig.data if t.legendgroup == "ga") == 1
    assert list(fig.layout.xaxis.ticktext) == ["5%", "10%"]
    # a metric with no value anywhere is a labelled empty panel, not a zero line
    tra = [t for t in fig.data if t.xaxis == "x3"]  # TRA missing from the runs
    assert len(tra) == 1 and len(tra[0].x) == 0  # an empty panel with its axes
    notes = [a for a in fig.layout.annotations if a.text == "N/A for this study"]
    assert [a.xref for a in notes] == ["x3 domain", "x4 domain", "x5 domain"]
    assert list(fig.layout.xaxis.range or []) == []  # the UA axis is not stretched by a note
    rt = _traces(fig, 6)
    assert rt["ft"].y == pytest.approx([1.5, 1.5]) and rt["retrain"].y == pytest.approx([5, 5])


def test_sustainability_x_axis_is_the_request_number() -> None:
    study = SustainabilityStudy(name="seq", methods=("ft",), requests=3, size=0.05)
    frame = pd.DataFrame(
        {
            "name": [f"r{k}" for k in range(3)],
            "scenario": [f"seq_r{k}" for k in (1, 2, 3)],
            "method": ["ft"] * 3,
            "seed": [0] * 3,
            "state": ["done", "done", "failed"],
            "UA": [0.3, 0.4, 0.9],
        }
    )
    fig = figs.sweep_figure(study.aggregate(frame), metrics=("UA",))
    (trace,) = fig.data
    assert list(trace.x) == [1.0, 2.0, 3.0]  # a single line is not shifted
    assert trace.y == pytest.approx([0.3, 0.4, None])
    assert list(fig.layout.xaxis.ticktext) == ["1", "2", "3"]
    assert fig.layout.xaxis.title.text == "deletion request"


def _worst_result() -> StudyResult:
    study = WorstCaseStudy(name="hard", methods=("ga",), size=30, seeds=(0, 1))
    frame = pd.DataFrame(
        {
            "name": [f"r{i}" for i in range(6)],
            "scenario": ["hard_random"] * 3 + ["hard_worst"] * 3,
            "method": ["retrain", "ga", "ga"] * 2,
            "seed": [0, 0, 1] * 2,
            "state": ["done"] * 6,
            "UA": [0.9, 0.92, 0.94, 0.3, 0.7, 0.9],
            "UA_gap": [0.0, 0.02, 0.04, 0.0, 0.4, 0.6],
            "n_forget": [30] * 6,
        }
    )
    return study.aggregate(frame)


def test_worst_case_bars_compare_each_method_on_the_worst_and_the_random_set() -> None:
    fig = figs.worst_case_figure(_worst_result())
    gap = _traces(fig, 1)
    assert set(gap) == {"random", "worst"}
    assert list(gap["worst"].x) == ["retrain", "ga"]
    assert gap["worst"].y == pytest.approx([0.0, 0.5])
    assert gap["random"].y == pytest.approx([0.0, 0.03])
    assert gap["worst"].error_y.array[1] == pytest.approx(np.std([0.4, 0.6], ddof=1))
    assert fig.layout.barmode == "group" and "30 samples each" in fig.layout.title.text


def test_study_figures_export_the_plotted_summary_as_csv_columns() -> None:
    (spec,) = figs.study_figures(_scalability_result())
    assert spec.key == "study_grow_scalability"
    assert list(spec.data.columns[:6]) == ["method", "x", "point", "n_forget", "runs", "done"]
    assert "UA_mean" in spec.data and "RT_std" in spec.data and "UA_gap_mean" not in spec.data
    assert spec.data["method"].tolist() == ["retrain", "retrain", "ga", "ga", "ft", "ft"]
    (worst,) = figs.study_figures(_worst_result())
    assert worst.key == "study_hard_worst_case" and "UA_gap_mean" in worst.data
    specs = figs.page_figures(None, studies={"grow": _scalability_result()})
    assert [s.key for s in specs] == ["study_grow_scalability"]
    assert figs.page_figures(None) == []


def test_presentation_mode_has_no_text_below_16_px() -> None:
    for result in (_scalability_result(), _worst_result()):
        fig = figs.study_figures(result, presentation=True)[0].figure
        sizes = [a.font.size for a in fig.layout.annotations]
        assert min(sizes) >= 16
        assert fig.layout.template.layout.font.size >= 16


def test_summary_display_shows_mean_and_std_or_na() -> None:
    table = figs.summary_display(_worst_result(), ["UA", "PS"])
    assert table.columns.tolist()[:4] == ["method", "forget set", "forget samples", "runs done"]
    assert table.iloc[0].tolist()[:4] == ["retrain", "random", "30", "1/1"]
    ga_worst = table[(table["method"] == "ga") & (table["forget set"] == "worst")].iloc[0]
    assert ga_worst["UA (forget accuracy)"] == "0.800 ± 0.141"
    assert ga_worst["PS (privacy score)"] == "N/A"
