"""Privacy page figure builders on a real Comparison of the tiny workspace."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import analysis
from analysis.compare import Comparison
from analysis.experiment import Experiment
from analysis.mia import (
    ThresholdChoice,
    privacy_score_from_values,
    threshold_common,
    threshold_max_attack,
    threshold_max_success,
    threshold_worst_case,
)
from dashboard.figures import privacy as figs
from dashboard.theme import ROLE_COLORS
from dashboard.theme import font_size as theme_font

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture(scope="module")
def experiment(tiny_workspace: Path) -> Experiment:
    return analysis.load_experiment(tiny_workspace)


@pytest.fixture(scope="module")
def cmp(experiment: Experiment) -> Comparison:
    """A = the retrain model (a pair the sidebar still offers), B = gradient ascent."""
    return analysis.compare(experiment, "retrain_classwise", "gradascent_classwise")


@pytest.fixture(scope="module")
def cmp2(experiment: Experiment) -> Comparison:
    """Two unlearned models (the dashboard's default pair), the retrain model separate."""
    return analysis.compare(experiment, "finetune_classwise", "gradascent_classwise")


def _without(cmp: Comparison, **fields: object) -> Comparison:
    """The comparison with every model's privacy report fields replaced."""
    models = {
        n: dataclasses.replace(r, privacy=dataclasses.replace(r.privacy, **fields))
        for n, r in cmp.models.items()
    }
    return dataclasses.replace(cmp, models=models)


# ------------------------------------------------------------------------------ strategies


def test_sides_are_a_then_b_with_their_scores(cmp2: Comparison) -> None:
    sides = figs.sides(cmp2)
    assert [(s.role, s.name) for s in sides] == [("A", cmp2.a), ("B", cmp2.b)]
    assert sides[1].ps is cmp2.models[cmp2.b].privacy.ps
    assert sides[0].color == ROLE_COLORS["A"] and sides[1].color == ROLE_COLORS["B"]


def test_sides_empty_without_retrain_model(cmp2: Comparison) -> None:
    assert figs.sides(_without(cmp2, ps=None)) == []


def test_the_retrain_model_itself_is_not_attacked(cmp: Comparison) -> None:
    assert [s.role for s in figs.sides(cmp)] == ["B"]  # A is the retrain model
    got = figs.choose_thresholds(figs.sides(cmp), strategy="common", signal="logit_conf")
    assert list(got) == ["B"]  # one side: the max-attack threshold


@pytest.mark.parametrize("signal", ["entropy_t2", "logit_conf"])
def test_strategies_match_the_library(cmp2: Comparison, signal: str) -> None:
    a, b = figs.sides(cmp2)
    got = figs.choose_thresholds([a, b], strategy="max_attack", signal=signal)
    assert got["B"].threshold == threshold_max_attack(b.ps, signal=signal).threshold
    got = figs.choose_thresholds(
        [a, b], strategy="max_success", signal=signal, direction="model_positive"
    )
    want = threshold_max_success(b.ps, signal=signal, direction="model_positive")
    assert (got["B"].threshold, got["B"].direction) == (want.threshold, "model_positive")
    common = figs.choose_thresholds([a, b], strategy="common", signal=signal)
    both = threshold_common(a.ps, b.ps, signal=signal)
    assert common["A"].threshold == common["B"].threshold == both.a.threshold


@pytest.mark.parametrize("signal", ["entropy_t2", "logit_conf"])
def test_worst_case_follows_the_chosen_metric(cmp2: Comparison, signal: str) -> None:
    a, b = figs.sides(cmp2)
    got = figs.choose_thresholds([a, b], strategy="worst_case", signal=signal)
    for side in (a, b):
        choice = got[side.role]
        assert (choice.signal, choice.strategy) == (signal, "worst_case")
        want = threshold_max_attack(side.ps, signal=signal)  # both directions, every threshold
        assert (choice.threshold, choice.attack_score) == (want.threshold, want.attack_score)
        if signal == side.ps.worst_signal:  # on PS's metric it is the attack behind PS
            assert math.isclose(1.0 - choice.attack_score, side.ps.ps, abs_tol=1e-9)
        else:
            assert 1.0 - choice.attack_score >= side.ps.ps - 1e-12
    fixed = figs.choose_thresholds(
        [a, b], strategy="worst_case", signal=signal, direction="retrain_positive"
    )
    assert fixed["B"].direction == "retrain_positive" and fixed["B"].signal == signal
    assert fixed["B"].attack_score <= got["B"].attack_score + 1e-12


def test_worst_signal_is_the_lowest_ps_models_worst_case(cmp2: Comparison) -> None:
    a, b = figs.sides(cmp2)
    weakest = a if a.ps.ps <= b.ps.ps else b
    assert figs.worst_signal([a, b]) == weakest.ps.worst_signal
    assert figs.worst_signal([b]) == b.ps.worst_signal
    worst = threshold_worst_case(weakest.ps)
    got = figs.choose_thresholds([a, b], strategy="worst_case", signal=worst.signal)
    assert math.isclose(got[weakest.role].attack_score, worst.attack_score)


def test_custom_uses_each_models_threshold(cmp2: Comparison) -> None:
    a, b = figs.sides(cmp2)
    lo, hi = figs.threshold_range(b.ps, "entropy_t2")
    t = (lo + hi) / 2
    got = figs.choose_thresholds(
        [a, b], strategy="custom", signal="entropy_t2", direction="model_positive", custom={"B": t}
    )
    assert got["B"].threshold == t and got["B"].direction == "model_positive"
    values = b.ps.model_values["entropy_t2"]
    assert np.array_equal(got["B"].model.predicted_positive, values >= t)
    auto = threshold_max_attack(a.ps, signal="entropy_t2", direction="model_positive")
    assert got["A"].threshold == auto.threshold  # no slider value yet: the max-attack one


def test_unknown_strategy_is_refused(cmp2: Comparison) -> None:
    with pytest.raises(ValueError, match="strategy"):
        figs.choose_thresholds(figs.sides(cmp2), strategy="best", signal="entropy_t2")


def test_clamp_threshold_keeps_slider_values_in_range() -> None:
    assert figs.clamp_threshold(5.0, (0.0, 2.0), 1.0) == 2.0
    assert figs.clamp_threshold(float("nan"), (0.0, 2.0), 1.0) == 1.0
    assert figs.clamp_threshold(0.5, (0.0, 2.0), 1.0) == 0.5


# ---------------------------------------------------------------------------------- figures


def _choice(
    cmp: Comparison, role: str = "B", strategy: str = "max_attack"
) -> tuple[figs.Side, ThresholdChoice]:
    sides = {s.role: s for s in figs.sides(cmp)}
    return sides[role], figs.choose_thresholds(
        list(sides.values()), strategy=strategy, signal="entropy_t2"
    )[role]


def _mixed(role: str = "B") -> tuple[figs.Side, ThresholdChoice, np.ndarray]:
    """A side whose outputs overlap the retrain model's (the tiny workspace's separate
    perfectly), its max-attack threshold (the attacker errs on both origins) and its forget
    set's training indices."""
    rng = np.random.default_rng(7)
    model = {s: rng.normal(0.0, 1.0, 60) for s in ("entropy_t2", "logit_conf")}
    retrain = {s: rng.normal(0.8, 1.0, 60) for s in ("entropy_t2", "logit_conf")}
    forget = np.arange(60) * 2 + 1  # training indices (the tiny workspace has 120)
    side = figs.Side(role, "m", privacy_score_from_values(model, retrain), forget)
    choice = figs.choose_thresholds([side], strategy="max_attack", signal="entropy_t2")[role]
    frame = figs.outcome_frame(side, choice, forget)
    assert frame.groupby(["origin", "called"]).size().size == 4  # every origin x decision
    return side, choice, forget


def _dot_traces(fig: Any) -> list[Any]:
    """The dots (one trace per origin and decision), without the ring and the legend keys."""
    return [
        t
        for t in fig.data
        if t.type == "scatter" and t.customdata is not None and t.marker.symbol != "circle-open"
    ]


def test_butterfly_draws_a_dot_per_sample_and_origin(cmp2: Comparison) -> None:
    side, choice = _choice(cmp2)
    fig = figs.distribution_figure(side, choice, style="butterfly")
    dots = _dot_traces(fig)
    assert len(dots) == 4  # 2 origins x 2 decisions
    left = [t for t in dots if t.marker.color == ROLE_COLORS["retrain"]]
    right = [t for t in dots if t.marker.color == side.color]
    assert len(left) == len(right) == 2
    assert all((np.asarray(t.x) < 0).all() for t in left)
    assert all((np.asarray(t.x) > 0).all() for t in right)
    n = len(cmp2.sets.forget)
    assert sum(len(t.x) for t in left) == sum(len(t.x) for t in right) == n
    for group in (left, right):  # every forget sample once per side, by its training index
        index = np.concatenate([np.asarray(t.customdata)[:, 0] for t in group])
        assert sorted(index.astype(int).tolist()) == sorted(cmp2.sets.forget.tolist())
    lines = [s for s in fig.layout.shapes if s.y0 == s.y1]
    assert any(math.isclose(s.y0, choice.threshold) for s in lines)
    assert "entropy" in fig.layout.yaxis.title.text


def test_butterfly_opacity_is_the_attackers_decision() -> None:
    side, choice, _ = _mixed(role="A")
    fig = figs.distribution_figure(side, choice, style="butterfly")
    index = side.indices()
    for origin, color in (("model", side.color), ("retrain", ROLE_COLORS["retrain"])):
        says_model = figs.called_model(choice, origin)
        values = (side.ps.model_values if origin == "model" else side.ps.retrain_values)[
            choice.signal
        ]
        for trace in (t for t in _dot_traces(fig) if t.marker.color == color and len(t.x)):
            data = np.asarray(trace.customdata)
            rows = np.searchsorted(index, data[:, 0].astype(int))
            called = "model" if says_model[rows].all() else "retrain"
            assert says_model[rows].all() or not says_model[rows].any()  # one decision a trace
            assert trace.marker.opacity == figs.CALLED_OPACITY[called]
            assert trace.unselected.marker.opacity == trace.marker.opacity  # a click keeps it
            np.testing.assert_allclose(data[:, 1], values[rows])
            # the dot sits on its value's side of the threshold line
            assert (
                (np.asarray(trace.y) >= choice.threshold) == (values[rows] >= choice.threshold)
            ).all()
    assert figs.CALLED_OPACITY["model"] > figs.CALLED_OPACITY["retrain"]
    assert all(len(t.x) for t in _dot_traces(fig))  # both decisions on both origins


def test_butterfly_rings_the_focused_sample(cmp2: Comparison) -> None:
    side, choice = _choice(cmp2)
    sample = int(cmp2.sets.forget[3])
    fig = figs.distribution_figure(side, choice, focus=sample)
    ring = [t for t in fig.data if t.marker.symbol == "circle-open"]
    assert len(ring) == 1 and len(ring[0].x) == 2 and ring[0].x[0] < 0 < ring[0].x[1]
    assert {int(c[0]) for c in ring[0].customdata} == {sample}
    outside = int(np.setdiff1d(np.arange(200), cmp2.sets.forget)[0])
    assert not [
        t
        for t in figs.distribution_figure(side, choice, focus=outside).data
        if t.marker.symbol == "circle-open"
    ]


def test_a_and_b_panels_share_their_axes(cmp2: Comparison) -> None:
    a, b = figs.sides(cmp2)
    for signal in ("entropy_t2", "logit_conf"):
        choices = figs.choose_thresholds([a, b], strategy="max_attack", signal=signal)
        scales = figs.shared_scales([a, b], choices)
        for style in ("butterfly", "histogram"):
            fa, fb = (
                figs.distribution_figure(s, choices[s.role], style=style, scales=scales)
                for s in (a, b)
            )
            assert fa.layout.xaxis.range == fb.layout.xaxis.range
            assert fa.layout.yaxis.range == fb.layout.yaxis.range
        ca, cb = (figs.attack_curves_figure(s, choices[s.role], scales=scales) for s in (a, b))
        assert ca.layout.xaxis.range == cb.layout.xaxis.range == tuple(scales.value)
        # the shared count axis holds the fuller panel's largest bin
        biggest = max(
            max(np.abs(np.asarray(t.x)).max(initial=0) for t in _dot_traces(f))
            for f in (figs.distribution_figure(s, choices[s.role], scales=scales) for s in (a, b))
        )
        assert scales.count - 0.5 == pytest.approx(biggest)
        values = np.concatenate(
            [a.ps.model_values[signal], b.ps.model_values[signal], a.ps.retrain_values[signal]]
        )
        assert scales.value[0] < values.min() and scales.value[1] > values.max()


def test_bins_put_the_threshold_on_an_edge() -> None:
    codes = figs.bin_codes(np.array([0.99, 1.0, 1.01, 1.49, 1.5]), 1.0, 0.5)
    assert codes.tolist() == [-1, 0, 0, 0, 1]


def test_histogram_style_draws_a_vertical_threshold(cmp2: Comparison) -> None:
    side, choice = _choice(cmp2)
    fig = figs.distribution_figure(side, choice, style="histogram")
    assert {t.orientation for t in fig.data} == {None}
    assert any(s.x0 == s.x1 and math.isclose(s.x0, choice.threshold) for s in fig.layout.shapes)
    assert sum(np.sum(t.y) for t in fig.data) == 2 * len(cmp2.sets.forget)


def test_attack_curves_follow_the_library_curve(cmp2: Comparison) -> None:
    side, choice = _choice(cmp2)
    fig = figs.attack_curves_figure(side, choice)
    curve = side.ps.curve(choice.signal, choice.direction)
    by_name = {t.name: t for t in fig.data if t.name}
    score = by_name["attack score"]
    assert score.line.color == side.color
    assert np.allclose(score.x, curve.thresholds) and np.allclose(score.y, curve.attack_score)
    assert np.allclose(by_name["FPR"].y, curve.fpr) and np.allclose(by_name["FNR"].y, curve.fnr)
    marks = [t for t in fig.data if not t.name]
    assert all(t.x[0] == choice.threshold for t in marks)
    assert {m.y[0] for m in marks} == {choice.attack_score, choice.fpr, choice.fnr}
    data = figs.attack_curves_data(side, choice)
    assert len(data) == len(curve.thresholds) and "attack_score_max_form" in data


def test_ps_figure_bars_are_the_min_form_and_the_max_form_is_a_label(cmp2: Comparison) -> None:
    fig = figs.ps_figure(cmp2)
    bars = [t for t in fig.data if t.type == "bar"]
    assert [t.name for t in bars[:3]] == [
        f"{cmp2.a} (Model A)",
        f"{cmp2.b} (Model B)",
        "retrain_classwise (retrain)",
    ]
    assert [t.marker.color for t in bars[:3]] == [ROLE_COLORS[r] for r in ("A", "B", "retrain")]
    ps_b = cmp2.models[cmp2.b].privacy.ps
    assert list(bars[1].y) == [ps_b.ps] and list(bars[2].y) == [1.0]
    assert all(len(t.y) == 1 for t in bars)  # no bar for the max form
    ticks = fig.layout.xaxis.ticktext
    assert ticks[1] == f"{cmp2.b}<br>max form<br>{figs.format_value(ps_b.ps_max_form)} *"
    assert ps_b.max_form_saturated and not ticks[2].endswith("*")  # the retrain's is 1
    assert "* saturated" in fig.layout.title.subtitle.text  # the meaning travels with it
    assert "max form" in figs.PS_MAX_LABEL and "min form" in figs.PS_MIN_LABEL


def test_ps_figure_marks_the_ps_at_the_current_threshold(cmp2: Comparison) -> None:
    a, b = figs.sides(cmp2)
    choices = figs.choose_thresholds([a, b], strategy="max_success", signal="logit_conf")
    fig = figs.ps_figure(cmp2, current=choices)
    marks = next(t for t in fig.data if t.name == "PS at the current threshold")
    want = [1.0 - choices["A"].attack_score, 1.0 - choices["B"].attack_score]
    np.testing.assert_allclose(marks.y, want)
    assert [c for c in marks.marker.line.color] == [ROLE_COLORS["A"], ROLE_COLORS["B"]]
    assert all(t.startswith("at t: ") for t in marks.text)
    data = figs.ps_data(cmp2, choices)
    assert data["ps_at_threshold"].notna().sum() == 2  # A and B only
    assert "PS at the current threshold" not in [t.name for t in figs.ps_figure(cmp2).data]


def test_ps_figure_labels_a_retrain_model_a_once(cmp: Comparison) -> None:
    names = [t.name for t in figs.ps_figure(cmp).data if t.type == "bar"]
    assert names[0] == "retrain_classwise (Model A, retrain)"
    assert len(names) == len(set(names)) == 3  # A (= retrain), B, original


def test_outcome_frame_has_both_origins(cmp2: Comparison) -> None:
    side, choice = _choice(cmp2)
    frame = figs.outcome_frame(side, choice, cmp2.sets.forget)
    n = len(cmp2.sets.forget)
    assert frame["origin"].value_counts().to_dict() == {"model": n, "retrain": n}
    assert (frame["succeeded"] == (frame["called"] == frame["origin"])).all()
    model = frame[frame["origin"] == "model"]
    assert model["succeeded"].sum() == choice.model.correct.sum()
    assert frame[frame["origin"] == "retrain"]["succeeded"].sum() == choice.retrain.correct.sum()
    assert (np.diff(frame["margin"]) <= 0).all()  # clearest cases first


def test_outcome_grid_borders_encode_the_decision(experiment: Experiment) -> None:
    side, choice, forget = _mixed()
    frame = figs.outcome_frame(side, choice, forget)
    images = experiment.dataset("train").x.numpy()
    for succeeded in (True, False):
        fig = figs.outcome_grid(images, frame, side, succeeded=succeeded, cap=500)
        rows = frame[frame["succeeded"] == succeeded]
        colors = [s.line.color for s in fig.layout.shapes]
        want = [side.color if c == "model" else ROLE_COLORS["retrain"] for c in rows["called"]]
        assert colors == want
        # succeeded: the border is the origin's colour; failed: the other one
        origin = [side.color if o == "model" else ROLE_COLORS["retrain"] for o in rows["origin"]]
        assert set(colors) == {side.color, ROLE_COLORS["retrain"]}
        assert (np.array(colors) == np.array(origin)).all() == succeeded
        assert (np.array(colors) != np.array(origin)).all() == (not succeeded)
        targets = fig.data[1]
        assert [int(c[0]) for c in targets.customdata] == rows["forget_index"].tolist()


def test_outcome_grid_origin_filter_size_and_cap(experiment: Experiment) -> None:
    side, choice, forget = _mixed()
    frame = figs.outcome_frame(side, choice, forget)
    images = experiment.dataset("train").x.numpy()
    only = frame[(frame["origin"] == "retrain") & frame["succeeded"]]
    fig = figs.outcome_grid(images, frame, side, succeeded=True, origin="retrain", cap=3)
    assert f"succeeded {len(only)}/{len(forget)}" in fig.layout.title.text
    assert ("first 3" in fig.layout.title.text) == (len(only) > 3)
    hover = list(fig.data[1].hovertext)
    assert len(hover) == min(3, len(only)) and all("retrain output" in h for h in hover)
    small, large = (
        figs.outcome_grid(images, frame, side, succeeded=True, columns=c, cap=60)
        for c in (figs.THUMBNAIL_SIZES["small"], figs.THUMBNAIL_SIZES["large"])
    )
    width = [f.layout.xaxis.range[1] - f.layout.xaxis.range[0] for f in (small, large)]
    assert width[0] > width[1]  # more thumbnails per row: each one smaller
    assert large.layout.height > small.layout.height
    with pytest.raises(ValueError, match="origin"):
        figs.outcome_grid(images, frame, side, succeeded=True, origin="forget")


def test_outcome_grid_frames_the_open_sample(experiment: Experiment) -> None:
    side, choice, forget = _mixed()
    frame = figs.outcome_frame(side, choice, forget)
    images = experiment.dataset("train").x.numpy()
    plain = figs.outcome_grid(images, frame, side, succeeded=True, cap=500)
    rows = frame[frame["succeeded"]]
    sample = int(rows["forget_index"].iloc[0])
    framed = figs.outcome_grid(images, frame, side, succeeded=True, cap=500, focus=sample)
    extra = framed.layout.shapes[len(plain.layout.shapes) :]
    assert len(extra) == int((rows["forget_index"] == sample).sum()) >= 1
    assert all(s.line.color == "#111" and s.line.width > 3 for s in extra)


def test_outcome_grid_takes_vector_inputs(cmp2: Comparison) -> None:
    side, choice = _choice(cmp2)
    frame = figs.outcome_frame(side, choice, cmp2.sets.forget)
    vectors = np.random.default_rng(0).normal(size=(200, 20))  # a tabular dataset
    fig = figs.outcome_grid(vectors, frame, side, succeeded=False, cap=4)
    assert len(fig.layout.shapes) == min(4, int((~frame["succeeded"]).sum()))


# ------------------------------------------------------------------------------------ audit


def test_audit_frame_lists_every_metric_with_targets_and_gaps(cmp2: Comparison) -> None:
    frame = figs.audit_frame(cmp2)
    assert frame["metric"].tolist() == list(figs.AUDIT_METRICS.values())
    b_col = f"{cmp2.b} (Model B)"
    assert {b_col, f"{cmp2.b}: gap to retrain", "retrain target (retrain_classwise)"} <= set(
        frame.columns
    )
    row = frame.set_index("metric").loc[figs.PS_MIN_LABEL]
    ps_b = cmp2.models[cmp2.b].privacy.ps.ps
    ci = cmp2.models[cmp2.b].interval("PS")
    assert row[b_col] == figs.format_value(ps_b) + figs.format_ci(ci, "PS")
    assert row[f"{cmp2.b}: gap to retrain"] == figs.format_gap(ps_b - 1.0)
    # every number with an interval shows it: PS, KS, PrivLeak, MIA-efficacy, the AUCs
    for metric in ("mia_efficacy", "privleak", "ks_d", "population_auc"):
        lo, hi = cmp2.models[cmp2.b].interval(metric)
        cell = frame.set_index("metric").loc[figs.AUDIT_METRICS[metric], b_col]
        assert cell.endswith(figs.format_ci((lo, hi), metric)) and "[" in cell, metric
    auc = frame.set_index("metric").loc["Forget-vs-holdout AUC (loss)", b_col]
    expected = figs.format_value(cmp2.models[cmp2.b].privacy.forget_auc.auc)
    assert auc.startswith(expected) and "[" in auc


def test_audit_frame_says_na_for_missing_attacks(cmp2: Comparison) -> None:
    frame = figs.audit_frame(_without(cmp2, ps=None, lira=None, rmia=None, privleak=None))
    row = frame.set_index("metric").loc[figs.PS_MIN_LABEL]
    assert row[f"{cmp2.b} (Model B)"] == "N/A"
    assert frame.set_index("metric").loc["Offline LiRA AUC", f"{cmp2.a} (Model A)"] == "N/A"
    assert "0.000" not in set(row)
    # no shadow models in the tiny workspace: U-LiRA says why
    ulira = frame.set_index("metric").loc[figs.AUDIT_METRICS["ulira_auc"], f"{cmp2.b} (Model B)"]
    assert ulira.startswith("N/A (needs shadow models")


def test_audit_frame_has_online_lira_with_interval_and_target(cmp2: Comparison) -> None:
    frame = figs.audit_frame(cmp2).set_index("metric")
    label = figs.AUDIT_METRICS["lira_online_auc"]
    report = cmp2.models[cmp2.b].privacy.lira_online
    assert frame.loc[label, f"{cmp2.b} (Model B)"].startswith(f"{report.auc:.3f} [")
    assert frame.loc[label, "retrain target (retrain_classwise)"].startswith("0.500")
    assert frame.loc[label, f"{cmp2.b}: gap to retrain"] == figs.format_gap(report.auc - 0.5)


def test_all_tied_and_saturated_cells_are_explained(cmp2: Comparison) -> None:
    tied = dataclasses.replace(cmp2.models[cmp2.b].privacy.lira, auc=math.nan, all_tied=True)
    frame = figs.audit_frame(_without(cmp2, lira=tied)).set_index("metric")
    assert frame.loc["Offline LiRA AUC", f"{cmp2.b} (Model B)"].endswith("uninformative)")
    ps_max = frame.loc[figs.PS_MAX_LABEL, f"{cmp2.b} (Model B)"]
    assert cmp2.models[cmp2.b].privacy.ps.max_form_saturated and "saturated" in ps_max


def test_reference_frame_reports_counts_and_reasons(cmp2: Comparison) -> None:
    frame = figs.reference_frame(cmp2)
    rmia = frame[frame["attack"] == figs.ROC_ATTACKS["rmia"]].iloc[0]
    info = cmp2.models[cmp2.a].privacy.info["rmia"]
    assert rmia["population"] == str(info.n_population) and rmia["dropped"] == str(info.n_dropped)
    ulira = frame[frame["attack"] == figs.ROC_ATTACKS["ulira"]]
    assert ulira["evaluation"].str.startswith("N/A: needs shadow models").all()


def test_low_fpr_numbers_are_never_bare_below_the_floor(cmp2: Comparison) -> None:
    # at most 30 negatives per attack: 1% FPR is below every floor
    frame = figs.tpr_frame(cmp2)
    cells = frame.filter(like="FPR").drop(columns=frame.columns[-1]).to_numpy().ravel()
    assert cells.size == 3 * len(frame)
    for count, text in zip(np.repeat(frame["non-members n"], 3), cells, strict=True):
        assert text == f"below resolution floor 1/{count}"
    at_zero = frame.iloc[:, -1]  # the measured value lives in its own column, with an interval
    assert at_zero.str.match(r"^\d\.\d{3}( \[|$)").all()
    holdout = frame[frame["attack"] == figs.ROC_ATTACKS["lira"]]
    assert (holdout["non-members n"] == "15").all()  # the forget class's test samples
    assert set(frame["attack"]) >= {figs.ROC_ATTACKS[a] for a in ("lira", "rmia", "lira_online")}
    raw = figs.tpr_data(cmp2)
    assert raw["below_floor"].all() and set(raw["target_fpr"]) == {0.01, 0.001, 0.0001}


def test_format_tpr_gives_interval_above_the_floor() -> None:
    entry = figs.TprAtFpr(0.01, 0.25, (0.2, 0.3), False)
    assert figs.format_tpr(entry, 0.001) == "0.250 [0.200, 0.300]"


def test_roc_is_log_log_from_the_floor_with_a_diagonal(cmp2: Comparison) -> None:
    fig = figs.roc_figure(cmp2, "lira")
    assert fig is not None
    report = cmp2.models[cmp2.b].privacy.lira
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert math.isclose(fig.layout.xaxis.range[0], math.log10(report.fpr_floor))
    assert fig.layout.xaxis.range[1] == 0
    assert fig.data[0].name.startswith("chance")
    lines = {t.line.color for t in fig.data[1:]}
    assert lines == {ROLE_COLORS["A"], ROLE_COLORS["B"], ROLE_COLORS["retrain"]}
    assert any(f"AUC {report.auc:.3f}" in t.name for t in fig.data)
    assert min(min(t.x) for t in fig.data) >= report.fpr_floor - 1e-12


def test_roc_absent_without_reference_models(cmp2: Comparison) -> None:
    assert figs.roc_figure(_without(cmp2, lira=None, rmia=None), "lira") is None


# ---------------------------------------------------------------------------- page figures


def test_page_figures_cover_attack_and_audit(cmp2: Comparison, experiment: Experiment) -> None:
    specs = figs.page_figures(cmp2, experiment=experiment)
    keys = [s.key for s in specs]
    assert len(keys) == len(set(keys))
    for key in (
        "privacy_distribution_a",
        "privacy_curves_b",
        "privacy_ps",
        "privacy_succeeded_b",
        "privacy_failed_a",
        "privacy_audit",
        "privacy_roc_forget_auc",
        "privacy_roc_lira",
        "privacy_roc_lira_online",
        "privacy_reference_attacks",
        "privacy_tpr_low_fpr",
    ):
        assert key in keys
    assert all(
        not s.data.empty or s.key.startswith(("privacy_succeeded", "privacy_failed")) for s in specs
    )
    assert "privacy_succeeded_a" not in [s.key for s in figs.page_figures(cmp2)]


def test_page_figures_without_retrain_keep_the_audit(cmp2: Comparison) -> None:
    keys = [s.key for s in figs.page_figures(_without(cmp2, ps=None))]
    assert keys[0] == "privacy_audit" and "privacy_ps" not in keys


def test_presentation_mode_uses_the_larger_template(cmp2: Comparison) -> None:
    fig = figs.ps_figure(cmp2, presentation=True)
    assert fig.layout.template.layout.font.size >= 16


def _font_sizes(node: Any, inside_font: bool = False) -> list[float]:
    """Every explicit font size in a figure's JSON (hover labels and the template aside)."""
    if isinstance(node, dict):
        out = []
        for key, value in node.items():
            if key in ("template", "hoverlabel"):
                continue
            if inside_font and key == "size":
                out += list(np.ravel(value))
            else:
                out += _font_sizes(value, key.endswith("font"))
        return out
    if isinstance(node, list):
        return [v for item in node for v in _font_sizes(item, inside_font)]
    return []


def test_every_privacy_figure_is_readable_in_presentation_mode(
    cmp2: Comparison, experiment: Experiment
) -> None:
    specs = figs.page_figures(cmp2, presentation=True, experiment=experiment)
    for spec in specs:
        fig = spec.figure.to_plotly_json()
        base = spec.figure.layout.template.layout.font.size
        assert base >= 16, spec.key
        assert all(size >= 16 for size in _font_sizes(fig)), spec.key
    assert {"privacy_distribution_a", "privacy_ps", "privacy_succeeded_b"} <= {s.key for s in specs}


# ------------------------------------------------------------------------------- exposure


def test_exposure_frame_ranks_the_models_forget_samples(cmp2: Comparison) -> None:
    assert list(figs.exposure_models(cmp2)) == [cmp2.a, cmp2.b, "original"]
    attacks = figs.exposure_attacks(cmp2, cmp2.b)
    assert {"loss", "ps_entropy", "lira_offline", "rmia_offline", "lira_online"} <= set(attacks)
    assert "ulira" not in attacks  # no shadow models in the tiny workspace
    assert figs.default_exposure(list(attacks)) == "lira_offline"
    frame = figs.exposure_frame(cmp2, cmp2.b, "lira_offline", k=5)
    ranked = analysis.most_exposed(cmp2.instances, cmp2.b, "lira_offline", retrain=cmp2.retrain)
    assert frame["sample"].tolist() == ranked["index"].head(5).tolist()
    assert frame["score"].is_monotonic_decreasing
    np.testing.assert_array_equal(frame[f"retrain ({cmp2.retrain})"], ranked["retrain_score"][:5])
    assert all(name.startswith("✖") for name in frame["true class"])  # class-wise forgetting
    assert "Lower" in figs.exposure_caption("loss") and "game" in figs.exposure_caption("ulira")


def test_page_figures_export_the_most_exposed_lists(cmp2: Comparison) -> None:
    specs = {s.key: s for s in figs.page_figures(cmp2)}
    spec = specs[f"privacy_most_exposed_{cmp2.b}"]
    assert len(spec.data) == 20 and "score" in spec.data
    assert f"privacy_most_exposed_{cmp2.retrain}" not in specs


@pytest.mark.parametrize("presentation", [False, True])
def test_roc_keeps_room_for_its_last_tick(cmp2: Comparison, presentation: bool) -> None:
    """The "100%" tick sits on the right edge; in presentation mode plotly dropped it because
    the template's 20 px right margin could not hold half of a 20 px label."""
    fig = figs.roc_figure(cmp2, "lira", presentation=presentation)
    assert fig is not None
    assert fig.layout.xaxis.ticktext[-1] == "100%"
    label_px = 0.6 * len("100%") * fig.layout.template.layout.font.size  # rough glyph width
    assert fig.layout.margin.r >= label_px / 2 + 4


def test_headers_do_not_repeat_a_retrain_model_called_retrain() -> None:
    """The sample's retrain model is called "retrain": the audit and most-exposed headers read
    "retrain target (retrain)" and "retrain (retrain)"."""
    assert figs._named("retrain target", "retrain") == "retrain target"
    assert figs._named("retrain", "retrain") == "retrain"
    assert figs._named("retrain", "retrain_classwise") == "retrain (retrain_classwise)"


@pytest.mark.parametrize("style", ["butterfly", "histogram"])
def test_threshold_meaning_is_a_subtitle_not_text_over_the_dots(
    cmp2: Comparison, style: str
) -> None:
    """At 1366 px the "t = …: above → …" box covered the dots next to the threshold: the
    meaning is the figure's subtitle and nothing is written inside the plot."""
    side, choice = _choice(cmp2)
    for presentation in (False, True):
        fig = figs.distribution_figure(side, choice, style=style, presentation=presentation)
        subtitle = fig.layout.title.subtitle.text
        assert f"t = {choice.threshold:.3g}" in subtitle and "retrain" in subtitle
        assert not fig.layout.annotations
        room = fig.layout.margin.t - fig.layout.template.layout.title.font.size
        assert room >= 1.4 * theme_font(presentation, "small")
