"""The shipped digits sample: the sanity bands the README's table promises, and the audit's."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import analysis
from analysis.compare import CompareOptions, audit_table
from analysis.store import ResultCache

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "digits"


def _acc(model: torch.nn.Module, x: torch.Tensor, y: np.ndarray) -> float:
    with torch.inference_mode():
        return float((model(x).argmax(1).numpy() == y).mean())


@pytest.fixture(scope="module")
def exp() -> analysis.Experiment:
    return analysis.load_experiment(SAMPLE)


def _split(exp: analysis.Experiment, split: str, forget: bool) -> tuple[torch.Tensor, np.ndarray]:
    ds = exp.dataset(split)
    mask = np.isin(ds.targets, exp.forget_classes or ())
    rows = np.flatnonzero(mask if forget else ~mask)
    return ds.x[rows], ds.targets[rows]


def test_sample_has_the_documented_models(exp: analysis.Experiment) -> None:
    assert exp.scenarios == ["classwise", "random"]
    assert exp.forget_classes == (8,)
    for name in ("original", "retrain", "ft", "ga", "rl", "scrub", "salun", "l1sparse"):
        assert name in exp.models
    assert len(exp.names_with_role("reference")) >= 8
    random = exp.with_scenario("random")
    assert len(random.forget_indices) == round(0.1 * len(exp.dataset("train")))
    assert {"retrain_random", "ga_random", "salun_random"} <= set(random.models)


def test_original_and_retrain_sanity(exp: analysis.Experiment) -> None:
    original, retrain = (
        exp.load_model("original", device="cpu"),
        exp.load_model("retrain", device="cpu"),
    )
    test = exp.dataset("test")
    assert _acc(original, test.x, test.targets) >= 0.95
    train_forget = exp.forget_dataset()
    assert _acc(retrain, train_forget.x, train_forget.targets) == 0.0
    assert _acc(retrain, *_split(exp, "test", forget=True)) == 0.0
    assert _acc(retrain, *_split(exp, "test", forget=False)) >= 0.95


@pytest.mark.parametrize("method", ["ga", "rl", "scrub", "salun"])
def test_strong_methods_forget_the_class_and_keep_the_rest(
    exp: analysis.Experiment, method: str
) -> None:
    model = exp.load_model(method, device="cpu")
    forget = exp.forget_dataset()
    assert _acc(model, forget.x, forget.targets) <= 0.2
    assert _acc(model, *_split(exp, "test", forget=False)) >= 0.85


def test_reference_masks_are_seeded_halves(exp: analysis.Experiment) -> None:
    masks = np.stack([exp.members_mask(n) for n in exp.names_with_role("reference")])
    assert masks.dtype == bool and np.all(masks.sum(axis=1) == len(exp.dataset("train")) // 2)
    assert len({m.tobytes() for m in masks}) == len(masks)


@pytest.mark.slow
def test_audit_sanity_on_the_sample(exp: analysis.Experiment, tmp_path: Path) -> None:
    opts = CompareOptions.from_experiment(exp, embedding_method="pca")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cmp = analysis.compare(
            exp, "original", "retrain", options=opts, cache=ResultCache(tmp_path), device="cpu"
        )
    retrain, original = cmp.models["retrain"].privacy, cmp.models["original"].privacy
    assert retrain.ps is not None and retrain.ps.ps == 1.0 and retrain.ps.ps_max_form == 1.0
    assert 0.4 <= retrain.forget_auc.auc <= 0.6
    assert original.forget_auc.auc > retrain.forget_auc.auc
    assert original.ps is not None and original.ps.ps < 0.9


# ------------------------------------------------------------------ literature bands (audit)


@pytest.fixture(scope="module")
def audits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, analysis.Comparison]:
    """ga vs retrain (with the original) for both scenarios, one cold cache."""
    cache = ResultCache(tmp_path_factory.mktemp("bands"))
    out = {}
    for scenario, (a, b) in {"classwise": ("ga", "retrain"), "random": ("ga_random", "retrain_random")}.items():
        exp = analysis.load_experiment(SAMPLE, scenario=scenario)
        opts = CompareOptions.from_experiment(exp, embedding_method="pca")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[scenario] = analysis.compare(exp, a, b, options=opts, cache=cache, device="cpu")
    return out


@pytest.mark.slow
def test_retrain_forget_vs_test_auc_is_chance_for_random_forgetting(
    audits: dict[str, analysis.Comparison],
) -> None:
    cmp = audits["random"]
    assert len(cmp.sets.holdout) == len(analysis.load_experiment(SAMPLE).dataset("test"))
    assert 0.45 <= cmp.models["retrain_random"].privacy.forget_auc.auc <= 0.55


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["classwise", "random"])
def test_retrain_ps_is_one_and_reference_attacks_rank_the_original_higher(
    audits: dict[str, analysis.Comparison], scenario: str
) -> None:
    cmp = audits[scenario]
    original, retrain = cmp.models[cmp.original].privacy, cmp.models[cmp.retrain].privacy
    assert retrain.ps is not None and retrain.ps.ps == 1.0
    for attack in ("lira", "rmia", "lira_online"):
        mine, target = getattr(original, attack), getattr(retrain, attack)
        assert mine is not None and target is not None, attack
        assert mine.auc > target.auc, (scenario, attack, mine.auc, target.auc)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["classwise", "random"])
def test_every_reported_interval_covers_its_point_estimate(
    audits: dict[str, analysis.Comparison], scenario: str
) -> None:
    rows = audit_table(audits[scenario])
    with_ci = rows[rows["ci_low"].notna() & rows["value"].notna()]
    assert len(with_ci) > 20
    bad = with_ci[~((with_ci["ci_low"] <= with_ci["value"]) & (with_ci["value"] <= with_ci["ci_high"]))]
    assert bad.empty, bad[["model", "metric", "value", "ci_low", "ci_high"]].to_string()
    for rep in audits[scenario].models.values():
        # every headline number with an interval (accuracies, PS, KS, PrivLeak, efficacy, AUCs)
        headline = {"UA": rep.accuracy.ua, "RA": rep.accuracy.ra, "TUA": rep.accuracy.tua}
        headline.update(TRA=rep.accuracy.tra, **rep.privacy.headline())
        for metric, (lo, hi) in rep.intervals().items():
            value = headline[metric]
            if value is not None and np.isfinite(lo):
                assert lo <= value <= hi, (rep.name, metric, lo, value, hi)
        # population attacks: the audit bootstraps the logistic one (the one it reports)
        for attack in rep.privacy.population.attacks:
            if attack.roc.n_bootstrap or attack.kind == "logistic":
                lo, hi = attack.roc.auc_ci
                assert (lo <= attack.auc <= hi) or rep.privacy.n_bootstrap == 0, attack.name


@pytest.mark.slow
def test_classwise_rmia_is_informative_and_salun_efficacy_follows_its_code(
    audits: dict[str, analysis.Comparison],
) -> None:
    cmp = audits["classwise"]
    for name, rep in cmp.models.items():
        rmia = rep.privacy.rmia
        assert rmia is not None and not rmia.all_tied and len(np.unique(rmia.thresholds)) > 10, name
    info = cmp.models["retrain"].privacy.info["rmia"]
    # population samples whose borrowed OUT set is empty are left out (balanced references)
    assert 0.95 * len(cmp.sets.population) < info.n_population <= len(cmp.sets.population)
    assert info.n_negatives > 0
    # SalUn's code trains the SVC on the first len(test) retain samples: ga scores 0.964
    assert cmp.models["ga"].privacy.population.mia_efficacy == pytest.approx(0.964, abs=0.002)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["classwise", "random"])
def test_every_models_intervals_cover_its_estimates_on_demand(
    tmp_path: Path, scenario: str
) -> None:
    """The models table's on-demand intervals: every model, every headline number."""
    exp = analysis.load_experiment(SAMPLE, scenario=scenario)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        table = analysis.models_table(exp, device="cpu", cache=ResultCache(tmp_path), intervals=True)
    lows = [c for c in table.columns if c.endswith("_ci_low")]
    assert {"UA_ci_low", "PS_ci_low", "privleak_ci_low", "lira_offline_auc_ci_low"} <= set(lows)
    checked = 0
    for column in lows:
        metric = column.removesuffix("_ci_low")
        for _, row in table.iterrows():
            value, lo, hi = row[metric], row[column], row[f"{metric}_ci_high"]
            if value is None or not np.isfinite(value) or not np.isfinite(lo):
                continue
            assert lo <= value <= hi, (row["name"], metric, lo, value, hi)
            checked += 1
    assert checked > 10 * len(table)
