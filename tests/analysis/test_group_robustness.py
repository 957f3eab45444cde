"""Tests of analysis/group_robustness.py (and analysis/studies/groups.py): per-group metrics vs
a direct numpy formula, user-given groups on a fresh npz + mlp workspace, degenerate groups,
bad input."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import analysis
from analysis.errors import SpecError, ValidationError
from analysis.group_robustness import (
    GroupLabels,
    group_metrics,
    group_robustness_table,
    load_groups,
)
from analysis.mia import privacy_score
from analysis.training import predict_logits
from analysis.trust import OutsideWorkspaceError
from tests.analysis.runs.workspaces import SAMPLE, make_mlp_workspace


def _direct(
    exp: analysis.Experiment, model: str, retrain: str, groups: GroupLabels
) -> dict[int, dict[str, float]]:
    """Per-group UA/RA/TA/PS and TA gap straight from the definitions."""
    out = {}
    logits = {
        n: (
            predict_logits(
                exp.load_model(n, device="cpu"), exp.dataset("train"), device="cpu"
            ).numpy(),
            predict_logits(
                exp.load_model(n, device="cpu"), exp.dataset("test"), device="cpu"
            ).numpy(),
        )
        for n in (model, retrain)
    }
    y, yt = exp.dataset("train").targets, exp.dataset("test").targets
    forget = np.isin(np.arange(len(y)), exp.forget_indices)
    for g in np.unique(groups.train):
        f, r, t = forget & (groups.train == g), ~forget & (groups.train == g), groups.test == g
        tr = logits[model][0]
        acc = {n: (logits[n][1].argmax(1) == yt)[t].mean() for n in (model, retrain)}
        out[int(g)] = {
            "UA": (tr.argmax(1) == y)[f].mean() if f.any() else math.nan,
            "RA": (tr.argmax(1) == y)[r].mean(),
            "TA": acc[model],
            "TA_gap": acc[model] - acc[retrain],
            "PS": privacy_score(tr[f], logits[retrain][0][f]).ps if f.any() else math.nan,
        }
    return out


def _check(table, direct: dict[int, dict[str, float]]) -> None:  # type: ignore[no-untyped-def]
    for _, row in table.iterrows():
        for key, value in direct[int(row["group"])].items():
            assert row[key] == pytest.approx(value, nan_ok=True), (row["group"], key)


def test_class_groups_on_the_sample_match_the_direct_formula() -> None:
    exp = analysis.load_experiment(SAMPLE, scenario="random")
    result = group_metrics(exp, "ga_random", device="cpu")
    assert result.retrain == "retrain_random" and result.source == "classes"
    _check(result.table, _direct(exp, "ga_random", "retrain_random", load_groups(exp)))
    gaps = result.table["TA_gap"].abs()
    assert result.worst_gap == pytest.approx(gaps.max())
    assert result.worst_group == result.table.loc[gaps.idxmax(), "name"]
    assert result.worst_acc == pytest.approx(result.table["TA"].min())
    assert (result.table["n_forget"].sum(), result.table["n_test"].sum()) == (144, 360)


def test_classwise_forgetting_leaves_groups_without_forget_samples_nan_with_a_warning() -> None:
    exp = analysis.load_experiment(SAMPLE, scenario="classwise")
    with pytest.warns(RuntimeWarning, match="groups without forget samples"):
        table = group_robustness_table(exp, ["original", "ga"], device="cpu")
    assert table["model"].unique().tolist() == ["original", "ga"]
    ga = table[table["model"] == "ga"].set_index("group")
    assert ga.loc[8, "n_forget"] > 0 and math.isfinite(ga.loc[8, "PS"])
    assert ga.drop(index=8)[["UA", "PS"]].isna().all().all()
    assert math.isnan(ga.loc[8, "RA"])  # the forgotten class has no retain samples


@pytest.fixture(scope="module")
def grouped_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runs tests' npz + mlp workspace with a group column in its archive, trained once
    (tests work on copies)."""
    ws = make_mlp_workspace(tmp_path_factory.mktemp("grouped") / "blobs")
    data = dict(np.load(ws / "data.npz"))
    data["groups_train"] = (data["x_train"][:, 0] > 0).astype(np.int64)
    data["groups_test"] = (data["x_test"][:, 0] > 0).astype(np.int64)
    np.savez(ws / "data.npz", **data)
    jobs = [
        analysis.TrainJob(role="original"),
        analysis.TrainJob(role="retrain", scenario="random"),
    ]
    records = analysis.run_jobs(ws, jobs, device="cpu")
    assert {r.state for r in records} == {"done"}
    return ws


