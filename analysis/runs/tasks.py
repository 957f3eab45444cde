"""Tasks: background work that produces no model, queued in the run registry and executed by
the same workers as runs.

The one kind today is ``precompute`` (:mod:`analysis.runs.precompute`: warm a scenario's result
cache). A task lives in the registry's ``tasks`` table (``runs.sqlite``) beside the runs, with
the same life cycle (queued, running, done, failed, cancelled, interrupted) and the same
concurrency rules (one short transaction per call, WAL, several processes). While it runs, its
worker records the stage, the fraction done, the parts finished so far and a heartbeat, so any
process — the dashboard showing a progress bar, the CLI printing it — reads its progress with
:meth:`TaskQueue.list`.

Tasks are not models: they never appear in :func:`analysis.load_experiment`, the models table
or :func:`analysis.runs.list_runs`.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from analysis.runs.registry import RunRegistry
    >>> queue = TaskQueue(RunRegistry(Path(tempfile.mkdtemp()) / "runs.sqlite"))
    >>> task = queue.add("precompute", {"scenario": "classwise"}, scenario="classwise")
    >>> task.state, queue.add("precompute", {"scenario": "classwise"}).id == task.id
    ('queued', True)
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from analysis.errors import ValidationError, describe
from analysis.runs.registry import (
    _HOST,
    RUN_STATES,
    STALE_SECONDS,
    TERMINAL_STATES,
    RunRegistry,
    pid_alive,
    plain_json,
)

__all__ = ["TASK_KINDS", "TaskQueue", "TaskRecord"]

TASK_KINDS = ("precompute",)
"""The kinds of task."""
_ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class TaskRecord:
    """One task of the registry.

    Attributes:
        id: Task id (unique, increasing).
        kind: One of :data:`TASK_KINDS`.
        job: The task's job as JSON data.
        scenario: The scenario it works on (None: scenario-free).
        state: One of the run states (``queued``, ``running``, ``done``...).
        stage: What it is doing now.
        fraction: Share of the task done, in [0, 1].
        parts: Parts finished so far (``precompute``: ``table``, ``comparison``, ``embedding``).
        warnings: Distinct warning messages raised by the task, with their counts.
        error: Error text of a failed (or interrupted) task.
        pid, host: The worker process running it.
        heartbeat: Unix time of the worker's last sign of life.
        queued_at, started_at, finished_at: Unix times.
        cancel_requested: Set by :meth:`TaskQueue.cancel`; the worker stops.
    """

    id: int
    kind: str
    job: Mapping[str, Any]
    scenario: str | None
    state: str
    stage: str = ""
    fraction: float = 0.0
    parts: tuple[str, ...] = ()
    warnings: Mapping[str, int] = field(default_factory=dict)
    error: str = ""
    pid: int | None = None
    host: str = ""
    heartbeat: float | None = None
    queued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    cancel_requested: bool = False

    @property
    def finished(self) -> bool:
        """Whether the task is in a terminal state."""
        return self.state in TERMINAL_STATES

    def elapsed(self, now: float | None = None) -> float | None:
        """Seconds since the task started (until it finished), or None before it starts."""
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else (now or time.time())
        return max(0.0, end - self.started_at)

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left by elapsed / fraction (None when unknown or not running)."""
        elapsed = self.elapsed(now)
        if self.state != "running" or elapsed is None or self.fraction <= 0.0:
            return None
        return elapsed * (1.0 - self.fraction) / self.fraction


