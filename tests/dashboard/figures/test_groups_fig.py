"""Tests of dashboard/figures/groups.py against a hand-made group robustness table."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.compare import Comparison
from dashboard import theme
from dashboard.figures import classes as class_figs
from dashboard.figures import groups as figs
from tests.fixtures import make_tiny_workspace

# test accuracy per (model, group) and PS on each group's forget samples (group "c" has none)
_TA = {
    "retrain": [0.90, 0.80, 0.70],
    "original": [0.95, 0.85, 0.90],
    "ga": [0.60, 0.82, 0.75],
    "ft": [0.92, 0.79, 0.69],
}
_PS = {"retrain": [1.0, 1.0, math.nan], "original": [0.4, 0.5, math.nan]}
_PS |= {"ga": [0.7, 0.9, math.nan], "ft": [0.8, 0.6, math.nan]}
MODELS = (("retrain", "retrain"), ("original", "before"), ("ga", "A"), ("ft", "B"))


@pytest.fixture(scope="module")
def tiny_cmp(tmp_path_factory: pytest.TempPathFactory) -> Comparison:
    ws: Path = make_tiny_workspace(tmp_path_factory.mktemp("groups_fig"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analysis.compare(
            analysis.load_experiment(ws), "retrain_classwise", "gradascent_classwise"
        )


def _table() -> pd.DataFrame:
    rows = []
    for model, accs in _TA.items():
        for g, (name, acc) in enumerate(zip(("a", "b", "c"), accs, strict=True)):
            gap = acc - _TA["retrain"][g]
            rows.append(
                {
                    "model": model,
                    "group": g,
                    "name": name,
                    "n_forget": [5, 3, 0][g],
                    "n_retain": [20, 0, 30][g],  # group "b" is forget samples only
                    "n_test": 10,
                    "TA": acc,
                    "PS": _PS[model][g],
                    "retrain_TA": _TA["retrain"][g],
                    "TA_gap": gap,
                }
            )
    table = pd.DataFrame(rows)
    worst = table.assign(abs_gap=table["TA_gap"].abs()).groupby("model")["abs_gap"].max()
    return table.assign(worst_gap=table["model"].map(worst))


def _traces(fig, axis: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {t.legendgroup: t for t in fig.data if t.yaxis == axis}


def test_group_models_put_the_reference_first_and_list_each_model_once() -> None:
    assert figs.group_models("ga", "ft", original="original", retrain="retrain") == MODELS
    # A is the retrain model: it keeps its role A; no original in the scenario
    assert figs.group_models("retrain", "ga", original=None, retrain="retrain") == (
        ("retrain", "A"),
        ("ga", "B"),
    )


def test_worst_group_gap_is_the_hand_computed_largest_absolute_gap() -> None:
    worst = figs.worst_groups(_table()).set_index("model")
    # ga: gaps -0.30, +0.02, +0.05 -> group a, 0.30; ft: +0.02, -0.01, -0.01 -> a, 0.02
    assert worst.loc["ga", "worst_group"] == "a"
    assert worst.loc["ga", "worst_gap"] == pytest.approx(0.30)
    assert worst.loc["ft", "worst_gap"] == pytest.approx(0.02)
    # original: +0.05, +0.05, +0.20 -> group c
    assert (worst.loc["original", "worst_group"], worst.loc["original", "worst_gap"]) == (
        "c",
        pytest.approx(0.20),
    )
    assert worst.loc["ga", "worst_acc_group"] == "a" and worst.loc["ga", "worst_acc"] == 0.60
    assert worst.loc["retrain", "worst_gap"] == 0.0
    # no retrain model: every gap NaN -> N/A, not 0
    nan = _table().assign(TA_gap=math.nan)
    assert math.isnan(figs.worst_groups(nan).iloc[0]["worst_gap"])


def test_group_figure_draws_accuracy_ps_and_gaps_with_the_worst_group_outlined() -> None:
    fig = figs.group_figure(_table(), MODELS, retrain="retrain")
    acc, ps, gap = _traces(fig, "y"), _traces(fig, "y2"), _traces(fig, "y3")
    assert list(acc) == ["retrain", "original", "ga", "ft"]  # the reference bar first
    assert acc["retrain"].marker.color == theme.ROLE_COLORS["retrain"]
    assert acc["ga"].marker.color == theme.ROLE_COLORS["A"]
    assert acc["ft"].marker.color == theme.ROLE_COLORS["B"]
    assert acc["original"].marker.color == theme.ROLE_COLORS["original"]
    assert list(acc["ga"].y) == pytest.approx(_TA["ga"])
    # a group whose training samples are all forget samples is marked like a forget class
    assert list(acc["ga"].x) == ["a", theme.class_label("b", forget=True), "c"]
    # the retrain model is the reference: no PS or gap bar of its own
    assert "retrain" not in ps and "retrain" not in gap
    assert ps["ft"].y[:2] == pytest.approx((0.8, 0.6)) and ps["ft"].y[2] is None  # N/A
    assert list(gap["ga"].y) == pytest.approx([-0.30, 0.02, 0.05])
    # ga's worst group (a) is outlined and labelled; the others are not
    assert list(gap["ga"].marker.line.width) == [3, 0, 0]
    assert list(gap["ga"].text) == ["worst", "", ""]
    assert list(gap["original"].marker.line.width) == [0, 0, 3]
    assert "worst-group gap 0.300 (a)" in acc["ga"].name
    assert "worst-group gap 0.020 (a)" in acc["ft"].name
    assert fig.layout.xaxis3.type == "category"


def test_when_model_a_is_the_retrain_it_has_no_gap_or_worst_mark() -> None:
    models = (("retrain", "A"), ("ga", "B"))
    fig = figs.group_figure(_table(), models, retrain="retrain")
    assert set(_traces(fig, "y3")) == {"ga"}
    (name,) = [t.name for t in fig.data if t.legendgroup == "retrain"]
    assert name == "A = retrain (retrain)"


def test_presentation_text_is_at_least_16_px() -> None:
    fig = figs.group_figure(_table(), MODELS, retrain="retrain", presentation=True)
    assert theme.smallest_font_size(fig) >= theme.PRESENTATION_MIN_FONT
    normal = figs.group_figure(_table(), MODELS, retrain="retrain")
    assert fig.layout.height > normal.layout.height


def test_group_spec_is_exported_with_the_classes_page_figures(tiny_cmp: Comparison) -> None:
    data = figs.GroupInput(_table(), MODELS, "retrain", "dataset.groups 'g.npz'")
    spec = figs.group_spec(data)
    assert spec.key == "classes_groups" and "g.npz" in spec.figure.layout.title.text
    assert spec.data["role"].tolist()[:3] == ["retrain"] * 3
    assert len(spec.data) == 12 and np.isclose(spec.data["TA_gap"].iloc[6], -0.30)
    keys = [s.key for s in class_figs.page_figures(tiny_cmp, groups=data)]
    assert keys[-1] == "classes_groups"
    assert "classes_groups" not in [s.key for s in class_figs.page_figures(tiny_cmp)]


def test_worst_group_accuracy_skips_groups_forgotten_whole() -> None:
    table = pd.DataFrame(
        {
            "model": ["m", "m", "m"],
            "name": ["kept", "forgotten", "other"],
            "n_retain": [10, 0, 12],
            "TA": [0.7, 0.0, 0.9],
            "TA_gap": [0.1, -0.05, 0.0],
        }
    )
    row = figs.worst_groups(table).iloc[0]
    assert (row["worst_acc_group"], row["worst_acc"]) == ("kept", 0.7)
    assert (row["worst_group"], row["worst_gap"]) == ("kept", pytest.approx(0.1))
