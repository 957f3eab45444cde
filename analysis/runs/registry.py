"""The run registry: every run and added model of a workspace, in SQLite (``runs.sqlite``).

One row per run (a queued/running/finished job, or an uploaded model): its job (JSON), kind,
method, params, seed, scenario, state, live progress (stage, step/steps, epoch/epochs, current
metrics, heartbeat, worker pid and host), timings, produced files and per-epoch history. A
second table holds forget scenarios added outside ``experiment.toml`` (with their ``origin``:
empty for the user's, ``study:NAME`` for a study's), a third the studies
(:mod:`analysis.studies`: a named set of runs, grouped by their submission ``batch``).

Concurrency and failure rules:

* WAL mode; every call opens its own connection and runs one short transaction
  (``BEGIN IMMEDIATE`` for writes), so several processes (dashboard sessions, workers, the CLI)
  share one registry. Read-only calls never take a write lock and never create the file.
* The schema is created (or an older schema migrated) on the first write, never on a read;
  a schema-1 or schema-2 registry is readable as it is and migrated by the first write
  (schema 2 -> 3 only adds the ``studies`` table; reading studies of an older file finds none;
  the scenarios' ``origin`` column is added the same way, without a version change: older
  readers select the columns they know, older writers get its default).
* A corrupt registry is reported once (a :class:`RuntimeWarning`) and moved aside to
  ``runs.sqlite.corrupt-<timestamp>`` (never deleted); reads then see an empty registry.
* A locked registry raises :class:`RegistryLockedError` after ``timeout`` seconds;
  ``runs.sqlite`` being a directory raises :class:`CacheError`; a read-only workspace can be
  read and a write raises :class:`ReadOnlyWorkspaceError` naming what cannot be saved.
* Paths are stored relative to the workspace and go through :func:`analysis.trust.confine`
  when written and when read back: a record naming a path outside the workspace is refused
  (skipped with a warning by :meth:`RunRegistry.list`).

Example:
    >>> import tempfile
    >>> reg = RunRegistry(Path(tempfile.mkdtemp()) / "runs.sqlite")
    >>> reg.list()
    []
    >>> reg.add("orig", role="original", file="models/orig.safetensors").state
    'done'
    >>> [r.name for r in reg.list()]
    ['orig']
"""

from __future__ import annotations

import builtins
import contextlib
import json
import math
import os
import re
import socket
import sqlite3
import threading
import time
import typing
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from analysis.errors import CacheError, ValidationError, describe
from analysis.spec import ROLES, ArchitectureSpec, ModelEntry
from analysis.trust import OutsideWorkspaceError, confine

__all__ = [
    "REGISTRY_FILE",
    "RUN_STATES",
    "RUN_STATUSES",
    "TERMINAL_STATES",
    "ReadOnlyWorkspaceError",
    "RegistryLockedError",
    "RunRecord",
    "RunRegistry",
    "StudyRecord",
    "to_entry",
    "validate_name",
]

REGISTRY_FILE = "runs.sqlite"
RUN_STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
"""Every state a run can be in (``done`` also for uploaded models)."""
RUN_STATUSES = RUN_STATES  # the schema-1 name, kept for callers of analysis.store
TERMINAL_STATES = ("done", "failed", "cancelled", "interrupted")
"""States a run never leaves."""
STALE_SECONDS = 90.0
"""A running run whose heartbeat is older than this is ``interrupted`` (its worker is gone)."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_SCHEMA_VERSION = 3
_REPORTED: set[str] = set()
_REPORTED_LOCK = threading.Lock()
_HOST = socket.gethostname()


class RegistryLockedError(CacheError):
    """Another process holds the registry's lock for longer than the timeout."""


class ReadOnlyWorkspaceError(CacheError):
    """The workspace (or its registry) cannot be written; the message says what is not saved."""


