"""Multi-seed groups: keys, summaries and Welch's t-test (checked against scipy and by hand)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import analysis
from analysis.errors import ValidationError
from analysis.groups import (
    assign_groups,
    compare_groups,
    group_key,
    group_label,
    group_table,
    model_seeds,
    welch_test,
)
from analysis.spec import ArchitectureSpec, ModelEntry


def _table() -> pd.DataFrame:
    ga = json.dumps({"epochs": 1, "lr": 0.01})
    ga2 = json.dumps({"epochs": 1, "lr": 0.02})
    return pd.DataFrame(
        {
            "name": ["ga_1", "ga_2", "ga_3", "gb_1", "gb_2", "toml", "retrain"],
            "role": ["unlearned"] * 6 + ["retrain"],
            "method": ["ga"] * 6 + [""],
            "base": ["original"] * 6 + [""],
            "params": [ga, ga, ga, ga2, ga2, ga, json.dumps({"epochs": 3, "seed": 0})],
            "UA": [0.10, 0.20, 0.30, 0.50, 0.70, 0.0, 0.0],
            "PS": [0.60, 0.70, 0.80, 0.20, np.nan, 0.9, 1.0],
        }
    )


SEEDS = {"ga_1": 0, "ga_2": 1, "ga_3": 2, "gb_1": 0, "gb_2": 1, "retrain": 0}


def test_group_key_ignores_the_seed_and_key_order_only() -> None:
    one = group_key(role="unlearned", method="ga", base="o", params={"lr": 0.1, "seed": 1})
    assert one == group_key(role="unlearned", method="ga", base="o", params='{"lr": 0.1}')
    assert one != group_key(role="unlearned", method="ga", base="o", params={"lr": 0.2})
    assert one != group_key(role="unlearned", method="rl", base="o", params={"lr": 0.1})
    assert one != group_key(role="unlearned", method="ga", base="x", params={"lr": 0.1})
    assert one != group_key(
        role="unlearned", method="ga", base="o", params={"lr": 0.1}, scenario="random"
    )
    assert group_label(one) == "ga from o (lr=0.1)"


def test_groups_pool_seeds_and_keep_unknown_seeds_apart() -> None:
    grouped = assign_groups(_table(), SEEDS)
    groups = group_table(grouped, metrics=("UA", "PS"))
    by_members = {
        tuple(m): r for m, (_, r) in zip(groups["members"], groups.iterrows(), strict=True)
    }
    assert set(by_members) == {("ga_1", "ga_2", "ga_3"), ("gb_1", "gb_2"), ("toml",), ("retrain",)}
    ga = by_members[("ga_1", "ga_2", "ga_3")]
    assert ga["n"] == 3 and ga["seeds"] == [0, 1, 2]
    assert ga["UA_mean"] == pytest.approx(0.2)
    assert ga["UA_std"] == pytest.approx(0.1)  # sample std (ddof=1) of 0.1, 0.2, 0.3
    gb = by_members[("gb_1", "gb_2")]
    assert gb["PS_n"] == 1 and gb["PS_mean"] == pytest.approx(0.2) and math.isnan(gb["PS_std"])
    toml = by_members[("toml",)]  # same params as ga_* but no seed: not pooled
    assert toml["n"] == 1 and toml["label"] == "toml"


def test_group_table_needs_groups_and_assign_needs_columns() -> None:
    with pytest.raises(ValidationError, match="assign_groups"):
        group_table(_table())
    with pytest.raises(ValidationError, match="params"):
        assign_groups(_table().drop(columns="params"), SEEDS)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([0.61, 0.70, 0.83, 0.75], [0.31, 0.45, 0.29]),
        ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]),
        (np.random.default_rng(0).normal(0, 1, 9), np.random.default_rng(1).normal(0.3, 2, 5)),
    ],
)
def test_welch_matches_scipy(a: list[float], b: list[float]) -> None:
    ref = stats.ttest_ind(a, b, equal_var=False)
    got = welch_test(a, b)
    assert got.testable and got.n_a == len(a) and got.n_b == len(b)
    assert got.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert got.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert got.df == pytest.approx(ref.df, rel=1e-12)


def test_welch_by_hand() -> None:
    # a = 1, 2, 3: mean 2, s² = 1; b = 4..7: mean 5.5, s² = 5/3.
    # se² = 1/3 + (5/3)/4 = 0.75; t = -3.5 / sqrt(0.75) = -4.04145;
    # df = 0.75² / ((1/3)²/2 + (5/12)²/3) = 0.5625 / 0.1134259 = 4.95918.
    got = welch_test([1, 2, 3], [4, 5, 6, 7])
    assert got.statistic == pytest.approx(-3.5 / math.sqrt(0.75), abs=1e-9)
    assert got.df == pytest.approx(0.5625 / ((1 / 3) ** 2 / 2 + (5 / 12) ** 2 / 3), abs=1e-9)
    assert got.p_value == pytest.approx(2 * stats.t.sf(abs(got.statistic), got.df), rel=1e-9)
    assert 0.005 < got.p_value < 0.02 and got.significant() and not got.significant(0.005)
    assert (got.mean_a, got.mean_b) == (pytest.approx(2.0), pytest.approx(5.5))


def test_welch_cannot_test_single_seeds_or_constant_groups() -> None:
    one = welch_test([0.5], [0.1, 0.2])
    assert not one.testable and math.isnan(one.p_value) and not one.significant()
    assert "fewer than 2 seeds in the first group (1)" in one.reason
    nan_only = welch_test([0.5, 0.6], [0.1, float("nan")])
    assert not nan_only.testable and "second group (1)" in nan_only.reason
    flat = welch_test([0.5, 0.5], [0.5, 0.5])
    assert not flat.testable and "no variation" in flat.reason


def test_compare_groups_reports_ps_and_ua() -> None:
    grouped = assign_groups(_table(), SEEDS)
    keys = list(dict.fromkeys(grouped["group"]))
    result = compare_groups(grouped, keys[0], keys[1])
    assert list(result) == ["PS", "UA"]
    assert result["UA"].testable and result["UA"].n_a == 3 and result["UA"].n_b == 2
    ref = stats.ttest_ind([0.1, 0.2, 0.3], [0.5, 0.7], equal_var=False)
    assert result["UA"].p_value == pytest.approx(ref.pvalue)
    assert not result["PS"].testable  # one finite PS in the second group
    with pytest.raises(ValidationError, match="group key"):
        compare_groups(grouped, keys[0], "nope")
    with pytest.raises(ValidationError, match="other than"):
        compare_groups(grouped, keys[0], keys[0])


def test_model_seeds_prefers_the_registry() -> None:
    arch = ArchitectureSpec("mlp")
    models = {
        "o": ModelEntry("o", "original", Path("o"), arch, train={"seed": 4}),
        "u": ModelEntry("u", "unlearned", Path("u"), arch, params={"lr": 0.1}),
        "r": ModelEntry("r", "unlearned", Path("r"), arch),
    }
    assert model_seeds(models, {"r": 2}) == {"o": 4, "u": None, "r": 2}


def test_groups_on_a_real_grid(tmp_path: Path) -> None:
    """Two seeds of a real one-epoch GA run on a tiny workspace form one group of size 2."""
    from analysis.runs import grid_jobs, list_runs, run_jobs
    from tests.fixtures import make_tiny_workspace

    ws = make_tiny_workspace(tmp_path / "ws")
    run_jobs(ws, grid_jobs("ga", params={"epochs": 1, "batch_size": 8}, seeds=[0, 1]))
    exp = analysis.load_experiment(ws)
    seeds = model_seeds(exp.models, {r.name: r.seed for r in list_runs(ws)})
    table = analysis.models_table(exp, device="cpu")
    groups = group_table(assign_groups(table, seeds))
    runs = groups.loc[groups["method"] == "ga"]
    assert len(runs) == 1 and runs["n"].iloc[0] == 2 and runs["seeds"].iloc[0] == [0, 1]
    ua = table.loc[table["method"] == "ga", "UA"].to_numpy(float)
    assert runs["UA_mean"].iloc[0] == pytest.approx(ua.mean())
