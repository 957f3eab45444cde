"""Adding models to a workspace: validation first, nothing half-written, merged on load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import analysis
from analysis.errors import ValidationError, WeightsError
from analysis.models import build_model, save_weights
from analysis.workspace import add_model_bytes


@pytest.fixture
def workspace(tmp_path: Path, tiny_workspace: Path) -> Path:
    return Path(shutil.copytree(tiny_workspace, tmp_path / "ws"))


def test_added_model_is_loaded_with_the_experiment(workspace: Path) -> None:
    exp = analysis.load_experiment(workspace)
    data = exp.entry("finetune_classwise").file.read_bytes()
    add_model_bytes(exp, data, name="uploaded", role="unlearned", method="ft", base="original")
    again = analysis.load_experiment(workspace)
    assert again.models["uploaded"].role == "unlearned"
    assert again.models["uploaded"].forget == "classwise"
    assert "uploaded" not in again.with_scenario("random").models
    model = again.load_model("uploaded", device="cpu")
    reference = again.load_model("finetune_classwise", device="cpu")
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(p, q)


def test_weights_of_another_architecture_are_refused_and_nothing_is_written(
    workspace: Path, tmp_path: Path
) -> None:
    exp = analysis.load_experiment(workspace)
    other = tmp_path / "other.safetensors"
    save_weights(build_model("smallcnn", num_classes=4, input_shape=(1, 6, 6)), other)
    with pytest.raises(WeightsError, match=r"missing keys|unexpected keys"):
        add_model_bytes(
            exp, other.read_bytes(), name="wrong", role="unlearned", method="ft", base="original"
        )
    assert not (workspace / "models" / "added" / "wrong.safetensors").exists()
    assert "wrong" not in analysis.load_experiment(workspace).models


def test_corrupt_bytes_duplicate_names_and_escapes_are_refused(workspace: Path) -> None:
    exp = analysis.load_experiment(workspace)
    good = exp.entry("original").file.read_bytes()
    with pytest.raises(WeightsError, match="safetensors"):
        add_model_bytes(exp, good[: len(good) // 2], name="half", role="retrain")
    with pytest.raises(ValidationError, match="name"):
        add_model_bytes(exp, good, name="original", role="retrain")
    with pytest.raises(ValidationError):
        add_model_bytes(exp, good, name="../../escape", role="retrain")
    assert not list((workspace / "models" / "added").glob("*.safetensors"))