@dataclass(frozen=True)
class RunRecord:
    """One run or added model of the registry.

    Paths are absolute (stored relative to the workspace). The first fields mirror
    :class:`analysis.spec.ModelEntry`; the others are the run's bookkeeping.

    Attributes:
        name: Unique model name (``[A-Za-z0-9][A-Za-z0-9_.-]*``, at most 128 characters).
        role: ``original``, ``retrain``, ``unlearned``, ``reference`` or ``shadow``.
        file: Weights file (it exists once the run is ``done``).
        architecture: Architecture name, or None for the experiment's default.
        architecture_params: Options of ``architecture``.
        forget: The scenario of the run (None for scenario-free models).
        method: Unlearning method (``unlearned``/``shadow``).
        base: Model the method was applied to.
        params: Method hyperparameters.
        train: Training recipe.
        rt: Wall time of the method or training in seconds (evaluations excluded).
        members: Membership mask (``reference``/``shadow``).
        history: Per-epoch metrics file (JSON list, the Models page reads it).
        description: Free text.
        state: One of :data:`RUN_STATES`.
        metrics: Final metrics (UA, RA, TUA, TRA, PS; NaN/None where undefined).
        created_at: ISO-8601 UTC time the record was added.
        id: Run id (unique, increasing).
        kind: ``train``, ``unlearn``, ``references``, ``shadows`` or ``upload``.
        job: The job as JSON (see :mod:`analysis.runs.jobs`).
        seed: The run's seed.
        error: Error text of a ``failed`` (or ``interrupted``) run.
        forget_mask: Mask of the samples a shadow model unlearned / was retrained without.
        stage, step, steps, epoch, epochs, current: Live progress of a running run.
        heartbeat: Unix time of the worker's last sign of life.
        pid, host: The worker process running it.
        queued_at, started_at, finished_at: Unix times.
        files: Files the run produced (removed with the run).
        history_data: The per-epoch history rows.
        cancel_requested: Set by :meth:`RunRegistry.request_cancel`; the worker stops.
        depends_on: Name of a queued/running run this one waits for (its base model).
        batch: Id of the submission this run came with.
        device: Device the run used.
    """

    name: str
    role: str
    file: Path
    architecture: str | None = None
    architecture_params: Mapping[str, Any] = field(default_factory=dict)
    forget: str | None = None
    method: str | None = None
    base: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    train: Mapping[str, Any] = field(default_factory=dict)
    rt: float | None = None
    members: Path | None = None
    history: Path | None = None
    description: str = ""
    state: str = "done"
    metrics: Mapping[str, Any] = field(default_factory=dict)
    created_at: str = ""
    id: int = 0
    kind: str = "upload"
    job: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    error: str = ""
    forget_mask: Path | None = None
    stage: str = ""
    step: int = 0
    steps: int = 0
    epoch: int = 0
    epochs: int = 0
    current: Mapping[str, Any] = field(default_factory=dict)
    heartbeat: float | None = None
    pid: int | None = None
    host: str = ""
    queued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    files: tuple[Path, ...] = ()
    history_data: tuple[Mapping[str, Any], ...] = ()
    cancel_requested: bool = False
    depends_on: str | None = None
    batch: str = ""
    device: str = ""

    @property
    def status(self) -> str:
        """Alias of :attr:`state` (the schema-1 name)."""
        return self.state

    @property
    def scenario(self) -> str | None:
        """Alias of :attr:`forget`."""
        return self.forget

    @property
    def finished(self) -> bool:
        """Whether the run is in a terminal state."""
        return self.state in TERMINAL_STATES

    @property
    def fraction(self) -> float:
        """Share of the run's steps done (1 once finished, 0 before it starts)."""
        if self.finished:
            return 1.0
        return min(1.0, self.step / self.steps) if self.steps > 0 else 0.0

    def elapsed(self, now: float | None = None) -> float | None:
        """Seconds since the run started (until it finished), or None before it starts."""
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else (now or time.time())
        return max(0.0, end - self.started_at)

    def eta(self, now: float | None = None) -> float | None:
        """Estimated seconds left for a running run (None when unknown)."""
        elapsed = self.elapsed(now)
        if self.state != "running" or elapsed is None or self.step <= 0 or self.steps <= 0:
            return None
        return elapsed * (self.steps - self.step) / self.step


@dataclass(frozen=True)
class StudyRecord:
    """One study of the registry (see :mod:`analysis.studies`).

    Attributes:
        name: Unique study name (the rules of model names).
        kind: The study family (``scalability``, ``sustainability``...).
        spec: The study's parameters as JSON data (rebuilds the study object).
        created_at: ISO-8601 UTC time the study was submitted.
        batch: The submission batch of its runs (:attr:`RunRecord.batch`).
        id: Study id (unique, increasing).
    """

    name: str
    kind: str
    spec: Mapping[str, Any]
    created_at: str
    batch: str
    id: int = 0


_COLUMNS: dict[str, str] = {
    "id": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "name": "TEXT NOT NULL UNIQUE",
    "role": "TEXT NOT NULL",
    "file": "TEXT NOT NULL",
    "architecture": "TEXT",
    "architecture_params": "TEXT NOT NULL DEFAULT '{}'",
    "forget": "TEXT",
    "method": "TEXT",
    "base": "TEXT",
    "params": "TEXT NOT NULL DEFAULT '{}'",
    "train": "TEXT NOT NULL DEFAULT '{}'",
    "rt": "REAL",
    "members": "TEXT",
    "history": "TEXT",
    "description": "TEXT NOT NULL DEFAULT ''",
    "state": "TEXT NOT NULL",
    "metrics": "TEXT NOT NULL DEFAULT '{}'",
    "created_at": "TEXT NOT NULL",
    "kind": "TEXT NOT NULL DEFAULT 'upload'",
    "job": "TEXT NOT NULL DEFAULT '{}'",
    "seed": "INTEGER",
    "error": "TEXT NOT NULL DEFAULT ''",
    "forget_mask": "TEXT",
    "stage": "TEXT NOT NULL DEFAULT ''",
    "step": "INTEGER NOT NULL DEFAULT 0",
    "steps": "INTEGER NOT NULL DEFAULT 0",
    "epoch": "INTEGER NOT NULL DEFAULT 0",
    "epochs": "INTEGER NOT NULL DEFAULT 0",
    "current": "TEXT NOT NULL DEFAULT '{}'",
    "heartbeat": "REAL",
    "pid": "INTEGER",
    "host": "TEXT NOT NULL DEFAULT ''",
    "queued_at": "REAL",
    "started_at": "REAL",
    "finished_at": "REAL",
    "files": "TEXT NOT NULL DEFAULT '[]'",
    "history_data": "TEXT NOT NULL DEFAULT '[]'",
    "cancel_requested": "INTEGER NOT NULL DEFAULT 0",
    "depends_on": "TEXT",
    "batch": "TEXT NOT NULL DEFAULT ''",
    "device": "TEXT NOT NULL DEFAULT ''",
}
_SCHEMA_V1_COLUMNS = (
    "name, role, file, architecture, architecture_params, forget, method, base, params, "
    "train, rt, members, history, description, status, metrics, created_at"
)
_OBJECT_COLUMNS = ("architecture_params", "params", "train", "metrics", "job", "current")
_LIST_COLUMNS = ("files", "history_data")
_PATH_COLUMNS = ("file", "members", "history", "forget_mask")
_CREATE = (
    "CREATE TABLE IF NOT EXISTS runs ("
    + ", ".join(f"{name} {kind}" for name, kind in _COLUMNS.items())
    + ");\n"
    "CREATE INDEX IF NOT EXISTS runs_state ON runs(state);\n"
    "CREATE TABLE IF NOT EXISTS scenarios (name TEXT PRIMARY KEY NOT NULL, "
    "spec TEXT NOT NULL, created_at TEXT NOT NULL, origin TEXT NOT NULL DEFAULT '');\n"
    "CREATE TABLE IF NOT EXISTS studies (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, spec TEXT NOT NULL, "
    "created_at TEXT NOT NULL, batch TEXT NOT NULL);\n"
    # Tasks: work that produces no model (e.g. precomputing a scenario's results), executed
    # by the same workers (analysis.runs.tasks). Added without a schema version change: older
    # readers ignore the table, and it is created by the first write like the others.
    "CREATE TABLE IF NOT EXISTS tasks (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "kind TEXT NOT NULL, job TEXT NOT NULL, signature TEXT NOT NULL, scenario TEXT, "
    "state TEXT NOT NULL, stage TEXT NOT NULL DEFAULT '', fraction REAL NOT NULL DEFAULT 0, "
    "parts TEXT NOT NULL DEFAULT '[]', warnings TEXT NOT NULL DEFAULT '{}', "
    "error TEXT NOT NULL DEFAULT '', pid INTEGER, host TEXT NOT NULL DEFAULT '', "
    "heartbeat REAL, queued_at REAL, started_at REAL, finished_at REAL, "
    "cancel_requested INTEGER NOT NULL DEFAULT 0);\n"
    "CREATE INDEX IF NOT EXISTS tasks_state ON tasks(state);\n"
)
_CLAIMABLE = (
    "state = 'queued' AND cancel_requested = 0 AND (depends_on IS NULL OR EXISTS "
    "(SELECT 1 FROM runs d WHERE d.name = runs.depends_on AND d.state = 'done'))"
)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _report_once(key: str, message: str) -> None:
    with _REPORTED_LOCK:
        if key in _REPORTED:
            return
        _REPORTED.add(key)
    warnings.warn(message, RuntimeWarning, stacklevel=4)


