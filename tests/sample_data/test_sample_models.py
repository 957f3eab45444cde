"""The shipped digits sample: the sanity bands the README's table promises, and the audit's."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import analysis
from analysis.compare import CompareOptions
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
