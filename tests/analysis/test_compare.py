"""compare(): the assembled Comparison, its cache, and its tables, on the tiny fixture workspace."""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import analysis
from analysis.compare import CompareOptions, audit_table, compare, pareto_mask, summary_dict
from analysis.errors import ValidationError
from analysis.store import ResultCache

A, B = "retrain_classwise", "gradascent_classwise"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.fixtures import make_tiny_workspace

    return make_tiny_workspace(tmp_path_factory.mktemp("cmp"))


@pytest.fixture(scope="module")
def cmp(workspace: Path) -> analysis.Comparison:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return compare(analysis.load_experiment(workspace), A, B, device="cpu")


def test_comparison_holds_a_b_original_and_retrain(cmp: analysis.Comparison) -> None:
    assert cmp.names == [A, B, "original"]  # A is the retrain model here
    assert set(cmp.models) == {A, B, "original"}
    assert cmp.models[A].privacy.ps is not None and cmp.models[A].privacy.ps.ps == 1.0
    assert cmp.models[A].privacy.privleak == 0.0


def test_accuracy_matches_direct_computation(workspace: Path, cmp: analysis.Comparison) -> None:
    exp = analysis.load_experiment(workspace)
    model = exp.load_model(B, device="cpu")
    with torch.no_grad():
        pred = model(exp.dataset("train").x).argmax(1).numpy()
    forget = exp.forget_indices
    assert cmp.models[B].accuracy.ua == pytest.approx(
        (pred[forget] == exp.dataset("train").targets[forget]).mean()
    )
    assert cmp.models[B].accuracy.tua is not None


def test_cka_pairs_and_groups(cmp: analysis.Comparison) -> None:
    for split, group in (
        ("train", "forget"),
        ("train", "retain"),
        ("test", "forget"),
        ("test", "retain"),
    ):
        m = cmp.layers.get(A, B, split, group)
        assert m is not None and m.values.shape == (
            len(cmp.layers.layers[A]),
            len(cmp.layers.layers[B]),
        )
        back = cmp.layers.get(B, A, split, group)
        np.testing.assert_allclose(back.values, m.values.T)
    assert cmp.layers.weight_change is not None
    assert len(cmp.layers.weight_change.layers) == len(cmp.layers.layers[A])


def test_models_are_not_paired_with_themselves_and_other_pairs_are_finite(workspace: Path) -> None:
    exp = analysis.load_experiment(workspace)
    cmp = compare(
        exp, "original", "finetune_classwise", device="cpu", cache=ResultCache(workspace / "c2")
    )
    same = cmp.layers.get("original", "original", "train", "retain")
    assert same is None  # a model is not paired with itself...
    m = cmp.layers.get("original", "finetune_classwise", "train", "retain")
    assert m is not None and np.all(np.isfinite(m.values))


def test_instance_table_columns_and_linking(cmp: analysis.Comparison, workspace: Path) -> None:
    t = cmp.instances
    exp = analysis.load_experiment(workspace)
    assert len(t) == len(exp.dataset("train")) + len(exp.dataset("test"))
    for name in cmp.names:
        for col in (
            "pred",
            "true_prob",
            "max_prob",
            "entropy",
            "loss",
            "entropy_t2",
            "logit_conf",
            "umap_x",
            "umap_y",
        ):
            assert f"{name}__{col}" in t.columns
    train = t[t["split"] == "train"]
    assert train["is_forget"].sum() == len(exp.forget_indices)
    on_map = train[f"{A}__umap_x"].notna()
    np.testing.assert_array_equal(np.flatnonzero(on_map.to_numpy()), cmp.embedding.indices)
    assert t[t["split"] == "test"][f"{A}__umap_x"].isna().all()
    assert (t["changed_pred"] == (t[f"{A}__pred"] != t[f"{B}__pred"])).all()
    assert (t["kl_a_b"] >= -1e-9).all()