def test_user_given_groups_on_a_fresh_mlp_workspace(grouped_ws: Path, tmp_path: Path) -> None:
    ws = Path(shutil.copytree(grouped_ws, tmp_path / "blobs"))
    exp = analysis.load_experiment(ws, scenario="random")
    groups = load_groups(exp)
    assert groups.source == "dataset.path 'data.npz'" and groups.names == ("0", "1")
    result = group_metrics(exp, "original", device="cpu")
    assert result.table["group"].tolist() == [0, 1]
    _check(result.table, _direct(exp, "original", exp.retrain_name or "", groups))
    # a separate file named in [dataset] groups, with names
    np.savez(
        ws / "g.npz",
        groups_train=np.arange(180) % 3,
        groups_test=np.arange(60) % 3,
        group_names=np.array(["a", "b", "c"]),
    )
    toml = (ws / "experiment.toml").read_text()
    (ws / "experiment.toml").write_text(
        toml.replace('path = "data.npz"', 'path = "data.npz"\ngroups = "g.npz"')
    )
    exp = analysis.load_experiment(ws, scenario="random")
    table = group_metrics(exp, "original", device="cpu").table
    assert table["name"].tolist() == ["a", "b", "c"] and table["n_test"].tolist() == [20, 20, 20]
    _check(table, _direct(exp, "original", exp.retrain_name or "", load_groups(exp)))


def test_study_groups_summarise_the_worst_group_gap_per_method(
    grouped_ws: Path, tmp_path: Path
) -> None:
    from analysis.studies import ScalabilityStudy, run_study, study_groups, submit_study

    ws = Path(shutil.copytree(grouped_ws, tmp_path / "blobs"))
    study = ScalabilityStudy(name="sg", methods=("ft",), sizes=(0.1,), params={"ft": {"epochs": 1}})
    submit_study(ws, study)
    run_study(ws, "sg", device="cpu")
    result = study_groups(ws, "sg", device="cpu")
    assert result.source == "dataset.path 'data.npz'"
    worst = result.worst.set_index("method")
    assert worst.loc["retrain", "worst_gap_mean"] == 0.0
    ft = result.runs[result.runs["method"] == "ft"]
    assert worst.loc["ft", "worst_gap_mean"] == pytest.approx(ft["TA_gap"].abs().max())
    assert set(result.per_group["group_name"]) == {"0", "1"}
    # "before" unlearning: the study's base model on the step's scenario, against its retrain
    (scenario,) = set(result.runs["scenario"])
    base = group_metrics(analysis.load_experiment(ws, scenario=scenario), "original")
    assert worst.loc["before", "worst_gap_mean"] == pytest.approx(base.worst_gap)
    before = result.runs[result.runs["method"] == "before"]
    assert before["TA"].tolist() == pytest.approx(base.table["TA"].tolist())


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (
            {"groups_train": np.zeros(5, np.int64), "groups_test": np.zeros(60, np.int64)},
            "180 non-negative integer ids",
        ),
        (
            {"groups_train": -np.ones(180, np.int64), "groups_test": np.zeros(60, np.int64)},
            "non-negative integer group ids",
        ),
        ({"groups_train": np.zeros(180, np.int64)}, "expected arrays"),
        ({"groups_train": np.zeros(180), "groups_test": np.zeros(60)}, "integer group ids"),
        (
            {
                "groups_train": np.arange(180) % 3,
                "groups_test": np.zeros(60, np.int64),
                "group_names": np.array(["a"]),
            },
            "group_names: expected a 1-D string array of at least 3 names",
        ),
    ],
)
def test_malformed_group_files_are_refused(
    tmp_path: Path, arrays: dict[str, np.ndarray], message: str
) -> None:
    ws = make_mlp_workspace(tmp_path / "blobs")
    np.savez(ws / "bad.npz", **arrays)
    exp = analysis.load_experiment(ws)
    with pytest.raises(ValidationError, match=message):
        load_groups(exp, "bad.npz")


