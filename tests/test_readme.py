"""The README's code runs as written: the Python API tour and the plug-in example."""

from __future__ import annotations

import re
from pathlib import Path

import torch

import analysis

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_python_blocks_run(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(README.parent)
    from analysis.unlearn import base

    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))  # keep the registry clean
    namespace: dict[str, object] = {}
    for block in _python_blocks():
        exec(compile(block, str(README), "exec"), namespace)
    result = namespace["result"]
    assert isinstance(result, analysis.UnlearningResult)
    assert isinstance(result.model, torch.nn.Module) and result.seconds > 0
    assert analysis.get_method("neggrad").display_name == "NegGrad+"
