"""Tests of analysis/runs/registry.py: records, states, claims, concurrency, damage, migration."""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from analysis.errors import CacheError, ValidationError
from analysis.runs.registry import (
    ReadOnlyWorkspaceError,
    RegistryLockedError,
    RunRegistry,
    to_entry,
)
from analysis.spec import ArchitectureSpec, ModelEntry
from analysis.store import ResultCache
from analysis.store import RunRegistry as StoreRunRegistry
from analysis.trust import OutsideWorkspaceError


@pytest.fixture
def registry(tmp_path: Path) -> RunRegistry:
    return RunRegistry(tmp_path / "runs.sqlite")


def test_store_re_exports_the_registry() -> None:
    assert StoreRunRegistry is RunRegistry


def test_registry_crud(registry: RunRegistry, tmp_path: Path) -> None:
    orig = registry.add(
        "original",
        role="original",
        file="models/original.safetensors",
        metrics={"UA": 1.0, "TUA": float("nan")},
    )
    assert orig.file == tmp_path / "models" / "original.safetensors"
    assert orig.state == orig.status == "done" and orig.created_at.endswith("+00:00")
    assert orig.id == 1 and orig.finished_at is not None
    ga = registry.add(
        "ga-1",
        role="unlearned",
        file=tmp_path / "models" / "ga.pt",
        method="GA",
        base="original",
        forget="classwise",
        params={"lr": 0.001, "steps": [1, 2]},
        status="queued",
    )
    registry.add("rt", role="retrain", file="rt.pt", forget="random")
    registry.add("ref0", role="reference", file="r.pt", members="r_members.npy")
    got = registry.get("ga-1")
    assert got == ga and got.params == {"lr": 0.001, "steps": [1, 2]}
    assert registry.get_id(ga.id) == ga
    assert math.isnan(registry.get("original").metrics["TUA"])  # type: ignore[union-attr]
    assert registry.get("nope") is None
    assert [r.name for r in registry.list()] == ["original", "ga-1", "rt", "ref0"]
    assert [r.name for r in registry.list(scenario="classwise")] == ["original", "ga-1", "ref0"]
    assert [r.name for r in registry.list(states=["queued"])] == ["ga-1"]
    done = registry.update_status("ga-1", "done", metrics={"UA": 0.1}, rt=3.5)
    assert (done.state, done.metrics, done.rt) == ("done", {"UA": 0.1}, 3.5)
    assert registry.update_status("ga-1", "failed").metrics == {"UA": 0.1}  # kept
    assert registry.remove("rt") is True and registry.remove("rt") is False
    assert [r.name for r in registry.list()] == ["original", "ga-1", "ref0"]


def test_paths_are_relative_confined_and_survive_a_move(
    registry: RunRegistry, tmp_path: Path
) -> None:
    registry.add("inside", role="original", file=tmp_path / "models" / "a.pt")
    with pytest.raises(OutsideWorkspaceError, match=r"^file: expected a path inside the workspace"):
        registry.add("outside", role="original", file="/data/b.pt")
    with sqlite3.connect(registry.path) as conn:
        stored = dict(conn.execute("SELECT name, file FROM runs").fetchall())
        # a record edited to point outside is refused on read, skipped by list()
        conn.execute(
            "INSERT INTO runs (name, role, file, state, created_at) "
            "VALUES ('evil', 'original', '../../etc/passwd', 'done', 'x')"
        )
    assert stored == {"inside": "models/a.pt"}
    with pytest.raises(CacheError, match=r"record 'evil' file"):
        registry.get("evil")
    with pytest.warns(UserWarning, match="skipped a record"):
        assert [r.name for r in registry.list()] == ["inside"]
    registry.close()
    moved = tmp_path / "moved"
    moved.mkdir()
    for suffix in ("", "-wal", "-shm"):
        if (tmp_path / f"runs.sqlite{suffix}").exists():
            (tmp_path / f"runs.sqlite{suffix}").rename(moved / f"runs.sqlite{suffix}")
    got = RunRegistry(moved / "runs.sqlite").get("inside")
    assert got is not None and got.file == moved / "models" / "a.pt"


