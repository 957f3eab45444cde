"""Tests of analysis/studies/api.py: submission (all or nothing), status, cancel, results, and
one small end-to-end scalability study on the digits sample."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import analysis
from analysis.errors import MethodError, ValidationError
from analysis.runs.registry import REGISTRY_FILE, RunRegistry
from analysis.studies import (
    ScalabilityStudy,
    SustainabilityStudy,
    cancel_study,
    list_studies,
    load_study,
    run_study,
    study_results,
    study_runs,
    study_status,
    submit_study,
)


def _registry(ws: Path) -> RunRegistry:
    return RunRegistry(ws / REGISTRY_FILE)


def test_submit_queues_the_runs_under_the_study_and_cancel_stops_them(sample_ws: Path) -> None:
    study = SustainabilityStudy(name="seq", methods=("ga",), requests=2, size=0.05, seeds=(0, 1))
    record = submit_study(sample_ws, study)
    assert (record.name, record.kind) == ("seq", "sustainability")
    assert load_study(record) == study and list_studies(sample_ws) == [record]
    scenarios = _registry(sample_ws).scenarios()
    assert scenarios["seq_r1"] == {"indices": "scenarios/seq_r1.npy"}
    r1, r2 = (np.load(sample_ws / f"scenarios/seq_r{k}.npy") for k in (1, 2))
    assert len(r1) == 72 and len(r2) == 144 and set(r1) < set(r2)
    runs = study_runs(sample_ws, "seq")
    assert {r.batch for r in runs} == {record.batch} and len(runs) == 6
    chained = {r.name: r for r in runs}["seq_r2_ga_s1"]
    assert (chained.depends_on, chained.job["forgotten"]) == ("seq_r1_ga_s1", "seq_r1")
    status = study_status(sample_ws, "seq")
    assert (status.total, status.counts["queued"], status.fraction, status.finished) == (
        6,
        6,
        0.0,
        False,
    )
    assert sorted(cancel_study(sample_ws, "seq")) == sorted(r.id for r in runs)
    after = study_status(sample_ws, "seq")
    assert after.counts["cancelled"] == 6 and after.finished and after.fraction == 1.0
    assert cancel_study(sample_ws, "seq") == []
    with pytest.warns(RuntimeWarning, match=r"study 'seq': 6 of 6 runs are not done"):
        result = study_results(sample_ws, "seq", device="cpu")
    assert result.summary["done"].tolist() == [0, 0, 0, 0]
    assert result.summary["UA_mean"].isna().all() and len(result.runs) == 6


def _nothing_left(ws: Path) -> None:
    registry = _registry(ws)
    assert registry.studies() == [] and registry.list() == [] and registry.scenarios() == {}
    assert not list(ws.glob("scenarios/*.npy"))


@pytest.mark.parametrize(
    ("study", "error", "message"),
    [
        (ScalabilityStudy(name="s", methods=("nosuch",), sizes=(0.1,)), MethodError, r"^method"),
        (
            ScalabilityStudy(name="s", methods=("ga",), sizes=(0.1,), params={"ga": {"x": 1}}),
            MethodError,
            r"hyperparameter 'x'",
        ),
        (
            ScalabilityStudy(name="s", methods=("ga",), sizes=(0.05, 0.1), base="ghost"),
            ValidationError,
            r"^base: expected a model among",
        ),
        (
            ScalabilityStudy(name="s", methods=("ga",), sizes=(0.1,), recipe={"lr": -1.0}),
            ValidationError,
            r"lr",
        ),
        (
            ScalabilityStudy(name="s", methods=("ga",), sizes=(2, 10), forget="classes"),
            ValidationError,
            r"^sizes: expected fewer than the 10 classes",
        ),
    ],
)
def test_a_study_that_does_not_fit_leaves_nothing_behind(
    sample_ws: Path, study: ScalabilityStudy, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        submit_study(sample_ws, study)
    _nothing_left(sample_ws)


def test_names_must_be_free_and_the_study_must_exist(sample_ws: Path) -> None:
    study = ScalabilityStudy(name="s", methods=("ga",), sizes=(0.1,))
    submit_study(sample_ws, study)
    with pytest.raises(ValidationError, match=r"^name: expected a name not already used"):
        submit_study(sample_ws, study)
    analysis.add_scenario(sample_ws, "t_c1", classes=[1])
    with pytest.raises(ValidationError, match=r"scenarios are free \(\['t_c1'\] exist\)"):
        submit_study(
            sample_ws, ScalabilityStudy(name="t", methods=("ga",), sizes=(1,), forget="classes")
        )
    with pytest.raises(ValidationError, match=r"^study: expected a Study"):
        submit_study(sample_ws, {"name": "x"})  # type: ignore[arg-type]
    for call in (study_status, cancel_study, study_results, study_runs):
        with pytest.raises(ValidationError, match=r"^study: expected a study of the workspace"):
            call(sample_ws, "nope")  # type: ignore[operator]
    assert [s.name for s in list_studies(sample_ws)] == ["s"]


def test_scalability_end_to_end_on_the_digits_sample(sample_ws: Path) -> None:
    study = ScalabilityStudy(
        name="grow",
        methods=("ga",),
        sizes=(0.05, 0.1),
        params={"ga": {"epochs": 2}},
        recipe={"epochs": 4},
    )
    submit_study(sample_ws, study)
    records = run_study(sample_ws, "grow", device="cpu")
    assert [(r.name, r.state) for r in records] == [
        ("grow_f0.05_retrain", "done"),
        ("grow_f0.05_ga_s0", "done"),
        ("grow_f0.1_retrain", "done"),
        ("grow_f0.1_ga_s0", "done"),
    ]
    assert study_status(sample_ws, "grow").counts["done"] == 4
    result = study_results(sample_ws, "grow", device="cpu")
    runs = result.runs.set_index("name")
    assert runs["n_forget"].tolist() == [72, 144, 72, 144]  # round(0.05 * 1437), round(0.1 * 1437)
    assert runs.loc["grow_f0.1_retrain", "acc_gap"] == 0.0
    assert runs.loc["grow_f0.1_ga_s0", "UA_gap"] == pytest.approx(
        runs.loc["grow_f0.1_ga_s0", "UA"] - runs.loc["grow_f0.1_retrain", "UA"]
    )
    # the same numbers as the Models page's table of that scenario
    exp = analysis.load_experiment(sample_ws, scenario="grow_f0.1")
    table = analysis.models_table(exp, device="cpu").set_index("name")
    for metric in ("UA", "RA", "TRA", "PS", "mia_efficacy", "privleak", "RT"):
        assert runs.loc["grow_f0.1_ga_s0", metric] == pytest.approx(
            table.loc["grow_f0.1_ga_s0", metric], nan_ok=True
        )
    # ... and the run's own final evaluation
    run = {r.name: r for r in records}["grow_f0.1_ga_s0"]
    assert runs.loc["grow_f0.1_ga_s0", "UA"] == pytest.approx(run.metrics["UA"])
    assert math.isnan(runs.loc["grow_f0.1_ga_s0", "TUA"])  # random forgetting: N/A
    assert 0.0 <= runs.loc["grow_f0.1_ga_s0", "PS"] <= 1.0 and run.rt > 0
    x, mean, std = result.series("ga", "UA")
    assert x.tolist() == [0.05, 0.1] and np.isfinite(mean).all() and np.isnan(std).all()
