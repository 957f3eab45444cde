"""Tests of analysis/runs/api.py and the workspace merge: concurrent submitters and adders,
scenarios, a damaged or locked registry never blocking experiment.toml's models."""

from __future__ import annotations

import errno
import gc
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import analysis
from analysis.errors import ValidationError
from analysis.runs import api
from analysis.runs.registry import REGISTRY_FILE, RunRegistry
from analysis.store import ResultCache
from analysis.workspace import add_model_bytes

REPO = Path(__file__).resolve().parents[3]

_RACER = textwrap.dedent(
    """
    import sys, time, pathlib
    import analysis
    from analysis.runs import grid_jobs, submit, ReferencesJob
    from analysis.workspace import add_model_bytes
    ws, me, start = pathlib.Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    exp = analysis.load_experiment(ws)
    data = exp.entry("ga").file.read_bytes()
    while time.time() < start:
        time.sleep(0.001)
    ids = submit(ws, grid_jobs("ga", params={"epochs": 1}, seeds=[0, 1, 2]))
    ids += submit(ws, [ReferencesJob(2)])
    try:
        add_model_bytes(exp, data, name="shared", role="unlearned", method="ga", base="original")
        won = "won"
    except ValueError as exc:
        won = "lost: " + str(exc)
    print(len(ids), won, sep="|")
    """
)


def test_two_concurrent_submitters_and_adders_lose_nothing(sample_ws: Path) -> None:
    import time

    start = time.time() + 6.0
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(sample_ws), str(i), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for i in range(2)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        outputs.append(out.strip().split("|"))
    assert [int(o[0]) for o in outputs] == [5, 5]
    outcomes = sorted(o[1] for o in outputs)
    assert outcomes[1] == "won" and outcomes[0].startswith("lost: name: expected a name ")
    records = RunRegistry(sample_ws / REGISTRY_FILE).list()
    names = [r.name for r in records]
    assert len(names) == len(set(names)) == 11  # 6 grid runs + 4 references + the upload
    assert sum(n.startswith("ref_s0_") for n in names) == 4
    shared = sample_ws / "models" / "added" / "shared.safetensors"
    assert shared.exists()  # the winner's weights survived the loser
    model = analysis.load_experiment(sample_ws).load_model("shared", device="cpu")
    assert model is not None
    assert not list((sample_ws / "models" / "added").glob(".upload-*"))


def test_add_scenario_kinds_and_errors(sample_ws: Path, tmp_path: Path) -> None:
    assert api.add_scenario(sample_ws, "two", classes=[2]) == {"classes": [2]}
    assert api.add_scenario(sample_ws, "r5", random=0.05, seed=1) == {"random": 0.05, "seed": 1}
    index_file = tmp_path / "idx.npy"
    np.save(index_file, np.array([0, 5, 9]), allow_pickle=False)
    assert api.add_scenario(sample_ws, "few", indices=index_file) == {
        "indices": "scenarios/few.npy"
    }
    exp = analysis.load_experiment(sample_ws, scenario="few")
    assert exp.forget_indices.tolist() == [0, 5, 9] and not exp.is_classwise
    assert analysis.load_experiment(sample_ws, scenario="two").forget_classes == (2,)
    toml = (sample_ws / "experiment.toml").read_text()
    assert "two" not in toml  # experiment.toml is untouched
    for kwargs, message in (
        ({"name": "two", "classes": [3]}, r"^scenario: expected a name not used"),
        ({"name": "classwise", "classes": [3]}, r"^scenario: expected a name not used"),
        ({"name": "x", "classes": [42]}, r"^forget\.x\.classes"),
        ({"name": "x", "classes": list(range(10))}, r"^forget\.x\.classes: expected a strict"),
        ({"name": "x"}, r"^scenario: expected exactly one of"),
        ({"name": "x", "random": 1.5}, r"^forget\.x\.random"),
    ):
        name = kwargs.pop("name")
        with pytest.raises(ValidationError, match=message):
            api.add_scenario(sample_ws, str(name), **kwargs)  # type: ignore[arg-type]
    bad = tmp_path / "bad.npy"
    np.save(bad, np.array([0, 10_000]), allow_pickle=False)
    with pytest.raises(ValidationError, match=r"^forget\.y\.indices"):
        api.add_scenario(sample_ws, "y", indices=bad)
    assert not (sample_ws / "scenarios" / "y.npy").exists()


def test_damaged_or_locked_registry_never_blocks_toml_models(sample_ws: Path) -> None:
    toml_models = set(analysis.load_experiment(sample_ws).models)
    db = sample_ws / REGISTRY_FILE
    db.write_bytes(b"garbage" * 500)
    with pytest.warns(RuntimeWarning, match="corrupt"):
        assert set(analysis.load_experiment(sample_ws).models) == toml_models
    assert list(sample_ws.glob("runs.sqlite.corrupt-*"))  # kept
    RunRegistry(db).add("extra", role="original", file="models/original.safetensors")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # WAL: a writer never blocks readers
    try:
        assert "extra" in analysis.load_experiment(sample_ws).models
    finally:
        holder.execute("ROLLBACK")
    gc.collect()  # drop the registries' kept connections
    holder.execute("PRAGMA journal_mode=DELETE")  # as an older registry: a writer locks all
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE runs SET description = 'x'")
    try:
        with pytest.warns(RuntimeWarning, match=r"run registry not read .*locked"):
            assert set(analysis.load_experiment(sample_ws).models) == toml_models
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    os.remove(db)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.mkdir()
    with pytest.warns(RuntimeWarning, match=r"runs\.sqlite: expected a SQLite"):
        assert set(analysis.load_experiment(sample_ws).models) == toml_models


def test_read_only_cache_warns_once_and_keeps_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ResultCache(tmp_path / "cache")

    def refuse(*_: object, **__: object) -> tuple[int, str]:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.warns(RuntimeWarning, match=r"cannot save results .*read-only workspace"):
        cache.put("k", {"a": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.put("k", {"a": 2})  # said once
    assert cache.get("k") is None


def test_upload_into_a_read_only_workspace_says_so(
    sample_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = analysis.load_experiment(sample_ws)
    data = exp.entry("ga").file.read_bytes()

    def refuse(*_: object, **__: object) -> tuple[int, str]:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(ValueError, match=r"^weights: expected a writable workspace"):
        add_model_bytes(exp, data, name="ro", role="unlearned", method="ga", base="original")
