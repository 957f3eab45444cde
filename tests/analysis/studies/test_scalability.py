"""Tests of analysis/studies/scalability.py: the jobs and forget sets a spec produces."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import ValidationError
from analysis.runs.jobs import TrainJob, UnlearnJob
from analysis.studies import ScalabilityStudy

LABELS = np.repeat(np.arange(5), 40)  # 200 samples, 5 classes


def test_one_retrain_per_size_then_every_method_and_seed() -> None:
    study = ScalabilityStudy(
        name="sc",
        methods=("ga", "ft"),
        sizes=(0.05, 0.1, 0.2),
        seeds=(0, 7),
        params={"ga": {"lr": 0.02}},
        recipe={"epochs": 3},
        base="ft_random",
    )
    jobs = study.jobs()
    assert len(jobs) == 3 * (1 + 2 * 2)
    retrains = [j for j in jobs if isinstance(j, TrainJob)]
    assert [(j.role, j.scenario, j.name) for j in retrains] == [
        ("retrain", "sc_f0.05", "sc_f0.05_retrain"),
        ("retrain", "sc_f0.1", "sc_f0.1_retrain"),
        ("retrain", "sc_f0.2", "sc_f0.2_retrain"),
    ]
    assert all(dict(j.recipe) == {"epochs": 3} for j in retrains)
    runs = [j for j in jobs if isinstance(j, UnlearnJob)]
    assert [(j.scenario, j.method, j.seed) for j in runs[:4]] == [
        ("sc_f0.05", "ga", 0),
        ("sc_f0.05", "ga", 7),
        ("sc_f0.05", "ft", 0),
        ("sc_f0.05", "ft", 7),
    ]
    assert {j.base for j in runs} == {"ft_random"} and {j.forgotten for j in runs} == {None}
    assert runs[0].name == "sc_f0.05_ga_s0" and dict(runs[0].params) == {"lr": 0.02}
    assert dict(runs[2].params) == {}
    assert all(j.eval_every == 0 for j in jobs)
    # every size's retrain comes before its runs
    order = [j.name for j in jobs]
    assert order.index("sc_f0.1_retrain") < order.index("sc_f0.1_ga_s0")


def test_random_forget_sets_grow_by_prefixes_of_one_seeded_permutation() -> None:
    study = ScalabilityStudy(name="sc", methods=("ga",), sizes=(0.05, 0.1, 0.2), forget_seed=3)
    tables = study.forget_tables(LABELS)
    sets = [tables[s.scenario]["indices"] for s in study.steps()]
    assert [len(s) for s in sets] == [10, 20, 40] == study.counts(200, 5)
    assert set(sets[0]) <= set(sets[1]) <= set(sets[2])
    assert all((np.diff(s) > 0).all() and s.dtype == np.int64 for s in sets)
    again = study.forget_tables(LABELS)
    assert all(np.array_equal(tables[k]["indices"], again[k]["indices"]) for k in tables)
    other = ScalabilityStudy(name="sc", methods=("ga",), sizes=(0.05,), forget_seed=4)
    assert not np.array_equal(other.forget_tables(LABELS)["sc_f0.05"]["indices"], sets[0])


def test_class_sizes_take_prefixes_of_the_class_order() -> None:
    given = ScalabilityStudy(
        name="cl", methods=("ga",), sizes=(1, 2, 3), forget="classes", classes=(4, 0, 2)
    )
    assert [s.scenario for s in given.steps()] == ["cl_c1", "cl_c2", "cl_c3"]
    assert [s.x for s in given.steps()] == [1.0, 2.0, 3.0]
    assert list(given.forget_tables(LABELS).values()) == [
        {"classes": [4]},
        {"classes": [4, 0]},
        {"classes": [4, 0, 2]},
    ]
    drawn = ScalabilityStudy(name="cl", methods=("ga",), sizes=(1, 4), forget="classes")
    order = drawn.forget_tables(LABELS)["cl_c4"]["classes"]
    assert len(set(order)) == 4 and set(order) <= set(range(5))
    assert drawn.forget_tables(LABELS)["cl_c1"]["classes"] == order[:1]
    orders = {  # the default order is a permutation drawn with forget_seed
        tuple(
            ScalabilityStudy(
                name="cl", methods=("ga",), sizes=(4,), forget="classes", forget_seed=s
            ).forget_tables(LABELS)["cl_c4"]["classes"]
        )
        for s in range(6)
    }
    assert len(orders) > 1 and tuple(order) in orders
    assert drawn.x_label == "forget classes" and given.x_label == "forget classes"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sizes": (1, 5), "forget": "classes"}, r"^sizes: expected fewer than the 5 classes"),
        ({"sizes": (0.001, 0.002)}, r"^sizes: expected fractions giving distinct sample counts"),
        ({"sizes": (0, 1), "forget": "classes"}, r"^sizes: expected a positive number of classes"),
        (
            {"sizes": (1, 3), "forget": "classes", "classes": (1, 2)},
            r"^classes: expected at least 3 classes",
        ),
        (
            {"sizes": (1,), "forget": "classes", "classes": (9,)},
            r"^classes: expected class ids among \[0, 1, 2, 3, 4\]",
        ),
    ],
)
def test_sizes_the_data_cannot_provide_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        study = ScalabilityStudy(name="s", methods=("ga",), **fields)  # type: ignore[arg-type]
        study.forget_tables(LABELS)