def pid_alive(pid: int | None) -> bool:
    """Whether process ``pid`` exists on this machine."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunRegistry:
    """The workspace's runs, added models and added scenarios (``runs.sqlite``).

    Args:
        path: The SQLite file; its folder (the workspace) must exist. Relative paths stored in
            it are resolved against that folder.
        timeout: Seconds to wait for another writer's lock.

    Raises:
        ValidationError: The folder does not exist.
        CacheError: ``path`` is a directory.

    Example:
        >>> import tempfile
        >>> reg = RunRegistry(Path(tempfile.mkdtemp()) / "runs.sqlite")
        >>> reg.add("ga", role="unlearned", file="m/ga.safetensors", method="ga",
        ...         base="orig", forget="c", state="queued").state
        'queued'
    """

    def __init__(self, path: str | Path, *, timeout: float = 10.0) -> None:
        given = Path(path).expanduser()
        if not given.parent.is_dir():
            raise ValidationError(
                describe("path", "a file in an existing workspace folder", str(path))
            )
        self.root = given.parent.resolve()
        self.path = self.root / given.name
        self._timeout = float(timeout)
        self._schema_ready = False
        self._local = threading.local()
        if self.path.is_dir():
            raise CacheError(
                describe(
                    self.path.name,
                    "a SQLite run registry file",
                    "a directory (move it away to use runs)",
                    raw=True,
                )
            )

    # ------------------------------------------------------------------ connections

    def _sqlite_error(self, exc: sqlite3.Error, *, write: bool) -> CacheError:
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            return RegistryLockedError(
                describe(
                    self.path.name,
                    f"a registry free within {self._timeout:g} s",
                    "locked by another process",
                    raw=True,
                )
            )
        if write and ("readonly" in text or "read-only" in text or "unable to open" in text):
            return ReadOnlyWorkspaceError(
                describe(
                    self.path.name,
                    "a writable workspace to save runs and added models",
                    "a read-only workspace (nothing was saved; already cached results still load)",
                    raw=True,
                )
            )
        return CacheError(
            describe(
                self.path.name, "a SQLite run registry", f"an unreadable file ({exc})", raw=True
            )
        )

    def _quarantine(self, exc: sqlite3.DatabaseError) -> None:
        """Move a corrupt registry aside (kept, never deleted) and report it once."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        moved = False
        with contextlib.suppress(OSError):
            os.rename(self.path, target)
            moved = True
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.rename(f"{self.path}{suffix}", f"{target}{suffix}")
        where = f"moved aside to {target.name}" if moved else "left in place (read-only)"
        _report_once(
            str(self.path),
            f"{self.path.name} is corrupt ({exc}); {where}; runs start from an empty registry",
        )

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection | None]:
        """A read-only connection, or None when there is no (readable) registry."""
        conn = self._open_read()
        if conn is None:
            yield None
            return
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise _EmptyRegistry from exc
            raise self._sqlite_error(exc, write=False) from exc
        except sqlite3.DatabaseError as exc:
            self._quarantine(exc)
            raise _EmptyRegistry from exc
        finally:
            conn.close()

    def _open_read(self) -> sqlite3.Connection | None:
        if not self.path.exists():
            return None
        if self.path.is_dir():
            raise CacheError(describe(self.path.name, "a SQLite file", "a directory", raw=True))
        uri = self.path.as_uri()
        for options in ("?mode=ro", "?immutable=1"):
            conn = None
            try:
                conn = sqlite3.connect(
                    uri + options, uri=True, timeout=self._timeout, isolation_level=None
                )
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA user_version").fetchone()
                return conn
            except sqlite3.OperationalError as exc:
                _close(conn)
                if "unable to open" in str(exc) and options == "?mode=ro":
                    continue  # a read-only folder without -shm: read the file as immutable
                raise self._sqlite_error(exc, write=False) from exc
            except sqlite3.DatabaseError as exc:
                _close(conn)
                self._quarantine(exc)
                return None
        return None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A connection inside ``BEGIN IMMEDIATE`` (committed on success)."""
        self._ensure_schema()
        conn = self._writer()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.IntegrityError:
            _rollback(conn)
            raise
        except sqlite3.DatabaseError as exc:
            _rollback(conn)
            self.close()
            raise self._sqlite_error(exc, write=True) from exc
        except BaseException:
            _rollback(conn)
            raise

    def _writer(self) -> sqlite3.Connection:
        """This thread's write connection, kept open: closing the last connection of a WAL
        database checkpoints it (~10 ms), too slow for per-step progress writes."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect_rw()
            self._local.conn = conn
        return typing.cast(sqlite3.Connection, conn)

    def close(self) -> None:
        """Close this thread's kept connection (also done when the registry is collected)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _connect_rw(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
            conn.row_factory = sqlite3.Row
            # WAL + NORMAL: no fsync per commit (a power cut may lose the last commits, never
            # corrupts the file); progress writes stay far below 1 ms.
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise self._sqlite_error(exc, write=True) from exc
        return conn

    def _ensure_schema(self) -> None:
        """Create or migrate the schema once per registry object.

        Switching a fresh file to WAL needs an exclusive lock, and SQLite answers that
        request with an immediate ``SQLITE_BUSY`` (its busy handler is skipped to avoid a
        deadlock) while another process sets the schema up; such attempts are retried
        until the registry's timeout.
        """
        if self._schema_ready:
            return
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                self._try_schema()
                return
            except RegistryLockedError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.02 + 0.03 * (os.getpid() % 7) / 7)

    def _try_schema(self) -> None:
        if self.path.is_dir():
            raise CacheError(describe(self.path.name, "a SQLite file", "a directory", raw=True))
        if self.path.exists():
            with self._read() as probe:  # detects (and moves aside) a corrupt file first
                if probe is not None:
                    probe.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
        conn = self._connect_rw()
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 1:
                _migrate_v1(conn)
            elif version not in (0, 2, _SCHEMA_VERSION):  # 2 -> 3: the studies table below
                raise CacheError(
                    describe(
                        self.path.name,
                        f"registry schema {_SCHEMA_VERSION} or older",
                        f"schema {version} (written by a newer Unlearning Lens)",
                        raw=True,
                    )
                )
            for statement in filter(str.strip, _CREATE.split(";\n")):
                conn.execute(statement)
            _add_origin_column(conn)
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            _rollback(conn)
            raise self._sqlite_error(exc, write=True) from exc
        except BaseException:
            _rollback(conn)
            raise
        finally:
            conn.close()
        self._schema_ready = True

    def _rows(self, query: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        try:
            with self._read() as conn:
                if conn is None:
                    return []
                return [dict(r) for r in conn.execute(query, tuple(args)).fetchall()]
        except _EmptyRegistry:
            return []

    # ------------------------------------------------------------------ adding records

    def add(
        self,
        name: str,
        *,
        role: str,
        file: str | Path,
        architecture: str | None = None,
        architecture_params: Mapping[str, Any] | None = None,
        forget: str | None = None,
        method: str | None = None,
        base: str | None = None,
        params: Mapping[str, Any] | None = None,
        train: Mapping[str, Any] | None = None,
        rt: float | None = None,
        members: str | Path | None = None,
        forget_mask: str | Path | None = None,
        history: str | Path | None = None,
        description: str = "",
        state: str | None = None,
        status: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        kind: str = "upload",
        job: Mapping[str, Any] | None = None,
        seed: int | None = None,
        depends_on: str | None = None,
        batch: str = "",
        pid: int | None = None,
    ) -> RunRecord:
        """Add a record and return it (``state`` defaults to ``done``; ``status`` is its
        schema-1 alias).

        Raises:
            ValidationError: A field is invalid (the message names it), or ``name`` is already
                in the registry.
            ReadOnlyWorkspaceError: The workspace cannot be written.

        Example:
            >>> import tempfile
            >>> reg = RunRegistry(Path(tempfile.mkdtemp()) / "runs.sqlite")
            >>> r = reg.add("ga", role="unlearned", file="m/ga.pt", method="GA", base="orig",
            ...             forget="classwise", params={"lr": 1e-3}, state="queued")
            >>> r.params["lr"], r.file.is_absolute()
            (0.001, True)
        """
        now = time.time()
        row = {
            "name": _validate_name(name),
            "role": _validate_role(role),
            "file": self._stored_path("file", file),
            "architecture": _optional_str("architecture", architecture),
            "architecture_params": _json_text("architecture_params", architecture_params),
            "forget": _optional_str("forget", forget),
            "method": _optional_str("method", method),
            "base": _optional_str("base", base),
            "params": _json_text("params", params),
            "train": _json_text("train", train),
            "rt": _validate_rt(rt),
            "members": None if members is None else self._stored_path("members", members),
            "forget_mask": None
            if forget_mask is None
            else self._stored_path("forget_mask", forget_mask),
            "history": None if history is None else self._stored_path("history", history),
            "description": _optional_str("description", description) or "",
            "state": _validate_state(state or status or "done"),
            "metrics": _json_text("metrics", metrics),
            "created_at": _now_iso(),
            "kind": _optional_str("kind", kind) or "upload",
            "job": _json_text("job", job),
            "seed": _optional_int("seed", seed),
            "depends_on": _optional_str("depends_on", depends_on),
            "batch": _optional_str("batch", batch) or "",
            "queued_at": now,
            "pid": pid,
            "host": _HOST if pid else "",
            "heartbeat": now if pid else None,
        }
        if row["state"] in TERMINAL_STATES:
            row["finished_at"] = now
        _check_role_fields(row)
        columns = list(row)
        try:
            with self._write() as conn:
                cursor = conn.execute(
                    f"INSERT INTO runs ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' for _ in columns)})",
                    [row[c] for c in columns],
                )
                row["id"] = cursor.lastrowid
        except sqlite3.IntegrityError as exc:
            raise ValidationError(
                describe("name", "a name not already in the registry", name)
            ) from exc
        return self._record(row)

    # ------------------------------------------------------------------ reading

    def get(self, name: str) -> RunRecord | None:
        """The record called ``name``, or None.

        Raises:
            CacheError: The stored record is corrupt or names a path outside the workspace.
        """
        rows = self._rows("SELECT * FROM runs WHERE name = ?", (name,))
        return self._record(rows[0]) if rows else None

    def get_id(self, run_id: int) -> RunRecord | None:
        """The record with id ``run_id``, or None."""
        rows = self._rows("SELECT * FROM runs WHERE id = ?", (int(run_id),))
        return self._record(rows[0]) if rows else None

    def list(
        self,
        scenario: str | None = None,
        *,
        states: Iterable[str] | None = None,
        ids: Iterable[int] | None = None,
        batch: str | None = None,
    ) -> list[RunRecord]:
        """Records in insertion order, optionally filtered.

        Args:
            scenario: That scenario's records plus the scenario-free ones (``forget`` None).
            states: Only these states.
            ids: Only these run ids.
            batch: Only the runs of this submission batch (e.g. a study's).

        Corrupt records, and records naming paths outside the workspace, are skipped with a
        warning.
        """
        clauses: builtins.list[str] = []
        args: builtins.list[Any] = []
        if scenario is not None:
            clauses.append("(forget = ? OR forget IS NULL)")
            args.append(scenario)
        if states is not None:
            wanted = [_validate_state(s) for s in states]
            clauses.append(f"state IN ({', '.join('?' for _ in wanted)})")
            args += wanted
        if ids is not None:
            chosen = [int(i) for i in ids]
            clauses.append(f"id IN ({', '.join('?' for _ in chosen)})")
            args += chosen
        if batch is not None:
            clauses.append("batch = ?")
            args.append(str(batch))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._rows(f"SELECT * FROM runs{where} ORDER BY rowid", args)
        records = []
        for row in rows:
            try:
                records.append(self._record(row))
            except CacheError as exc:
                warnings.warn(f"{self.path.name}: skipped a record ({exc})", stacklevel=2)
        return records

    def names(self) -> set[str]:
        """Every name in the registry (any state)."""
        return {r["name"] for r in self._rows("SELECT name FROM runs")}

    # ------------------------------------------------------------------ state changes

    def update_status(
        self,
        name: str,
        status: str,
        *,
        metrics: Mapping[str, Any] | None = None,
        rt: float | None = None,
    ) -> RunRecord:
        """Set a record's state by name (and, when given, its metrics and run time).

        Raises:
            ValidationError: Unknown ``name``, bad ``status``, ``metrics`` or ``rt``.
        """
        updates: dict[str, Any] = {"state": _validate_state(status)}
        if metrics is not None:
            updates["metrics"] = _json_text("metrics", metrics)
        if rt is not None:
            updates["rt"] = _validate_rt(rt)
        if status in TERMINAL_STATES:
            updates["finished_at"] = time.time()
        row = self._update("name = ?", (name,), updates)
        if row is None:
            raise ValidationError(describe("name", "a run in the registry", name))
        return self._record(row)

    def _update(
        self, where: str, args: Sequence[Any], updates: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        assignments = ", ".join(f"{column} = ?" for column in updates)
        with self._write() as conn:
            found = conn.execute(
                f"UPDATE runs SET {assignments} WHERE {where} RETURNING *",
                [*updates.values(), *args],
            ).fetchone()
        return None if found is None else dict(found)

    def claim(
        self, *, ids: Iterable[int] | None = None, pid: int, device: str = ""
    ) -> RunRecord | None:
        """Atomically take the oldest queued run whose base is ready and mark it running.

        Queued runs whose base run ended without weights fail (or are cancelled) first.

        Args:
            ids: Only among these run ids (default: any queued run).
            pid: The claiming worker's process id.
            device: The device it runs on.

        Returns:
            The claimed record (state ``running``), or None when nothing can start now.
        """
        chosen = None if ids is None else [int(i) for i in ids]
        scope = "" if chosen is None else f" AND id IN ({', '.join('?' for _ in chosen)})"
        now = time.time()
        with self._write() as conn:
            _fail_orphans(conn, now)
            row = conn.execute(
                f"SELECT id FROM runs WHERE {_CLAIMABLE}{scope} ORDER BY id LIMIT 1",
                tuple(chosen or ()),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE runs SET state = 'running', pid = ?, host = ?, heartbeat = ?, "
                "started_at = ?, stage = 'starting', device = ? WHERE id = ?",
                (pid, _HOST, now, now, device, row["id"]),
            )
            found = conn.execute("SELECT * FROM runs WHERE id = ?", (row["id"],)).fetchone()
        return self._record(dict(found))

    def pending(self, ids: Iterable[int] | None = None) -> int:
        """Number of queued or running runs (among ``ids``)."""
        chosen = None if ids is None else [int(i) for i in ids]
        scope = "" if chosen is None else f" AND id IN ({', '.join('?' for _ in chosen)})"
        rows = self._rows(
            f"SELECT COUNT(*) AS n FROM runs WHERE state IN ('queued', 'running'){scope}",
            chosen or (),
        )
        return int(rows[0]["n"]) if rows else 0

    def report(
        self,
        run_id: int,
        *,
        stage: str | None = None,
        step: int | None = None,
        steps: int | None = None,
        epoch: int | None = None,
        epochs: int | None = None,
        current: Mapping[str, Any] | None = None,
        history_data: Sequence[Mapping[str, Any]] | None = None,
    ) -> bool:
        """Record a running run's progress and heartbeat; return whether cancel was requested.

        A run no longer ``running`` (deleted, or marked interrupted) also returns True: its
        worker must stop.
        """
        updates: dict[str, Any] = {"heartbeat": time.time()}
        for column, value in (
            ("stage", stage),
            ("step", step),
            ("steps", steps),
            ("epoch", epoch),
            ("epochs", epochs),
        ):
            if value is not None:
                updates[column] = value
        if current is not None:
            updates["current"] = _json_text("current", current)
        if history_data is not None:
            updates["history_data"] = _json_list("history_data", history_data)
        assignments = ", ".join(f"{column} = ?" for column in updates)
        with self._write() as conn:
            conn.execute(
                f"UPDATE runs SET {assignments} WHERE id = ? AND state = 'running'",
                [*updates.values(), run_id],
            )
            row = conn.execute(
                "SELECT state, cancel_requested FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
        return row is None or row["state"] != "running" or bool(row["cancel_requested"])

    def finish(
        self,
        run_id: int,
        state: str,
        *,
        error: str = "",
        metrics: Mapping[str, Any] | None = None,
        rt: float | None = None,
        files: Sequence[str | Path] = (),
        history_data: Sequence[Mapping[str, Any]] | None = None,
    ) -> RunRecord | None:
        """End a running run (``done``, ``failed``, ``cancelled`` or ``interrupted``).

        Returns the record, or None when the run is gone or already ended elsewhere (e.g.
        marked interrupted while its worker was stalled: the outcome is then discarded).
        """
        if _validate_state(state) not in TERMINAL_STATES:
            raise ValidationError(describe("state", f"one of {list(TERMINAL_STATES)}", state))
        updates: dict[str, Any] = {
            "state": state,
            "error": str(error),
            "finished_at": time.time(),
            "stage": state,
        }
        if metrics is not None:
            updates["metrics"] = _json_text("metrics", metrics)
        if rt is not None:
            updates["rt"] = _validate_rt(rt)
        if files:
            updates["files"] = json.dumps([self._stored_path("files", f) for f in files])
        if history_data is not None:
            updates["history_data"] = _json_list("history_data", history_data)
        row = self._update("id = ? AND state = 'running'", (run_id,), updates)
        return None if row is None else self._record(row)

    def request_cancel(self, ids: Iterable[int] | None = None) -> builtins.list[int]:
        """Cancel runs: queued ones at once, running ones by a flag their worker checks.

        Args:
            ids: Run ids; None cancels every queued and running run.

        Returns:
            The ids of the runs affected.
        """
        chosen = None if ids is None else [int(i) for i in ids]
        scope = "" if chosen is None else f" AND id IN ({', '.join('?' for _ in chosen)})"
        now = time.time()
        with self._write() as conn:
            hit = [
                r["id"]
                for r in conn.execute(
                    f"SELECT id FROM runs WHERE state IN ('queued', 'running'){scope}",
                    tuple(chosen or ()),
                )
            ]
            conn.execute(
                "UPDATE runs SET state = 'cancelled', finished_at = ?, stage = 'cancelled', "
                f"cancel_requested = 1 WHERE state = 'queued'{scope}",
                (now, *(chosen or ())),
            )
            conn.execute(
                f"UPDATE runs SET cancel_requested = 1 WHERE state = 'running'{scope}",
                tuple(chosen or ()),
            )
        return hit

    def reap(self, *, stale_seconds: float = STALE_SECONDS) -> builtins.list[RunRecord]:
        """Mark ``running`` runs whose worker is gone as ``interrupted`` and return them.

        A worker is gone when its pid no longer exists on this host, or when its heartbeat is
        older than ``stale_seconds``. Read-only when nothing is to be reaped.
        """
        now = time.time()
        running = self._rows("SELECT id, pid, host, heartbeat FROM runs WHERE state = 'running'")
        dead = [
            r["id"]
            for r in running
            if (r["host"] == _HOST and not pid_alive(r["pid"]))
            or (r["heartbeat"] is not None and now - r["heartbeat"] > stale_seconds)
        ]
        if not dead:
            return []
        marks = ", ".join("?" for _ in dead)
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET state = 'interrupted', finished_at = ?, stage = 'interrupted', "
                "error = 'the worker process stopped before the run finished' "
                f"WHERE state = 'running' AND id IN ({marks})",
                (now, *dead),
            )
            rows = conn.execute(f"SELECT * FROM runs WHERE id IN ({marks})", dead).fetchall()
        return [self._record(dict(r)) for r in rows]

    def remove(self, name: str) -> bool:
        """Delete the record called ``name``; return whether there was one (files are kept:
        :func:`analysis.runs.delete_run` removes them too)."""
        with self._write() as conn:
            return conn.execute("DELETE FROM runs WHERE name = ?", (name,)).rowcount > 0

    def dependents(self, name: str) -> builtins.list[str]:
        """Names of records whose base (or dependency) is ``name``."""
        rows = self._rows(
            "SELECT name FROM runs WHERE (base = ? OR depends_on = ?) AND name != ? ORDER BY rowid",
            (name, name, name),
        )
        return [r["name"] for r in rows]

    # ------------------------------------------------------------------ scenarios

    def add_scenario(self, name: str, spec: Mapping[str, Any], *, origin: str = "") -> None:
        """Store a forget scenario (``{"classes": [...]}``, ``{"random": f, "seed": s}`` or
        ``{"indices": "relative/path.npy"}``).

        Args:
            name: The scenario's name.
            spec: Its table.
            origin: Who made it: ``""`` for the user, ``study:NAME`` for study ``NAME``.

        Raises:
            ValidationError: Bad name, or the name is taken.
        """
        _validate_name(name)
        text = _json_text("spec", spec)
        if not isinstance(origin, str):
            raise ValidationError(describe("origin", "a string", origin))
        try:
            with self._write() as conn:
                conn.execute(
                    "INSERT INTO scenarios (name, spec, created_at, origin) VALUES (?, ?, ?, ?)",
                    (name, text, _now_iso(), origin),
                )
        except sqlite3.IntegrityError as exc:
            raise ValidationError(
                describe("scenario", "a name not already in the registry", name)
            ) from exc

    def scenarios(self) -> dict[str, dict[str, Any]]:
        """Scenarios added to the registry, in insertion order (corrupt ones skipped)."""
        out: dict[str, dict[str, Any]] = {}
        for row in self._rows("SELECT name, spec FROM scenarios ORDER BY rowid"):
            try:
                spec = json.loads(row["spec"])
            except ValueError:
                spec = None
            if isinstance(spec, dict):
                out[row["name"]] = spec
            else:
                warnings.warn(f"{self.path.name}: skipped scenario {row['name']!r}", stacklevel=2)
        return out

    def scenario_origins(self) -> dict[str, str]:
        """Added scenario -> its origin (``""``: the user's; ``study:NAME``: study NAME's)."""
        rows = self._rows("SELECT * FROM scenarios ORDER BY rowid")
        return {str(r["name"]): str(r.get("origin") or "") for r in rows}

    def remove_scenario(self, name: str) -> bool:
        """Delete an added scenario; return whether there was one."""
        with self._write() as conn:
            return conn.execute("DELETE FROM scenarios WHERE name = ?", (name,)).rowcount > 0

    # ------------------------------------------------------------------ studies

    def add_study(
        self, name: str, *, kind: str, spec: Mapping[str, Any], batch: str
    ) -> StudyRecord:
        """Store a study (its runs carry ``batch``) and return it.

        Raises:
            ValidationError: Bad name, kind or batch, a spec that is not JSON data, or the name
                is taken.
            ReadOnlyWorkspaceError: The workspace cannot be written.
        """
        _validate_name(name)
        for argument, value in (("kind", kind), ("batch", batch)):
            if not isinstance(value, str) or not value.strip():
                raise ValidationError(describe(argument, "a non-empty string", value))
        row: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "spec": _json_text("spec", spec),
            "created_at": _now_iso(),
            "batch": batch,
        }
        try:
            with self._write() as conn:
                cursor = conn.execute(
                    "INSERT INTO studies (name, kind, spec, created_at, batch) "
                    "VALUES (?, ?, ?, ?, ?)",
                    tuple(row.values()),
                )
                row["id"] = cursor.lastrowid
        except sqlite3.IntegrityError as exc:
            raise ValidationError(
                describe("study", "a name not already used by another study", name)
            ) from exc
        return _study(row)

    def studies(self) -> builtins.list[StudyRecord]:
        """Every study, oldest first (corrupt rows skipped with a warning; none in a registry
        written before studies existed)."""
        out = []
        for row in self._rows("SELECT * FROM studies ORDER BY id"):
            try:
                out.append(_study(row))
            except CacheError as exc:
                warnings.warn(f"{self.path.name}: skipped a study ({exc})", stacklevel=2)
        return out

    def get_study(self, name: str) -> StudyRecord | None:
        """The study called ``name``, or None.

        Raises:
            CacheError: The stored study is corrupt.
        """
        rows = self._rows("SELECT * FROM studies WHERE name = ?", (name,))
        return _study(rows[0]) if rows else None

    def remove_study(self, name: str) -> bool:
        """Delete a study's record (its runs stay); return whether there was one."""
        with self._write() as conn:
            return conn.execute("DELETE FROM studies WHERE name = ?", (name,)).rowcount > 0

    # ------------------------------------------------------------------ rows

    def _stored_path(self, argument: str, value: Any) -> str:
        """Path text as stored: relative to the workspace (confined to it)."""
        if not isinstance(value, str | Path) or not str(value).strip() or "\x00" in str(value):
            raise ValidationError(describe(argument, "a file path", value))
        try:
            resolved = confine(value, self.root, argument=argument)
        except OutsideWorkspaceError:
            raise
        if resolved.is_relative_to(self.root):
            return resolved.relative_to(self.root).as_posix()
        return resolved.as_posix()

    def _record(self, row: Mapping[str, Any]) -> RunRecord:
        values = {k: v for k, v in dict(row).items() if k in _FIELDS}
        if "status" in row and "state" not in row:  # a schema-1 row
            values["state"] = row["status"]
        name = values.get("name")
        try:
            for column in _OBJECT_COLUMNS:
                if column in values:
                    values[column] = json.loads(values[column] or "{}")
                    if not isinstance(values[column], dict):
                        raise ValueError(f"{column} is not an object")
            for column in _LIST_COLUMNS:
                if column in values:
                    values[column] = tuple(json.loads(values[column] or "[]"))
        except (ValueError, TypeError) as exc:
            raise CacheError(
                describe(f"record {name!r}", "valid JSON fields", f"{exc}", raw=True)
            ) from exc
        for column in _PATH_COLUMNS:
            if values.get(column) is not None:
                values[column] = self._confined(values[column], f"record {name!r} {column}")
        values["files"] = tuple(
            self._confined(f, f"record {name!r} files") for f in values.get("files", ())
        )
        values["cancel_requested"] = bool(values.get("cancel_requested", 0))
        return RunRecord(**values)

    def _confined(self, stored: str, argument: str) -> Path:
        try:
            return confine(stored, self.root, argument=argument)
        except (OutsideWorkspaceError, ValidationError) as exc:
            raise CacheError(str(exc)) from exc


def _study(row: Mapping[str, Any]) -> StudyRecord:
    try:
        spec = json.loads(row["spec"])
        if not isinstance(spec, dict):
            raise ValueError("spec is not an object")
    except (ValueError, TypeError) as exc:
        raise CacheError(
            describe(f"study {row['name']!r}", "a JSON object spec", f"{exc}", raw=True)
        ) from exc
    return StudyRecord(
        name=str(row["name"]),
        kind=str(row["kind"]),
        spec=spec,
        created_at=str(row["created_at"]),
        batch=str(row["batch"]),
        id=int(row["id"]),
    )


class _EmptyRegistry(Exception):
    """Internal: the registry file has no tables yet (or was moved aside)."""


_FIELDS = set(RunRecord.__dataclass_fields__)


def _migrate_v1(conn: sqlite3.Connection) -> None:
    """Schema 1 (name primary key, ``status``) -> schema 2, inside the caller's transaction."""
    conn.execute("ALTER TABLE runs RENAME TO runs_v1")
    for statement in filter(str.strip, _CREATE.split(";\n")):
        conn.execute(statement)
    columns = _SCHEMA_V1_COLUMNS.replace("status", "state")
    conn.execute(
        f"INSERT INTO runs ({columns}, kind, finished_at) "
        f"SELECT {_SCHEMA_V1_COLUMNS}, 'upload', NULL FROM runs_v1 ORDER BY rowid"
    )
    conn.execute(
        "UPDATE runs SET state = 'interrupted', error = 'left running by an older version' "
        "WHERE state = 'running'"
    )
    conn.execute("DROP TABLE runs_v1")


def _add_origin_column(conn: sqlite3.Connection) -> None:
    """Scenarios record their origin (a study, or the user). Added without a schema version
    change: older readers select the columns they know, and older writers get the default."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(scenarios)")}
    if "origin" not in columns:
        conn.execute("ALTER TABLE scenarios ADD COLUMN origin TEXT NOT NULL DEFAULT ''")


def _fail_orphans(conn: sqlite3.Connection, now: float) -> None:
    """Queued runs whose dependency ended without weights (or vanished) end too."""
    rows = conn.execute(
        "SELECT r.id, r.depends_on, d.state AS dep FROM runs r LEFT JOIN runs d "
        "ON d.name = r.depends_on WHERE r.state = 'queued' AND r.depends_on IS NOT NULL "
        "AND (d.state IS NULL OR d.state IN ('failed', 'cancelled', 'interrupted'))"
    ).fetchall()
    for row in rows:
        dep = row["dep"] or "deleted"
        state = "cancelled" if dep == "cancelled" else "failed"
        conn.execute(
            "UPDATE runs SET state = ?, error = ?, finished_at = ?, stage = ? WHERE id = ?",
            (state, f"base run {row['depends_on']!r} {dep}", now, state, row["id"]),
        )


def _close(conn: sqlite3.Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(sqlite3.Error):
            conn.close()


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def validate_name(name: Any) -> str:
    """``name`` if it is a valid model name (1-128 of ``[A-Za-z0-9_.-]``), else raise."""
    return _validate_name(name)


def _validate_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValidationError(
            describe(
                "name", "1-128 characters of [A-Za-z0-9_.-] starting with a letter or digit", name
            )
        )
    return name


def _validate_role(role: Any) -> str:
    if role not in ROLES:
        raise ValidationError(describe("role", f"one of {list(ROLES)}", role))
    return str(role)


def _validate_state(state: Any) -> str:
    if state not in RUN_STATES:
        raise ValidationError(describe("status", f"one of {list(RUN_STATES)}", state))
    return str(state)


def _validate_rt(rt: Any) -> float | None:
    if rt is None:
        return None
    ok = isinstance(rt, int | float | np.integer | np.floating) and not isinstance(rt, bool)
    if not ok or not np.isfinite(rt) or rt < 0:
        raise ValidationError(describe("rt", "a non-negative number of seconds", rt))
    return float(rt)


def _optional_str(argument: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValidationError(describe(argument, "a string or None", value))
    return value


def _optional_int(argument: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValidationError(describe(argument, "an integer or None", value))
    return int(value)


def plain_json(value: Any, where: str) -> Any:
    """JSON-ready copy: numpy scalars to Python numbers, tuples to lists."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, np.bool_ | np.integer | np.floating):
        return value.item()
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, list | tuple):
        return [plain_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise ValidationError(describe(where, "a mapping with string keys", bad[0]))
        return {k: plain_json(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise ValidationError(
        describe(
            where,
            "JSON-like data (dict, list, str, number, bool, None)",
            type(value).__name__,
            raw=True,
        )
    )


def _json_text(argument: str, value: Mapping[str, Any] | None) -> str:
    if value is None:
        return "{}"
    if not isinstance(value, Mapping):
        raise ValidationError(describe(argument, "a mapping (JSON object)", value))
    return json.dumps(plain_json(value, argument), sort_keys=True, separators=(",", ":"))


def _json_list(argument: str, value: Sequence[Mapping[str, Any]]) -> str:
    if not isinstance(value, list | tuple):
        raise ValidationError(describe(argument, "a list of JSON objects", value))
    return json.dumps(plain_json(list(value), argument), separators=(",", ":"))


def _check_role_fields(row: Mapping[str, Any]) -> None:
    """The role rules of experiment.toml, so every record converts to a valid ModelEntry."""
    if row["role"] == "unlearned" and not (row["method"] and row["base"]):
        raise ValidationError(
            describe(
                "method, base",
                "both set for an unlearned model",
                {"method": row["method"], "base": row["base"]},
            )
        )
    if row["role"] in ("reference", "shadow") and row["members"] is None:
        raise ValidationError(
            describe("members", f"a membership mask path for a {row['role']} model", None)
        )
    if row["role"] == "shadow" and row["forget_mask"] is None:
        raise ValidationError(
            describe("forget_mask", "a mask of the samples a shadow model unlearned", None)
        )


def finite_or_none(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing or not finite."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def to_entry(record: RunRecord, default_arch: ArchitectureSpec) -> ModelEntry:
    """Turn a registry record into the :class:`~analysis.spec.ModelEntry` the analysis uses.

    Args:
        record: The record.
        default_arch: The experiment's architecture, used when the record names none.

    Example:
        >>> rec = RunRecord("m", "original", Path("/w/m.safetensors"))
        >>> to_entry(rec, ArchitectureSpec("mlp")).architecture.name
        'mlp'
    """
    arch = (
        ArchitectureSpec(record.architecture, dict(record.architecture_params))
        if record.architecture
        else default_arch
    )
    return ModelEntry(
        name=record.name,
        role=record.role,
        file=record.file,
        architecture=arch,
        forget=None if record.role in ("original", "reference") else record.forget,
        method=record.method,
        base=record.base,
        params=dict(record.params),
        train=dict(record.train),
        rt=record.rt,
        members=record.members,
        history=record.history,
        description=record.description,
        forget_mask=record.forget_mask,
    )