def test_second_compare_loads_from_cache_without_forward_passes(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = analysis.load_experiment(workspace)
    cache = ResultCache(workspace / "cache_hit")
    first = compare(exp, A, "finetune_classwise", device="cpu", cache=cache)

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("forward pass on a warm cache")

    # `analysis.compare` is the function; the module lives in sys.modules.
    monkeypatch.setattr(importlib.import_module("analysis.compare"), "forward_pass", boom)
    second = compare(exp, A, "finetune_classwise", device="cpu", cache=cache)
    pd.testing.assert_frame_equal(first.instances, second.instances)
    assert second.models[A].privacy.headline() == first.models[A].privacy.headline()


def test_corrupted_cache_entry_is_recomputed(workspace: Path) -> None:
    exp = analysis.load_experiment(workspace)
    root = workspace / "cache_corrupt"
    first = compare(exp, A, B, device="cpu", cache=ResultCache(root))
    for f in root.rglob("*"):
        if f.is_file() and f.stat().st_size > 200:
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])  # truncate every entry
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = compare(exp, A, B, device="cpu", cache=ResultCache(root))
    assert again.models[B].accuracy == first.models[B].accuracy
    np.testing.assert_allclose(again.embedding.coords_a, first.embedding.coords_a)


def test_changed_weights_change_the_key(workspace: Path, tmp_path: Path) -> None:
    import shutil

    from analysis.models import save_weights

    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws, ignore=shutil.ignore_patterns("cache*", "c2", ".ulens_cache"))
    exp = analysis.load_experiment(ws)
    cache = ResultCache(ws / "cache")
    before = compare(exp, A, B, device="cpu", cache=cache)
    model = exp.load_model(B, device="cpu")
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(-1.0)
    save_weights(model, exp.entry(B).file)
    after = compare(exp, A, B, device="cpu", cache=cache)
    assert not np.array_equal(before.instances[f"{B}__loss"], after.instances[f"{B}__loss"])


def test_random_scenario_has_no_tua_and_no_test_forget_cka(workspace: Path) -> None:
    exp = analysis.load_experiment(workspace, scenario="random")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cmp = compare(exp, "retrain_random", "gradascent_random", device="cpu")
    assert cmp.models["gradascent_random"].accuracy.tua is None
    assert summary_dict(cmp)["models"]["gradascent_random"]["TUA"] is None
    assert cmp.layers.get("retrain_random", "gradascent_random", "test", "forget") is None


def test_summary_and_audit_table(cmp: analysis.Comparison) -> None:
    s = summary_dict(cmp)
    for key in (
        "UA",
        "RA",
        "TUA",
        "TRA",
        "PS",
        "PS_max_form",
        "mia_efficacy",
        "privleak",
        "ks_d",
        "ks_p",
        "lira_offline_auc",
        "rmia_offline_auc",
        "lira_online_auc",
        "ulira_auc",
        "PS_max_form_saturated",
        "attacks",
    ):
        assert key in s["models"][B]
    assert "tpr_at_1pct_fpr" not in s["models"][B]  # per attack now, never mixed
    lira = s["models"][B]["attacks"]["lira_offline"]
    assert lira["available"] and lira["auc"] == s["models"][B]["lira_offline_auc"]
    for key, target in (("tpr_at_1pct_fpr", 0.01), ("tpr_at_0.1pct_fpr", 0.001)):
        entry = lira[key]
        assert entry["floor"] == pytest.approx(1.0 / lira["n_negatives"])
        assert entry["below_floor"] == (target < entry["floor"])
    assert s["models"][B]["attacks"]["ulira"] == {
        "available": False,
        "game": s["models"][B]["attacks"]["ulira"]["game"],
        "n_models": 0,
        "n_dropped": 0,
        "n_population": None,
        "reason": "needs shadow models of this model's unlearning method (ulens shadows)",
    }
    audit = audit_table(cmp)
    ps = audit[(audit["model"] == B) & (audit["metric"] == "PS")].iloc[0]
    assert ps["retrain"] == 1.0 and ps["gap"] == pytest.approx(ps["value"] - 1.0)
    online = audit[(audit["model"] == B) & (audit["metric"] == "lira_online_auc")].iloc[0]
    assert online["retrain"] == 0.5 and online["ci_low"] <= online["value"] <= online["ci_high"]
    tpr = audit[audit["metric"] == "lira_offline_tpr_at_0.1pct_fpr"]
    assert tpr["below_floor"].all() and (tpr["fpr_floor"] > 0.001).all()


