"""Tests of analysis.experiment on tiny generated workspaces (tests/fixtures.py)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from analysis.data import ArrayDataset
from analysis.errors import SpecError, ValidationError, WeightsError
from analysis.experiment import Experiment, load_experiment
from analysis.models import load_weights_into, read_weights, save_weights
from analysis.spec import ArchitectureSpec, load_spec

CLASSWISE = ["original", "retrain_classwise", "finetune_classwise", "gradascent_classwise"]
RANDOM = ["original", "retrain_random", "finetune_random", "gradascent_random"]
REFS = ["ref0", "ref1", "ref2", "ref3"]


@pytest.fixture(scope="module")
def npz(tiny_workspace: Path) -> dict[str, np.ndarray]:
    with np.load(tiny_workspace / "data.npz") as archive:
        return {k: archive[k] for k in archive.files}


@pytest.fixture
def exp(tiny_workspace: Path) -> Experiment:
    return load_experiment(tiny_workspace)


def test_default_scenario_is_the_first_and_models_are_filtered(exp: Experiment) -> None:
    assert exp.scenario == "classwise" and exp.scenarios == ["classwise", "random"]
    assert list(exp.models) == CLASSWISE + REFS
    assert exp.names_with_role("unlearned") == ["finetune_classwise", "gradascent_classwise"]
    assert exp.original_name == "original" and exp.retrain_name == "retrain_classwise"
    assert exp.root == exp.spec.root and "classwise" in repr(exp)


def test_random_scenario_view(tiny_workspace: Path) -> None:
    exp = load_experiment(tiny_workspace, scenario="random")
    assert list(exp.models) == RANDOM + REFS
    assert exp.retrain_name == "retrain_random"
    with pytest.raises(ValidationError, match=r"^model: expected one of .*'retrain_random'.*"):
        exp.entry("retrain_classwise")


def test_unknown_scenario_lists_the_options(tiny_workspace: Path) -> None:
    with pytest.raises(ValidationError, match=r"scenario: expected one of \['classwise', 'rand"):
        load_experiment(tiny_workspace, scenario="nope")


def test_workspace_scenario_order_follows_the_factory(
    tiny_workspace_factory: Callable[..., Path],
) -> None:
    exp = load_experiment(tiny_workspace_factory(scenario="random", n_reference=1))
    assert exp.scenario == "random" and list(exp.models) == [*RANDOM, "ref0"]


def _with_toml(source: Path, target: Path, edit: Callable[[str], str]) -> Path:
    """A copy of workspace ``source`` in ``target`` with its experiment.toml edited."""
    shutil.copytree(source, target)
    toml = target / "experiment.toml"
    toml.write_text(edit(toml.read_text(encoding="utf-8")), encoding="utf-8")
    return target


def test_default_pair_is_two_unlearned_models_not_the_retrain_model(tiny_workspace: Path) -> None:
    # no [analysis] defaults: the two first unlearned models, in file order, in every scenario
    assert load_experiment(tiny_workspace).default_pair() == tuple(CLASSWISE[2:4])
    random = load_experiment(tiny_workspace, scenario="random")
    assert random.default_pair() == ("finetune_random", "gradascent_random")


def test_default_pair_falls_back_to_the_original_then_the_retrain(
    tiny_workspace: Path, tmp_path: Path
) -> None:
    def drop(*names: str) -> Callable[[str], str]:
        def edit(text: str) -> str:
            for name in names:
                text = re.sub(rf"\[models\.{name}\]\n(.+\n)+?\n", "", text)
            return text

        return edit

    one = _with_toml(tiny_workspace, tmp_path / "one", drop("gradascent_classwise"))
    assert load_experiment(one).default_pair() == ("finetune_classwise", "original")
    none = _with_toml(
        tiny_workspace, tmp_path / "none", drop("gradascent_classwise", "finetune_classwise")
    )
    assert load_experiment(none).default_pair() == ("original", "retrain_classwise")


def test_explicit_defaults_are_honoured_and_follow_the_scenario(
    tiny_workspace: Path, tmp_path: Path
) -> None:
    def defaults(a: str, b: str) -> Callable[[str], str]:
        return lambda t: t.replace(
            "[analysis]\n", f'[analysis]\ndefault_a = "{a}"\ndefault_b = "{b}"\n'
        )

    ws = _with_toml(tiny_workspace, tmp_path / "ga", defaults("gradascent_classwise", "original"))
    assert load_experiment(ws).default_pair() == ("gradascent_classwise", "original")
    # a model of another scenario maps to this scenario's model of the same method
    random = load_experiment(ws, scenario="random")
    assert random.default_pair() == ("gradascent_random", "original")
    # written by the user: kept, even the retrain model; B = A falls back to the first candidate
    ws = _with_toml(tiny_workspace, tmp_path / "rt", defaults("retrain_classwise", "nope"))
    assert load_experiment(ws).default_pair() == ("retrain_classwise", "finetune_classwise")


def test_sample_default_pair_is_two_attackable_unlearned_models() -> None:
    sample = load_experiment(Path(__file__).resolve().parents[2] / "sample_data" / "digits")
    assert sample.default_pair() == ("ga", "salun")
    assert sample.with_scenario("random").default_pair() == ("ga_random", "salun_random")
    roles = {sample.models[n].role for n in sample.default_pair()}
    assert roles == {"unlearned"}


def test_datasets_match_the_npz(exp: Experiment, npz: dict[str, np.ndarray]) -> None:
    train, test = exp.dataset("train"), exp.dataset("test")
    assert isinstance(train, ArrayDataset) and isinstance(test, ArrayDataset)
    assert (len(train), len(test)) == (120, 60)
    np.testing.assert_array_equal(train.x.numpy(), npz["x_train"])
    np.testing.assert_array_equal(test.targets, npz["y_test"])
    assert exp.class_names == ("class_0", "class_1", "class_2", "class_3")
    assert exp.num_classes == 4 and exp.data.input_shape == (1, 6, 6)
    with pytest.raises(ValidationError, match=r"split: expected 'train' or 'test', received 'val'"):
        exp.dataset("val")


def test_classwise_forget_and_retain_sets(exp: Experiment, npz: dict[str, np.ndarray]) -> None:
    forget, retain = exp.forget_indices, exp.retain_indices
    np.testing.assert_array_equal(forget, np.flatnonzero(npz["y_train"] == 1))
    np.testing.assert_array_equal(retain, np.flatnonzero(npz["y_train"] != 1))
    assert exp.is_classwise and exp.forget_classes == (1,)
    assert np.all(np.diff(forget) > 0) and np.all(np.diff(retain) > 0)
    assert set(exp.forget_dataset().targets.tolist()) == {1}
    assert 1 not in set(exp.retain_dataset().targets.tolist())
    assert len(exp.forget_dataset()) + len(exp.retain_dataset()) == 120


def test_random_forget_and_retain_partition_train(tiny_workspace: Path) -> None:
    exp = load_experiment(tiny_workspace, scenario="random")
    forget, retain = exp.forget_indices, exp.retain_indices
    assert len(forget) == 12 and not exp.is_classwise and exp.forget_classes is None
    np.testing.assert_array_equal(np.sort(np.concatenate([forget, retain])), np.arange(120))
    assert np.intersect1d(forget, retain).size == 0 and np.all(np.diff(forget) > 0)
    np.testing.assert_array_equal(exp.forget_dataset().x, exp.dataset("train").x[forget])


def test_load_model_eval_cpu_with_the_file_weights(exp: Experiment) -> None:
    for name in ("original", "finetune_classwise", "ref2"):
        model = exp.load_model(name, device="cpu")
        assert not model.training
        state = model.state_dict()
        stored = read_weights(exp.entry(name).file)
        assert state.keys() == stored.keys()
        assert all(v.device.type == "cpu" and torch.equal(v, stored[k]) for k, v in state.items())
    auto = exp.load_model("original")  # "auto" resolves to the CPU on this machine
    assert next(auto.parameters()).device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_models_are_distinct_and_trained(exp: Experiment) -> None:
    x, y = exp.dataset("test").x, exp.dataset("test").y
    with torch.no_grad():
        logits = {n: exp.load_model(n, device="cpu")(x) for n in ("original", "retrain_classwise")}
    assert not torch.equal(logits["original"], logits["retrain_classwise"])
    accuracy = (logits["original"].argmax(1) == y).float().mean().item()
    assert accuracy > 0.6  # briefly trained, far above chance (0.25)
    originals = read_weights(exp.entry("original").file)
    tuned = read_weights(exp.entry("finetune_classwise").file)
    assert any(not torch.equal(originals[k], tuned[k]) for k in originals)


def test_unknown_model_and_bad_device(exp: Experiment) -> None:
    with pytest.raises(ValidationError, match=r"model: expected one of \['original', .*'ghost'"):
        exp.load_model("ghost")
    with pytest.raises(ValidationError, match="device: expected"):
        exp.load_model("original", device="tpu")


def test_members_mask(exp: Experiment, tiny_workspace: Path) -> None:
    mask = exp.members_mask("ref1")
    np.testing.assert_array_equal(mask, np.load(tiny_workspace / "models" / "ref1_members.npy"))
    assert mask.dtype == np.bool_ and mask.shape == (120,) and mask.sum() == 60
    assert not np.array_equal(mask, exp.members_mask("ref0"))
    with pytest.raises(ValidationError, match=r"model: expected a reference model with a members"):
        exp.members_mask("original")


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (np.ones(120, dtype=np.int64), r"a boolean array of shape \(120,\), received int64 \(120,"),
        (np.ones(119, dtype=bool), r"a boolean array of shape \(120,\), received bool \(119,\)"),
        (np.ones((120, 1), dtype=bool), r"a boolean array .*, received bool \(120, 1\)"),
        (None, r"a readable \.npy mask, received .*ref0_members\.npy"),
    ],
)
def test_members_mask_validation(
    tiny_workspace_factory: Callable[..., Path], content: np.ndarray | None, pattern: str
) -> None:
    root = tiny_workspace_factory(n_reference=1)
    path = root / "models" / "ref0_members.npy"
    if content is None:
        path.unlink()
    else:
        np.save(path, content)
    with pytest.raises(SpecError, match=rf"^models\.ref0\.members: expected {pattern}") as info:
        load_experiment(root).members_mask("ref0")
    assert "ref0_members.npy" in str(info.value)


def test_with_scenario_shares_the_data(exp: Experiment) -> None:
    data = exp.data
    other = exp.with_scenario("random")
    assert other.data is data and other.scenario == "random" and exp.scenario == "classwise"
    assert list(other.models) == RANDOM + REFS
    assert len(other.forget_indices) == 12 and len(exp.forget_indices) == 30
    with pytest.raises(ValidationError, match="scenario: expected one of"):
        exp.with_scenario("missing")


def test_experiment_from_spec_object(tiny_workspace: Path) -> None:
    exp = Experiment(load_spec(tiny_workspace), scenario="random")
    assert exp.scenario == "random" and exp.cache_dir == exp.root / ".ulens_cache"


def test_mismatched_weights_file_surfaces_as_weights_error(
    tiny_workspace_factory: Callable[..., Path],
) -> None:
    root = tiny_workspace_factory(n_reference=0)
    exp = load_experiment(root)
    wrong = exp.build(ArchitectureSpec("mlp", {"hidden": [3]}))
    save_weights(wrong, root / "models" / "retrain_classwise.safetensors")
    with pytest.raises(WeightsError, match=r"retrain_classwise\.safetensors': expected the state"):
        exp.load_model("retrain_classwise", device="cpu")


# --------------------------------------------------------------------------- end to end


@pytest.mark.parametrize(
    ("arch", "dataset", "input_shape"),
    [("mlp", "npz_flat", (20,)), ("smallcnn", "npz", (1, 6, 6))],
)
def test_end_to_end_load_forward_save_reload(
    tiny_workspace_factory: Callable[..., Path],
    arch: str,
    dataset: str,
    input_shape: tuple[int, ...],
) -> None:
    root = tiny_workspace_factory(arch=arch, dataset=dataset, num_classes=3, n_reference=1)
    exp = load_experiment(root)
    assert exp.spec.architecture.name == arch and exp.data.input_shape == input_shape
    model = exp.load_model("gradascent_classwise", device="cpu")
    x = exp.dataset("test").x
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (len(x), 3) and torch.isfinite(logits).all()
    path = root / "models" / "copy.safetensors"
    save_weights(model, path)
    reloaded = load_weights_into(exp.build(), path, num_classes=3).eval()
    with torch.no_grad():
        assert torch.equal(reloaded(x), logits)
    stored = reloaded.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, stored[key]) and value.dtype == stored[key].dtype


def test_tiny_workspace_is_deterministic(tiny_workspace_factory: Callable[..., Path]) -> None:
    first, second = (tiny_workspace_factory(n_reference=1) for _ in range(2))
    assert (first / "experiment.toml").read_text() == (second / "experiment.toml").read_text()
    for name in ("original", "gradascent_random", "ref0"):
        a = read_weights(first / "models" / f"{name}.safetensors")
        b = read_weights(second / "models" / f"{name}.safetensors")
        assert all(torch.equal(a[k], b[k]) for k in a)
    other = read_weights(
        tiny_workspace_factory(n_reference=0, seed=1) / "models/original.safetensors"
    )
    original = read_weights(first / "models" / "original.safetensors")
    assert not torch.equal(other["out.weight"], original["out.weight"])


def test_tiny_workspace_leaves_torch_global_state_alone(
    tiny_workspace_factory: Callable[..., Path],
) -> None:
    threads, rng = torch.get_num_threads(), torch.random.get_rng_state()
    tiny_workspace_factory(n_reference=0)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), rng)
