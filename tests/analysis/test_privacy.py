"""analysis.privacy: the audit's sample sets, reference balancing and report assembly."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import analysis
from analysis.errors import ValidationError
from analysis.privacy import (
    ATTACK_NAMES,
    ReferenceLogits,
    _test_availability,
    audit_sets,
    privacy_report,
)


def test_random_forgetting_uses_every_test_sample_and_a_disjoint_rmia_population(
    tiny_workspace: Path,
) -> None:
    exp = analysis.load_experiment(tiny_workspace, scenario="random")
    sets = audit_sets(exp, seed=3)
    n_test = len(exp.dataset("test"))
    np.testing.assert_array_equal(sets.holdout, np.arange(n_test))  # DESIGN §3: all test samples
    np.testing.assert_array_equal(sets.nonmembers, np.arange(n_test))
    assert len(sets.rmia_holdout) == n_test // 2
    assert np.intersect1d(sets.rmia_holdout, sets.population).size == 0
    np.testing.assert_array_equal(np.union1d(sets.rmia_holdout, sets.population), np.arange(n_test))
    assert not np.array_equal(sets.rmia_holdout, audit_sets(exp, seed=4).rmia_holdout)


def test_classwise_rmia_population_holds_forget_class_samples(tiny_workspace: Path) -> None:
    exp = analysis.load_experiment(tiny_workspace, scenario="classwise")
    sets = audit_sets(exp)
    test_y = exp.dataset("test").targets
    assert set(test_y[sets.holdout]) == set(exp.forget_classes or ())
    assert set(test_y[sets.rmia_holdout]) <= set(exp.forget_classes or ())
    in_forget_class = np.isin(test_y[sets.population], exp.forget_classes or ())
    assert in_forget_class.sum() == len(sets.holdout) - len(sets.rmia_holdout) > 0
    assert (~in_forget_class).any()  # and the other classes too
    assert np.intersect1d(sets.rmia_holdout, sets.population).size == 0


def test_balanced_test_samples_have_the_forget_samples_out_counts() -> None:
    rng = np.random.default_rng(0)
    members = rng.random((8, 300)) < 0.5
    refs = ReferenceLogits(np.zeros((8, 300, 2)), np.zeros((8, 500, 2)), members)
    sets = analysis.AuditSets(
        np.arange(0, 300, 3), np.arange(1, 300, 3), np.arange(500), np.arange(500),
        np.arange(250), np.arange(250, 500),
    )  # fmt: skip
    skip = _test_availability(refs, sets, seed=0, balance=True)
    out_test = (~skip).sum(axis=0)
    out_forget = (~members[:, sets.forget]).sum(axis=0)
    # every test sample uses exactly the OUT references of one forget sample
    assert set(map(tuple, (~skip).T)) <= set(map(tuple, (~members[:, sets.forget]).T))
    assert abs(out_test.mean() - out_forget.mean()) < 0.3
    assert not _test_availability(refs, sets, seed=0, balance=False).any()  # all 8 OUT


def _report(model: np.ndarray, retrain: np.ndarray, **options: object) -> analysis.PrivacyReport:
    """privacy_report on a synthetic 2-class problem with 6 references on random halves."""
    rng = np.random.default_rng(1)
    n_train, n_test = 120, 80
    labels = {"train": np.zeros(n_train, int), "test": np.zeros(n_test, int)}
    members = rng.random((6, n_train)) < 0.5
    ref_train = np.stack([np.c_[rng.normal(size=n_train) + m, np.zeros(n_train)] for m in members])
    ref_test = np.stack([np.c_[rng.normal(size=n_test), np.zeros(n_test)] for _ in members])
    sets = analysis.AuditSets(
        np.arange(30), np.arange(30, n_train), np.arange(n_test), np.arange(n_test),
        np.arange(40), np.arange(40, n_test),
    )  # fmt: skip
    test = np.c_[rng.normal(size=n_test), np.zeros(n_test)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return privacy_report(
            {"train": model, "test": test},
            labels,
            sets,
            retrain={"train": retrain, "test": test},
            references=ReferenceLogits(ref_train, ref_test, members),
            n_bootstrap=50,
            **options,  # type: ignore[arg-type]
        )


def test_the_retrain_model_against_itself_scores_exactly_one_half_online() -> None:
    rng = np.random.default_rng(2)
    retrain = np.c_[rng.normal(size=120), np.zeros(120)]
    report = _report(retrain, retrain)
    assert report.lira_online is not None and report.lira_online.auc == 0.5
    assert report.ulira is None and "shadow" in report.info["ulira"].reason
    info = _report(retrain, retrain, balance_references=False).info["rmia"]
    assert (info.n_negatives, info.n_population) == (40, 40)  # every test sample: 6 OUT refs


def test_a_memorising_model_beats_its_retrain_model_online() -> None:
    rng = np.random.default_rng(3)
    retrain = np.c_[rng.normal(size=120), np.zeros(120)]
    memorised = retrain + np.c_[np.full(120, 3.0), np.zeros(120)]
    assert _report(memorised, retrain).lira_online.auc > 0.75


def test_every_attack_is_in_the_summary_document_with_floors() -> None:
    rng = np.random.default_rng(4)
    model = np.c_[rng.normal(size=120), np.zeros(120)]
    doc = _report(model, model).attacks_document()
    assert set(doc) == set(ATTACK_NAMES.values())
    for name in ("forget_holdout_loss", "lira_offline", "rmia_offline", "lira_online"):
        entry = doc[name]
        assert entry["available"] and entry["fpr_floor"] == 1.0 / entry["n_negatives"]
        assert entry["tpr_at_1pct_fpr"]["below_floor"] == (entry["fpr_floor"] > 0.01)
        lo, hi = entry["auc_ci"]
        assert lo <= entry["auc"] <= hi
    assert doc["ulira"]["available"] is False


def test_bad_options_name_the_argument() -> None:
    model = np.zeros((120, 2))
    with pytest.raises(ValidationError, match=r"^balance_references: expected"):
        _report(model, model, balance_references="yes")
    with pytest.raises(ValidationError, match=r"^shadows: expected"):
        _report(model, model, shadows=object())
    with pytest.raises(ValidationError, match=r"^centre: expected"):
        _report(model, model, lira_centre="mode")
    with pytest.raises(ValidationError, match=r"^svc_retain: expected"):
        _report(model, model, svc_retain="every")


@pytest.mark.parametrize("scenario", ["classwise", "random"])
def test_three_references_on_a_fresh_workspace_give_lira_and_rmia(
    tiny_workspace_factory: object, scenario: str
) -> None:
    root = tiny_workspace_factory(n_reference=3, scenario=scenario)  # type: ignore[operator]
    exp = analysis.load_experiment(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        table = analysis.models_table(exp, device="cpu")
    for column in ("lira_offline_auc", "rmia_offline_auc", "lira_online_auc"):
        assert table[column].notna().all(), (scenario, column, table[column].tolist())


def _synthetic() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(6)
    retrain = np.c_[rng.normal(size=120), np.zeros(120)]
    return retrain + np.c_[np.full(120, 1.5), np.zeros(120)], retrain


def test_headline_intervals_cover_their_estimates_and_are_exact_for_the_retrain_model() -> None:
    model, retrain = _synthetic()
    report = _report(model, retrain)
    assert report.n_bootstrap == 50 and report.ci_level == 0.95
    expected = {"PS", "PS_max_form", "ks_d", "ks_p", "privleak", "mia_efficacy"}
    assert set(report.intervals) == expected
    for metric, value in report.headline().items():
        lo, hi = report.interval(metric)
        if value is not None and np.isfinite(value) and metric != "ulira_auc":
            assert lo <= value <= hi, (metric, value, lo, hi)
    itself = _report(retrain, retrain)
    assert itself.interval("PS") == (1.0, 1.0) and itself.interval("ks_d") == (0.0, 0.0)
    assert itself.interval("privleak") == (0.0, 0.0)
    rows = {r["metric"]: r for r in report.audit_rows()}
    assert (rows["PS"]["ci_low"], rows["PS"]["ci_high"]) == report.interval("PS")


def test_no_bootstrap_means_no_intervals() -> None:
    model, retrain = _synthetic()
    sets = analysis.AuditSets(
        np.arange(30), np.arange(30, 120), np.arange(80), np.arange(80),
        np.arange(40), np.arange(40, 80),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        report = privacy_report(
            {"train": model, "test": model[:80]},
            {"train": np.zeros(120, int), "test": np.zeros(80, int)},
            sets,
            retrain={"train": retrain, "test": retrain[:80]},
            references=None,
            n_bootstrap=0,
        )
    assert report.intervals == {} and report.n_bootstrap == 0
    assert all(np.isnan(report.interval(m)[0]) for m in report.headline())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # one forget sample lacks OUT references
def test_sample_scores_equal_the_attack_functions_outputs() -> None:
    model, retrain = _synthetic()
    rng = np.random.default_rng(1)  # the draws of _report, replayed
    members = rng.random((6, 120)) < 0.5
    ref_train = np.stack([np.c_[rng.normal(size=120) + m, np.zeros(120)] for m in members])
    ref_test = np.stack([np.c_[rng.normal(size=80), np.zeros(80)] for _ in members])
    test = np.c_[rng.normal(size=80), np.zeros(80)]
    report = _report(model, retrain, balance_references=False)
    f, y_f, y_t = np.arange(30), np.zeros(30, int), np.zeros(80, int)
    lira = analysis.mia.offline_lira(
        np.r_[model[f], test], np.r_[y_f, y_t], np.concatenate([ref_train[:, f], ref_test], 1),
        np.concatenate([members[:, f], np.zeros((6, 80), bool)], 1),
    )  # fmt: skip
    scores = report.sample_scores["lira"]
    np.testing.assert_array_equal(scores.train[f], lira.z[:30])
    np.testing.assert_array_equal(scores.test, lira.z[30:])
    assert np.isnan(scores.train[30:]).all() and scores.retrain_train is None
    rmia = analysis.mia.offline_rmia(
        np.r_[model[f], test[:40]], np.r_[y_f, y_t[:40]],
        np.concatenate([ref_train[:, f], ref_test[:, :40]], 1),
        np.concatenate([members[:, f], np.zeros((6, 40), bool)], 1),
        test[40:], y_t[40:], ref_test[:, 40:],
    )  # fmt: skip
    np.testing.assert_array_equal(report.sample_scores["rmia"].train[f], rmia.scores[:30])
    np.testing.assert_array_equal(report.sample_scores["rmia"].test[:40], rmia.scores[30:])
    assert np.isnan(report.sample_scores["rmia"].test[40:]).all()
    online = report.sample_scores["lira_online"]
    for logits, got in ((model, online.train), (retrain, online.retrain_train)):
        direct = analysis.mia.online_lira(logits[f], y_f, ref_train[:, f], members[:, f]).scores
        np.testing.assert_array_equal(got[f], direct)
    assert "ulira" not in report.sample_scores  # N/A without shadow models
