"""Models page figure builders and data helpers on the tiny workspace (no Streamlit)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.compare import Comparison, models_table
from dashboard.figures import models as figs
from dashboard.theme import ROLE_COLORS
from tests.fixtures import make_tiny_workspace

A, B = "retrain_classwise", "gradascent_classwise"
GREEN = "rgb(77, 146, 33)"  # DISTANCE_SCALE[0]: same as retrain


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_workspace(tmp_path_factory.mktemp("models_fig"))


@pytest.fixture(scope="module")
def table(workspace: Path) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return models_table(analysis.load_experiment(workspace))


@pytest.fixture(scope="module")
def cmp(workspace: Path) -> Comparison:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analysis.compare(analysis.load_experiment(workspace), A, B)


def _with_na(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    out.loc[out["name"] == "finetune_classwise", ["PS", "lira_offline_auc"]] = np.nan
    return out


# --------------------------------------------------------------------------- table helpers


def test_display_table_has_every_column_and_readable_hyperparameters(table: pd.DataFrame) -> None:
    shown = figs.display_table(table)
    assert list(shown.columns) == list(figs.TABLE_COLUMNS)
    row = shown.loc[shown["name"] == B].iloc[0]
    assert row["hyperparameters"] == "lr=0.05, steps=15"
    assert set(figs.COLUMN_HELP) == set(figs.TABLE_COLUMNS)


def test_distances_are_gaps_to_retrain_scaled_per_column(table: pd.DataFrame) -> None:
    dist = figs.distances(table, A)
    ref = table.loc[table["name"] == A].iloc[0]
    for col in ("UA", "TRA", "PS", "forget_auc"):
        gaps = (table[col].astype(float) - float(ref[col])).abs().to_numpy()
        expected = gaps / gaps.max() if gaps.max() > 0 else np.zeros_like(gaps)
        np.testing.assert_allclose(dist[col].to_numpy(), expected)
    assert (dist.loc[table["name"] == A, list(figs.DISTANCE_COLUMNS)] == 0).all(axis=None)
    rt = table["RT"].astype(float)
    np.testing.assert_allclose(dist["RT"], rt / rt.max())  # RT: magnitude, not a gap


def test_distances_without_retrain_fall_back_to_magnitude() -> None:
    t = pd.DataFrame({"name": ["x", "y"], "role": ["unlearned"] * 2, "UA": [0.2, 0.4]})
    assert figs.distances(t)["UA"].tolist() == [0.5, 1.0]


def test_cell_styles_green_for_retrain_and_blank_for_na(table: pd.DataFrame) -> None:
    styles = figs.cell_styles(_with_na(table), A)
    retrain = styles.loc[table["name"] == A].iloc[0]
    assert GREEN in retrain["UA"] and GREEN in retrain["PS"]
    ft = styles.loc[table["name"] == "finetune_classwise"].iloc[0]
    assert ft["PS"] == "" and ft["lira_offline_auc"] == ""
    assert styles["name"].eq("").all()  # text columns are never coloured


def test_styled_table_shows_na_never_zero_and_keeps_colours_when_filtered(
    table: pd.DataFrame,
) -> None:
    full = figs.display_table(_with_na(table))
    html = figs.styled_table(full, full, A).to_html()
    assert "N/A" in html
    one = figs.filter_table(full, methods=["finetune"])
    html_one = figs.styled_table(one, full, A).to_html()
    assert html_one.count("N/A") == 2
    full_css = figs.cell_styles(full, A).set_index(full["name"])
    colour = str(full_css.loc["finetune_classwise", "UA"]).split(";")[0].split(": ")[1]
    assert colour.startswith("rgb(") and colour in html_one  # colour computed on all models


def test_filter_and_sort(table: pd.DataFrame) -> None:
    full = figs.display_table(_with_na(table))
    assert figs.filter_table(full, roles=["unlearned"])["name"].tolist() == [
        "finetune_classwise",
        B,
    ]
    ups = figs.filter_table(full, sort_by="PS")["name"].tolist()
    downs = figs.filter_table(full, sort_by="PS", descending=True)["name"].tolist()
    assert ups[-1] == downs[-1] == "finetune_classwise"  # N/A last either way
    ps = full.set_index("name")["PS"]
    assert ps[ups[0]] == ps.min() and ps[downs[0]] == ps.max()


def test_hyper_text_and_legend() -> None:
    assert figs.hyper_text(None) == ""
    assert figs.hyper_text({"a": 1}) == "a=1"
    assert "same as retrain" in figs.legend_html(True)
    assert "retrain" not in figs.legend_html(False)


# --------------------------------------------------------------------------- trade-off scatter


def _traces(fig: Any) -> dict[str, Any]:
    return {t.name: t for t in fig.data}


def test_tradeoff_marks_roles_pareto_and_pair(table: pd.DataFrame) -> None:
    fig = figs.tradeoff_figure(table, a=A, b=B)
    traces = _traces(fig)
    assert traces["Retrain (target)"].marker.symbol == "star"
    assert traces["Retrain (target)"].marker.color == ROLE_COLORS["retrain"]
    assert traces["Original (before unlearning)"].marker.color == ROLE_COLORS["original"]
    assert traces[f"Model A: {A}"].marker.color == ROLE_COLORS["A"]
    assert traces[f"Model B: {B}"].marker.color == ROLE_COLORS["B"]
    marked = traces["Pareto-optimal (gap, PS, RT)"]
    assert sorted(marked.customdata) == sorted(table.loc[table["pareto"], "name"])
    line = traces["Pareto front in this plane"]
    assert line.mode == "lines" and len(line.x) >= 1
    unlearned = traces["Unlearned models"]
    assert sorted(unlearned.customdata) == sorted(table.loc[table.role == "unlearned", "name"])
    np.testing.assert_allclose(
        unlearned.marker.color, table.loc[table.role == "unlearned", "RT"].astype(float)
    )
    assert "Accuracy gap" in fig.layout.xaxis.title.text
    assert "Privacy score" in fig.layout.yaxis.title.text


def test_tradeoff_skips_na_points_and_says_so(table: pd.DataFrame) -> None:
    fig = figs.tradeoff_figure(_with_na(table), a=A, b=B)
    plotted = {n for t in fig.data for n in (t.customdata if t.customdata is not None else [])}
    assert "finetune_classwise" not in plotted
    assert "1 model(s) not shown" in fig.layout.annotations[0].text


def test_plane_front_is_monotone_and_drops_points_only_optimal_through_rt() -> None:
    rows = pd.DataFrame(
        {"acc_gap": [0.002, 0.006, 0.008, 0.008, 0.128], "PS": [0.11, 0.87, 0.66, 0.875, 0.885]}
    )
    front = figs.plane_front(rows)
    assert front.index.tolist() == [0, 1, 3, 4]  # (0.008, 0.66) is beaten by (0.006, 0.87)
    assert front["acc_gap"].is_monotonic_increasing and front["PS"].is_monotonic_increasing


def test_point_labels_merge_coincident_points() -> None:
    labels = figs.point_labels(
        pd.Series([0.0, 0.0005, 0.5, 1.0]),
        pd.Series([0.0, 0.0, 1, 1]),
        pd.Series(["rl", "salun", "ft", "ga"]),
    )
    assert labels[0].strip() == "rl, salun" and labels[1] == ""
    assert labels[2].strip() == "ft" and labels[3].strip() == "ga"


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (None, []),
        ({"selection": {"points": []}}, []),
        ({"selection": {"points": [{"customdata": "ft"}, {"customdata": ["ga"]}]}}, ["ft", "ga"]),
        ({"points": [{"customdata": ["ga"]}, {"customdata": ["ga"]}, {"x": 1}]}, ["ga"]),
    ],
)
def test_names_from_selection(event: dict | None, expected: list[str]) -> None:
    assert figs.names_from_selection(event) == expected


# --------------------------------------------------------------------------- exports


def test_table_figure_colours_and_na_text(table: pd.DataFrame) -> None:
    fig = figs.table_figure(_with_na(table), retrain=A)
    cells = fig.data[0].cells
    cols = list(figs.TABLE_COLUMNS)
    names = list(cells.values[0])
    ft, ret = names.index("finetune_classwise"), names.index(A)
    assert cells.values[cols.index("PS")][ft] == "N/A"
    assert cells.fill.color[cols.index("PS")][ft] == "white"
    assert cells.fill.color[cols.index("UA")][ret] == GREEN


def test_page_figures_with_and_without_table(cmp: Comparison, table: pd.DataFrame) -> None:
    hist = {A: pd.DataFrame({"epoch": [1, 2], "loss": [1.0, 0.5]}), B: None}
    specs = figs.page_figures(cmp, table=table, histories=hist)
    assert [s.key for s in specs] == ["models_table", "models_tradeoff", "models_history"]
    assert len(specs[0].data) == len(table) and set(specs[2].data["model"]) == {A}
    small = figs.page_figures(cmp)
    assert [s.key for s in small] == ["models_table", "models_tradeoff"]
    derived = small[1].data.set_index("name")
    assert set(derived.index) == set(cmp.models)
    assert derived.loc[A, "acc_gap"] == 0.0
    full = table.set_index("name")
    assert derived.at[B, "acc_gap"] == pytest.approx(full.at[B, "acc_gap"])