class TaskQueue:
    """The ``tasks`` table of a workspace's run registry.

    Args:
        registry: The workspace's :class:`~analysis.runs.registry.RunRegistry`.
    """

    def __init__(self, registry: RunRegistry) -> None:
        self.registry = registry

    def add(self, kind: str, job: Mapping[str, Any], *, scenario: str | None = None) -> TaskRecord:
        """Queue a task, or return the queued or running task with the same kind and job.

        Raises:
            ValidationError: Unknown ``kind`` or a job that is not JSON data.
            ReadOnlyWorkspaceError: The workspace cannot be written.
        """
        if kind not in TASK_KINDS:
            raise ValidationError(describe("kind", f"one of {list(TASK_KINDS)}", kind))
        if not isinstance(job, Mapping):
            raise ValidationError(describe("job", "a mapping (JSON object)", job))
        text = json.dumps(plain_json(dict(job), "job"), sort_keys=True, separators=(",", ":"))
        signature = f"{kind}:{text}"
        with self.registry._write() as conn:
            found = conn.execute(
                "SELECT * FROM tasks WHERE signature = ? AND state IN ('queued', 'running') "
                "ORDER BY id LIMIT 1",
                (signature,),
            ).fetchone()
            if found is None:
                cursor = conn.execute(
                    "INSERT INTO tasks (kind, job, signature, scenario, state, queued_at) "
                    "VALUES (?, ?, ?, ?, 'queued', ?)",
                    (kind, text, signature, scenario, time.time()),
                )
                found = conn.execute(
                    "SELECT * FROM tasks WHERE id = ?", (cursor.lastrowid,)
                ).fetchone()
        return _record(dict(found))

    def get(self, task_id: int) -> TaskRecord | None:
        """The task with id ``task_id``, or None."""
        rows = self.registry._rows("SELECT * FROM tasks WHERE id = ?", (int(task_id),))
        return _record(rows[0]) if rows else None

    def list(
        self, *, states: Iterable[str] | None = None, kind: str | None = None
    ) -> list[TaskRecord]:
        """Tasks in insertion order, optionally only these states / this kind (a read: never
        creates the registry)."""
        clauses, args = [], []
        if states is not None:
            wanted = [_validate_state(s) for s in states]
            clauses.append(f"state IN ({', '.join('?' for _ in wanted)})")
            args += wanted
        if kind is not None:
            clauses.append("kind = ?")
            args.append(kind)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.registry._rows(f"SELECT * FROM tasks{where} ORDER BY id", args)
        return [_record(r) for r in rows]

    def pending(self) -> int:
        """Number of queued or running tasks."""
        return len(self.list(states=_ACTIVE))

    def claim(self, *, pid: int) -> TaskRecord | None:
        """Atomically take the oldest queued task and mark it running (None: nothing queued)."""
        now = time.time()
        with self.registry._write() as conn:
            row = conn.execute(
                "SELECT id FROM tasks WHERE state = 'queued' AND cancel_requested = 0 "
                "ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            found = conn.execute(
                "UPDATE tasks SET state = 'running', pid = ?, host = ?, heartbeat = ?, "
                "started_at = ?, stage = 'starting' WHERE id = ? RETURNING *",
                (pid, _HOST, now, now, row["id"]),
            ).fetchone()
        return _record(dict(found))

    def report(
        self,
        task_id: int,
        *,
        stage: str | None = None,
        fraction: float | None = None,
        parts: Sequence[str] | None = None,
        warnings: Mapping[str, int] | None = None,
    ) -> bool:
        """Record a running task's progress and heartbeat; return whether it must stop
        (cancel requested, or no longer running)."""
        updates: dict[str, Any] = {"heartbeat": time.time()}
        if stage is not None:
            updates["stage"] = str(stage)
        if fraction is not None:
            updates["fraction"] = min(max(float(fraction), 0.0), 1.0)
        if parts is not None:
            updates["parts"] = json.dumps([str(p) for p in parts])
        if warnings is not None:
            updates["warnings"] = json.dumps({str(k): int(v) for k, v in warnings.items()})
        assignments = ", ".join(f"{column} = ?" for column in updates)
        with self.registry._write() as conn:
            row = conn.execute(
                f"UPDATE tasks SET {assignments} WHERE id = ? AND state = 'running' "
                "RETURNING cancel_requested",
                [*updates.values(), int(task_id)],
            ).fetchone()
        return row is None or bool(row["cancel_requested"])

    def finish(
        self,
        task_id: int,
        state: str,
        *,
        error: str = "",
        warnings: Mapping[str, int] | None = None,
    ) -> TaskRecord | None:
        """End a running task; None when it already ended elsewhere (e.g. reaped)."""
        if _validate_state(state) not in TERMINAL_STATES:
            raise ValidationError(describe("state", f"one of {list(TERMINAL_STATES)}", state))
        updates: dict[str, Any] = {
            "state": state,
            "stage": state,
            "error": str(error),
            "finished_at": time.time(),
        }
        if state == "done":
            updates["fraction"] = 1.0
        if warnings is not None:
            updates["warnings"] = json.dumps({str(k): int(v) for k, v in warnings.items()})
        assignments = ", ".join(f"{column} = ?" for column in updates)
        with self.registry._write() as conn:
            row = conn.execute(
                f"UPDATE tasks SET {assignments} WHERE id = ? AND state = 'running' RETURNING *",
                [*updates.values(), int(task_id)],
            ).fetchone()
        return None if row is None else _record(dict(row))

    def cancel(self, task_id: int | None = None) -> builtins.list[int]:
        """Cancel one task (None: every queued and running task): queued ones at once,
        running ones by a flag their worker reads with its next progress report."""
        scope, args = ("", ()) if task_id is None else (" AND id = ?", (int(task_id),))
        with self.registry._write() as conn:
            hit = [
                r["id"]
                for r in conn.execute(
                    f"SELECT id FROM tasks WHERE state IN ('queued', 'running'){scope}", args
                )
            ]
            conn.execute(
                "UPDATE tasks SET state = 'cancelled', stage = 'cancelled', finished_at = ?, "
                f"cancel_requested = 1 WHERE state = 'queued'{scope}",
                (time.time(), *args),
            )
            conn.execute(
                f"UPDATE tasks SET cancel_requested = 1 WHERE state = 'running'{scope}", args
            )
        return hit

    def reap(self, *, stale_seconds: float = STALE_SECONDS) -> builtins.list[TaskRecord]:
        """Mark running tasks whose worker is gone ``interrupted`` (read-only when none is)."""
        now = time.time()
        dead = [t.id for t in self.list(states=("running",)) if _gone(t, now, stale_seconds)]
        if not dead:
            return []
        marks = ", ".join("?" for _ in dead)
        with self.registry._write() as conn:
            rows = conn.execute(
                "UPDATE tasks SET state = 'interrupted', stage = 'interrupted', finished_at = ?, "
                "error = 'the worker process stopped before the task finished' "
                f"WHERE state = 'running' AND id IN ({marks}) RETURNING *",
                (now, *dead),
            ).fetchall()
        return [_record(dict(r)) for r in rows]


