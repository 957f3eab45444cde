"""analysis.outputs: summary.json with intervals, instances.parquet with per-sample scores."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.outputs import write_analysis


@pytest.fixture(scope="module")
def cmp(tiny_workspace: Path) -> analysis.Comparison:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        exp = analysis.load_experiment(tiny_workspace)
        return analysis.compare(exp, "finetune_classwise", "gradascent_classwise", device="cpu")


def test_summary_json_carries_every_interval(cmp: analysis.Comparison, tmp_path: Path) -> None:
    paths = write_analysis(cmp, tmp_path)
    assert [p.name for p in paths] == ["summary.json", "instances.parquet", "cka.json"]
    doc = json.loads((tmp_path / "summary.json").read_text())
    assert doc["bootstrap"]["n_bootstrap"] == cmp.options.n_bootstrap
    assert doc["bootstrap"]["level"] == 0.95
    assert set(doc["bootstrap"]["models"]) == {cmp.a, cmp.b, cmp.retrain}
    b = doc["models"][cmp.b]
    for metric in ("UA", "RA", "TUA", "TRA", "PS", "mia_efficacy", "privleak", "ks_d"):
        lo, hi = b["ci"][metric]
        assert lo <= b[metric] <= hi, metric
        assert (lo, hi) == pytest.approx(cmp.models[cmp.b].interval(metric))
    assert b["ci"]["ulira_auc"] == [None, None]  # N/A: no shadow models
    assert doc["models"]["original"]["ci"]["PS"] == [None, None]  # intervals on demand only


def test_instances_parquet_round_trips_the_exposure_columns(
    cmp: analysis.Comparison, tmp_path: Path
) -> None:
    write_analysis(cmp, tmp_path)
    table = pd.read_parquet(tmp_path / "instances.parquet")
    columns = ("mia_lira_offline", "mia_rmia_offline", "mia_lira_online", "mia_ulira")
    columns += ("mia_ulira_retrain", "modified_entropy", "entropy_t2", "logit_conf")
    for name in cmp.names:
        for column in columns:
            np.testing.assert_array_equal(
                table[f"{name}__{column}"].to_numpy(float),
                cmp.instances[f"{name}__{column}"].to_numpy(float),
            )
    forget = table[(table["split"] == "train") & table["is_forget"]]
    # NaN only for forget samples LiRA could not score (no OUT reference): the dropped ones
    n_scored = int(forget[f"{cmp.b}__mia_lira_offline"].notna().sum())
    assert n_scored == cmp.models[cmp.b].privacy.info["lira"].n_positives > 0
