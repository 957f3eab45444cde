"""The Run panel's form logic: typed fields, grid values, seeds, jobs and run counts."""

from __future__ import annotations

import pytest

import analysis
from analysis.errors import MethodError, UlensError, ValidationError
from analysis.runs import ReferencesJob, ShadowsJob, TrainJob, UnlearnJob, method_fields
from dashboard.views import run_form as form


def test_fields_follow_the_method_and_the_recipe() -> None:
    for method in analysis.available_methods():
        assert form.fields_for("unlearn", method=method) == method_fields(method)
    recipe = form.fields_for("train", recipe={"epochs": 3, "optimizer": "adam"})
    by_name = {f.name: f for f in recipe}
    assert "seed" not in by_name  # seeds are chosen on their own
    assert (by_name["epochs"].type, by_name["epochs"].default) == ("int", 3)
    assert by_name["optimizer"].choices == ("sgd", "adam")
    assert by_name["optimizer"].default == "adam"
    with pytest.raises(MethodError):
        form.fields_for("unlearn", method="nope")
    with pytest.raises(ValidationError, match="job kind"):
        form.fields_for("bake")


def test_grid_values_are_typed_bounded_and_at_most_five() -> None:
    lr = form.field("lr", "float", 0.01)
    assert form.parse_field_values(lr, "0.01, 1e-3") == [0.01, 0.001]
    assert form.parse_field_values(form.field("s", "choice", "a", ("a", "b")), "b,a") == ["b", "a"]
    assert form.parse_field_values(form.field("f", "bool", True), "yes, no") == [True, False]
    with pytest.raises(UlensError, match="lr"):
        form.parse_field_values(lr, "0.1, fast")
    with pytest.raises(ValidationError, match="at most 5"):
        form.parse_field_values(lr, "1,2,3,4,5,6")
    with pytest.raises(ValidationError, match="distinct"):
        form.parse_field_values(lr, "1, 1.0")
    with pytest.raises(ValidationError, match="empty"):
        form.parse_field_values(lr, "1,,2")

    class Bounded:
        name, type, default, choices, bounds = "momentum", "float", 0.9, (), (0.0, 0.99)

    with pytest.raises(ValidationError, match=r"\[0.0, 0.99\]"):
        form.parse_field_values(Bounded(), "0.5, 1.5")  # type: ignore[arg-type]
    assert form.format_values([0.0005, 3, False]) == "0.0005, 3, false"


def test_seeds() -> None:
    assert form.parse_seeds(" 3, 1 ,2") == [3, 1, 2]
    for bad, match in (("", "at least one"), ("1,x", "integers"), ("1,1", "distinct")):
        with pytest.raises(ValidationError, match=match):
            form.parse_seeds(bad)
    with pytest.raises(ValidationError, match="at most"):
        form.parse_seeds(",".join(map(str, range(form.MAX_SEEDS + 1))))


def test_unlearn_grid_jobs_and_their_count() -> None:
    request = form.RunRequest(
        "unlearn",
        method="ga",
        base="original",
        scenario="random",
        values={"lr": [0.01, 0.02, 0.03], "epochs": [1]},
        seeds=[0, 1],
        stop_at_ua=0.1,
        eval_every=2,
    )
    jobs = form.build_jobs(request)
    assert len(jobs) == form.run_count(jobs) == 6
    assert all(isinstance(j, UnlearnJob) for j in jobs)
    job = jobs[0]
    assert isinstance(job, UnlearnJob)
    assert (job.scenario, job.stop_at_ua, job.eval_every, dict(job.params)) == (
        "random",
        0.1,
        2,
        {"lr": 0.01, "epochs": 1},
    )
    assert form.grid_summary(request, jobs) == (
        "6 runs: ga on random from original, lr (3 values) × 2 seeds"
    )
    with pytest.raises(MethodError, match="lr"):
        form.build_jobs(form.RunRequest("unlearn", method="ga", values={"lr": [-1.0]}))


def test_train_references_and_shadows_jobs() -> None:
    train = form.build_jobs(
        form.RunRequest(
            "train", role="retrain", scenario="s", values={"epochs": [1, 2]}, seeds=[0, 5]
        )
    )
    assert len(train) == 4 and all(isinstance(j, TrainJob) for j in train)
    assert {(j.recipe["epochs"], j.seed, j.scenario) for j in train} == {
        (1, 0, "s"),
        (1, 5, "s"),
        (2, 0, "s"),
        (2, 5, "s"),
    }
    original = form.build_jobs(form.RunRequest("train", role="original", scenario="s"))
    assert original[0].scenario is None  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="epochs"):
        form.build_jobs(form.RunRequest("train", values={"epochs": [0]}))
    (refs,) = form.build_jobs(
        form.RunRequest("references", values={"epochs": [3]}, count=4, seeds=[7])
    )
    assert isinstance(refs, ReferencesJob) and (refs.count, refs.seed) == (4, 7)
    assert form.run_count([refs]) == 4
    (shadows,) = form.build_jobs(
        form.RunRequest("shadows", method="ga", values={"epochs": [1]}, count=2, seeds=[0])
    )
    assert isinstance(shadows, ShadowsJob) and form.run_count([shadows]) == 6
    with pytest.raises(ValidationError, match="one value per field"):
        form.build_jobs(form.RunRequest("shadows", method="ga", values={"epochs": [1, 2]}))


def test_huge_grids_are_refused_before_any_job_is_built() -> None:
    values = {f"f{i}": [1, 2, 3, 4, 5] for i in range(6)}  # 15,625 combinations
    with pytest.raises(ValidationError, match="at most 500 runs"):
        form.build_jobs(form.RunRequest("unlearn", method="ga", values=values))
