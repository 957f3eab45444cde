"""The Models page's upload panel: bad weights give st.error and change nothing; good ones join."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import analysis
from analysis.models import build_model, save_weights
from tests.dashboard.views.apptest_pages import APP


@pytest.fixture
def app(
    tmp_path: Path, tiny_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[AppTest, Path]:
    ws = Path(shutil.copytree(tiny_workspace, tmp_path / "ws"))
    monkeypatch.setenv("ULENS_WORKSPACE", str(ws))
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    assert not at.exception
    return at, ws


def _upload(at: AppTest, name: str, data: bytes) -> None:
    at.file_uploader(key="upload_file_0").set_value(
        (f"{name}.safetensors", data, "application/octet-stream")
    )
    at.text_input(key="upload_name").set_value(name)
    at.text_input(key="upload_method").set_value("ft")
    at.run()
    at.button(key="upload_add").click().run()


def test_weights_of_another_architecture_show_an_error_and_change_nothing(
    app: tuple[AppTest, Path], tmp_path: Path
) -> None:
    at, ws = app
    other = tmp_path / "other.safetensors"
    save_weights(build_model("smallcnn", num_classes=4, input_shape=(1, 6, 6)), other)
    _upload(at, "wrong", other.read_bytes())
    assert not at.exception
    assert any("Not added" in e.value for e in at.error)
    assert "wrong" not in analysis.load_experiment(ws).models
    assert at.sidebar.selectbox(key="a").value  # the app keeps working


def test_valid_weights_join_the_scenario_and_survive_reloads(app: tuple[AppTest, Path]) -> None:
    at, ws = app
    data = analysis.load_experiment(ws).entry("finetune_classwise").file.read_bytes()
    _upload(at, "uploaded", data)
    assert not at.exception, at.exception
    assert "uploaded" in analysis.load_experiment(ws).models
    assert "uploaded (unlearned)" in at.sidebar.selectbox(key="b").options
