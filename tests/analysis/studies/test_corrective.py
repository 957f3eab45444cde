"""Tests of analysis/studies/corrective.py: the plan, the known subsets, the aggregation against
hand-computed values, bad input, and one small study end to end on the digits sample."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.errors import ValidationError
from analysis.manipulation import Manipulation
from analysis.runs.jobs import TrainJob, UnlearnJob
from analysis.studies import CorrectiveStudy, study_from_dict

FLIP = {"kind": "label_flip", "fraction": 0.2, "seed": 1}
LABELS = np.repeat(np.arange(4), 25)


def test_the_plan_trains_a_poisoned_original_and_a_retrain_without_every_manipulated_sample() -> (
    None
):
    study = CorrectiveStudy(
        name="c", methods=("ga", "ft"), known=(0.5, 1.0), seeds=(0, 1), manipulation=FLIP
    )
    jobs = study.jobs()
    retrain, original, *runs = jobs
    assert (
        isinstance(retrain, TrainJob) and retrain.role == "retrain" and retrain.scenario == "c_all"
    )
    assert isinstance(original, TrainJob) and (original.role, original.name) == (
        "original",
        "c_original",
    )
    assert all(isinstance(j, UnlearnJob) and j.base == "c_original" for j in runs)
    assert [j.name for j in runs][:2] == ["c_k0.5_ga_s0", "c_k0.5_ga_s1"] and len(runs) == 8
    manipulation = Manipulation.from_dict(FLIP).to_dict()
    assert all(dict(j.manipulation or {}) == manipulation for j in jobs)  # every job applies it
    assert study_from_dict(study.to_dict()) == study
    assert study.to_dict()["manipulation"] == manipulation


def test_known_subsets_are_nested_prefixes_of_the_manipulated_samples() -> None:
    study = CorrectiveStudy(
        name="c", methods=("ga",), known=(0.25, 0.5, 1.0), manipulation=FLIP, forget_seed=4
    )
    tables = study.forget_tables(LABELS)
    manipulated = Manipulation.from_dict(FLIP).indices(LABELS)
    assert tables["c_all"]["indices"].tolist() == manipulated.tolist()
    known = [set(tables[f"c_k{f:g}"]["indices"].tolist()) for f in (0.25, 0.5, 1.0)]
    assert [len(k) for k in known] == [5, 10, 20] and known[0] < known[1] < known[2]
    assert known[2] == set(manipulated.tolist())
    other = CorrectiveStudy(
        name="c", methods=("ga",), known=(0.25, 0.5, 1.0), manipulation=FLIP, forget_seed=5
    )
    assert other.forget_tables(LABELS)["c_k0.25"]["indices"].tolist() != sorted(known[0])


def _runs() -> pd.DataFrame:
    rows = [
        ("c_original", "original", 0, 0.90, 0.80, 0.70),
        ("c_all_retrain", "retrain", 0, 0.95, 0.10, 0.00),
        ("c_k0.5_ga_s0", "ga", 0, 0.93, 0.30, 0.20),
        ("c_k0.5_ga_s1", "ga", 1, 0.89, 0.50, 0.40),
        ("c_k0.5_ga_s2", "ga", 2, 0.10, 0.90, 0.90),  # failed: left out of the means
    ]
    frame = pd.DataFrame(rows, columns=["name", "method", "seed", "clean_acc", "attack", "UA"])
    return frame.assign(
        scenario="c_k0.5", state=["done"] * 4 + ["failed"], RT=[5, 5, 1, 3, math.nan]
    )


def test_aggregation_against_hand_computed_values() -> None:
    study = CorrectiveStudy(
        name="c", methods=("ga",), known=(0.5,), seeds=(0, 1, 2), manipulation=FLIP
    )
    result = study.aggregate(_runs())
    assert result.kind == "corrective" and result.x_label == "known fraction"
    assert result.methods == ["original", "retrain", "ga"]
    ga = result.summary.set_index("method").loc["ga"]
    assert (int(ga["runs"]), int(ga["done"])) == (3, 2)
    assert ga["clean_acc_mean"] == pytest.approx(0.91)
    assert ga["clean_acc_std"] == pytest.approx(np.std([0.93, 0.89], ddof=1))
    assert ga["attack_gap_mean"] == pytest.approx((0.30 - 0.10 + 0.50 - 0.10) / 2)
    assert ga["UA_gap_mean"] == pytest.approx(0.30)
    assert ga["clean_acc_gap_mean"] == pytest.approx(0.91 - 0.95)
    assert ga["RT_mean"] == pytest.approx(2.0)
    before = result.summary.set_index("method").loc["original"]
    assert before["attack_gap_mean"] == pytest.approx(0.70) and math.isnan(before["attack_std"])
    assert result.series("ga", "attack")[1].tolist() == pytest.approx([0.4])
    runs = result.runs.set_index("name")
    assert runs.loc["c_k0.5_ga_s1", "UA_gap"] == pytest.approx(0.40)


def test_without_a_done_retrain_the_gaps_are_nan() -> None:
    study = CorrectiveStudy(
        name="c", methods=("ga",), known=(0.5,), seeds=(0, 1, 2), manipulation=FLIP
    )
    runs = _runs()
    runs.loc[runs["method"] == "retrain", "state"] = "running"
    summary = study.aggregate(runs).summary.set_index("method")
    assert math.isnan(summary.loc["ga", "attack_gap_mean"]) and summary.loc[
        "ga", "attack_mean"
    ] == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"known": (0.5, 0.2)}, "known: expected strictly increasing fractions"),
        ({"known": (0.0,)}, r"known: expected fractions in \(0, 1\]"),
        ({"known": ()}, "known: expected a non-empty list"),
        ({"base": "ga"}, "base: expected 'original'"),
        ({"forget": "classes"}, "forget: expected 'random'"),
        ({"manipulation": {"kind": "flip", "fraction": 0.1}}, "manipulation.kind: expected one of"),
        ({"manipulation": "label_flip"}, "manipulation: expected a mapping"),
    ],
)
def test_bad_input_names_the_field(fields: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"name": "c", "methods": ("ga",), "manipulation": FLIP, **fields}
    with pytest.raises(ValidationError, match=message):
        CorrectiveStudy(**values)  # type: ignore[arg-type]


def test_fractions_giving_the_same_count_are_refused() -> None:
    study = CorrectiveStudy(name="c", methods=("ga",), known=(0.5, 0.52), manipulation=FLIP)
    with pytest.raises(ValidationError, match="known: expected fractions giving distinct counts"):
        study.forget_tables(LABELS)  # 20 manipulated samples: both give 10


def test_a_backdoor_study_end_to_end_on_the_sample(sample_ws: Path) -> None:
    from analysis.runs.registry import REGISTRY_FILE, RunRegistry
    from analysis.studies import run_study, study_results, submit_study

    trigger = {"kind": "trigger", "fraction": 0.1, "target": 0, "patch": 2}
    study = CorrectiveStudy(
        name="bd",
        methods=("ga",),
        known=(0.5,),
        manipulation=trigger,
        params={"ga": {"epochs": 3, "lr": 0.01}},
    )
    started = time.perf_counter()
    submit_study(sample_ws, study)
    records = run_study(sample_ws, "bd", device="cpu")
    assert {r.state for r in records} == {"done"} and len(records) == 3
    result = study_results(sample_ws, "bd", device="cpu")
    took = time.perf_counter() - started
    s = result.summary.set_index("method")
    assert s.loc["original", "attack_mean"] > 0.5 > 0.1 > s.loc["retrain", "attack_mean"]
    assert s.loc["original", "clean_acc_mean"] > 0.8 and s.loc["retrain", "clean_acc_mean"] > 0.8
    assert s.loc["original", "UA_mean"] > 0.5 and s.loc["retrain", "UA_mean"] < 0.1
    ga = s.loc["ga"]
    assert ga["done"] == 1 and ga["n_forget"] == 72  # half of the 144 manipulated samples
    assert ga["attack_gap_mean"] == pytest.approx(
        ga["attack_mean"] - s.loc["retrain", "attack_mean"]
    )
    known = np.load(sample_ws / "scenarios/bd_k0.5.npy")
    manipulated = np.load(sample_ws / "scenarios/bd_all.npy")
    assert set(known) < set(manipulated) and len(manipulated) == 144
    stored = {r.name: r.job for r in RunRegistry(sample_ws / REGISTRY_FILE).list()}
    assert stored["bd_k0.5_ga_s0"]["manipulation"]["kind"] == "trigger"  # data, not code
    print(f"corrective study: {took:.1f} s; ga attack {ga['attack_mean']:.3f}")
    _check_cached(sample_ws, "bd", result, changed="bd_k0.5_ga_s0", like="bd_original")


def _check_cached(ws: Path, name: str, first: object, *, changed: str, like: str) -> None:
    """A second aggregation (a fresh experiment, as in a new process) reads every model's
    predictions from the workspace's cache; a changed weights file is measured again."""
    import shutil
    from unittest import mock

    from safetensors.torch import load_file, save_file

    from analysis.manipulation import corrective_predictions
    from analysis.runs.registry import REGISTRY_FILE, RunRegistry
    from analysis.studies import study_results

    calls: list[int] = []

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return corrective_predictions(*args, **kwargs)  # type: ignore[arg-type]

    target = "analysis.studies.corrective.corrective_predictions"
    with mock.patch(target, side_effect=counting):
        again = study_results(ws, name, device="cpu")
    assert calls == []  # no forward pass at all
    pd.testing.assert_frame_equal(again.runs, first.runs)  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(again.summary, first.summary)  # type: ignore[attr-defined]
    files = {r.name: r.file for r in RunRegistry(ws / REGISTRY_FILE).list()}
    mine, other = load_file(files[changed]), load_file(files[like])
    save_file({k: (v + other[k]) / 2 for k, v in mine.items()}, files[changed])  # new content
    with mock.patch(target, side_effect=counting):
        after = study_results(ws, name, device="cpu")
    assert len(calls) == 1  # only the changed model is measured again
    before = first.runs.set_index("name")  # type: ignore[attr-defined]
    runs = after.runs.set_index("name")
    same = [n for n in runs.index if n != changed]
    pd.testing.assert_frame_equal(runs.loc[same], before.loc[same])
    shutil.copyfile(files[like], files[changed])  # content seen before: read from the cache
    with mock.patch(target, side_effect=counting):
        assert (
            study_results(ws, name, device="cpu").runs.set_index("name").loc[changed, "clean_acc"]
            == runs.loc[like, "clean_acc"]
        )
    assert len(calls) == 1


def test_a_label_flip_study_on_an_mlp_workspace_caches_its_measurements(mlp_ws: Path) -> None:
    from analysis.studies import run_study, study_results, submit_study

    study = CorrectiveStudy(
        name="lf",
        methods=("ft",),
        known=(0.5,),
        manipulation={"kind": "label_flip", "fraction": 0.2, "seed": 1},
        params={"ft": {"epochs": 2}},
    )
    submit_study(mlp_ws, study)
    records = run_study(mlp_ws, "lf", device="cpu")
    assert {r.state for r in records} == {"done"}
    result = study_results(mlp_ws, "lf", device="cpu")
    s = result.summary.set_index("method")
    assert s.loc["original", "n_forget"] == 18  # half of round(0.2 * 180)
    assert 0.0 <= s.loc["ft", "attack_mean"] <= 1.0 and s.loc["retrain", "done"] == 1
    _check_cached(mlp_ws, "lf", result, changed="lf_k0.5_ft_s0", like="lf_all_retrain")
