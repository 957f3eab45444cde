"""Layers page figures on a real Comparison of the tiny workspace."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import analysis
from analysis.cka import CKAMatrix
from analysis.compare import Comparison
from dashboard.figures import layers as figs
from dashboard.theme import ROLE_COLORS


@pytest.fixture(scope="module")
def cmp(tiny_workspace: Path) -> Comparison:
    exp = analysis.load_experiment(tiny_workspace)
    return analysis.compare(exp, "retrain_classwise", "gradascent_classwise")


@pytest.fixture(scope="module")
def cmp_random(tiny_workspace: Path) -> Comparison:
    exp = analysis.load_experiment(tiny_workspace, scenario="random")
    return analysis.compare(exp, "finetune_random", "gradascent_random")


def test_curves_against_original_are_the_matrix_diagonals(cmp: Comparison) -> None:
    curves = figs.layer_curves(cmp, against="original", split="train")
    assert curves.against == "original" and curves.notes == ()
    assert set(curves.data["role"]) == {"A", "B"}
    assert set(curves.data["group"]) == {"forget", "retain"}
    for (role, group), part in curves.data.groupby(["role", "group"]):
        model = cmp.a if role == "A" else cmp.b
        matrix = cmp.layers.get(model, "original", "train", group)
        assert matrix is not None
        expected = [matrix.values[i, i] for i in range(len(matrix.layers_a))]
        np.testing.assert_allclose(part.sort_values("layer_index")["cka"], expected)
        assert list(part.sort_values("layer_index")["layer"]) == list(matrix.layers_a)


def test_model_that_is_the_reference_gets_a_note_not_a_line(cmp: Comparison) -> None:
    curves = figs.layer_curves(cmp, against="retrain", split="train")
    assert set(curves.data["role"]) == {"B"}  # A is the retrain model itself
    assert any("is the retrain_classwise model itself" in n for n in curves.notes)


def test_missing_reference_is_a_message(cmp: Comparison) -> None:
    no_retrain = dataclasses.replace(cmp, retrain=None)
    curves = figs.layer_curves(no_retrain, against="retrain", split="test")
    assert curves.data.empty and curves.against is None
    assert "no retrain model" in curves.notes[0]
    fig = figs.cka_lines_figure(curves)
    assert len(fig.data) == 0
    assert "no retrain model" in fig.layout.annotations[0].text


def test_random_scenario_test_split_has_no_forget_lines(cmp_random: Comparison) -> None:
    assert cmp_random.layers.get(cmp_random.a, cmp_random.b, "test", "forget") is None
    curves = figs.layer_curves(cmp_random, against="retrain", split="test")
    assert set(curves.data["group"]) == {"retain"}
    assert set(curves.data["role"]) == {"A", "B"}
    assert any("No test forget samples" in n for n in curves.notes)


def test_lines_colour_by_model_and_dash_by_group(cmp: Comparison) -> None:
    fig = figs.cka_lines_figure(figs.layer_curves(cmp, against="original"), split="train")
    assert len(fig.data) == 4
    for trace in fig.data:
        role = trace.name.split(":")[0]
        assert trace.line.color == ROLE_COLORS[role]
        forget = trace.name.endswith("forget")
        assert trace.line.dash == ("solid" if forget else "dash")
        assert trace.marker.symbol == ("x" if forget else "circle")
    assert "original" in fig.layout.title.text and "train" in fig.layout.title.text
    assert "CKA" in fig.layout.yaxis.title.text


def test_heatmap_is_centred_at_zero_and_annotated(cmp: Comparison) -> None:
    matrix = cmp.layers.get(cmp.a, cmp.b, "train", "forget")
    assert matrix is not None
    fig = figs.cka_heatmap_figure(matrix, split="train", group="forget")
    heat = fig.data[0]
    np.testing.assert_allclose(np.asarray(heat.z, float), matrix.values)
    assert heat.zmid == 0 and heat.zmin <= -1 and heat.zmax >= 1
    numbers = fig.data[1]  # small matrix: values written in the cells
    assert numbers.mode == "text" and len(numbers.text) == matrix.values.size
    assert list(heat.y) == list(matrix.layers_a) and list(heat.x) == list(matrix.layers_b)
    assert cmp.a in fig.layout.yaxis.title.text and cmp.b in fig.layout.xaxis.title.text


def test_heatmap_keeps_negative_cka_and_skips_text_when_large() -> None:
    values = np.full((13, 13), 0.5)
    values[0, 1] = -1.4
    names = tuple(f"l{i}" for i in range(13))
    fig = figs.cka_heatmap_figure(
        CKAMatrix("a", "b", names, names, values, 50), split="test", group="retain"
    )
    heat = fig.data[0]
    assert np.asarray(heat.z, float)[0, 1] == pytest.approx(-1.4)  # not clamped
    assert heat.zmin <= -1.4 and heat.zmax >= 1.4 and heat.zmid == 0
    assert len(fig.data) == 1  # no numbers on a large matrix
    frame = figs.heatmap_frame(CKAMatrix("a", "b", names, names, values, 50))
    assert len(frame) == 169 and frame["cka"].min() == pytest.approx(-1.4)


def test_weight_change_bars(cmp: Comparison) -> None:
    wc = cmp.layers.weight_change
    assert wc is not None
    frame = figs.weight_change_frame(wc)
    assert frame is not None
    fig = figs.weight_change_figure(frame, a=cmp.a, b=cmp.b)
    bars = fig.data[0]
    assert list(bars.x) == list(wc.layers)
    np.testing.assert_allclose(np.asarray(bars.y, float), wc.relative)
    assert bars.marker.color == ROLE_COLORS["B"]
    assert bars.text[0].endswith("%")
    assert fig.layout.yaxis.tickformat == ".0%"


def test_weight_change_missing_is_a_message() -> None:
    assert figs.weight_change_frame(None) is None
    fig = figs.weight_change_figure(None, a="x", b="y")
    assert len(fig.data) == 0
    assert "different architectures" in fig.layout.annotations[0].text


def test_page_figures(cmp: Comparison, cmp_random: Comparison) -> None:
    specs = figs.page_figures(cmp)
    keys = [s.key for s in specs]
    assert keys == [
        "layers_cka_lines",
        "layers_cka_heatmap_forget",
        "layers_cka_heatmap_retain",
        "layers_weight_change",
    ]
    assert {"role", "group", "layer", "cka"} <= set(specs[0].data.columns)
    assert {"layer_a", "layer_b", "cka"} <= set(specs[1].data.columns)
    assert {"layer", "relative", "absolute"} <= set(specs[3].data.columns)
    # A is the retrain model: the default lines are drawn against the original instead.
    assert set(specs[0].data["against"]) == {"original"}
    presented = figs.page_figures(cmp_random, presentation=True)
    assert presented[0].figure.layout.template.layout.font.size == 20


def test_heatmap_numbers_contrast_with_their_cells() -> None:
    """Grey numbers on mid-blue cells (CKA ≈ 0.55) were hard to read: each number is
    near-black on light cells and white on dark ones."""
    values = np.array([[1.0, 0.55], [0.05, -0.9]])
    names = ("l0", "l1")
    fig = figs.cka_heatmap_figure(
        CKAMatrix("a", "b", names, names, values, 50), split="train", group="forget"
    )
    numbers = fig.data[1]
    colour = dict(zip(numbers.text, numbers.textfont.color, strict=True))
    assert colour == {"1.00": "#ffffff", "0.55": "#111111", "0.05": "#111111", "-0.90": "#ffffff"}
    assert list(numbers.x) == ["l0", "l1", "l0", "l1"] and list(numbers.y) == [
        "l0",
        "l0",
        "l1",
        "l1",
    ]
    assert numbers.hoverinfo == "skip"  # the heatmap's hover stays