def test_bad_pair_names_the_argument(workspace: Path) -> None:
    exp = analysis.load_experiment(workspace)
    with pytest.raises(ValidationError, match=r"^a: expected a model"):
        compare(exp, "nope", B)
    with pytest.raises(ValidationError, match=r"^b: expected a model different"):
        compare(exp, B, B)
    with pytest.raises(ValidationError, match="options"):
        CompareOptions.from_experiment(exp, bogus=1)


def test_pareto_mask_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(40, 3))
    mask = pareto_mask(pts, maximise=(False, True, False))
    signed = pts * np.array([1, -1, 1])
    for i in range(40):
        dominated = any(
            np.all(signed[j] <= signed[i]) and np.any(signed[j] < signed[i])
            for j in range(40)
            if j != i
        )
        assert mask[i] == (not dominated)
    nan = pts.copy()
    nan[0, 0] = np.nan
    assert not pareto_mask(nan, maximise=(False, True, False))[0]


def test_models_table_lists_every_non_reference_model(workspace: Path) -> None:
    exp = analysis.load_experiment(workspace)
    table = analysis.models_table(exp, device="cpu")
    assert list(table["name"]) == [n for n, m in exp.models.items() if m.role != "reference"]
    retrain = table[table["name"] == "retrain_classwise"].iloc[0]
    assert retrain["PS"] == 1.0 and retrain["acc_gap"] == 0.0
    assert not table.loc[table["role"] != "unlearned", "pareto"].any()


def test_one_reference_model_gives_na_reference_attacks_not_a_crash(tmp_path: Path) -> None:
    from tests.fixtures import make_tiny_workspace

    exp = analysis.load_experiment(make_tiny_workspace(tmp_path, n_reference=1))
    with pytest.warns(RuntimeWarning, match="no sample has enough reference/shadow models"):
        table = analysis.models_table(exp, device="cpu")
    assert table["lira_offline_auc"].isna().all()
    assert table["PS"].notna().all()


def test_cka_from_cached_outputs_equals_cka_from_one_full_pass(workspace: Path) -> None:
    exp = analysis.load_experiment(workspace)
    warm = ResultCache(workspace / "cka_partial")
    analysis.models_table(exp, device="cpu", cache=warm)  # caches every model's outputs, no CKA
    partial = compare(exp, A, B, device="cpu", cache=warm)  # CKA-only pass over the groups
    full = compare(exp, A, B, device="cpu", cache=ResultCache(workspace / "cka_full"))
    assert partial.layers.matrices.keys() == full.layers.matrices.keys()
    for key, matrix in full.layers.matrices.items():
        np.testing.assert_allclose(partial.layers.matrices[key].values, matrix.values, atol=1e-6)


# --------------------------------------------------------------------------- conv-head models

CONV_HEAD_FACTORY = """
from torch import nn


def squeeze(num_classes, input_shape, width=4):
    # SqueezeNet-style: no nn.Linear anywhere; a 1x1 convolution + global pooling classifies.
    return nn.Sequential(
        nn.Conv2d(input_shape[0], width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
        nn.Dropout(0.0), nn.Conv2d(2 * width, num_classes, 1), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
"""


