"""The audit on a fresh npz + mlp workspace with reference and U-LiRA shadow models.

The workspace (:mod:`tests.analysis.shadow_workspace`) has the layout ``ulens shadows`` writes;
nothing here is the digits sample. Online LiRA and U-LiRA are checked against direct numpy
re-implementations from the models' own logits, and against properties of the unlearning game.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

import analysis
from analysis.compare import audit_table, compare, summary_dict
from analysis.privacy import ShadowLogits, audit_sets, privacy_report
from analysis.store import ResultCache
from tests.analysis.shadow_workspace import make_shadow_workspace, train_on


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shadow_workspace(tmp_path_factory.mktemp("shadows"), method="ft", n_shadows=6)


@pytest.fixture(scope="module")
def exp(workspace: Path) -> analysis.Experiment:
    return analysis.load_experiment(workspace)


@pytest.fixture(scope="module")
def cmp(exp: analysis.Experiment, workspace: Path) -> analysis.Comparison:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return compare(exp, "ft", "noop_ft", device="cpu", cache=ResultCache(workspace / "c"))


def _logits(exp: analysis.Experiment, name: str) -> np.ndarray:
    model = exp.load_model(name, device="cpu")
    with torch.inference_mode():
        return model(exp.dataset("train").x).double().numpy()


def _phi(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log p_y - log sum_{i != y} p_i, written from its definition."""
    rows = np.arange(len(y))
    others = logits.copy()
    others[rows, y] = -np.inf
    return logits[rows, y] - logsumexp(others, axis=1)


