"""analysis.exposure: instance-table columns of the attacks and the "most exposed" ranking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import ValidationError
from analysis.exposure import EXPOSURE_SCORES, attack_columns, exposure_score, most_exposed
from analysis.privacy import SampleScores


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 40
    forget = np.zeros(n, bool)
    forget[::2] = True
    train = pd.DataFrame(
        {
            "index": np.arange(n),
            "split": "train",
            "label": rng.integers(0, 3, n),
            "is_forget": forget,
            "m__pred": rng.integers(0, 3, n),
            "m__loss": np.round(rng.random(n), 1),  # ties: broken by index
            "m__mia_lira_offline": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
            "m__mia_ulira": rng.normal(size=n),
            "m__mia_ulira_retrain": rng.normal(size=n),
            "r__pred": rng.integers(0, 3, n),
            "r__loss": rng.random(n),
            "r__mia_lira_offline": rng.normal(size=n),
            "r__mia_ulira": np.full(n, np.nan),
        }
    )
    test = train.assign(split="test", is_forget=False, index=np.arange(n))
    return pd.concat([train, test], ignore_index=True)


def test_ranking_is_the_sorted_forget_samples_with_the_retrain_score_beside() -> None:
    table = _table()
    got = most_exposed(table, "m", "loss", retrain="r", k=7)
    forget = table[(table["split"] == "train") & table["is_forget"]]
    expected = sorted(zip(forget["m__loss"], forget["index"], strict=True))[:7]  # lower = exposed
    assert got["index"].tolist() == [i for _, i in expected]
    assert got["rank"].tolist() == list(range(1, 8))
    by_index = table[table["split"] == "train"].set_index("index")
    np.testing.assert_array_equal(got["retrain_score"], by_index.loc[got["index"], "r__loss"])
    np.testing.assert_array_equal(got["pred"], by_index.loc[got["index"], "m__pred"])


def test_higher_is_exposed_for_lira_and_nan_rows_are_left_out() -> None:
    table = _table()
    got = most_exposed(table, "m", "lira_offline", retrain="r", k=100)
    forget = table[(table["split"] == "train") & table["is_forget"]]
    scored = forget[forget["m__mia_lira_offline"].notna()]
    assert len(got) == len(scored) < len(forget)
    assert got["score"].is_monotonic_decreasing
    assert set(got["index"]) <= set(forget["index"])


def test_paired_games_show_the_retrain_score_of_the_models_own_game() -> None:
    got = most_exposed(_table(), "m", "ulira", retrain="r", k=5)
    by_index = _table().query("split == 'train'").set_index("index")
    np.testing.assert_array_equal(
        got["retrain_score"], by_index.loc[got["index"], "m__mia_ulira_retrain"]
    )
    assert np.isnan(most_exposed(_table(), "m", "loss", k=3)["retrain_score"]).all()


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(ValidationError, match=r"^attack: expected"):
        most_exposed(_table(), "m", "svm")
    with pytest.raises(ValidationError, match=r"^model: expected"):
        most_exposed(_table(), "nobody", "loss")
    with pytest.raises(ValidationError, match=r"^k: expected"):
        most_exposed(_table(), "m", "loss", k=0)


def test_attack_columns_cover_every_reference_attack_with_nan_where_not_run() -> None:
    scores = {
        "lira": SampleScores(np.arange(4.0), np.arange(3.0) + 10),
        "ulira": SampleScores(np.full(4, 1.0), np.full(3, np.nan), np.full(4, 2.0)),
    }
    train = attack_columns("m", scores, "train", 4)
    assert set(train) == {
        "m__mia_lira_offline",
        "m__mia_rmia_offline",
        "m__mia_lira_online",
        "m__mia_lira_online_retrain",
        "m__mia_ulira",
        "m__mia_ulira_retrain",
    }
    np.testing.assert_array_equal(train["m__mia_lira_offline"], np.arange(4.0))
    np.testing.assert_array_equal(train["m__mia_ulira_retrain"], np.full(4, 2.0))
    assert np.isnan(train["m__mia_rmia_offline"]).all()
    test = attack_columns("m", scores, "test", 3)
    np.testing.assert_array_equal(test["m__mia_lira_offline"], np.arange(3.0) + 10)
    assert np.isnan(test["m__mia_ulira_retrain"]).all()


def test_every_exposure_score_is_reachable_by_key() -> None:
    assert [exposure_score(e.key) for e in EXPOSURE_SCORES] == list(EXPOSURE_SCORES)
    assert {e.key for e in EXPOSURE_SCORES if e.paired} == {"lira_online", "ulira"}
