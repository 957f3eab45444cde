"""Precompute: warm a scenario's result cache in the background, as a task of the run registry.

Opening a workspace in the dashboard (and ``ulens dashboard``) queues a :class:`PrecomputeJob`
for the scenario on view and starts the workspace's background pool
(:func:`analysis.runs.ensure_workers`); a worker claims it like a run and computes, in order:

1. ``table`` — the models table (:func:`analysis.models_table`): every model's forward passes
   and privacy headline, what the Models page draws first;
2. ``comparison`` — the default pair without its embedding (``compare(..., embedding=False)``):
   the original and retrain models' outputs, the layer similarity of the four models and the
   bootstrapped privacy reports of A, B and the retrain model;
3. ``embedding`` — the pair's UMAP maps (:func:`analysis.pair_embedding`), the slow part.

Every result lands in the workspace's content-hash keyed cache, so whoever asks for it next
(the app, the CLI, a notebook) loads it instead of computing it. While the task runs, its
stage, fraction, finished parts and warnings are in the registry (:class:`TaskQueue`); the app
draws its progress bar from them and waits for the part it needs instead of computing it twice.

:func:`run_precompute` is the computation itself (a pure function of the workspace and the job:
``ulens precompute`` calls it in the foreground); :func:`execute_task` runs a claimed task with
registry progress; :func:`submit_precompute` queues one. :class:`WarningTally` collects the
warnings of a long computation once per distinct message (the same "no OUT reference" warning
is raised for every model and attack).

Example:
    >>> import shutil, tempfile
    >>> ws = shutil.copytree("sample_data/digits", tempfile.mkdtemp() + "/ws")
    >>> task = submit_precompute(ws)
    >>> task.kind, task.state, task.job["a"], task.job["b"]
    ('precompute', 'queued', 'retrain', 'ga')
"""

from __future__ import annotations

import dataclasses
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.errors import ValidationError, describe
from analysis.runs.registry import REGISTRY_FILE, RunRegistry
from analysis.runs.tasks import TaskQueue, TaskRecord

__all__ = [
    "PRECOMPUTE_PARTS",
    "PrecomputeJob",
    "WarningTally",
    "execute_task",
    "precompute_queue",
    "run_precompute",
    "submit_precompute",
]

PRECOMPUTE_PARTS = ("table", "comparison", "embedding")
"""The parts of a precompute task, in the order they are computed."""
_WEIGHTS = {"table": 3.0, "comparison": 2.0, "embedding": 5.0}  # shares of the progress bar
REPORT_INTERVAL = 0.5
"""Seconds between a running task's progress writes."""

Progress = Callable[[str, float], None]


class TaskCancelled(Exception):
    """Raised from a progress callback to stop a task (nothing is left half-written: every
    cache write is atomic)."""


