"""Tests of dashboard/figures/studies.py against hand-made study results (no runs needed)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from analysis.studies import (
    GROUP_STUDY_METRICS,
    CorrectiveStudy,
    ScalabilityStudy,
    StudyGroups,
    StudyResult,
    SustainabilityStudy,
    WorstCaseStudy,
)
from analysis.studies.base import summarise
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


# --------------------------------------------------------------------------- corrective, groups


def _corrective_result() -> StudyResult:
    """Two known fractions; the original and the retrain repeated at each (as collected)."""
    study = CorrectiveStudy(
        name="fix",
        methods=("ga",),
        known=(0.5, 1.0),
        seeds=(0, 1),
        manipulation={"kind": "label_flip", "fraction": 0.1},
    )
    rows = []
    for scenario, shift in (("fix_k0.5", 0.0), ("fix_k1", 0.1)):
        rows.append(("fix_original", "original", 0, scenario, 0.90, 0.80, 0.70))
        rows.append(("fix_all_retrain", "retrain", 0, scenario, 0.95, 0.10, 0.00))
        rows.append((f"{scenario}_ga_s0", "ga", 0, scenario, 0.93, 0.30 - shift, 0.2))
        rows.append((f"{scenario}_ga_s1", "ga", 1, scenario, 0.89, 0.50 - shift, 0.4))
    columns = ["name", "method", "seed", "scenario", "clean_acc", "attack", "UA"]
    return study.aggregate(pd.DataFrame(rows, columns=columns).assign(state="done"))


def test_corrective_figure_plots_before_after_and_the_retrain_against_the_known_fraction() -> None:
    result = _corrective_result()
    (spec,) = figs.study_figures(result)
    assert spec.key == "study_fix_corrective"
    fig = spec.figure
    titles = [a.text for a in fig.layout.annotations][:3]
    assert titles == ["clean test accuracy", "attack success rate", figs.CORRECTIVE_TITLES["UA"]]
    attack = _traces(fig, 2)
    assert set(attack) == {"original", "retrain", "ga"}
    before, retrain, ga = attack["original"], attack["retrain"], attack["ga"]
    assert before.name == "before (poisoned original)" and before.line.dash == "dot"
    assert before.line.color == theme.ROLE_COLORS["original"]
    assert retrain.line.dash == "dash" and retrain.line.color == theme.ROLE_COLORS["retrain"]
    assert "without all manipulated" in retrain.name
    assert before.y == pytest.approx([0.8, 0.8]) and retrain.y == pytest.approx([0.1, 0.1])
    assert ga.y == pytest.approx([0.40, 0.30])  # (0.30 + 0.50) / 2, then both 0.1 lower
    assert ga.error_y.array == pytest.approx([np.std([0.3, 0.5], ddof=1)] * 2)
    assert list(fig.layout.xaxis.ticktext) == ["50%", "100%"]
    assert fig.layout.yaxis2.range == (-0.05, 1.05)
    # the CSV keeps every corrective metric, gaps included
    assert spec.data.loc[spec.data["method"] == "ga", "attack_gap_mean"].tolist() == (
        pytest.approx([0.30, 0.20])
    )
    big = figs.study_figures(result, presentation=True)[0].figure
    assert theme.smallest_font_size(big) >= theme.PRESENTATION_MIN_FONT


def _study_groups() -> StudyGroups:
    """Hand-made per-group metrics of a scalability study: ga with two seeds at two sizes."""
    heads = [  # method, x, seed, worst_gap, worst_acc
        ("retrain", 0.1, 0, 0.0, 0.70),
        ("retrain", 0.2, 0, 0.0, 0.60),
        ("ga", 0.1, 0, 0.20, 0.50),
        ("ga", 0.1, 1, 0.30, 0.40),
        ("ga", 0.2, 0, 0.40, 0.30),
        ("ga", 0.2, 1, 0.10, 0.55),
    ]
    frame = pd.DataFrame(heads, columns=["method", "x", "seed", "worst_gap", "worst_acc"])
    frame = frame.assign(state="done", name=[f"r{i}" for i in range(6)], scenario="s")
    per_group = pd.DataFrame(
        {
            "method": ["retrain", "retrain", "ga", "ga"],
            "x": [0.2] * 4,
            "group": [0, 1, 0, 1],
            "group_name": ["north", "south"] * 2,
            "TA_mean": [0.9, 0.6, 0.7, 0.425],
            "TA_std": [math.nan, math.nan, 0.1, 0.15],
            "TA_gap_mean": [0.0, 0.0, -0.2, -0.175],
            "TA_gap_std": [math.nan] * 4,
            "PS_mean": [1.0, 1.0, 0.5, 0.25],
            "PS_std": [math.nan, math.nan, 0.05, 0.1],
        }
    )
    return StudyGroups(
        name="grow",
        x_label="forget fraction",
        source="dataset.groups 'g.npz'",
        runs=pd.DataFrame(),
        worst=summarise(frame, GROUP_STUDY_METRICS),
        per_group=per_group,
    )


def test_study_groups_figure_plots_worst_group_gaps_and_per_group_bars() -> None:
    groups = _study_groups()
    fig = figs.study_groups_figure(groups)
    gap = _traces(fig, 1)
    assert set(gap) == {"ga"}  # the retrain's gap to itself is not drawn
    assert gap["ga"].y == pytest.approx([0.25, 0.25])  # mean of (0.2, 0.3) and (0.4, 0.1)
    assert gap["ga"].error_y.array == pytest.approx(
        [np.std([0.2, 0.3], ddof=1), np.std([0.4, 0.1], ddof=1)]
    )
    acc = _traces(fig, 2)
    assert acc["retrain"].line.color == theme.ROLE_COLORS["retrain"]
    assert acc["ga"].y == pytest.approx([0.45, 0.425])
    bars = _traces(fig, 3)  # per group at the largest forget fraction
    assert list(bars) == ["retrain", "ga"] and list(bars["ga"].x) == ["north", "south"]
    assert bars["ga"].y == pytest.approx([0.7, 0.425])
    assert bars["ga"].error_y.array == pytest.approx([0.1, 0.15])
    ps = _traces(fig, 4)
    assert set(ps) == {"ga"} and ps["ga"].y == pytest.approx([0.5, 0.25])
    assert "at forget fraction 20%" in fig.layout.annotations[2].text
    assert "g.npz" in fig.layout.title.text
    assert sum(bool(t.showlegend) for t in fig.data if t.legendgroup == "ga") == 1
    big = figs.study_groups_figure(groups, presentation=True)
    assert theme.smallest_font_size(big) >= theme.PRESENTATION_MIN_FONT


def test_study_figures_and_page_figures_add_the_group_figure_when_given() -> None:
    result, groups = _scalability_result(), _study_groups()
    keys = [s.key for s in figs.study_figures(result, groups=groups)]
    assert keys == ["study_grow_scalability", "study_grow_groups"]
    specs = figs.page_figures(None, studies={"grow": result}, study_groups={"grow": groups})
    assert [s.key for s in specs] == keys
    data = specs[1].data
    assert set(data["part"]) == {"worst", "group"}
    assert data.loc[data["part"] == "worst", "worst_gap_mean"].dropna().tolist() == (
        pytest.approx([0.0, 0.0, 0.25, 0.25])
    )
    assert [s.key for s in figs.page_figures(None, studies={"grow": result})] == keys[:1]


def test_summary_display_of_a_corrective_study_shows_its_own_metrics() -> None:
    table = figs.summary_display(_corrective_result())
    assert "attack success rate" in table.columns and "clean accuracy − retrain" in table.columns
    ga = table[table["method"] == "ga"]
    assert ga["known fraction"].tolist() == ["50%", "100%"]
    assert ga["attack success rate"].iloc[0] == f"0.400 ± {np.std([0.3, 0.5], ddof=1):.3f}"


def test_study_groups_figure_draws_before_unlearning_as_a_dotted_reference() -> None:
    groups = _study_groups()
    before = pd.DataFrame(
        [("before", 0.1, math.nan, 0.5, 0.3), ("before", 0.2, math.nan, 0.6, 0.2)],
        columns=["method", "x", "seed", "worst_gap", "worst_acc"],
    ).assign(state="done", name="original", scenario="s")
    heads = pd.DataFrame(
        [("ga", 0.1, 0, 0.2, 0.5), ("ga", 0.2, 0, 0.4, 0.3)],
        columns=["method", "x", "seed", "worst_gap", "worst_acc"],
    ).assign(state="done", name="r", scenario="s")
    worst = summarise(pd.concat([heads, before], ignore_index=True), GROUP_STUDY_METRICS)
    fig = figs.study_groups_figure(dataclasses.replace(groups, worst=worst))
    gap = _traces(fig, 1)
    assert gap["before"].y == pytest.approx([0.5, 0.6]) and gap["before"].line.dash == "dot"
    assert gap["before"].line.color == theme.ROLE_COLORS["original"]
    assert gap["ga"].line.color != theme.ROLE_COLORS["original"]
