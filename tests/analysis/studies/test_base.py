"""Tests of analysis/studies/base.py: aggregation against hand-computed values, JSON, validation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.errors import ValidationError
from analysis.studies import (
    STUDY_METRICS,
    ScalabilityStudy,
    SustainabilityStudy,
    WorstCaseStudy,
    study_from_dict,
    summarise,
)

NAN = math.nan


def _study() -> ScalabilityStudy:
    return ScalabilityStudy(name="sc", methods=("ga", "ft"), sizes=(0.05, 0.1), seeds=(0, 1, 2))


def _runs() -> pd.DataFrame:
    rows = [
        # name, scenario, method, seed, state, UA, PS, TUA, RT
        ("sc_f0.05_retrain", "sc_f0.05", "retrain", 0, "done", 0.10, 1.0, NAN, 4.0),
        ("sc_f0.1_retrain", "sc_f0.1", "retrain", 0, "done", 0.12, 1.0, NAN, 3.0),
        ("sc_f0.05_ga_s0", "sc_f0.05", "ga", 0, "done", 0.2, 0.5, NAN, 1.0),
        ("sc_f0.05_ga_s1", "sc_f0.05", "ga", 1, "done", 0.4, NAN, NAN, 2.0),
        ("sc_f0.05_ga_s2", "sc_f0.05", "ga", 2, "done", 0.6, 0.7, NAN, 3.0),
        ("sc_f0.1_ga_s0", "sc_f0.1", "ga", 0, "done", 0.9, 0.1, NAN, 5.0),
        ("sc_f0.1_ga_s1", "sc_f0.1", "ga", 1, "failed", 0.99, 0.99, NAN, 99.0),
        ("sc_f0.1_ga_s2", "sc_f0.1", "ga", 2, "queued", NAN, NAN, NAN, NAN),
        ("sc_f0.05_ft_s0", "sc_f0.05", "ft", 0, "done", 1.0, 0.0, NAN, 0.5),
    ]
    columns = ["name", "scenario", "method", "seed", "state", "UA", "PS", "TUA", "RT"]
    return pd.DataFrame(rows, columns=columns).sample(frac=1.0, random_state=0)  # any order


def test_aggregation_matches_hand_computed_means_and_stds() -> None:
    result = _study().aggregate(_runs())
    summary = result.summary.set_index(["method", "x"])
    ga = summary.loc[("ga", 0.05)]
    assert (ga["runs"], ga["done"]) == (3, 3)
    assert ga["UA_mean"] == pytest.approx(0.4)
    assert ga["UA_std"] == pytest.approx(0.2)  # sqrt(((0.2)^2 + 0 + (0.2)^2) / 2)
    assert ga["PS_mean"] == pytest.approx(0.6)  # the NaN is skipped
    assert ga["PS_std"] == pytest.approx(math.sqrt(0.02))  # sqrt((0.1^2 + 0.1^2) / 1)
    assert ga["RT_mean"] == pytest.approx(2.0) and ga["RT_std"] == pytest.approx(1.0)
    assert math.isnan(ga["TUA_mean"]) and math.isnan(ga["TUA_std"])  # N/A stays N/A
    late = summary.loc[("ga", 0.1)]  # one done, one failed (left out), one queued
    assert (late["runs"], late["done"]) == (3, 1)
    assert late["UA_mean"] == pytest.approx(0.9) and math.isnan(late["UA_std"])
    retrain = summary.loc[("retrain", 0.1)]
    assert retrain["UA_mean"] == pytest.approx(0.12) and retrain["RT_mean"] == 3.0
    assert math.isnan(summary.loc[("ga", 0.05), "acc_gap_mean"])  # a metric not collected
    # retrain first, then the study's methods; x ascending within each
    assert list(zip(result.summary["method"], result.summary["x"], strict=True)) == [
        ("retrain", 0.05),
        ("retrain", 0.1),
        ("ga", 0.05),
        ("ga", 0.1),
        ("ft", 0.05),
    ]
    assert list(result.runs.columns[:7]) == [
        "method",
        "x",
        "point",
        "seed",
        "name",
        "scenario",
        "state",
    ]
    assert set(result.runs["point"]) == {""}  # sizes need no label: x says it
    assert result.runs["seed"].tolist()[2:5] == [0, 1, 2]


def test_series_gives_the_plot_arrays() -> None:
    result = _study().aggregate(_runs())
    x, mean, std = result.series("ga", "UA")
    assert x.tolist() == [0.05, 0.1]
    np.testing.assert_allclose(mean, [0.4, 0.9])
    np.testing.assert_allclose(std, [0.2, NAN])
    assert result.methods == ["retrain", "ga", "ft"]
    assert result.x_label == "forget fraction" and result.metrics == STUDY_METRICS
    with pytest.raises(ValidationError, match=r"^method: expected one of"):
        result.series("scrub", "UA")
    with pytest.raises(ValidationError, match=r"^metric: expected one of"):
        result.series("ga", "accuracy")


def test_runs_outside_the_study_are_dropped_with_a_warning() -> None:
    runs = pd.concat(
        [
            _runs(),
            pd.DataFrame(
                [("other_ga", "classwise", "ga", 0, "done", 0.0, 0.0, NAN, 1.0)],
                columns=["name", "scenario", "method", "seed", "state", "UA", "PS", "TUA", "RT"],
            ),
        ]
    )
    with pytest.warns(RuntimeWarning, match=r"outside study 'sc': \['classwise'\]"):
        result = _study().aggregate(runs)
    assert "other_ga" not in set(result.runs["name"])


def test_aggregate_rejects_a_frame_without_the_run_columns() -> None:
    with pytest.raises(ValidationError, match=r"^runs: expected the columns .* \['state'\]"):
        _study().aggregate(_runs().drop(columns="state"))
    with pytest.raises(ValidationError, match=r"^runs: expected a pandas DataFrame"):
        _study().aggregate([{"name": "a"}])  # type: ignore[arg-type]


def test_summarise_carries_the_forget_size_and_counts_cells_without_done_runs() -> None:
    runs = pd.DataFrame(
        {
            "method": ["ga", "ga", "ft"],
            "x": [1.0, 1.0, 1.0],
            "state": ["done", "done", "cancelled"],
            "n_forget": [30, 30, 30],
            "UA": [0.5, 0.7, 0.1],
        }
    )
    table = summarise(runs, ["UA"])
    assert table.columns.tolist() == [
        "method",
        "x",
        "n_forget",
        "runs",
        "done",
        "UA_mean",
        "UA_std",
    ]
    assert table["UA_mean"].tolist()[0] == pytest.approx(0.6)
    assert table.loc[1, "done"] == 0 and math.isnan(table.loc[1, "UA_mean"])


@pytest.mark.parametrize(
    "study",
    [
        ScalabilityStudy(
            name="a",
            methods=("ga", "ft"),
            sizes=(1, 3),
            forget="classes",
            classes=(4, 2, 7),
            params={"ga": {"lr": 0.01}},
            seeds=(3, 4),
            recipe={"epochs": 2},
        ),
        SustainabilityStudy(name="b", methods=("scrub",), requests=3, size=0.02, eval_every=1),
        WorstCaseStudy(name="c", methods=("ga",), size=30, within=8, seeds=(1,)),
    ],
)
def test_studies_round_trip_through_json(study: object) -> None:
    import json

    data = json.loads(json.dumps(study.to_dict()))  # type: ignore[attr-defined]
    assert study_from_dict(data) == study


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"kind": "nope"},
            r"^kind: expected one of "
            r"\['corrective', 'scalability', 'sustainability', 'worst_case'\]",
        ),
        (
            {"kind": "scalability", "name": "a", "methods": ["ga"], "sizes": [0.1], "x": 1},
            r"^scalability study: expected fields among",
        ),
        ({"kind": "scalability", "name": "a"}, r"^scalability study: expected valid fields"),
    ],
)
def test_study_from_dict_rejects_bad_data(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        study_from_dict(data)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "has space"}, r"^name: expected 1-128 characters"),
        ({"name": "x" * 49}, r"^name: expected a study name of 1-48"),
        ({"methods": ()}, r"^methods: expected a non-empty list of method names"),
        ({"methods": ("ga", "ga")}, r"^methods: expected distinct methods"),
        ({"params": {"ft": {"lr": 0.1}}}, r"^params: expected keys among the methods"),
        ({"params": {"ga": 0.1}}, r"^params: expected a mapping method"),
        ({"seeds": ()}, r"^seeds: expected a non-empty list of integers"),
        ({"seeds": (1, 1)}, r"^seeds: expected distinct seeds"),
        ({"seeds": (0.5,)}, r"^seeds: expected a non-empty list of integers"),
        ({"forget": "worst"}, r"^forget: expected one of \['random', 'classes'\]"),
        ({"forget_seed": -1}, r"^forget_seed: expected a non-negative integer"),
        ({"classes": (1, 2)}, r"^classes: expected no class order for a random study"),
        ({"eval_every": -1}, r"^eval_every: expected a non-negative integer"),
        ({"base": ""}, r"^base: expected a model name"),
        ({"sizes": ()}, r"^sizes: expected a non-empty list"),
        ({"sizes": (0.1, 1.0)}, r"^sizes: expected a fraction in \(0, 1\), received 1.0"),
        ({"sizes": (0.2, 0.1)}, r"^sizes: expected strictly increasing sizes"),
        ({"sizes": (True,)}, r"^sizes: expected a fraction in \(0, 1\)"),
        ({"methods": ("x:a", "x-a")}, r"^methods: expected methods with distinct names"),
    ],
)
def test_bad_study_fields_name_the_field(fields: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"name": "s", "methods": ("ga",), "sizes": (0.1,)} | fields
    with pytest.raises(ValidationError, match=message):
        ScalabilityStudy(**values)  # type: ignore[arg-type]
