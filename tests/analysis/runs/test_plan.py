"""Tests of analysis/runs/plan.py: validation before queueing, names, recipes, reuse."""

from __future__ import annotations

from pathlib import Path

import pytest

import analysis
from analysis.errors import MethodError, ValidationError
from analysis.runs import api
from analysis.runs.jobs import ReferencesJob, ShadowsJob, TrainJob, UnlearnJob, grid_jobs
from analysis.runs.plan import resolve_recipe, submit
from analysis.runs.registry import REGISTRY_FILE, RunRegistry


def _registry(ws: Path) -> RunRegistry:
    return RunRegistry(ws / REGISTRY_FILE)


@pytest.mark.parametrize(
    ("job", "error", "message"),
    [
        (UnlearnJob("nosuch"), MethodError, r"^method: expected one of"),
        (UnlearnJob("ga", params={"alpha": 1.0}), MethodError, r"hyperparameter 'alpha'"),
        (UnlearnJob("ga", base="ghost"), ValidationError, r"^base: expected a model among"),
        (UnlearnJob("ga", scenario="nope"), ValidationError, r"^scenario: expected one of"),
        (TrainJob(role="retrain", scenario="nope"), ValidationError, r"^scenario"),
        (TrainJob(recipe={"lr": -1.0}), ValidationError, r"TrainConfig\.lr"),
        (ShadowsJob(1, "ga", scenario="nope"), ValidationError, r"^scenario"),
    ],
)
def test_bad_jobs_queue_nothing(sample_ws: Path, job: object, error: type, message: str) -> None:
    good = UnlearnJob("ga", params={"epochs": 1})
    with pytest.raises(error, match=message):
        submit(sample_ws, [good, job])  # type: ignore[list-item]
    assert _registry(sample_ws).list() == []


def test_names_params_and_dependencies(sample_ws: Path) -> None:
    ids = submit(sample_ws, grid_jobs("ga", grid={"lr": [0.01, 0.02]}, scenario="random"))
    records = _registry(sample_ws).list(ids=ids)
    assert [r.name for r in records] == ["ga_random_1", "ga_random_2"]
    assert records[0].params["epochs"] == 6 and records[1].params["lr"] == 0.02  # full params
    assert records[0].file == sample_ws / "models/runs/ga_random_1.safetensors"
    assert (records[0].kind, records[0].role, records[0].forget) == (
        "unlearn",
        "unlearned",
        "random",
    )
    # a base that is itself still queued: the run waits for it
    (train_id,) = submit(sample_ws, [TrainJob(role="retrain", scenario="random", name="rt2")])
    (child,) = submit(sample_ws, [UnlearnJob("ft", base="rt2", scenario="random")])
    assert _registry(sample_ws).get_id(child).depends_on == "rt2"  # type: ignore[union-attr]
    api.cancel(sample_ws, train_id)
    with pytest.raises(ValidationError, match=r"^base: expected a model with weights"):
        submit(sample_ws, [UnlearnJob("ft", base="rt2")])
    with pytest.raises(ValidationError, match=r"^name: expected a name not used"):
        submit(sample_ws, [TrainJob(role="original", name="original")])


def test_a_chain_of_runs_in_one_submission_waits_step_by_step(sample_ws: Path) -> None:
    api.add_scenario(sample_ws, "first", classes=[1])
    api.add_scenario(sample_ws, "both", classes=[1, 2])
    jobs = [
        UnlearnJob("ga", scenario="first", name="req1"),
        UnlearnJob("ga", base="req1", scenario="both", name="req2", forgotten="first"),
    ]
    ids = submit(sample_ws, jobs, batch="chain")
    first, second = _registry(sample_ws).list(ids=ids)
    assert (first.depends_on, second.depends_on) == (None, "req1")
    assert first.batch == second.batch == "chain"
    assert second.job["forgotten"] == "first" and second.forget == "both"
    # a numbered (not fixed) name cannot be a later job's base: it is not known in advance
    with pytest.raises(ValidationError, match=r"^base: expected a model among"):
        submit(sample_ws, [UnlearnJob("ga", scenario="first"), UnlearnJob("ga", base="ga_first_1")])


