"""Instances page figures and data helpers on a real Comparison of the tiny workspace."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.compare import Comparison
from dashboard.figures import instances as figs
from dashboard.theme import ROLE_COLORS, class_color


@pytest.fixture(scope="module")
def cmp(tiny_workspace: Path) -> Comparison:
    exp = analysis.load_experiment(tiny_workspace)
    return analysis.compare(exp, "retrain_classwise", "gradascent_classwise")


@pytest.fixture(scope="module")
def frame(cmp: Comparison) -> pd.DataFrame:
    return figs.embedding_frame(cmp)


def _truth_table() -> pd.DataFrame:
    """Every case of the highlight definitions, one row each (label 0 throughout)."""
    rows = [  # is_forget, pred_a, pred_retrain, expected mode for A
        (True, 1, 1, "correctly_forgotten"),  # forgets like retrain
        (True, 0, 0, "correctly_forgotten"),  # retrain also right: still "like retrain"
        (True, 0, 2, "not_forgotten"),  # still right, retrain wrong
        (True, 3, 2, None),  # wrong, but differently from retrain
        (False, 1, 0, "overly_forgotten"),  # retain sample damaged
        (False, 1, 1, None),  # retain sample retrain also gets wrong
        (False, 0, 0, None),  # retain sample fine
    ]
    return pd.DataFrame(
        {
            "label": [0] * len(rows),
            "is_forget": [r[0] for r in rows],
            "pred_a": [r[1] for r in rows],
            "pred_b": [0] * len(rows),
            "pred_retrain": [r[2] for r in rows],
            "expected": [r[3] for r in rows],
        }
    )


@pytest.mark.parametrize("mode", ["correctly_forgotten", "not_forgotten", "overly_forgotten"])
def test_highlight_definitions_truth_table(mode: str) -> None:
    table = _truth_table()
    got = figs.highlight_mask(table, mode, "A")
    assert got.tolist() == (table["expected"] == mode).tolist()


def test_highlight_all_forget_and_model_choice() -> None:
    table = _truth_table()
    assert figs.highlight_mask(table, "all", "A").all()
    assert figs.highlight_mask(table, "forget", "B").tolist() == table["is_forget"].tolist()
    # B predicts the label everywhere: no forget sample of B behaves like retrain when retrain
    # is wrong, and B damages no retain sample.
    assert figs.highlight_mask(table, "correctly_forgotten", "B").tolist() == [
        False,
        True,
        False,
        False,
        False,
        False,
        False,
    ]
    assert not figs.highlight_mask(table, "overly_forgotten", "B").any()


def test_highlight_without_retrain_and_bad_mode() -> None:
    table = _truth_table().assign(pred_retrain=-1)
    assert not figs.highlight_mask(table, "not_forgotten", "A").any()
    with pytest.raises(ValueError, match="mode"):
        figs.highlight_mask(table, "nope", "A")
    with pytest.raises(ValueError, match="model"):
        figs.highlight_mask(table, "all", "C")


def test_embedding_frame_joins_by_index(
    cmp: Comparison, frame: pd.DataFrame, tiny_workspace: Path
) -> None:
    targets = analysis.load_experiment(tiny_workspace).dataset("train").targets
    assert frame["index"].tolist() == cmp.embedding.indices.tolist()
    np.testing.assert_array_equal(frame["label"], targets[cmp.embedding.indices])
    np.testing.assert_allclose(frame[["bx", "by"]], cmp.embedding.coords_b)
    train = cmp.instances[cmp.instances["split"] == "train"].set_index("index")
    np.testing.assert_array_equal(frame["pred_b"], train.loc[frame["index"], f"{cmp.b}__pred"])
    assert frame["is_forget"].sum() == np.isin(frame["label"], [1]).sum()  # class 1 forgotten


def test_real_modes_are_consistent(frame: pd.DataFrame) -> None:
    forget = frame["is_forget"].to_numpy()
    for model in ("A", "B"):
        right = figs.highlight_mask(frame, "correctly_forgotten", model)
        kept = figs.highlight_mask(frame, "not_forgotten", model)
        over = figs.highlight_mask(frame, "overly_forgotten", model)
        assert not (right & kept).any()
        assert (right | kept)[~forget].sum() == 0 and over[forget].sum() == 0
    # Model A is the retrain model: every forget sample is "correctly forgotten".
    assert figs.highlight_mask(frame, "correctly_forgotten", "A").tolist() == forget.tolist()


def test_embedding_figure_marks_colours_dimming_and_selection(
    cmp: Comparison, frame: pd.DataFrame
) -> None:
    lit = figs.highlight_mask(frame, "forget", "B")
    chosen = frame["index"].iloc[[0, 5, 7]].tolist()
    fig = figs.embedding_figure(
        frame,
        "B",
        name=cmp.b,
        a=cmp.a,
        b=cmp.b,
        class_names=cmp.class_names,
        forget_classes=(1,),
        highlight=lit,
        selected=chosen,
    )
    data = [
        t
        for t in fig.data
        if t.x is not None and len(t.x) and t.x[0] is not None and not t.name.startswith("selected")
    ]
    seen: list[int] = []
    for trace in data:
        ids = [int(c[0]) for c in trace.customdata]
        seen += ids
        rows = frame.set_index("index").loc[ids]
        assert (rows["pred_b"] == rows["pred_b"].iloc[0]).all()  # one predicted class
        assert trace.marker.color == class_color(int(rows["pred_b"].iloc[0]))
        symbols = np.asarray(trace.marker.symbol)
        assert (symbols == np.where(rows["is_forget"], "x", "circle")).all()
        opacity = np.asarray(trace.marker.opacity)
        forget, picked = rows["is_forget"].to_numpy(), np.isin(ids, chosen)
        # highlighted (forget) samples: full when selected, faded while a selection exists
        assert (opacity[forget & picked] == figs.FULL_OPACITY).all()
        assert (opacity[forget & ~picked] == figs.UNSELECTED_OPACITY).all()
        assert (opacity[~forget] == figs.DIM_OPACITY).all()  # not highlighted: dimmed
    assert sorted(seen) == sorted(frame["index"])  # every sample once, index in customdata
    assert not any(t.name.startswith("card") for t in fig.data)
    ring = next(t for t in fig.data if t.name.startswith("selected"))
    assert sorted(int(c[0]) for c in ring.customdata) == sorted(chosen)
    assert ring.marker.symbol == "circle-open"
    # a thin ring just around each selected point, not a thick blob-making circle
    assert ring.marker.line.width <= 1
    point_size = {
        int(i): sz
        for t in data
        for i, sz in zip([c[0] for c in t.customdata], np.asarray(t.marker.size), strict=True)
    }
    rings = dict(zip([int(c[0]) for c in ring.customdata], ring.marker.size, strict=True))
    assert all(rings[i] - point_size[i] <= 4 for i in chosen)
    legend = [t.name for t in fig.data if t.showlegend is not False]
    assert any(name.startswith("✖") and "(forget)" in name for name in legend)
    assert fig.layout.title.font.color == ROLE_COLORS["B"]


def test_maps_box_select_on_drag(cmp: Comparison, frame: pd.DataFrame) -> None:
    for presentation in (False, True):
        fig = figs.embedding_figure(
            frame,
            "A",
            name=cmp.a,
            a=cmp.a,
            b=cmp.b,
            class_names=cmp.class_names,
            presentation=presentation,
        )
        assert fig.layout.dragmode == "select"  # pan stays available in the modebar


def test_a_large_selection_is_shown_by_fading_not_by_rings(
    cmp: Comparison, frame: pd.DataFrame
) -> None:
    chosen = frame["index"].iloc[: figs.RING_MAX + 1].tolist()
    fig = figs.embedding_figure(
        frame, "A", name=cmp.a, a=cmp.a, b=cmp.b, class_names=cmp.class_names, selected=chosen
    )
    ring = next(t for t in fig.data if t.name.startswith("selected"))
    assert ring.name == f"selected ({len(chosen)})" and len(ring.customdata) == len(chosen)
    assert not np.asarray(ring.marker.size).any()  # no ring drawn in the map
    assert fig.layout.legend.itemsizing == "constant"  # ... but the legend still shows one


def test_point_opacity_fades_the_unselected_only_while_a_selection_exists() -> None:
    f = pd.DataFrame({"index": [10, 11, 12, 13]})
    lit = np.array([True, True, False, False])
    none = figs.point_opacity(f, lit)
    assert none.tolist() == [figs.FULL_OPACITY] * 2 + [figs.DIM_OPACITY] * 2
    assert (figs.point_opacity(f, lit, [11]) == none).all()  # one click: its card marks it
    some = figs.point_opacity(f, lit, [11, 12])
    assert some.tolist() == [
        figs.UNSELECTED_OPACITY,
        figs.FULL_OPACITY,
        figs.DIM_OPACITY,  # selected but not highlighted keeps the highlight's dimming
        min(figs.DIM_OPACITY, figs.UNSELECTED_OPACITY),
    ]


def test_focus_sample_is_framed(cmp: Comparison, frame: pd.DataFrame) -> None:
    target = int(frame["index"].iloc[3])
    fig = figs.embedding_figure(
        frame, "A", name=cmp.a, a=cmp.a, b=cmp.b, class_names=cmp.class_names, focus=target
    )
    card = next(t for t in fig.data if t.name == f"card: sample #{target}")
    assert [int(c[0]) for c in card.customdata] == [target]
    assert card.x[0] == pytest.approx(frame["ax"].iloc[3])
    assert card.marker.symbol == "diamond-open"


def test_shared_ranges_hold_both_maps(frame: pd.DataFrame) -> None:
    (x0, x1), (y0, y1) = figs.shared_ranges(frame)
    for col, lo, hi in (("ax", x0, x1), ("bx", x0, x1), ("ay", y0, y1), ("by", y0, y1)):
        assert lo < frame[col].min() and frame[col].max() < hi


def test_selection_table_and_breakdown(cmp: Comparison, frame: pd.DataFrame) -> None:
    chosen = frame["index"].iloc[:12].tolist()
    table = figs.selection_table(frame, chosen, cmp.class_names)
    assert sorted(table["index"]) == sorted(chosen)
    assert table["KL(A‖B)"].is_monotonic_decreasing
    assert {"label", "A prediction", "B prediction", "A p(true)", "B p(true)"} <= set(table)
    counts = figs.class_breakdown(frame, chosen, len(cmp.class_names))
    part = frame.iloc[:12]
    for col in ("label", "pred_a", "pred_b"):
        expected = [int((part[col] == c).sum()) for c in range(len(cmp.class_names))]
        assert counts[col].tolist() == expected
    fig = figs.class_breakdown_figure(
        counts, class_names=cmp.class_names, forget_classes=(1,), a=cmp.a, b=cmp.b
    )
    assert [t.marker.color for t in fig.data][1:] == [ROLE_COLORS["A"], ROLE_COLORS["B"]]
    assert "✖ class_1 (forget)" in list(fig.data[0].x)
    assert "n = 12" in fig.layout.title.text


def test_most_changed_is_top_kl(cmp: Comparison) -> None:
    top = figs.most_changed(cmp, 5)
    train = cmp.instances[cmp.instances["split"] == "train"]
    expected = np.sort(train["kl_a_b"].to_numpy())[::-1][:5]
    np.testing.assert_allclose(top["KL(A‖B)"], expected)


def test_probability_figure_roles_and_true_class() -> None:
    probs = {
        "m1": np.array([0.7, 0.2, 0.1]),
        "m2": np.array([0.1, 0.1, 0.8]),
        "r": np.array([0.3, 0.3, 0.4]),
    }
    roles = {"m1": "A", "m2": "B", "r": "retrain"}
    fig = figs.probability_figure(
        probs, roles, class_names=("a", "b", "c"), label=2, forget_classes=(2,), index=4
    )
    assert [t.marker.color for t in fig.data] == [ROLE_COLORS[r] for r in ("A", "B", "retrain")]
    np.testing.assert_allclose(np.asarray(fig.data[2].y, float), probs["r"])
    assert list(fig.data[0].x)[2] == "✖ c<br>(forget)"  # two lines, drawn horizontally
    assert fig.layout.xaxis.tickangle == 0  # a rotated ✖ would read as +
    band = fig.layout.shapes[0]
    assert band.x0 == pytest.approx(1.5) and band.x1 == pytest.approx(2.5)
    assert "#4" in fig.layout.title.text


def test_page_figures(cmp: Comparison) -> None:
    specs = figs.page_figures(cmp)
    assert [s.key for s in specs] == ["instances_map_a", "instances_map_b"]
    assert {"index", "label", "is_forget", "ax", "bx", "kl_a_b"} <= set(specs[0].data.columns)
    no_retrain = dataclasses.replace(cmp, retrain=None)
    assert (figs.embedding_frame(no_retrain)["pred_retrain"] == -1).all()


def test_exposure_table_lists_each_attacks_score_for_the_sample(cmp: Comparison) -> None:
    forget = int(cmp.sets.forget[0])
    roles = {cmp.a: "A", cmp.b: "B"}
    table = figs.exposure_table(cmp, forget, roles)
    train = cmp.instances[cmp.instances["split"] == "train"].set_index("index")
    rows = table.set_index("attack")
    for spec in analysis.EXPOSURE_SCORES:
        value = train.loc[forget, f"{cmp.b}__{spec.column}"]
        if spec.label in rows.index:
            assert rows.loc[spec.label, f"B ({cmp.b})"] == pytest.approx(value, nan_ok=True)
        else:
            assert np.isnan(value) and np.isnan(train.loc[forget, f"{cmp.a}__{spec.column}"])
    assert rows.loc["Offline LiRA (z)", "member-like when"] == "higher"
    # a retain sample has threshold signals but no reference-attack scores
    retain = int(cmp.sets.retain[0])
    assert "Offline LiRA (z)" not in set(figs.exposure_table(cmp, retain, roles)["attack"])
    assert figs.exposure_table(cmp, 10**6, roles).empty


def test_symbol_key_names_each_symbol_once(cmp: Comparison, frame: pd.DataFrame) -> None:
    """The legend read "✖ ✖ forget sample" (its ✖ marker, then ✖ in the label)."""
    fig = figs.embedding_figure(
        frame, "A", name=cmp.a, a=cmp.a, b=cmp.b, class_names=cmp.class_names, forget_classes=(1,)
    )
    keys = {t.name: t.marker.symbol for t in fig.data if t.legendgroup in ("mark_circle", "mark_x")}
    assert keys == {"retain sample": "circle", "forget sample": "x"}
