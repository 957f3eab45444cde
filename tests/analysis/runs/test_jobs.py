"""Tests of analysis/runs/jobs.py: job JSON, typed parameter parsing, grids."""

from __future__ import annotations

import json

import pytest

from analysis.errors import MethodError, ValidationError
from analysis.runs.jobs import (
    ReferencesJob,
    ShadowsJob,
    Subset,
    TrainJob,
    UnlearnJob,
    grid_jobs,
    job_from_dict,
    job_to_dict,
    method_fields,
    parse_grid,
    parse_params,
    parse_recipe,
)


@pytest.mark.parametrize(
    "job",
    [
        TrainJob(role="original", recipe={"epochs": 2, "optimizer": "adam"}, seed=3),
        TrainJob(role="shadow", scenario="c", subset=Subset(0, 2, "c", drop_forget=True)),
        UnlearnJob("ga", params={"lr": 0.01}, seed=2, stop_at_ua=0.05, name="ga_1"),
        UnlearnJob("ft", base="ga_1", scenario="both", forgotten="first"),
        ReferencesJob(4, seed=1, recipe={"epochs": 1}),
        ShadowsJob(2, "scrub", params={"alpha": 0.5}, scenario="random", seed=9),
    ],
)
def test_jobs_round_trip_through_json(job: object) -> None:
    data = json.loads(json.dumps(job_to_dict(job)))  # type: ignore[arg-type]
    assert job_from_dict(data) == job


def test_job_validation_names_the_field() -> None:
    with pytest.raises(ValidationError, match=r"^count: expected a positive integer \(K >= 1\)"):
        ReferencesJob(0)
    with pytest.raises(ValidationError, match=r"^stop_at_ua: expected a forget accuracy"):
        UnlearnJob("ga", stop_at_ua=1.5)
    with pytest.raises(ValidationError, match=r"^subset"):
        TrainJob(role="reference")
    with pytest.raises(ValidationError, match=r"^role"):
        TrainJob(role="teacher")
    with pytest.raises(ValidationError, match=r"^unlearn job: expected fields among"):
        job_from_dict({"type": "unlearn", "method": "ga", "lr": 1})
    with pytest.raises(ValidationError, match=r"^forgotten: expected a scenario name"):
        UnlearnJob("ga", forgotten="")
    with pytest.raises(ValidationError, match=r"^forgotten: expected a scenario name"):
        UnlearnJob("ga", forgotten="c", subset=Subset(0, 1, "c"))
    # a job stored before ``forgotten`` existed still loads
    assert job_from_dict({"type": "unlearn", "method": "ga"}).forgotten is None  # type: ignore[union-attr]


def test_params_parse_with_the_method_types() -> None:
    assert parse_params("ga", ["lr=1e-3", "epochs=2", "clip_norm=0.5"]) == {
        "lr": 0.001,
        "epochs": 2,
        "clip_norm": 0.5,
    }
    assert parse_params("ga", ["stop_at_ua=0.05"]) == {"stop_at_ua": 0.05}
    assert [f.name for f in method_fields("ga")][-1] == "clip_norm"
    assert {f.type for f in method_fields("scrub")} <= {"int", "float", "bool", "str", "choice"}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["lr=fast"], r"^ga hyperparameter 'lr': expected a value of type float, received 'fast'"),
        (["epochs=1.5"], r"^ga hyperparameter 'epochs': expected a value of type int"),
        (["alpha=1"], r"^ga hyperparameter 'alpha': expected one of the accepted"),
        (["lr"], r"^--param: expected KEY=VALUE, received 'lr'"),
        (["lr="], r"^--param: expected KEY=VALUE"),
        (["lr=nan"], r"^ga hyperparameter 'lr': expected a value of type float"),
    ],
)
def test_bad_params_name_the_field(items: list[str], message: str) -> None:
    with pytest.raises(MethodError, match=message):
        parse_params("ga", items)


def test_grid_parsing_and_cartesian_product() -> None:
    grid = parse_grid("ga", ["lr=0.01,0.02", "epochs=1,2,3"])
    assert grid == {"lr": [0.01, 0.02], "epochs": [1, 2, 3]}
    jobs = grid_jobs("ga", params={"clip_norm": 0.5}, grid=grid, seeds=[0, 1])
    assert len(jobs) == 12
    combos = {(j.params["lr"], j.params["epochs"], j.seed) for j in jobs}
    assert len(combos) == 12 and all(j.params["clip_norm"] == 0.5 for j in jobs)
    stopped = grid_jobs("ga", grid={"stop_at_ua": [0.1, 0.2]})
    assert [j.stop_at_ua for j in stopped] == [0.1, 0.2] and "stop_at_ua" not in stopped[0].params
    for bad, message in (
        (["lr=0.1,,0.2"], r"^--grid: expected KEY=V1,V2"),
        (["lr=0.1", "lr=0.2"], r"^--grid: expected each hyperparameter once"),
        (["lr:0.1"], r"^--grid: expected KEY=VALUE"),
    ):
        with pytest.raises(MethodError, match=message):
            parse_grid("ga", bad)


def test_grid_values_are_range_checked_and_seeds_validated() -> None:
    with pytest.raises(MethodError, match=r"GAParams\.lr: expected a positive number"):
        grid_jobs("ga", grid={"lr": [0.1, -1.0]})
    with pytest.raises(ValidationError, match=r"^seeds"):
        grid_jobs("ga", seeds=[])
    with pytest.raises(ValidationError, match=r"^seeds: expected distinct seeds"):
        grid_jobs("ga", seeds=[1, 1])
    with pytest.raises(MethodError, match=r"^method: expected one of"):
        parse_params("nosuch", ["lr=1"])


def test_recipe_parsing() -> None:
    assert parse_recipe(["epochs=2", "optimizer=adam", "augmentation=crop_flip"]) == {
        "epochs": 2,
        "optimizer": "adam",
        "augmentation": "crop_flip",
    }
    with pytest.raises(ValidationError, match=r"^recipe field 'optimizer': expected one of"):
        parse_recipe(["optimizer=rmsprop"])
    with pytest.raises(ValidationError, match=r"^recipe field 'epoch'"):
        parse_recipe(["epoch=2"])


@pytest.mark.parametrize("method", ["retrain", "ft", "ga", "rl", "scrub", "salun", "l1sparse"])
def test_declared_bounds_reach_the_form_and_are_enforced(method: str) -> None:
    """Every numeric bound the form shows is one the method refuses to cross."""
    from analysis.errors import MethodError
    from analysis.unlearn import make_method

    specs = {f.name: f for f in method_fields(method)}
    assert specs["epochs"].bounds == (1, None) and specs["momentum"].bounds == (0.0, 1.0)
    for spec in specs.values():
        if spec.type not in ("int", "float"):
            assert spec.bounds == (None, None), spec
            continue
        low, high = spec.bounds
        assert low is not None, f"{method}.{spec.name} declares no lower bound"
        below = low - 1 if spec.type == "int" else low - 0.5
        with pytest.raises(MethodError, match=spec.name):
            make_method(method, {spec.name: below})
        if high is not None:
            with pytest.raises(MethodError, match=spec.name):
                make_method(method, {spec.name: high + (1 if spec.type == "int" else 0.5)})