def _conv_head_workspace(root: Path) -> Path:
    from analysis.models import build_model, save_weights
    from tests.fixtures import _train, tiny_arrays

    root.mkdir(parents=True)
    (root / "convhead.py").write_text(CONV_HEAD_FACTORY, encoding="utf-8")
    data = tiny_arrays(n_train=80, n_test=40, num_classes=4)
    np.savez(root / "data.npz", x_train=data.x_train, y_train=data.y_train,
             x_test=data.x_test, y_test=data.y_test)  # fmt: skip
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    retain = torch.as_tensor(data.y_train != 1)
    with pytest.warns(analysis.TrustNotice, match=r"convhead\.py"):
        original = build_model("convhead:squeeze", num_classes=4, input_shape=(1, 6, 6),
                               params={"width": 3}, workspace=root)  # fmt: skip
    _train(original, x, y)
    models = {"original": original}
    models["retrain"] = build_model("convhead:squeeze", num_classes=4, input_shape=(1, 6, 6),
                                    params={"width": 3}, workspace=root)  # fmt: skip
    _train(models["retrain"], x[retain], y[retain])
    models["ft"] = build_model("convhead:squeeze", num_classes=4, input_shape=(1, 6, 6),
                               params={"width": 3}, workspace=root)  # fmt: skip
    models["ft"].load_state_dict(original.state_dict())
    _train(models["ft"], x[retain], y[retain])
    (root / "models").mkdir()
    for name, model in models.items():
        save_weights(model, root / "models" / f"{name}.safetensors")
    (root / "experiment.toml").write_text(
        '[dataset]\nkind = "npz"\npath = "data.npz"\n\n'
        '[architecture]\nname = "convhead:squeeze"\nparams = { width = 3 }\n\n'
        '[analysis]\nembedding_method = "pca"\nn_bootstrap = 10\n\n'
        "[forget.classwise]\nclasses = [1]\n\n"
        '[models.original]\nrole = "original"\nfile = "models/original.safetensors"\n\n'
        '[models.retrain]\nrole = "retrain"\nfile = "models/retrain.safetensors"\n\n'
        '[models.ft]\nrole = "unlearned"\nmethod = "ft"\nbase = "original"\n'
        'file = "models/ft.safetensors"\n',
        encoding="utf-8",
    )
    return root