@dataclass(frozen=True)
class PrecomputeJob:
    """Warm the result cache of one scenario: its models table, a pair's comparison, its maps.

    Attributes:
        scenario: The forget scenario (None: the workspace's first).
        a: Model A (None: the scenario's default pair, :meth:`analysis.Experiment.default_pair`).
        b: Model B (None: the default pair's B).
        parts: Which of :data:`PRECOMPUTE_PARTS` to compute.

    Example:
        >>> PrecomputeJob("classwise", parts=("table",)).parts
        ('table',)
    """

    scenario: str | None = None
    a: str | None = None
    b: str | None = None
    parts: tuple[str, ...] = PRECOMPUTE_PARTS

    def __post_init__(self) -> None:
        parts = tuple(self.parts)
        unknown = [p for p in parts if p not in PRECOMPUTE_PARTS]
        if unknown or not parts:
            raise ValidationError(
                describe("parts", f"a non-empty subset of {list(PRECOMPUTE_PARTS)}", list(parts))
            )
        object.__setattr__(self, "parts", tuple(p for p in PRECOMPUTE_PARTS if p in parts))
        for name in ("scenario", "a", "b"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValidationError(describe(name, "a name or None", value))

    def resolve(self, workspace: str | Path) -> PrecomputeJob:
        """The job with its scenario and pair filled in from the workspace.

        Raises:
            UlensError: Unknown scenario or model, or A == B.
        """
        from analysis.compare import _validate_pair
        from analysis.experiment import load_experiment

        exp = load_experiment(workspace, scenario=self.scenario)
        default_a, default_b = exp.default_pair()
        a, b = self.a or default_a, self.b or default_b
        _validate_pair(exp, a, b)
        return dataclasses.replace(self, scenario=exp.scenario, a=a, b=b)

    def span(self, part: str) -> tuple[float, float]:
        """The share of the job's progress bar that ``part`` covers (start, end).

        Example:
            >>> PrecomputeJob().span("table")
            (0.0, 0.3)
        """
        spans = _spans(self.parts)
        if part not in spans:
            raise ValidationError(describe("part", f"one of {list(self.parts)}", part))
        return spans[part]

    def to_dict(self) -> dict[str, Any]:
        """The job as JSON data (see :meth:`from_dict`)."""
        return {"scenario": self.scenario, "a": self.a, "b": self.b, "parts": list(self.parts)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PrecomputeJob:
        """Rebuild a job from :meth:`to_dict`'s output.

        Raises:
            ValidationError: Not a mapping, or unknown or invalid fields.
        """
        known = {"scenario", "a", "b", "parts"}
        if not isinstance(data, Mapping) or set(data) - known:
            raise ValidationError(describe("precompute job", f"a mapping of {sorted(known)}", data))
        return cls(
            scenario=data.get("scenario"),
            a=data.get("a"),
            b=data.get("b"),
            parts=tuple(data.get("parts", PRECOMPUTE_PARTS)),
        )


# --------------------------------------------------------------------------- warnings


class WarningTally:
    """Collect warnings once per distinct (category, message), counting repeats.

    Use as a context manager around a long computation: inside it every warning reaches the
    tally (Python's own "once per location" registry is reset whenever a library changes the
    filters, so the same message would otherwise be printed again and again); ``on_new`` is
    called with the first occurrence of each distinct warning. Warnings the filters ignore
    (``-W``, ``PYTHONWARNINGS``, Python's defaults such as ``ImportWarning``) stay ignored. Not
    thread-safe (the warnings module is not): use it in the thread doing the work.

    Attributes:
        counts: ``"Category: message"`` -> how many times it was raised.

    Example:
        >>> with WarningTally() as tally:
        ...     for _ in range(3):
        ...         warnings.warn("3 sample(s) have no OUT reference", RuntimeWarning)
        >>> tally.counts
        {'RuntimeWarning: 3 sample(s) have no OUT reference': 3}
    """

    def __init__(self, on_new: Callable[[str], None] | None = None) -> None:
        self.on_new = on_new
        self.counts: dict[str, int] = {}
        self._context: Any = None
        self._default = "default"

    def add(self, text: str) -> None:
        """Count one occurrence of ``text`` (``on_new`` on the first)."""
        first = text not in self.counts
        self.counts[text] = self.counts.get(text, 0) + 1
        if first and self.on_new is not None:
            self.on_new(text)

    def __enter__(self) -> WarningTally:
        self._context = warnings.catch_warnings()
        self._context.__enter__()
        module: Any = warnings  # filters and defaultaction are not in the typing stubs
        self._default = module.defaultaction
        shown = ("default", "module", "once")  # shown once per place: show every one to us
        module.filters[:] = [("always", *f[1:]) if f[0] in shown else f for f in module.filters]
        if module.defaultaction in shown:
            module.defaultaction = "always"
        module._filters_mutated()

        def show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            self.add(f"{category.__name__}: {message}")

        warnings.showwarning = show
        return self

    def __exit__(self, *exc: object) -> None:
        module: Any = warnings
        module.defaultaction = self._default
        self._context.__exit__(*exc)

    def summary(self) -> str:
        """One line: how many warnings, how many distinct ('' when none)."""
        total = sum(self.counts.values())
        if not total:
            return ""
        return f"{total} warning(s), {len(self.counts)} distinct (each shown once)"


# --------------------------------------------------------------------------- computing


def _spans(parts: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    total = sum(_WEIGHTS[p] for p in parts)
    spans, start = {}, 0.0
    for part in parts:
        end = start + _WEIGHTS[part] / total
        spans[part] = (start, end)
        start = end
    return spans


def run_precompute(
    workspace: str | Path,
    job: PrecomputeJob,
    *,
    device: str = "auto",
    progress: Progress | None = None,
    on_part: Callable[[str, float], None] | None = None,
) -> dict[str, float]:
    """Compute the job's parts into the workspace's result cache; return seconds per part.

    Args:
        workspace: The workspace folder.
        job: What to compute (resolved here when its scenario or pair is None).
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
        progress: Called with (stage, fraction of the whole job in [0, 1]); raising
            :class:`TaskCancelled` from it stops the job.
        on_part: Called with (part, seconds) after each part.

    Raises:
        UlensError: Unknown scenario or models, unreadable weights or data.
    """
    from analysis.compare import compare, models_table, pair_embedding
    from analysis.experiment import load_experiment

    job = job.resolve(workspace) if None in (job.scenario, job.a, job.b) else job
    exp = load_experiment(workspace, scenario=job.scenario)
    a, b = str(job.a), str(job.b)
    spans = _spans(job.parts)
    steps: dict[str, Callable[[Progress | None], Any]] = {
        "table": lambda p: models_table(exp, device=device, progress=p),
        "comparison": lambda p: compare(exp, a, b, device=device, progress=p, embedding=False),
        "embedding": lambda p: pair_embedding(exp, a, b, device=device, progress=p),
    }
    seconds: dict[str, float] = {}
    for part in job.parts:
        start = time.perf_counter()
        scaled = _scaled(progress, part, spans[part])
        steps[part](scaled)
        seconds[part] = time.perf_counter() - start
        if scaled is not None:
            scaled("done", 1.0)  # "<part>" at the end of its share of the bar
        if on_part is not None:
            on_part(part, seconds[part])
    if progress is not None:
        progress("done", 1.0)
    return seconds


def _scaled(progress: Progress | None, part: str, span: tuple[float, float]) -> Progress | None:
    if progress is None:
        return None
    label = {"table": "models table", "comparison": "comparison", "embedding": "embedding"}[part]

    def report(stage: str, fraction: float) -> None:
        inner = label if stage == "done" else f"{label}: {stage}"
        progress(inner, span[0] + (span[1] - span[0]) * min(max(fraction, 0.0), 1.0))

    return report


# --------------------------------------------------------------------------- the registry


def precompute_queue(workspace: str | Path) -> TaskQueue:
    """The task queue of a workspace's registry (reading it never creates the file; nor
    imports torch: ``ulens dashboard`` follows the app's task with it)."""
    from analysis.spec import find_spec_file

    return TaskQueue(RunRegistry(find_spec_file(workspace).parent / REGISTRY_FILE))


def submit_precompute(workspace: str | Path, job: PrecomputeJob | None = None) -> TaskRecord:
    """Queue a precompute task (the workspace's first scenario and default pair by default).

    The job is resolved first (its scenario and pair filled in), so a task names the exact
    pair it warms. An identical task already queued or running is returned instead of a new
    one. Nothing runs here: start the background pool with
    :func:`analysis.runs.ensure_workers`, or run :func:`analysis.runs.worker.work`.

    Raises:
        UlensError: Unknown scenario or model.
        ReadOnlyWorkspaceError: The workspace cannot be written.
    """
    resolved = (job or PrecomputeJob()).resolve(workspace)
    return precompute_queue(workspace).add(
        "precompute", resolved.to_dict(), scenario=resolved.scenario
    )


class _TaskSink:
    """Progress of a running task to the registry: throttled, every part at once."""

    def __init__(self, queue: TaskQueue, task: TaskRecord, tally: WarningTally) -> None:
        self.queue, self.task, self.tally = queue, task, tally
        self.parts: list[str] = []
        self.stage, self.fraction = "starting", 0.0
        self._last = 0.0

    def _report(self, **fields: Any) -> None:
        self._last = time.monotonic()
        if self.queue.report(self.task.id, warnings=self.tally.counts, **fields):
            raise TaskCancelled(f"task {self.task.id} was cancelled")

    def progress(self, stage: str, fraction: float) -> None:
        self.stage, self.fraction = stage, fraction
        if time.monotonic() - self._last >= REPORT_INTERVAL:
            self._report(stage=stage, fraction=fraction)

    def part(self, name: str, seconds: float) -> None:
        self.parts.append(name)
        self._report(parts=self.parts, stage=f"{self.stage} ready", fraction=self.fraction)

    def beat(self) -> None:
        self.queue.report(self.task.id)


def execute_task(queue: TaskQueue, task: TaskRecord, *, device: str = "auto") -> TaskRecord | None:
    """Run a claimed (``running``) task and record its outcome; never raises for a failing
    task (its error text goes to the registry). Returns the final record."""
    from analysis.runs.worker import heartbeat

    tally = WarningTally()
    sink = _TaskSink(queue, task, tally)
    try:
        job = PrecomputeJob.from_dict(task.job)
        with tally, heartbeat(sink.beat):
            run_precompute(
                queue.registry.root, job, device=device, progress=sink.progress, on_part=sink.part
            )
    except TaskCancelled:
        return queue.finish(task.id, "cancelled", error="cancelled", warnings=tally.counts)
    except BaseException as exc:
        text = f"{type(exc).__name__}: {exc}".strip()
        if not isinstance(exc, ValueError):
            text += "\n" + "".join(traceback.format_exception(exc, limit=-3))
        queue.finish(task.id, "failed", error=text, warnings=tally.counts)
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return queue.get(task.id)
    return queue.finish(task.id, "done", warnings=tally.counts)
