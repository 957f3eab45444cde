"""Classes page figure builders and data helpers on the tiny workspace (no Streamlit)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.compare import Comparison
from dashboard import theme
from dashboard.figures import classes as figs
from dashboard.theme import FORGET_MARK, ROLE_COLORS
from tests.fixtures import make_tiny_workspace

A, B = "retrain_classwise", "gradascent_classwise"
FORGET = 1  # the tiny workspace's class-wise forget class


@pytest.fixture(scope="module")
def cmp(tmp_path_factory: pytest.TempPathFactory) -> Comparison:
    ws = make_tiny_workspace(tmp_path_factory.mktemp("classes_fig"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analysis.compare(analysis.load_experiment(ws), A, B)


def _acc(cmp: Comparison, name: str, split: str) -> np.ndarray:
    rep = cmp.models[name]
    return np.asarray((rep.classes_train if split == "train" else rep.classes_test).accuracy)


# --------------------------------------------------------------------------- class differences


def test_class_diff_data_is_b_minus_a_per_split(cmp: Comparison) -> None:
    data = class_diff = figs.class_diff_data(cmp)
    assert len(data) == 2 * len(cmp.class_names)
    for split in ("train", "test"):
        rows = class_diff.loc[class_diff["split"] == split]
        np.testing.assert_allclose(rows["diff"], _acc(cmp, B, split) - _acc(cmp, A, split))
    forget = data.loc[data["forget"], "class"].unique().tolist()
    assert forget == [FORGET]
    label = data.loc[data["class"] == FORGET, "label"].iloc[0]
    assert label.startswith(FORGET_MARK) and label.endswith("(forget)")


def test_retain_average_ignores_forget_classes_and_nan() -> None:
    rows = pd.DataFrame({"diff": [0.2, np.nan, -1.0, 0.4], "forget": [False, False, True, False]})
    assert figs.retain_average(rows) == pytest.approx(0.3)
    assert np.isnan(figs.retain_average(rows.assign(forget=True)))


def test_class_diff_figure_bars_colours_marks_and_average(cmp: Comparison) -> None:
    fig = figs.class_diff_figure(cmp)
    bars = [t for t in fig.data if t.type == "bar" and any(v is not None for v in t.x)]
    assert f"{FORGET_MARK} forget class (hatched)" in {t.name for t in fig.data}  # legend key
    for bar in bars:
        x = np.asarray(bar.x, float)
        if bar.marker.color == ROLE_COLORS["B"]:
            assert (x >= 0).all()
        else:
            assert bar.marker.color == ROLE_COLORS["A"] and (x < 0).all()
        patterns = dict(zip(np.asarray(bar.y).tolist(), bar.marker.pattern.shape, strict=True))
        assert all((shape == "x") == (cls == FORGET) for cls, shape in patterns.items())
    data = figs.class_diff_data(cmp)
    plotted = sorted(
        (float(x), int(y), b.xaxis) for b in bars for x, y in zip(b.x, b.y, strict=True)
    )
    expected = sorted(
        (float(r["diff"]), int(r["class"]), "x" if r["split"] == "train" else "x2")
        for _, r in data.iterrows()
        if np.isfinite(r["diff"])
    )
    assert plotted == expected
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    for split, line in zip(("train", "test"), lines, strict=True):
        avg = figs.retain_average(data.loc[data["split"] == split])
        assert line.x0 == pytest.approx(avg) and line.line.dash == "dash"
    ticks = list(fig.layout.yaxis.ticktext)
    assert ticks[FORGET] == f"{FORGET_MARK} class_{FORGET} (forget)"
    assert "B − A" in fig.layout.xaxis.title.text


def test_values_stand_in_a_column_clear_of_the_bars_and_the_average_line(
    cmp: Comparison,
) -> None:
    for presentation in (False, True):
        fig = figs.class_diff_figure(cmp, presentation=presentation)
        assert all(t.text is None for t in fig.data if t.type == "bar")  # no labels at bar ends
        columns = [t for t in fig.data if t.type == "scatter" and t.mode == "text"]
        assert len(columns) == 2
        data = figs.class_diff_data(cmp)
        for col, split in zip(columns, ("train", "test"), strict=True):
            axis = fig.layout.xaxis if col.xaxis == "x" else fig.layout.xaxis2
            left, right = axis.range
            assert set(col.x) == {right} and col.textposition == "middle left"
            rows = data.loc[data["split"] == split]
            assert list(col.text) == [f"{d:+.2f}" for d in rows["diff"]]
            # bars and the average line end well before the column's room
            room = right - (right - left) * figs.LABEL_ROOM / (2 + figs.LABEL_ROOM)
            assert np.nanmax(np.abs(rows["diff"])) < room
            assert abs(figs.retain_average(rows)) < room
            assert col.textfont.size == theme.font_size(presentation, "small")


# --------------------------------------------------------------------------- matrices


@pytest.mark.parametrize("presentation", [False, True])
def test_matrix_cells_fill_the_width_with_readable_numbers(
    cmp: Comparison, presentation: bool
) -> None:
    fig = figs.prediction_matrix_figure(cmp, presentation=presentation)
    c = len(cmp.class_names)
    # no fixed aspect ratio: the cells take the chart's width, rows their own height
    assert fig.layout.yaxis.scaleanchor is None and fig.layout.yaxis2.scaleanchor is None
    assert fig.layout.height >= c * figs.row_height(c, presentation)
    floor = theme.PRESENTATION_MIN_FONT if presentation else 12
    assert theme.smallest_font_size(fig) >= floor
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert all(t.textfont.size >= floor for t in heat)


def test_row_height_and_cell_text_scale_with_the_number_of_classes() -> None:
    assert figs.row_height(10) >= 50 and figs.row_height(10, True) > figs.row_height(10)
    assert figs.row_height(100) * 100 <= 900  # a hundred classes still fit a screen
    share = np.eye(30) * 0.9 + 0.003
    assert "<br>" not in "".join(figs.cell_text(share[:15, :15], share[:15, :15]).ravel())
    assert (figs.cell_text(share, share) == "").all()  # too many classes: hover only
    small = figs.cell_text(share[:4, :4], share[:4, :4])
    assert small[0, 0] == "0.90<br>0.90" and small[0, 1] == ""
    assert figs.cell_text(share[:4, :4], share[:4, :4], presentation=True)[0, 1] == ""


# --------------------------------------------------------------------------- matrices (data)


def test_matrix_data_matches_class_metrics(cmp: Comparison) -> None:
    data = figs.matrix_data(cmp, "test")
    c = len(cmp.class_names)
    for role, name in (("A", A), ("B", B)):
        rows = data.loc[data["model"] == role]
        metrics = cmp.models[name].classes_test
        np.testing.assert_allclose(rows["share"].to_numpy().reshape(c, c), metrics.prediction)
        np.testing.assert_allclose(rows["confidence"].to_numpy().reshape(c, c), metrics.confidence)
        assert rows.groupby("true")["count"].sum().tolist() == list(metrics.counts)


def test_heatmap_cells_show_share_and_confidence(cmp: Comparison) -> None:
    fig = figs.prediction_matrix_figure(cmp, split="train", mode="heatmap")
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 2
    pred = cmp.models[B].classes_train.prediction
    conf = cmp.models[B].classes_train.confidence
    np.testing.assert_allclose(np.asarray(heat[1].z, float), pred)
    i = int(np.argmax(pred[0]))
    assert heat[1].text[0][i] == f"{pred[0, i]:.2f}<br>{conf[0, i]:.2f}"
    assert [a.text for a in fig.layout.annotations[:2]] == [f"Model A: {A}", f"Model B: {B}"]
    assert fig.layout.annotations[1].font.color == ROLE_COLORS["B"]
    cells = [t for t in fig.data if t.type == "scatter"]
    assert len(cells) == 2 and all(t.marker.opacity == 0 for t in cells)  # clickable overlay
    c = len(cmp.class_names)
    assert [tuple(d[:3]) for d in cells[0].customdata][: c + 1] == [
        *[(0, j, "A") for j in range(c)],
        (1, 0, "A"),
    ]


def test_bubble_mode_area_is_share_and_colour_is_confidence(cmp: Comparison) -> None:
    fig = figs.prediction_matrix_figure(cmp, split="test", mode="bubble")
    assert not [t for t in fig.data if t.type == "heatmap"]
    bubbles = [t for t in fig.data if t.type == "scatter"]
    metrics = cmp.models[A].classes_test
    np.testing.assert_allclose(
        np.asarray(bubbles[0].marker.size, float), metrics.prediction.ravel()
    )
    np.testing.assert_allclose(
        np.asarray(bubbles[0].marker.color, float), metrics.confidence.ravel()
    )
    assert bubbles[0].marker.sizemode == "area"
    assert "confidence" in fig.layout.coloraxis.colorbar.title.text
    assert "test split" in fig.layout.title.text


def test_chosen_cell_outlines_its_row_in_both_matrices(cmp: Comparison) -> None:
    c = len(cmp.class_names)
    fig = figs.prediction_matrix_figure(cmp, cell=(2, 3))
    rows = [s for s in fig.layout.shapes if s.x0 == -0.5 and s.x1 == c - 0.5]
    assert sorted(s.xref for s in rows) == ["x", "x2"]
    assert all((s.y0, s.y1) == (1.5, 2.5) for s in rows)
    cells = [s for s in fig.layout.shapes if (s.x0, s.x1) == (2.5, 3.5)]
    assert sorted(s.xref for s in cells) == ["x", "x2"]
    assert not figs.prediction_matrix_figure(cmp).layout.shapes


def test_bad_split_or_mode(cmp: Comparison) -> None:
    with pytest.raises(ValueError, match="split"):
        figs.prediction_matrix_figure(cmp, split="val")
    with pytest.raises(ValueError, match="mode"):
        figs.prediction_matrix_figure(cmp, mode="pie")


# --------------------------------------------------------------------------- samples, selection


def test_cell_samples_lists_that_true_class_predicted_as_column(cmp: Comparison) -> None:
    inst = cmp.instances
    train = inst.loc[inst["split"] == "train"]
    true = FORGET
    pred = int(train.loc[train["label"] == true, f"{B}__pred"].mode()[0])
    rows = figs.cell_samples(cmp, "train", true, pred)
    expected = train.loc[
        (train["label"] == true) & ((train[f"{A}__pred"] == pred) | (train[f"{B}__pred"] == pred))
    ]
    assert rows["index"].tolist() == expected["index"].tolist() and len(rows) > 0
    assert set(rows["true class"]) == {cmp.class_names[true]}
    name = cmp.class_names[pred]
    assert ((rows[f"A ({A}) predicted"] == name) | (rows[f"B ({B}) predicted"] == name)).all()
    np.testing.assert_allclose(rows[f"B ({B}) P(true)"], expected[f"{B}__true_prob"])
    assert set(rows["forget"]) == {FORGET_MARK}  # class-wise: all class-1 train samples


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (None, None),
        ({"selection": {"points": []}}, None),
        ({"selection": {"points": [{"customdata": [3, 1, "A", "x"]}]}}, (3, 1)),
        ({"selection": {"points": [{"x": 2, "y": 0}]}}, (0, 2)),  # a heatmap point: x = pred
    ],
)
def test_cell_from_selection(event: dict | None, expected: tuple[int, int] | None) -> None:
    assert figs.cell_from_selection(event) == expected


def test_page_figures(cmp: Comparison) -> None:
    specs = figs.page_figures(cmp)
    assert [s.key for s in specs] == ["classes_diff", "classes_matrix_train", "classes_matrix_test"]
    assert {"diff", "acc_a", "acc_b", "forget"} <= set(specs[0].data.columns)
    assert set(specs[2].data["split"]) == {"test"}


def test_class_without_samples_shows_na_not_a_zero_bar(cmp: Comparison) -> None:
    rep = cmp.models[B]
    acc = np.asarray(rep.classes_test.accuracy, float).copy()
    acc[0] = np.nan
    metrics = dataclasses.replace(rep.classes_test, accuracy=acc)
    models = {**cmp.models, B: dataclasses.replace(rep, classes_test=metrics)}
    fig = figs.class_diff_figure(dataclasses.replace(cmp, models=models))
    test_bars = [t for t in fig.data if t.type == "bar" and t.xaxis == "x2"]
    assert 0 not in [int(y) for t in test_bars for y in t.y]
    na = [a for a in fig.layout.annotations if a.text == "N/A"]
    assert len(na) == 1 and na[0].y == 0 and na[0].xref == "x2"
