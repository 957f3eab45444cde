"""Tests of analysis.mia.roc against sklearn.metrics and hand-computed cases."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics

from analysis.errors import ValidationError
from analysis.mia.roc import roc_auc, roc_curve, roc_report, tpr_at_fpr


def _members(n_pos: int, n_neg: int) -> np.ndarray:
    return np.r_[np.ones(n_pos, bool), np.zeros(n_neg, bool)]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=2, max_size=40),  # few distinct values: many ties
    st.data(),
)
def test_roc_auc_matches_sklearn_with_ties(values: list[int], data: st.DataObject) -> None:
    flags = data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    members = np.array(flags)
    if members.all() or not members.any():
        members[0] = not members[0]
    scores = np.array(values, dtype=float)
    assert roc_auc(scores, members) == pytest.approx(metrics.roc_auc_score(members, scores))


@pytest.mark.parametrize("rounding", [None, 1])
def test_roc_curve_points_match_sklearn(rounding: int | None) -> None:
    rng = np.random.default_rng(3)
    members = rng.random(300) < 0.4
    scores = rng.normal(size=300) + members
    if rounding is not None:
        scores = scores.round(rounding)
    fpr, tpr, thr = metrics.roc_curve(members, scores, drop_intermediate=False)
    curve = roc_curve(scores, members)
    np.testing.assert_allclose(curve.fpr, fpr)
    np.testing.assert_allclose(curve.tpr, tpr)
    np.testing.assert_array_equal(curve.thresholds, thr)
    assert (curve.fpr[0], curve.tpr[0], curve.fpr[-1], curve.tpr[-1]) == (0, 0, 1, 1)


def test_roc_curve_keeps_infinite_scores() -> None:
    curve = roc_curve(np.array([np.inf, 1.0, -np.inf, -np.inf]), np.array([1, 0, 1, 0]))
    np.testing.assert_allclose(curve.tpr, [0.0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(curve.fpr, [0.0, 0.0, 0.5, 1.0])


def test_tpr_at_fpr_hand_cases() -> None:
    fpr = [0.0, 0.1, 0.1, 0.5, 1.0]
    tpr = [0.0, 0.2, 0.4, 0.8, 1.0]
    assert tpr_at_fpr(fpr, tpr, 0.1) == 0.4  # max over both points at FPR 0.1
    assert tpr_at_fpr(fpr, tpr, 0.05) == 0.0
    assert tpr_at_fpr(fpr, tpr, 0.49) == 0.4
    assert tpr_at_fpr(fpr, tpr, 0.5) == 0.8
    assert tpr_at_fpr(fpr, tpr, 1.0) == 1.0


def test_report_tpr_at_fpr_and_floor_flag() -> None:
    # 4 non-members: floor 0.25. Scores: members 9, 8, 3; non-members 7, 2, 1, 0.
    scores = np.array([9.0, 8.0, 3.0, 7.0, 2.0, 1.0, 0.0])
    report = roc_report(scores, _members(3, 4), fpr_targets=(0.3, 0.25, 0.1), n_bootstrap=0)
    assert report.fpr_floor == 0.25
    assert [(e.target, e.tpr, e.below_floor) for e in report.tpr_at] == [
        (0.3, 1.0, False),  # threshold 3: TPR 3/3 at FPR 1/4
        (0.25, 1.0, False),
        (0.1, 2 / 3, True),  # only FPR 0 qualifies: TPR 2/3, flagged
    ]
    assert np.isnan(report.at(0.1).ci).all()
    assert report.balanced_accuracy == pytest.approx((1.0 + 0.75) / 2)
    assert report.best_threshold == 3.0


def test_balanced_accuracy_matches_brute_force() -> None:
    rng = np.random.default_rng(5)
    members = rng.random(200) < 0.3
    scores = (rng.normal(size=200) + members).round(1)
    best = max(metrics.balanced_accuracy_score(members, scores >= t) for t in np.unique(scores))
    assert roc_report(scores, members, n_bootstrap=0).balanced_accuracy == pytest.approx(best)


def test_bootstrap_interval_contains_estimate_and_narrows() -> None:
    rng = np.random.default_rng(0)
    widths = []
    for n in (100, 4000):
        members = _members(n, n)
        report = roc_report(rng.normal(size=2 * n) + 0.8 * members, members, seed=2)
        lo, hi = report.auc_ci
        assert lo < report.auc < hi
        lo1, hi1 = report.at(0.01).ci
        assert lo1 <= report.at(0.01).tpr <= hi1
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 3  # ~ 1/sqrt(40) shrink expected


def test_bootstrap_is_seeded() -> None:
    rng = np.random.default_rng(1)
    members = _members(200, 300)
    scores = rng.normal(size=500) + members
    first = roc_report(scores, members, seed=7)
    assert roc_report(scores, members, seed=7).auc_ci == first.auc_ci
    assert roc_report(scores, members, seed=8).auc_ci != first.auc_ci


def test_bootstrap_is_fast_for_10k_by_200() -> None:
    rng = np.random.default_rng(0)
    members = _members(10_000, 10_000)
    scores = rng.normal(size=20_000) + 0.5 * members
    start = time.perf_counter()
    report = roc_report(scores, members, n_bootstrap=200)
    elapsed = time.perf_counter() - start
    assert report.auc_ci[0] < report.auc < report.auc_ci[1]
    assert elapsed < 2.0, f"roc_report took {elapsed:.2f} s"


def test_single_class_warns_and_gives_nan() -> None:
    with pytest.warns(RuntimeWarning, match="no non-members"):
        report = roc_report(np.array([0.1, 0.2]), np.array([True, True]))
    assert np.isnan(report.auc) and np.isnan(report.balanced_accuracy)
    assert all(np.isnan(e.tpr) and e.below_floor for e in report.tpr_at)
    with pytest.warns(RuntimeWarning, match="no members"):
        assert np.isnan(roc_auc(np.array([0.1, 0.2]), np.array([False, False])))


def test_no_warning_in_the_regular_case() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        roc_report(np.array([0.1, 0.2, 0.3]), np.array([0, 1, 1]), n_bootstrap=10)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"scores": [0.1, np.nan], "is_member": [1, 0]}, "scores"),
        ({"scores": [0.1, 0.2], "is_member": [1, 0, 1]}, "is_member"),
        ({"scores": [0.1, 0.2], "is_member": [2, 0]}, "is_member"),
        ({"scores": [], "is_member": []}, "scores"),
        ({"scores": [0.1, 0.2], "is_member": [1, 0], "fpr_targets": (1.5,)}, "fpr_targets"),
        ({"scores": [0.1, 0.2], "is_member": [1, 0], "ci": 1.0}, "ci"),
        ({"scores": [0.1, 0.2], "is_member": [1, 0], "n_bootstrap": -1}, "n_bootstrap"),
        ({"scores": [0.1, 0.2], "is_member": [1, 0], "seed": -3}, "seed"),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict[str, object], argument: str) -> None:
    with pytest.raises(ValidationError, match=rf"^{argument}: expected"):
        roc_report(**kwargs)  # type: ignore[arg-type]


def test_unknown_target_lookup() -> None:
    report = roc_report(np.array([0.1, 0.2]), np.array([1, 0]), n_bootstrap=0)
    with pytest.raises(ValidationError, match=r"^target: expected"):
        report.at(0.5)


def test_all_tied_scores_are_flagged_not_reported_as_chance() -> None:
    with pytest.warns(RuntimeWarning, match="all 6 scores are equal"):
        report = roc_report(np.zeros(6), _members(3, 3), n_bootstrap=10)
    assert report.all_tied and np.isnan(report.auc) and np.isnan(report.auc_ci).all()
    assert np.isnan(report.at(0.01).tpr)
    assert not roc_report(np.arange(6.0), _members(3, 3), n_bootstrap=0).all_tied