def test_conv_head_model_from_a_workspace_file_gets_every_view(tmp_path: Path) -> None:
    """A model without nn.Linear (conv classifier) works end to end: accuracy, CKA, weight
    change, privacy and an embedding of its pooled penultimate features."""
    root = _conv_head_workspace(tmp_path / "ws")
    exp = analysis.load_experiment(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = compare(exp, "retrain", "ft", device="cpu")
    assert set(result.models) == {"retrain", "ft", "original"}
    assert 0.0 <= result.models["ft"].accuracy.ra <= 1.0
    assert result.layers.layers["ft"][-1] == "5"  # the 1x1 conv head is the last layer
    assert result.layers.weight_change is not None
    assert np.isfinite(result.layers.weight_change.relative).all()
    matrix = result.layers.get("retrain", "ft", "train", "retain")
    assert matrix is not None and np.isfinite(matrix.values).all()
    assert (
        np.isfinite(result.embedding.coords_a).all()
        and np.isfinite(result.embedding.coords_b).all()
    )
    features = analysis.forward_pass(
        {"ft": exp.load_model("ft", device="cpu")}, exp.dataset("train"),
        device="cpu", feature_rows=np.arange(5),
    )["ft"].features  # fmt: skip
    assert features is not None and features.shape == (5, 6)  # 2 * width channels, pooled


# --------------------------------------------------------------------------- intervals


def test_intervals_for_a_b_and_retrain_only(cmp: analysis.Comparison) -> None:
    """Lazy: compare bootstraps A, B and the retrain model; the original on demand only."""
    n_boot = cmp.options.n_bootstrap  # the fixture workspace sets [analysis] n_bootstrap
    assert n_boot > 0 and cmp.options.ci_level == 0.95
    for name in (A, B):
        rep = cmp.models[name]
        assert rep.privacy.n_bootstrap == n_boot
        intervals = rep.intervals()
        assert {"UA", "RA", "TUA", "TRA", "PS", "mia_efficacy", "privleak", "ks_d"} <= {
            m for m, (lo, _) in intervals.items() if np.isfinite(lo)
        }
        assert rep.interval("forget_auc") == rep.privacy.forget_auc.auc_ci
    original = cmp.models["original"]
    assert original.privacy.n_bootstrap == 0 and np.isnan(original.interval("UA")[0])
    assert original.privacy.forget_auc.n_bootstrap == 0


def test_every_interval_of_the_comparison_covers_its_estimate(cmp: analysis.Comparison) -> None:
    s = summary_dict(cmp)
    assert s["bootstrap"]["n_bootstrap"] == cmp.options.n_bootstrap
    assert set(s["bootstrap"]["models"]) == {A, B}
    for name, doc in s["models"].items():
        for metric, (lo, hi) in doc["ci"].items():
            value = doc[metric]
            if lo is None or value is None:
                continue
            assert lo <= value <= hi, (name, metric, lo, value, hi)
    assert s["models"]["original"]["ci"]["UA"] == [None, None]


def test_models_table_intervals_on_demand_reuse_the_comparisons(
    workspace: Path, cmp: analysis.Comparison
) -> None:
    exp = analysis.load_experiment(workspace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        plain = analysis.models_table(exp, device="cpu")
        table = analysis.models_table(exp, device="cpu", intervals=True)
    assert not any(c.endswith("_ci_low") for c in plain.columns)
    row = table.set_index("name").loc[B]
    for metric in ("UA", "RA", "PS", "forget_auc", "privleak"):
        assert (row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]) == cmp.models[B].interval(metric)
    assert table["UA_ci_low"].notna().all()  # every model on demand, the original too
    with pytest.raises(ValidationError, match=r"^intervals: expected"):
        analysis.models_table(exp, device="cpu", intervals="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("override", "argument"), [({"n_bootstrap": -5}, "n_bootstrap"), ({"ci_level": 1.5}, "level")]
)
def test_bad_bootstrap_options_name_the_argument(
    workspace: Path, override: dict[str, object], argument: str
) -> None:
    exp = analysis.load_experiment(workspace)
    with pytest.raises(ValidationError, match=argument):
        CompareOptions.from_experiment(exp, **override)


def test_instance_table_holds_every_attacks_per_sample_scores(
    cmp: analysis.Comparison, workspace: Path
) -> None:
    t = cmp.instances
    exp = analysis.load_experiment(workspace)
    train, test = t[t["split"] == "train"], t[t["split"] == "test"]
    for name in cmp.names:
        scores = cmp.models[name].privacy.sample_scores
        for attack, public in (("lira", "lira_offline"), ("rmia", "rmia_offline")):
            np.testing.assert_array_equal(train[f"{name}__mia_{public}"], scores[attack].train)
            np.testing.assert_array_equal(test[f"{name}__mia_{public}"], scores[attack].test)
        np.testing.assert_array_equal(
            train[f"{name}__mia_lira_online_retrain"], scores["lira_online"].retrain_train
        )
        assert t[f"{name}__mia_ulira"].isna().all()  # no shadow models here: N/A, NaN
        forget = train["is_forget"].to_numpy()
        assert train.loc[forget, f"{name}__mia_lira_offline"].notna().any()
        assert train.loc[~forget, f"{name}__mia_lira_offline"].isna().all()
        logits = exp.load_model(name, device="cpu")(exp.dataset("train").x).detach().numpy()
        sig = analysis.mia.signals_from_logits(logits, exp.dataset("train").targets)
        np.testing.assert_allclose(train[f"{name}__modified_entropy"], sig.modified_entropy, 1e-5)
    # the retrain model's online-LiRA scores in B's game are its own scores
    np.testing.assert_array_equal(
        train[f"{B}__mia_lira_online_retrain"], train[f"{A}__mia_lira_online"]
    )
    ranked = analysis.most_exposed(t, B, "lira_offline", retrain=A, k=5)
    assert len(ranked) == 5 and ranked["score"].is_monotonic_decreasing


# --------------------------------------------------------------------------- embedding split


def test_compare_without_embedding_then_with_it_equals_the_full_comparison(
    workspace: Path, cmp: analysis.Comparison, monkeypatch: pytest.MonkeyPatch
) -> None:
    """compare(embedding=False) skips the projection; pair_embedding + with_embedding give
    exactly the full comparison's maps and instance table."""
    exp = analysis.load_experiment(workspace)
    cache = ResultCache(workspace / "split_cache")
    module = importlib.import_module("analysis.compare")
    real_embed = module.embed_pair
    monkeypatch.setattr(module, "embed_pair", lambda *a, **k: pytest.fail("embedded"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fast = compare(exp, A, B, device="cpu", cache=cache, embedding=False)
    assert not fast.has_embedding and "embedding" not in fast.timings
    with pytest.raises(ValidationError, match=r"^embedding: expected a comparison computed"):
        _ = fast.embedding
    train = fast.instances[fast.instances["split"] == "train"]
    assert train[[f"{A}__umap_x", f"{B}__umap_y"]].isna().all().all()
    assert list(fast.instances.columns) == list(cmp.instances.columns)
    assert fast.models[B].privacy.headline() == cmp.models[B].privacy.headline()
    monkeypatch.setattr(module, "embed_pair", real_embed)
    stages: list[tuple[str, float]] = []
    emb = analysis.pair_embedding(
        exp, A, B, device="cpu", cache=cache, progress=lambda s, f: stages.append((s, f))
    )
    full = fast.with_embedding(emb)
    assert full.has_embedding and full.timings["embedding"] == emb.seconds
    np.testing.assert_array_equal(full.embedding.coords_b, cmp.embedding.coords_b)
    pd.testing.assert_frame_equal(full.instances, cmp.instances)
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and stages[-1] == ("done", 1.0)


def test_pair_embedding_is_cached_under_compares_key(
    workspace: Path, cmp: analysis.Comparison, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = analysis.load_experiment(workspace)
    cache = ResultCache(workspace / "emb_cache")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        full = compare(exp, A, B, device="cpu", cache=cache)
    module = importlib.import_module("analysis.compare")
    monkeypatch.setattr(module, "embed_pair", lambda *a, **k: pytest.fail("not cached"))
    again = analysis.pair_embedding(exp, A, B, device="cpu", cache=cache)
    np.testing.assert_array_equal(again.coords_a, full.embedding.coords_a)


def test_compare_progress_only_grows(workspace: Path) -> None:
    exp = analysis.load_experiment(workspace)
    for embedding in (False, True):
        seen: list[tuple[str, float]] = []
        record = seen.append
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            compare(
                exp,
                A,
                "finetune_classwise",
                device="cpu",
                cache=ResultCache(workspace / f"progress_{embedding}"),
                progress=lambda s, f, record=record: record((s, f)),  # type: ignore[misc]
                embedding=embedding,
            )
        fractions = [f for _, f in seen]
        assert fractions == sorted(fractions) and seen[-1] == ("done", 1.0)
        assert {s.split(" (")[0] for s, _ in seen} >= {"forward pass", "privacy audit"}


def test_with_embedding_rejects_maps_of_other_rows(
    workspace: Path, cmp: analysis.Comparison
) -> None:
    emb = cmp.embedding
    too_far = analysis.Embedding(
        emb.indices + 10_000, emb.coords_a, emb.coords_b, emb.method, emb.align, 0.0
    )
    with pytest.raises(ValidationError, match=r"^embedding:"):
        cmp.with_embedding(too_far)
    with pytest.raises(ValidationError, match=r"^embedding:"):
        cmp.with_embedding("maps")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"^embedding:"):
        compare(analysis.load_experiment(workspace), A, B, embedding="no")  # type: ignore[arg-type]