def _gaussian_lr(target: np.ndarray, a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    """Per sample: median centres, pooled n - 1 dof deviations, logpdf(a) - logpdf(b)."""

    def fit(groups: list[np.ndarray]) -> tuple[np.ndarray, float]:
        centre = np.array([np.median(g) if g.size else np.nan for g in groups])
        squares = sum(((g - g.mean()) ** 2).sum() for g in groups if g.size)
        dof = sum(g.size - 1 for g in groups if g.size)
        return centre, float(np.sqrt(squares / dof))

    (mu_a, sd_a), (mu_b, sd_b) = fit(a), fit(b)
    return norm.logpdf(target, mu_a, sd_a) - norm.logpdf(target, mu_b, sd_b)


def _columns(values: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
    """Per sample i: the values of the models whose mask holds sample i (a Python loop)."""
    n = len(values[0])
    return [np.array([v[i] for v, m in zip(values, masks, strict=True) if m[i]]) for i in range(n)]


def _paired_auc(model: np.ndarray, retrain: np.ndarray) -> float:
    keep = np.isfinite(model)
    member = np.r_[np.ones(keep.sum(), bool), np.zeros(keep.sum(), bool)]
    return float(roc_auc_score(member, np.r_[model[keep], retrain[keep]]))


def test_fresh_workspace_has_every_reference_attack(cmp: analysis.Comparison) -> None:
    doc = summary_dict(cmp)["models"]
    for name in ("ft", "noop_ft", "original", "retrain"):
        for attack in ("lira_offline", "rmia_offline", "lira_online"):
            assert doc[name]["attacks"][attack]["available"], (name, attack)
        assert doc[name]["lira_offline_auc"] is not None
        assert doc[name]["rmia_offline_auc"] is not None
    for name in ("ft", "noop_ft"):
        ulira = doc[name]["attacks"]["ulira"]
        assert ulira["available"] and ulira["n_models"] == 12
        assert ulira["n_positives"] == ulira["n_negatives"] == len(cmp.sets.forget)
    assert "needs shadow models" in doc["original"]["attacks"]["ulira"]["reason"]
    audit = audit_table(cmp)
    row = audit[(audit["model"] == "noop_ft") & (audit["metric"] == "ulira_auc")].iloc[0]
    assert row["retrain"] == 0.5 and row["gap"] == pytest.approx(row["value"] - 0.5)
    assert row["note"].startswith("12 models")


def test_ulira_equals_a_direct_reimplementation(
    exp: analysis.Experiment, cmp: analysis.Comparison
) -> None:
    f = cmp.sets.forget
    y = exp.dataset("train").targets[f]
    unl = [n for n in exp.names_with_role("shadow") if exp.entry(n).method == "ft"]
    ret = [n for n in exp.names_with_role("shadow") if exp.entry(n).method == "retrain"]
    unl_phi = [_phi(_logits(exp, n)[f], y) for n in unl]
    ret_phi = [_phi(_logits(exp, n)[f], y) for n in ret]
    unl_mask = [exp.shadow_forget_mask(n)[f] for n in unl]
    ret_out = [~exp.members_mask(n)[f] for n in ret]
    a = _columns(unl_phi, unl_mask)
    b = _columns(ret_phi, ret_out)
    scores = {
        name: _gaussian_lr(_phi(_logits(exp, name)[f], y), a, b) for name in ("noop_ft", "retrain")
    }
    expected = _paired_auc(scores["noop_ft"], scores["retrain"])
    assert cmp.models["noop_ft"].privacy.ulira.auc == pytest.approx(expected, abs=1e-12)
    dropped = sum(g.size == 0 for g in a)
    assert cmp.models["noop_ft"].privacy.info["ulira"].n_dropped == dropped


def test_online_lira_equals_a_direct_reimplementation(
    exp: analysis.Experiment, cmp: analysis.Comparison
) -> None:
    f = cmp.sets.forget
    y = exp.dataset("train").targets[f]
    refs = exp.names_with_role("reference")
    phi = [_phi(_logits(exp, r)[f], y) for r in refs]
    members = [exp.members_mask(r)[f] for r in refs]
    inside = _columns(phi, members)
    out = _columns(phi, [~m for m in members])
    scores = {n: _gaussian_lr(_phi(_logits(exp, n)[f], y), inside, out) for n in ("ft", "retrain")}
    scores = {n: np.where([g.size == 0 for g in inside], np.nan, s) for n, s in scores.items()}
    expected = _paired_auc(scores["ft"], scores["retrain"])
    assert cmp.models["ft"].privacy.lira_online.auc == pytest.approx(expected, abs=1e-12)
    assert cmp.models["retrain"].privacy.lira_online.auc == 0.5  # the game against itself


def _shadow_logits(exp: analysis.Experiment, method: str) -> ShadowLogits:
    unl = [n for n in exp.names_with_role("shadow") if exp.entry(n).method == method]
    ret = [n for n in exp.names_with_role("shadow") if exp.entry(n).method == "retrain"]
    return ShadowLogits(
        method,
        np.stack([_logits(exp, n) for n in unl]),
        np.stack([exp.shadow_forget_mask(n) for n in unl]),
        np.stack([_logits(exp, n) for n in ret]),
        np.stack([~exp.members_mask(n) for n in ret]),
    )


def _ulira_of(exp: analysis.Experiment, model: np.ndarray, retrain: np.ndarray) -> object:
    labels = {"train": exp.dataset("train").targets, "test": exp.dataset("test").targets}
    test = np.zeros((len(labels["test"]), exp.num_classes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return privacy_report(
            {"train": model, "test": test},
            labels,
            audit_sets(exp),
            retrain={"train": retrain, "test": test},
            references=None,
            shadows=_shadow_logits(exp, "ft"),
            n_bootstrap=200,
        ).ulira


def test_ulira_of_the_original_beats_the_retrain_model(exp: analysis.Experiment) -> None:
    # no unlearning at all: the forget samples look unlearned-by-ft, not retrained
    report = _ulira_of(exp, _logits(exp, "original"), _logits(exp, "retrain"))
    assert report.auc > 0.6 and report.auc_ci[0] > 0.5


def test_ulira_of_a_second_retrain_seed_is_chance(exp: analysis.Experiment) -> None:
    train = exp.dataset("train")
    keep = np.setdiff1d(np.arange(len(train)), exp.forget_indices)
    other = train_on(train, keep, seed=77)
    with torch.inference_mode():
        second = other(train.x).double().numpy()
    report = _ulira_of(exp, second, _logits(exp, "retrain"))
    assert report.auc_ci[0] <= 0.5 <= report.auc_ci[1] and abs(report.auc - 0.5) < 0.15