def test_duplicate_name_is_a_clear_error(registry: RunRegistry) -> None:
    registry.add("m", role="original", file="m.pt")
    with pytest.raises(
        ValidationError, match=r"^name: expected a name not already in the registry, received 'm'"
    ):
        registry.add("m", role="retrain", file="other.pt", forget="c")
    assert registry.get("m").role == "original"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"name": "../evil"}, "name"),
        ({"name": ""}, "name"),
        ({"role": "teacher"}, "role"),
        ({"status": "finished"}, "status"),
        ({"rt": -1.0}, "rt"),
        ({"params": {"x": object()}}, r"params\['x'\]"),
        ({"params": [1]}, "params"),
        ({"file": ""}, "file"),
        ({"role": "unlearned"}, "method, base"),
        ({"role": "reference"}, "members"),
        ({"role": "shadow", "members": "m.npy"}, "forget_mask"),
        ({"forget": 3}, "forget"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_bad_fields(registry: RunRegistry, kwargs: dict, argument: str) -> None:
    fields = {"name": "m", "role": "original", "file": "m.pt", **kwargs}
    name = fields.pop("name")
    with pytest.raises(ValidationError, match=f"^{argument}"):
        registry.add(name, **fields)
    assert registry.list() == []


def test_update_unknown_name(registry: RunRegistry) -> None:
    with pytest.raises(ValidationError, match=r"^name: expected a run in the registry"):
        registry.update_status("ghost", "done")
    with pytest.raises(ValidationError, match=r"^status"):
        registry.update_status("ghost", "bogus")


# --------------------------------------------------------------------------- lifecycle


def _queued(registry: RunRegistry, name: str, **extra: object) -> int:
    return registry.add(
        name, role="retrain", file=f"{name}.safetensors", forget="c", state="queued", **extra
    ).id  # type: ignore[arg-type]


def test_claim_report_finish(registry: RunRegistry) -> None:
    first, second = _queued(registry, "a"), _queued(registry, "b")
    claimed = registry.claim(pid=os.getpid(), device="cpu")
    assert claimed is not None and claimed.id == first and claimed.state == "running"
    assert claimed.pid == os.getpid() and claimed.started_at is not None
    assert registry.claim(ids=[first], pid=os.getpid()) is None  # already taken
    cancel = registry.report(
        first,
        stage="training",
        step=3,
        steps=10,
        epoch=1,
        epochs=2,
        current={"loss": 0.5},
        history_data=[{"epoch": 1, "UA": 0.5}],
    )
    assert cancel is False
    live = registry.get_id(first)
    assert live is not None and (live.step, live.steps, live.stage) == (3, 10, "training")
    assert live.fraction == pytest.approx(0.3) and live.current == {"loss": 0.5}
    assert live.history_data == ({"epoch": 1, "UA": 0.5},)
    done = registry.finish(first, "done", metrics={"UA": 0.1}, rt=1.0, files=["a.safetensors"])
    assert done is not None and done.state == "done" and done.fraction == 1.0
    assert done.files == (registry.root / "a.safetensors",)
    assert registry.finish(first, "failed") is None  # not running any more: ignored
    assert registry.claim(pid=os.getpid()).id == second  # type: ignore[union-attr]


def test_cancel_queued_and_running(registry: RunRegistry) -> None:
    running, queued = _queued(registry, "a"), _queued(registry, "b")
    registry.claim(ids=[running], pid=os.getpid())
    assert sorted(registry.request_cancel()) == [running, queued]
    assert registry.get_id(queued).state == "cancelled"  # type: ignore[union-attr]
    assert registry.get_id(running).cancel_requested  # type: ignore[union-attr]
    assert registry.report(running, step=1) is True  # the worker is told to stop
    assert registry.claim(pid=os.getpid()) is None


def test_dependencies_wait_and_fail_with_their_base(registry: RunRegistry) -> None:
    base = _queued(registry, "base")
    child = _queued(registry, "child", depends_on="base")
    other = _queued(registry, "other", depends_on="base")
    assert registry.claim(ids=[child, other], pid=os.getpid()) is None  # base not done
    registry.claim(ids=[base], pid=os.getpid())
    registry.finish(base, "done")
    assert registry.claim(ids=[child], pid=os.getpid()).id == child  # type: ignore[union-attr]
    registry.update_status("base", "failed")
    assert registry.claim(ids=[other], pid=os.getpid()) is None
    record = registry.get_id(other)
    assert record is not None and record.state == "failed"
    assert record.error == "base run 'base' failed"
    assert registry.dependents("base") == ["child", "other"]


def test_reap_marks_dead_and_stale_workers_interrupted(registry: RunRegistry) -> None:
    dead, stale, alive = (
        _queued(registry, "dead"),
        _queued(registry, "stale"),
        _queued(registry, "ok"),
    )
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    registry.claim(ids=[dead], pid=proc.pid)
    registry.claim(ids=[stale], pid=os.getpid())
    registry.claim(ids=[alive], pid=os.getpid())
    with sqlite3.connect(registry.path) as conn:
        conn.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (time.time() - 1000, stale))
    reaped = registry.reap()
    assert sorted(r.id for r in reaped) == [dead, stale]
    assert {r.state for r in reaped} == {"interrupted"} and "worker" in reaped[0].error
    assert registry.get_id(alive).state == "running"  # type: ignore[union-attr]
    assert registry.reap() == []