@pytest.mark.parametrize(
    ("forgotten", "scenario"),
    [("both", "first"), ("first", "first"), ("other", "both"), ("ghost", "both")],
)
def test_forgotten_must_be_a_strict_subset(sample_ws: Path, forgotten: str, scenario: str) -> None:
    api.add_scenario(sample_ws, "first", classes=[1])
    api.add_scenario(sample_ws, "both", classes=[1, 2])
    api.add_scenario(sample_ws, "other", classes=[3])
    message = r"^scenario: expected one of" if forgotten == "ghost" else r"^forgotten: expected"
    with pytest.raises(ValidationError, match=message):
        submit(sample_ws, [UnlearnJob("ga", scenario=scenario, forgotten=forgotten)])
    assert _registry(sample_ws).list() == []


def test_recipes_come_from_the_toml(sample_ws: Path, mlp_ws: Path) -> None:
    sample = analysis.load_experiment(sample_ws)
    assert resolve_recipe(sample, "retrain", "classwise", {"epochs": 2})["epochs"] == 2
    assert resolve_recipe(sample, "reference", None)["lr"] == 0.05
    blobs = analysis.load_experiment(mlp_ws)
    recipe = resolve_recipe(blobs, "retrain", "random")
    assert (recipe["optimizer"], recipe["epochs"], recipe["seed"]) == ("adam", 3, 7)


def test_training_a_declared_model_writes_its_toml_file(mlp_ws: Path) -> None:
    (run_id,) = submit(mlp_ws, [TrainJob(role="original")])
    record = _registry(mlp_ws).get_id(run_id)
    assert record is not None and record.name == "original"
    assert record.file == mlp_ws / "models" / "original.safetensors"
    assert record.seed == 7 and record.train["optimizer"] == "adam"
    (retrain,) = submit(mlp_ws, [TrainJob(role="retrain", scenario="classwise")])
    assert _registry(mlp_ws).get_id(retrain).name == "retrain_classwise"  # type: ignore[union-attr]


def test_references_continue_and_shadows_reuse(sample_ws: Path) -> None:
    first = submit(sample_ws, [ReferencesJob(2)])
    second = submit(sample_ws, [ReferencesJob(1)])
    names = [r.name for r in _registry(sample_ws).list(ids=first + second)]
    assert names == ["ref_s0_000", "ref_s0_001", "ref_s0_002"]
    shadows = submit(sample_ws, [ShadowsJob(3, "ga")])
    created = [r.name for r in _registry(sample_ws).list(ids=shadows) if r.role == "shadow"]
    assert created == [
        "shadow_ga_classwise_s0_000",
        "shadow_retrain_classwise_s0_000",
        "shadow_ga_classwise_s0_001",
        "shadow_retrain_classwise_s0_001",
        "shadow_ga_classwise_s0_002",
        "shadow_retrain_classwise_s0_002",
    ]  # the three bases are the references queued above
    unl = _registry(sample_ws).get("shadow_ga_classwise_s0_001")
    assert unl is not None and (unl.role, unl.base, unl.method) == ("shadow", "ref_s0_001", "ga")
    assert unl.depends_on == "ref_s0_001" and unl.forget_mask is not None
    again = submit(sample_ws, [ShadowsJob(3, "rl", params={"epochs": 1})])
    names = [r.name for r in _registry(sample_ws).list(ids=again) if r.method == "rl"]
    assert len(names) == 3 and all(n.startswith("shadow_rl_classwise_s0_00") for n in names)
    # everything exists: reused, and the still-queued ones are handed back to be run
    assert set(submit(sample_ws, [ShadowsJob(3, "ga")])) == {*first, *second, *shadows}
    assert len(_registry(sample_ws).list()) == 12
