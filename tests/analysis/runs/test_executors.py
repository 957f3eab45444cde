"""Tests of analysis/runs/executors.py: same seeds, same results with 1 or 2 local workers
and on Ray; a worker killed mid-run is replaced."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from analysis.errors import ValidationError
from analysis.models import read_weights
from analysis.runs.executors import LocalExecutor, RayExecutor, make_executor, ray_available
from analysis.runs.jobs import grid_jobs
from analysis.runs.plan import submit
from analysis.runs.registry import RunRecord
from tests.analysis.runs.workspaces import copy_sample

GRID = {"lr": [0.01]}


def _run(ws: Path, executor: LocalExecutor | RayExecutor) -> list[RunRecord]:
    ids = submit(ws, grid_jobs("ga", params={"epochs": 1}, grid=GRID, seeds=[0, 1]))
    seen: list[int] = []
    records = executor.run(ws, ids, on_update=lambda rs: seen.append(len(rs)))
    assert seen and set(seen) == {2}
    assert [r.state for r in records] == ["done"] * 2, [r.error for r in records]
    return records


def _assert_same(a: list[RunRecord], b: list[RunRecord]) -> None:
    for x, y in zip(a, b, strict=True):
        assert (x.name, x.params, x.seed, x.role, x.kind) == (
            y.name,
            y.params,
            y.seed,
            y.role,
            y.kind,
        )
        for key in ("UA", "RA", "TUA", "TRA", "PS"):
            assert math.isclose(x.metrics[key], y.metrics[key], abs_tol=1e-6), key
        for step_x, step_y in zip(x.history_data, y.history_data, strict=True):
            assert step_x.keys() == step_y.keys()
        wx, wy = read_weights(x.file), read_weights(y.file)
        assert all(torch.allclose(wx[k], wy[k], atol=1e-6, rtol=0) for k in wx)


@pytest.fixture(scope="module")
def local_one(tmp_path_factory: pytest.TempPathFactory) -> list[RunRecord]:
    """The grid run by one local worker (the reference the other executors must match)."""
    return _run(copy_sample(tmp_path_factory.mktemp("one") / "ws"), LocalExecutor(1, device="cpu"))


def test_two_local_workers_give_the_same_runs(local_one: list[RunRecord], tmp_path: Path) -> None:
    two = _run(copy_sample(tmp_path / "two"), LocalExecutor(2, device="cpu"))
    _assert_same(local_one, two)


@pytest.mark.skipif(not ray_available(), reason="ray is not installed (pip install -e '.[ray]')")
def test_ray_gives_the_local_executor_s_runs(local_one: list[RunRecord], tmp_path: Path) -> None:
    ray = _run(copy_sample(tmp_path / "ray"), RayExecutor(2, device="cpu"))
    _assert_same(local_one, ray)
    import ray as ray_module

    assert not ray_module.is_initialized()  # always shut down


def test_executor_arguments_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match=r"^workers: expected a positive integer"):
        LocalExecutor(0)
    with pytest.raises(ValidationError, match=r"^executor: expected one of \['local', 'ray'\]"):
        make_executor("spark")
    import builtins

    real_import = builtins.__import__

    def no_ray(name: str, *args: object, **kwargs: object) -> object:
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ValidationError, match=r"pip install -e '\.\[ray\]'"):
        make_executor("ray")