def _gone(task: TaskRecord, now: float, stale_seconds: float) -> bool:
    if task.host == _HOST and not pid_alive(task.pid):
        return True
    return task.heartbeat is not None and now - task.heartbeat > stale_seconds


def _validate_state(state: Any) -> str:
    if state not in RUN_STATES:
        raise ValidationError(describe("state", f"one of {list(RUN_STATES)}", state))
    return str(state)


def _record(row: Mapping[str, Any]) -> TaskRecord:
    def loads(text: Any, empty: Any) -> Any:
        try:
            value = json.loads(text or "null")
        except ValueError:
            return empty
        return value if isinstance(value, type(empty)) else empty

    return TaskRecord(
        id=int(row["id"]),
        kind=str(row["kind"]),
        job=loads(row["job"], {}),
        scenario=row["scenario"],
        state=str(row["state"]),
        stage=str(row["stage"] or ""),
        fraction=float(row["fraction"] or 0.0),
        parts=tuple(str(p) for p in loads(row["parts"], [])),
        warnings={str(k): int(v) for k, v in loads(row["warnings"], {}).items()},
        error=str(row["error"] or ""),
        pid=row["pid"],
        host=str(row["host"] or ""),
        heartbeat=row["heartbeat"],
        queued_at=row["queued_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        cancel_requested=bool(row["cancel_requested"]),
    )
