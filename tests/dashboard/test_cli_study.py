"""Tests of ``ulens study`` (dashboard/cli_study.py): a sustainability study end to end on a
fresh npz + mlp workspace, list/status/cancel/results, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.runs.registry import REGISTRY_FILE, RunRegistry
from dashboard import cli
from dashboard.cli import main
from dashboard.cli_study import format_table
from tests.analysis.runs.workspaces import copy_sample, make_mlp_workspace

_FIX = ["corrective", "--name", "fix", "--methods", "ga", "--manipulation"]


@pytest.fixture
def sample_ws(tmp_path: Path) -> Path:
    return copy_sample(tmp_path / "digits")


def test_sustainability_end_to_end_on_a_fresh_mlp_workspace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = make_mlp_workspace(tmp_path / "blobs")
    w = str(ws)
    assert main(["train", w, "--role", "original", "--device", "cpu"]) == 0
    capsys.readouterr()
    table, runs = tmp_path / "seq.csv", tmp_path / "runs.csv"
    args = ["study", "sustainability", w, "--name", "seq", "--methods", "ft", "--requests", "2"]
    args += ["--fraction", "0.1", "--param", "epochs=1", "--param", "ft:lr=0.02"]
    args += ["--recipe", "epochs=3", "--device", "cpu", "--csv", str(table)]
    assert main([*args, "--runs-csv", str(runs)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "study seq: 4 runs on seq_r1, seq_r2"
    assert "deletion request" in out and "study took" in out
    summary = pd.read_csv(table)
    assert list(zip(summary["method"], summary["x"], summary["n_forget"], strict=True)) == [
        ("retrain", 1.0, 18),  # 10 % of 180 training samples per request
        ("retrain", 2.0, 36),  # everything removed so far
        ("ft", 1.0, 18),
        ("ft", 2.0, 36),
    ]
    assert (summary["done"] == 1).all() and summary["UA_mean"].between(0, 1).all()
    assert summary["PS_mean"].iloc[2:].between(0, 1).all()
    per_run = pd.read_csv(runs).set_index("name")
    assert per_run.loc["seq_r2_ft_s0", "state"] == "done" and per_run.loc["seq_r2_ft_s0", "RT"] > 0
    records = {r.name: r for r in RunRegistry(ws / REGISTRY_FILE).list()}
    second = records["seq_r2_ft_s0"]
    assert (second.base, second.job["forgotten"], second.params["lr"]) == (
        "seq_r1_ft_s0",
        "seq_r1",
        0.02,
    )
    r1, r2 = (set(np.load(ws / f"scenarios/seq_r{k}.npy").tolist()) for k in (1, 2))
    assert len(r1) == 18 and len(r2) == 36 and r1 < r2
    assert main(["study", "list", w]) == 0
    listing = capsys.readouterr().out
    assert "seq" in listing and "sustainability" in listing and "4/4" in listing
    assert main(["study", "status", w, "seq"]) == 0
    status = capsys.readouterr().out
    assert status.startswith("study seq (sustainability): 100% of 4 runs; 4 done")
    assert main(["study", "results", w, "seq", "--device", "cpu"]) == 0
    again = capsys.readouterr().out
    assert again.strip() and again.strip() in out  # the table printed after the runs
    assert main(["study", "cancel", w, "seq"]) == 0
    assert "cancel requested for 0 run(s)" in capsys.readouterr().out


def test_worst_case_end_to_end_on_the_sample(
    sample_ws: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import analysis
    from analysis.studies import difficulty_scores

    w, runs = str(sample_ws), tmp_path / "runs.csv"
    args = ["study", "worst-case", w, "--name", "hard", "--methods", "ga", "--size", "20"]
    args += ["--within", "8", "--param", "epochs=2", "--recipe", "epochs=4", "--device", "cpu"]
    assert main([*args, "--runs-csv", str(runs)]) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines()]
    assert [line[:4] for line in lines if line and line[1] in ("random", "worst")] == [
        ["retrain", "random", "20", "1/1"],
        ["retrain", "worst", "20", "1/1"],
        ["ga", "random", "20", "1/1"],
        ["ga", "worst", "20", "1/1"],
    ]
    exp = analysis.load_experiment(sample_ws)
    labels, scores = exp.dataset("train").targets, difficulty_scores(exp, device="cpu")
    worst = np.load(sample_ws / "scenarios/hard_worst.npy")
    random = np.load(sample_ws / "scenarios/hard_random.npy")
    assert set(labels[worst]) == {8} == set(labels[random])
    eights = np.flatnonzero((labels == 8) & np.isfinite(scores))
    assert sorted(worst) == sorted(eights[np.argsort(-scores[eights])[:20]])
    per_run = pd.read_csv(runs).set_index("name")
    assert per_run.loc["hard_worst_ga_s0", "point"] == "worst"
    gap = per_run.loc["hard_worst_ga_s0", "UA"] - per_run.loc["hard_worst_retrain", "UA"]
    assert per_run.loc["hard_worst_ga_s0", "UA_gap"] == pytest.approx(gap)


def test_queued_study_status_cancel_and_results(
    sample_ws: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from analysis.studies import ScalabilityStudy, submit_study

    w = str(sample_ws)
    submit_study(
        sample_ws, ScalabilityStudy(name="q", methods=("ga",), sizes=(1, 2), forget="classes")
    )
    assert main(["study", "status", w, "q"]) == 0
    assert "0% of 4 runs; 4 queued" in capsys.readouterr().out
    assert main(["study", "cancel", w, "q"]) == 0
    assert "cancel requested for 4 run(s) of study q" in capsys.readouterr().out
    out_csv = tmp_path / "q.csv"
    assert main(["study", "results", w, "q", "--csv", str(out_csv)]) == 0
    out = capsys.readouterr().out
    assert "ulens study: note: study 'q': 4 of 4 runs are not done" in out
    assert "forget classes" in out and "0/1" in out
    assert pd.read_csv(out_csv)["done"].tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["scalability", "--name", "s", "--methods", "ga", "--fractions", "a,b"],
            "--fractions: expected comma-separated numbers",
        ),
        (
            ["scalability", "--name", "s", "--methods", ",", "--fractions", "0.1"],
            "--methods: expected comma-separated method names",
        ),
        (
            [
                "scalability",
                "--name",
                "s",
                "--methods",
                "ga,ft",
                "--fractions",
                "0.1",
                "--param",
                "lr=1",
            ],
            "--param: expected METHOD:KEY=VALUE",
        ),
        (
            [
                "scalability",
                "--name",
                "s",
                "--methods",
                "ga",
                "--fractions",
                "0.1",
                "--param",
                "ft:lr=1",
            ],
            "--param: expected a method among ['ga']",
        ),
        (
            ["scalability", "--name", "s", "--methods", "ga", "--fractions", "0.3,0.2"],
            "--fractions: expected strictly increasing sizes",
        ),
        (
            ["scalability", "--name", "s", "--methods", "ga", "--classes", "1,10"],
            "--classes: expected fewer than the 10 classes",
        ),
        (
            ["scalability", "--name", "s", "--methods", "nosuch", "--classes", "1"],
            "--methods: expected one of",
        ),
        (
            ["scalability", "--name", "bad name", "--methods", "ga", "--classes", "1"],
            "--name: expected 1-128 characters",
        ),
        (
            [
                "scalability",
                "--name",
                "s",
                "--methods",
                "ga",
                "--fractions",
                "0.1",
                "--seeds",
                "0,0",
            ],
            "--seeds: expected distinct seeds",
        ),
        (
            [
                "sustainability",
                "--name",
                "s",
                "--methods",
                "ga",
                "--requests",
                "0",
                "--fraction",
                "0.1",
            ],
            "--requests: expected a positive number of deletion requests",
        ),
        (
            [
                "sustainability",
                "--name",
                "s",
                "--methods",
                "ga",
                "--requests",
                "3",
                "--classes-per-request",
                "4",
            ],
            "--classes-per-request: expected requests x size below the 10 classes",
        ),
        (
            [
                "sustainability",
                "--name",
                "s",
                "--methods",
                "ga",
                "--requests",
                "2",
                "--fraction",
                "0.1",
                "--executor",
                "spark",
            ],
            "executor",
        ),
        (
            ["worst-case", "--name", "s", "--methods", "ga", "--size", "0"],
            "--size: expected a positive number of samples",
        ),
        (
            ["worst-case", "--name", "s", "--methods", "ga", "--size", "5", "--within", "12"],
            "--within: expected a class among [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]",
        ),
        (["status"], "study: expected a study of the workspace among [], received 'nope'"),
        (
            [*_FIX, "label_flip", "--poison-fraction", "0.1", "--known", "0.5,0.2"],
            "--known: expected strictly increasing fractions",
        ),
        (
            [*_FIX, "trigger", "--poison-fraction", "0.1"],
            "--target: expected a target class for a trigger",
        ),
        (
            [*_FIX, "label_flip", "--poison-fraction", "1.5"],
            "--poison-fraction: expected a fraction in (0, 1)",
        ),
        (
            [*_FIX, "trigger", "--poison-fraction", "0.1", "--target", "12"],
            "--target: expected a class among [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]",
        ),
        (
            [*_FIX, "trigger", "--poison-fraction", "0.1", "--target", "1", "--patch", "9"],
            "--patch: expected at most the input's height and width (8, 8)",
        ),
        (["groups", "--models", "nope"], "--models: expected a model among"),
        (["groups", "--models", "ga", "--groups", "../x.npz"], "groups"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    sample_ws: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    command, *rest = args
    argv = ["study", command, str(sample_ws), *(rest or ["nope"])]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ulens study: error: ") and len(err.strip().splitlines()) == 1
    assert message in err
    registry = RunRegistry(sample_ws / REGISTRY_FILE)
    assert registry.studies() == [] and registry.list() == [] and registry.scenarios() == {}


def test_the_trust_opt_ins_reach_the_study_sub_commands() -> None:
    parser = cli._parser()
    cli._add_global_options(parser)
    after = parser.parse_args(["study", "results", "ws", "s", "--allow-code", "numpy"])
    assert after.allow_code == ["numpy"]
    before = parser.parse_args(["study", "--allow-code", "numpy", "list", "ws"])
    assert before.allow_code == ["numpy"]
    assert parser.parse_args(["study", "list", "ws"]).allow_code == []


def test_format_table_shows_mean_std_and_na() -> None:
    frame = pd.DataFrame(
        {
            "method": ["retrain", "ga"],
            "x": [0.05, 0.05],
            "n_forget": [72, 72],
            "runs": [1, 3],
            "done": [1, 2],
            "UA_mean": [0.0, 0.4],
            "UA_std": [float("nan"), 0.2],
            "TUA_mean": [float("nan"), float("nan")],
            "TUA_std": [float("nan"), float("nan")],
            "PS_mean": [1.0, float("nan")],
            "PS_std": [float("nan"), float("nan")],
        }
    )
    lines = format_table(frame, "forget fraction").splitlines()
    assert lines[0].split() == ["method", "forget", "fraction", "n_forget", "done", "UA", "PS"]
    assert lines[1].split() == ["retrain", "0.05", "72", "1/1", "0.000", "1.000"]
    assert lines[2].split() == ["ga", "0.05", "72", "2/3", "0.400±0.200", "N/A"]


def test_groups_prints_the_per_group_table_and_the_worst_group_gap(
    sample_ws: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_csv = tmp_path / "groups.csv"
    argv = ["study", "groups", str(sample_ws), "--models", "ga_random", "--scenario", "random"]
    assert main([*argv, "--device", "cpu", "--csv", str(out_csv)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "model",
        "group",
        "n_forget",
        "n_test",
        "UA",
        "RA",
        "TA",
        "PS",
        "TA_gap",
    ]
    rows = [line.split() for line in lines[1:21]]
    assert [r[0] for r in rows] == ["ga_random"] * 10 + ["retrain_random"] * 10
    assert [r[1] for r in rows[:10]] == [str(c) for c in range(10)]
    table = pd.read_csv(out_csv)
    ga = table[table["model"] == "ga_random"]
    gap = float(ga["TA_gap"].abs().max())
    worst = str(ga.loc[ga["TA_gap"].abs().idxmax(), "name"])
    assert (
        f"ga_random: worst-group test-accuracy gap to retrain_random: {gap:.3f} ({worst})" in lines
    )
    assert (table[table["model"] == "retrain_random"]["TA_gap"] == 0).all()


def test_format_table_prints_the_corrective_metrics() -> None:
    from analysis.studies import CORRECTIVE_METRICS

    frame = pd.DataFrame(
        {"method": ["ga"], "x": [0.5], "n_forget": [72], "runs": [1], "done": [1]}
        | {f"{m}_mean": [0.25] for m in CORRECTIVE_METRICS}
    )
    lines = format_table(frame, "known fraction", metrics=CORRECTIVE_METRICS).splitlines()
    assert lines[0].split()[-7:] == list(CORRECTIVE_METRICS)
    assert lines[1].split() == ["ga", "0.5", "72", "1/1", *["0.250"] * 7]


def test_repeated_warnings_of_an_aggregation_are_shown_once_with_their_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A scalability study printed "8 sample(s) have no OUT reference" once per run (dozens).
    import warnings

    from dashboard import cli_study

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            warnings.warn("8 sample(s) have no OUT reference", RuntimeWarning, stacklevel=1)
        warnings.warn("study 'grow' has 2 unfinished runs", UserWarning, stacklevel=1)
        warnings.warn("1 population sample(s) left out", RuntimeWarning, stacklevel=1)
    with pytest.warns(RuntimeWarning) as shown:
        cli_study._report_warnings(caught, "grow")
    assert [str(w.message) for w in shown] == [
        "8 sample(s) have no OUT reference (raised 3 times)",
        "1 population sample(s) left out",
    ]
    assert capsys.readouterr().out == "ulens study: note: study 'grow' has 2 unfinished runs\n"