def test_scenarios_table(registry: RunRegistry) -> None:
    registry.add_scenario("two", {"classes": [2]})
    registry.add_scenario("rand", {"random": 0.2, "seed": 3})
    assert registry.scenarios() == {"two": {"classes": [2]}, "rand": {"random": 0.2, "seed": 3}}
    with pytest.raises(ValidationError, match=r"^scenario: expected a name not already"):
        registry.add_scenario("two", {"classes": [3]})
    assert registry.remove_scenario("two") and list(registry.scenarios()) == ["rand"]


# --------------------------------------------------------------------------- concurrency


def test_wal_and_two_connections_write_concurrently(tmp_path: Path) -> None:
    first, second = RunRegistry(tmp_path / "runs.sqlite"), RunRegistry(tmp_path / "runs.sqlite")
    errors: list[BaseException] = []

    def work(reg: RunRegistry, prefix: str) -> None:
        try:
            for i in range(40):
                reg.add(f"{prefix}{i}", role="original", file=f"{prefix}{i}.pt", state="queued")
                reg.update_status(f"{prefix}{i}", "running")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r, p)) for r, p in ((first, "a"), (second, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with sqlite3.connect(first.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert errors == []
    records = second.list()
    assert len(records) == 80 and {r.state for r in records} == {"running"}


def test_two_processes_share_one_cache_key_and_one_registry(tmp_path: Path) -> None:
    """Two writer processes interleave on one cache key and one registry."""
    script = textwrap.dedent(
        """
        import pathlib, sys, numpy as np
        from analysis.store import ResultCache, RunRegistry
        root, me = pathlib.Path(sys.argv[1]), int(sys.argv[2])
        cache, registry = ResultCache(root), RunRegistry(root / "runs.sqlite")
        other_done = root / f"done-{1 - me}"
        seen_other, i = 0, 0
        while i < 20 or (seen_other < 3 and not other_done.exists() and i < 2000):
            cache.put("k", {"writer": me, "data": np.full(20_000, me)})
            registry.add(f"p{me}-{i}", role="original", file="m.pt")
            got = cache.get("k")
            assert got is not None and (got["data"] == got["writer"]).all(), got
            seen_other += int(got["writer"] != me)
            i += 1
        (root / f"done-{me}").touch()
        print(i, seen_other)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for i in range(2)
    ]
    counts, seen = [], []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err.decode()
        counts.append(int(out.split()[0]))
        seen.append(int(out.split()[1]))
    assert max(seen) >= 1, "the two writers never overlapped"
    got = ResultCache(tmp_path).get("k")
    assert isinstance(got, dict) and got["writer"] in (0, 1)
    assert len(RunRegistry(tmp_path / "runs.sqlite").list()) == sum(counts)


# --------------------------------------------------------------------------- damage


def test_reads_never_create_or_lock(tmp_path: Path) -> None:
    registry = RunRegistry(tmp_path / "runs.sqlite")
    assert registry.list() == [] and registry.scenarios() == {} and registry.reap() == []
    assert not (tmp_path / "runs.sqlite").exists()
    registry.add("a", role="original", file="a.pt")
    holder = sqlite3.connect(registry.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        quick = RunRegistry(tmp_path / "runs.sqlite", timeout=0.2)
        assert [r.name for r in quick.list()] == ["a"]  # reads are not blocked
        with pytest.raises(RegistryLockedError, match=r"^runs\.sqlite: expected a registry free"):
            quick.add("b", role="original", file="b.pt")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_corrupt_record_is_skipped(registry: RunRegistry) -> None:
    registry.add("good", role="original", file="g.pt")
    registry.add("bad", role="original", file="b.pt")
    with sqlite3.connect(registry.path) as conn:
        conn.execute("UPDATE runs SET params = '{broken' WHERE name = 'bad'")
    with pytest.raises(CacheError, match="'bad'"):
        registry.get("bad")
    with pytest.warns(UserWarning, match="skipped a record"):
        assert [r.name for r in registry.list()] == ["good"]


def test_corrupt_file_is_moved_aside_once_and_kept(tmp_path: Path) -> None:
    junk = tmp_path / "runs.sqlite"
    payload = b"this is not a database" * 100
    junk.write_bytes(payload)
    registry = RunRegistry(junk)
    with pytest.warns(RuntimeWarning, match=r"runs\.sqlite is corrupt .* moved aside"):
        assert registry.list() == []
    kept = list(tmp_path.glob("runs.sqlite.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == payload
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert registry.list() == []  # reported once
        registry.add("fresh", role="original", file="f.pt")  # a new registry starts
    assert [r.name for r in registry.list()] == ["fresh"]


def test_directory_and_missing_folder_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "runs.sqlite").mkdir()
    with pytest.raises(CacheError, match=r"^runs\.sqlite: expected a SQLite run registry file"):
        RunRegistry(tmp_path / "runs.sqlite")
    with pytest.raises(ValidationError, match=r"^path"):
        RunRegistry(tmp_path / "no" / "such" / "runs.sqlite")


def test_read_only_registry_reads_and_refuses_writes(
    registry: RunRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.add("a", role="original", file="a.pt")
    registry.close()
    reader = RunRegistry(registry.path)
    real = sqlite3.connect

    def read_only(target: object, *args: object, **kwargs: object) -> sqlite3.Connection:
        if not kwargs.get("uri"):  # as on a read-only mount: only read-only opens succeed
            raise sqlite3.OperationalError("unable to open database file")
        return real(target, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite3, "connect", read_only)
    assert [r.name for r in reader.list()] == ["a"]
    with pytest.raises(ReadOnlyWorkspaceError, match="read-only workspace"):
        reader.add("b", role="original", file="b.pt")


_V1_SCHEMA = """
CREATE TABLE runs (name TEXT PRIMARY KEY NOT NULL, role TEXT NOT NULL, file TEXT NOT NULL,
 architecture TEXT, architecture_params TEXT NOT NULL, forget TEXT, method TEXT, base TEXT,
 params TEXT NOT NULL, train TEXT NOT NULL, rt REAL, members TEXT, history TEXT,
 description TEXT NOT NULL, status TEXT NOT NULL, metrics TEXT NOT NULL, created_at TEXT NOT NULL);
"""


def test_schema_1_is_read_as_is_and_migrated_by_the_first_write(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(_V1_SCHEMA)
        conn.execute("PRAGMA user_version = 1")
        for name, status in (("up", "done"), ("stuck", "running")):
            conn.execute(
                "INSERT INTO runs VALUES (?, 'unlearned', 'models/x.pt', NULL, '{}', 'c', 'ga', "
                "'original', '{\"lr\": 0.1}', '{}', 2.5, NULL, NULL, '', ?, '{\"UA\": 0.2}', 't')",
                (name, status),
            )
    registry = RunRegistry(path)
    before = registry.list()
    assert [(r.name, r.state, r.params["lr"]) for r in before] == [
        ("up", "done", 0.1),
        ("stuck", "running", 0.1),
    ]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1  # reading migrates nothing
    registry.add("new", role="original", file="n.pt")
    after = {r.name: r for r in registry.list()}
    assert list(after) == ["up", "stuck", "new"]
    assert after["up"].metrics == {"UA": 0.2} and after["up"].rt == 2.5
    assert after["stuck"].state == "interrupted"
    assert after["new"].id == 3
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3


# The schema-2 DDL exactly as the previous version wrote it (runs + scenarios, no studies).
_V2_SCHEMA = """
CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
 role TEXT NOT NULL, file TEXT NOT NULL, architecture TEXT,
 architecture_params TEXT NOT NULL DEFAULT '{}', forget TEXT, method TEXT, base TEXT,
 params TEXT NOT NULL DEFAULT '{}', train TEXT NOT NULL DEFAULT '{}', rt REAL, members TEXT,
 history TEXT, description TEXT NOT NULL DEFAULT '', state TEXT NOT NULL,
 metrics TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL,
 kind TEXT NOT NULL DEFAULT 'upload', job TEXT NOT NULL DEFAULT '{}', seed INTEGER,
 error TEXT NOT NULL DEFAULT '', forget_mask TEXT, stage TEXT NOT NULL DEFAULT '',
 step INTEGER NOT NULL DEFAULT 0, steps INTEGER NOT NULL DEFAULT 0,
 epoch INTEGER NOT NULL DEFAULT 0, epochs INTEGER NOT NULL DEFAULT 0,
 current TEXT NOT NULL DEFAULT '{}', heartbeat REAL, pid INTEGER,
 host TEXT NOT NULL DEFAULT '', queued_at REAL, started_at REAL, finished_at REAL,
 files TEXT NOT NULL DEFAULT '[]', history_data TEXT NOT NULL DEFAULT '[]',
 cancel_requested INTEGER NOT NULL DEFAULT 0, depends_on TEXT,
 batch TEXT NOT NULL DEFAULT '', device TEXT NOT NULL DEFAULT '');
CREATE INDEX runs_state ON runs(state);
CREATE TABLE scenarios (name TEXT PRIMARY KEY NOT NULL, spec TEXT NOT NULL,
 created_at TEXT NOT NULL);
"""


def _schema_2_registry(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(_V2_SCHEMA)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA user_version = 2")
        conn.execute(
            "INSERT INTO runs (name, role, file, state, created_at, kind, batch, forget, method, "
            "base, metrics) VALUES ('ga_1', 'unlearned', 'models/runs/ga_1.safetensors', 'done', "
            "'t', 'unlearn', 'b1', 'classwise', 'ga', 'original', '{\"UA\": 0.25}')"
        )
        conn.execute("INSERT INTO scenarios VALUES ('extra', '{\"classes\": [2]}', 't')")


def test_schema_2_is_read_as_is_and_gains_the_studies_table_on_the_first_write(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.sqlite"
    _schema_2_registry(path)
    registry = RunRegistry(path)
    assert registry.studies() == [] and registry.get_study("s") is None  # no table yet
    assert [(r.name, r.metrics["UA"]) for r in registry.list(batch="b1")] == [("ga_1", 0.25)]
    assert registry.scenarios() == {"extra": {"classes": [2]}}
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2  # reading migrates nothing
    study = registry.add_study("sweep", kind="scalability", spec={"sizes": [0.1]}, batch="b1")
    assert (study.id, study.batch, study.spec) == (1, "b1", {"sizes": [0.1]})
    assert [r.name for r in registry.list()] == ["ga_1"]  # runs untouched
    assert registry.scenarios() == {"extra": {"classes": [2]}}
    registry.add("new", role="original", file="n.pt")
    assert registry.get("new").id == 2  # the id sequence continues
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3


def test_scenarios_gain_an_origin_column_without_a_version_change(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    _schema_2_registry(path)  # its scenarios table has no origin column
    registry = RunRegistry(path)
    assert registry.scenario_origins() == {"extra": ""}  # read as the user's
    registry.add_scenario("s_f0.1", {"classes": [1]}, origin="study:s")
    assert registry.scenario_origins() == {"extra": "", "s_f0.1": "study:s"}
    assert registry.scenarios() == {"extra": {"classes": [2]}, "s_f0.1": {"classes": [1]}}
    with sqlite3.connect(path) as conn:  # an older writer still inserts without the column
        conn.execute("INSERT INTO scenarios (name, spec, created_at) VALUES ('old', '{}', 't')")
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    assert RunRegistry(path).scenario_origins()["old"] == ""
    with pytest.raises(ValidationError, match=r"^origin: expected a string"):
        registry.add_scenario("bad", {"classes": [1]}, origin=3)  # type: ignore[arg-type]


def test_a_newer_schema_is_refused_on_write(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("PRAGMA user_version = 4")
    with pytest.raises(CacheError, match="schema 4"):
        RunRegistry(path).add("a", role="original", file="a.pt")


def test_studies_are_stored_listed_and_removed(registry: RunRegistry) -> None:
    first = registry.add_study("a", kind="scalability", spec={"seeds": [0, 1]}, batch="x1")
    registry.add_study("b", kind="sustainability", spec={}, batch="x2")
    assert [s.name for s in registry.studies()] == ["a", "b"]
    assert registry.get_study("a") == first and first.created_at.endswith("+00:00")
    with pytest.raises(ValidationError, match="study: expected a name not already used"):
        registry.add_study("a", kind="scalability", spec={}, batch="x3")
    with pytest.raises(ValidationError, match=r"^name: expected"):
        registry.add_study("bad name", kind="scalability", spec={}, batch="x3")
    with pytest.raises(ValidationError, match=r"^batch: expected a non-empty string"):
        registry.add_study("c", kind="scalability", spec={}, batch="")
    with pytest.raises(ValidationError, match=r"^spec\[.x.\]: expected JSON-like data"):
        registry.add_study("c", kind="scalability", spec={"x": object()}, batch="x3")
    assert registry.remove_study("a") and not registry.remove_study("a")
    assert [s.name for s in registry.studies()] == ["b"]


def test_list_filters_by_batch(registry: RunRegistry) -> None:
    registry.add("a", role="original", file="a.pt", batch="one")
    registry.add("b", role="original", file="b.pt", batch="two")
    registry.add("c", role="original", file="c.pt", batch="one")
    assert [r.name for r in registry.list(batch="one")] == ["a", "c"]
    assert registry.list(batch="none") == []


def test_to_entry(registry: RunRegistry, tmp_path: Path) -> None:
    default = ArchitectureSpec("smallcnn")
    rec = registry.add(
        "ga",
        role="unlearned",
        file="models/ga.safetensors",
        method="GA",
        base="original",
        forget="classwise",
        params={"lr": 0.01},
        train={"epochs": 3},
        rt=2.0,
        description="first try",
    )
    assert to_entry(rec, default) == ModelEntry(
        name="ga",
        role="unlearned",
        file=tmp_path / "models" / "ga.safetensors",
        architecture=default,
        forget="classwise",
        method="GA",
        base="original",
        params={"lr": 0.01},
        train={"epochs": 3},
        rt=2.0,
        description="first try",
    )
    shadow = registry.add(
        "sh",
        role="shadow",
        file="s.pt",
        members="m/s.npy",
        forget_mask="m/f.npy",
        forget="classwise",
        method="ga",
        base="ref",
        architecture="mlp",
        architecture_params={"hidden": 64},
    )
    entry = to_entry(shadow, default)
    assert entry.architecture == ArchitectureSpec("mlp", {"hidden": 64})
    assert entry.members == tmp_path / "m" / "s.npy"
    assert entry.forget_mask == tmp_path / "m" / "f.npy"
    _ = np


def test_schema_setup_retries_a_busy_answer_until_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two processes creating a fresh registry at once: the WAL switch gets an immediate
    # SQLITE_BUSY (no busy handler, deadlock avoidance), seen once in CI as a lost `submit`.
    real = RunRegistry._try_schema
    calls: list[int] = []

    def busy_twice(self: RunRegistry) -> None:
        calls.append(1)
        if len(calls) <= 2:
            raise RegistryLockedError("runs.sqlite: locked")
        real(self)

    monkeypatch.setattr(RunRegistry, "_try_schema", busy_twice)
    registry = RunRegistry(tmp_path / "runs.sqlite", timeout=5)
    registry.add("a", role="original", file="a.pt")
    assert len(calls) == 3 and [r.name for r in registry.list()] == ["a"]

    def always_busy(self: RunRegistry) -> None:
        raise RegistryLockedError("runs.sqlite: locked")

    monkeypatch.setattr(RunRegistry, "_try_schema", always_busy)
    started = time.monotonic()
    with pytest.raises(RegistryLockedError):
        RunRegistry(tmp_path / "other.sqlite", timeout=0.3).add("b", role="original", file="b.pt")
    assert 0.3 <= time.monotonic() - started < 3