def test_bad_arguments_name_themselves(tmp_path: Path) -> None:
    exp = analysis.load_experiment(SAMPLE, scenario="random")
    with pytest.raises(OutsideWorkspaceError, match="groups"):
        load_groups(exp, "../../outside.npz")
    with pytest.raises(ValidationError, match="groups: expected None, 'classes'"):
        load_groups(exp, 5)
    with pytest.raises(ValidationError, match=r"groups: expected an existing \.npz file"):
        load_groups(exp, "missing.npz")
    with pytest.raises(ValidationError, match="model: expected a model among"):
        group_metrics(exp, "nope")
    with pytest.raises(ValidationError, match="retrain: expected a model among"):
        group_metrics(exp, "ga_random", retrain="nope")
    ws = make_mlp_workspace(tmp_path / "blobs")
    toml = (ws / "experiment.toml").read_text()
    (ws / "experiment.toml").write_text(
        toml.replace('path = "data.npz"', 'path = "data.npz"\ngroups = 3')
    )
    with pytest.raises(SpecError, match=r"dataset\.groups: expected an \.npz file path"):
        analysis.load_experiment(ws)


def test_without_a_retrain_model_gaps_and_ps_are_nan_with_a_warning(grouped_ws: Path) -> None:
    exp = analysis.load_experiment(grouped_ws, scenario="classwise")  # only "random" has one
    with pytest.warns(RuntimeWarning, match="has no retrain model"):
        result = group_metrics(exp, "original", device="cpu")
    assert result.table[["PS", "TA_gap"]].isna().all().all() and math.isnan(result.worst_gap)
    assert result.table["TA"].between(0, 1).all() and result.worst_group == ""


def test_logits_are_kept_in_the_workspace_cache_and_reused(
    grouped_ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Classes page computed every model's forward passes again for each new pair.
    ws = Path(shutil.copytree(grouped_ws, tmp_path / "blobs"))
    exp = analysis.load_experiment(ws, scenario="random")
    models = ["original", exp.retrain_name or ""]
    first = group_robustness_table(exp, models, device="cpu")

    def no_forward_pass(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached model ran again")

    monkeypatch.setattr("analysis.training.predict_logits", no_forward_pass)
    again = group_robustness_table(analysis.load_experiment(ws, scenario="random"), models)
    assert again.equals(first)


def test_worst_group_accuracy_leaves_out_groups_forgotten_whole() -> None:
    # Class-wise forgetting: the forgotten class's test accuracy is meant to be 0 for the
    # retrain model; the worst group among the classes that keep training samples is the news.
    exp = analysis.load_experiment(SAMPLE, scenario="classwise")
    with pytest.warns(RuntimeWarning, match=r"without forget samples \(UA and PS are NaN\): 0, 1"):
        result = group_metrics(exp, exp.retrain_name or "", device="cpu")
    kept = result.table[result.table["n_retain"] > 0]
    assert result.worst_acc == kept["TA"].min() > 0.5
    assert result.worst_acc_group == kept.loc[kept["TA"].idxmin(), "name"]
    assert "8" not in result.worst_acc_group
