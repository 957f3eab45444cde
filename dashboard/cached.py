"""The only place with Streamlit caching: experiments, comparisons and the models table.

Heavy results come from the analysis library's disk cache (content-hash keyed); these wrappers
keep one in-memory copy per process and compute what is missing **off the script thread**:

* Cold work (a comparison, the pair's embedding, the models table) runs in a background
  executor owned by this module (:class:`Background`: a "fast" lane for comparisons and tables,
  a "slow" lane for embeddings and intervals, one thread each), with a progress record per
  task (:class:`Task`: stage, fraction, ETA from elapsed / fraction). Sessions asking for the
  same work share its task.
* A page asking for a result that is not ready within :data:`GRACE_SECONDS` gets, in its place,
  a determinate progress bar ("computing ...: stage · x % · ETA") that refreshes every
  :data:`POLL_SECONDS` in a fragment, and the page stops there (:class:`Pending`): the old
  pair's charts are not left on screen, and the sidebar and the other pages stay usable. When
  the task ends, the fragment reruns the app and the page draws the result, or the error
  (raised in the script thread: pages show it with ``messages.error``; the app keeps running).
* A comparison is computed without its embedding (``analysis.compare(..., embedding=False)``):
  the Classes, Layers and Privacy pages need no UMAP. The pair's embedding is then computed in
  the slow lane right away (so the Instances page is usually ready when opened) and only the
  pages that draw maps ask for it (``comparison(..., embedding=True)``).
* Opening a workspace scenario (``ulens dashboard`` sets :data:`PRECOMPUTE_ENV`) queues a
  precompute task of the run registry (:func:`analysis.runs.submit_precompute`: models table,
  default pair, its embedding) and starts the workspace's background pool. While such a task
  is computing what a page needs, the page's task follows the task's progress from the
  registry instead of computing the same thing twice, then loads the result from the disk
  cache.

Runs finish in the background pool (and other sessions or the CLI add scenarios or delete
runs), so :func:`experiment` first compares the workspace's registry signature (done runs and
added scenarios, :func:`runs_signature`) with the one it last saw and clears every in-memory
copy when it changed (:func:`refresh`): finished runs join the models table on the next rerun.

:data:`FOREGROUND` (tests; scripts without a browser) makes pages wait for the task in the
script thread with a progress bar instead of showing the placeholder.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import streamlit as st
import torch
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from analysis.compare import (
    CompareOptions,
    Comparison,
    Embedding,
    compare,
    models_table,
    pair_embedding,
)
from analysis.errors import CacheError
from analysis.experiment import Experiment, load_experiment
from analysis.runs.registry import REGISTRY_FILE, RunRegistry
from dashboard.progress import progress_text
from dashboard.state import PRECOMPUTE_ENV, READY_ENV

T = TypeVar("T")
Key = tuple[Hashable, ...]
Report = Callable[[str, float], None]

GRACE_SECONDS = 0.15
"""A result ready within this is drawn at once (no placeholder flashes for a warm load)."""
FIRST_GRACE_SECONDS = 1.0
"""The grace until a session's first page is drawn: its page is still blank, and a warm
result that is merely slow to load the first time in a process (0.2–0.5 s) is then drawn in
this run instead of after a placeholder, a poll and a second run (~0.8 s later)."""
_SESSION_DRAWN = "_ulens_page_drawn"
POLL_SECONDS = 0.5
"""How often the progress placeholder refreshes."""
POOL_IDLE_SECONDS = 20.0
"""The precompute pool exits after this long without work."""
FOREGROUND = False
"""True: pages wait for cold work in the script thread (a progress bar, no placeholder)."""
TORCH_THREADS = 1
"""``torch.set_num_threads`` set by the executor's threads (torch applies it to the whole server
process). One, as the run workers use: the lanes, a background worker and the browser share the
cores, and torch's intra-op threads then wait on each other (on this 2-core machine under load,
the sample's cold models table took 2.5 s with one thread and 10 s with two)."""


class Pending(StopException):
    """A page's result is still being computed: the progress placeholder is drawn and the page
    stops here (the app's script catches it to finish the run; uncaught, it ends the run like
    ``st.stop()``)."""


# --------------------------------------------------------------------------- tasks


@dataclass(eq=False)
class Task:
    """A background computation and its progress record (read by every session polling it).

    Attributes:
        key: What is computed (shared by every request for the same key).
        label: What the user is told ("Comparing a and b").
        stage: The computation's current stage.
        fraction: Share done, in [0, 1]; it never goes back.
        started: ``time.monotonic()`` the work (or the followed registry task) started.
        lane: The executor lane it runs in (``fast`` or ``slow``).
        speculative: Computed ahead of a request (may be dropped before it starts).
    """

    key: Key
    label: str
    lane: str = "fast"
    stage: str = "queued"
    fraction: float = 0.0
    started: float = field(default_factory=time.monotonic)
    speculative: bool = False
    value: Any = None
    error: BaseException | None = None
    future: Future[None] | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def report(self, stage: str, fraction: float) -> None:
        """The work's ``progress(stage, fraction)`` callback."""
        self.stage = stage
        self.fraction = max(self.fraction, min(max(float(fraction), 0.0), 1.0))

    def text(self, now: float | None = None) -> str:
        """The progress line (see :func:`progress_text`)."""
        elapsed = (now if now is not None else time.monotonic()) - self.started
        return progress_text(self.label, self.stage, self.fraction, elapsed)

    def result(self) -> Any:
        """The value, or raise the work's exception."""
        if self.error is not None:
            raise self.error
        return self.value


class Background:
    """The process's background executor: tasks by key, two lanes of one thread each.

    A finished task's value goes to ``store`` (the in-memory copies) and the task is dropped;
    a failed task stays until a page takes its error (:meth:`take`), so the next request
    computes again. :meth:`clear` drops every task; results of tasks still running then are
    discarded.
    """

    def __init__(self, store: dict[Key, Any]) -> None:
        self.store = store
        self.lock = threading.Lock()
        self.tasks: dict[Key, Task] = {}
        self.generation = 0
        self.lanes = {
            name: ThreadPoolExecutor(
                1, thread_name_prefix=f"ulens-{name}", initializer=_lane_threads
            )
            for name in ("fast", "slow")
        }

    def submit(
        self,
        key: Key,
        label: str,
        work: Callable[[Report], Any],
        *,
        lane: str = "fast",
        speculative: bool = False,
        then: Callable[[Any], None] | None = None,
    ) -> Task:
        """The task computing ``key``: the one already queued or running, or a new one."""
        with self.lock:
            task = self.tasks.get(key)
            if task is not None:
                task.speculative = task.speculative and speculative
                return task
            if speculative:
                self._drop_speculative(lane)
            task = Task(key, label, lane, speculative=speculative)
            self.tasks[key] = task
            generation = self.generation
            task.future = self.lanes[lane].submit(self._run, task, work, generation, then)
        return task

    def _drop_speculative(self, lane: str) -> None:
        """Forget queued speculative tasks of ``lane`` (a newer guess replaces them)."""
        for key, task in list(self.tasks.items()):
            future = task.future
            if task.speculative and task.lane == lane and future is not None and future.cancel():
                del self.tasks[key]

    def _run(self, task: Task, work: Callable[[Report], Any], generation: int, then: Any) -> None:
        task.started = time.monotonic()
        task.stage = "starting"
        try:
            task.value = work(task.report)
        except BaseException as exc:  # kept for the page that asks (shown there)
            task.error = exc
        with self.lock:
            current = generation == self.generation and self.tasks.get(task.key) is task
            if current and task.error is None:
                self.store[task.key] = task.value
                del self.tasks[task.key]
        task.done.set()
        if current and task.error is None and then is not None:
            with contextlib.suppress(Exception):
                then(task.value)

    def get(self, key: Key) -> Task | None:
        """The queued, running or failed task of ``key``, if any."""
        with self.lock:
            return self.tasks.get(key)

    def take(self, task: Task) -> Any:
        """A finished task's value; a failed task is dropped and its error raised."""
        if task.error is not None:
            with self.lock:
                if self.tasks.get(task.key) is task:
                    del self.tasks[task.key]
        return task.result()

    def clear(self) -> None:
        """Drop every task (running ones finish, their results are discarded)."""
        with self.lock:
            self.generation += 1
            for task in self.tasks.values():
                if task.future is not None:
                    task.future.cancel()
            self.tasks.clear()


def _lane_threads() -> None:
    torch.set_num_threads(TORCH_THREADS)


@st.cache_resource(show_spinner=False)
def _memo() -> tuple[dict[Key, Any], Background]:
    values: dict[Key, Any] = {}
    return values, Background(values)


def background() -> Background:
    """The process's background executor."""
    return _memo()[1]


def _await(
    key: Key,
    label: str,
    work: Callable[[Report], T],
    *,
    lane: str = "fast",
    then: Callable[[Any], None] | None = None,
) -> T:
    """The value of ``key``: in memory, ready within the grace time, or :class:`Pending` (the
    progress placeholder drawn); :data:`FOREGROUND` waits here with a progress bar."""
    values, runner = _memo()
    if key in values:
        cached_value: T = values[key]
        return cached_value
    task = runner.submit(key, label, work, lane=lane, then=then)
    if FOREGROUND:
        task = _wait_here(runner, task, lambda: runner.submit(key, label, work, lane=lane))
    else:
        task.done.wait(_grace())
    if task.done.is_set():
        value: T = runner.take(task)
        return value
    _progress_placeholder(key)
    raise Pending(label)


def _grace() -> float:
    return GRACE_SECONDS if st.session_state.get(_SESSION_DRAWN) else FIRST_GRACE_SECONDS


def _wait_here(runner: Background, task: Task, again: Callable[[], Task]) -> Task:
    """Wait for ``task`` in the script thread with a progress bar (:data:`FOREGROUND`); a task
    dropped meanwhile (:meth:`Background.clear`) is submitted again."""
    bar = st.progress(0.0, text=task.text())
    try:
        while not task.done.wait(0.1):
            if runner.get(task.key) is not task:
                task = again()
            bar.progress(task.fraction, text=task.text())
    finally:
        bar.empty()
    return task


@st.fragment(run_every=POLL_SECONDS)
def _progress_placeholder(key: Key) -> None:
    """The page's placeholder while ``key`` computes: redraws the app once it is done."""
    task = background().get(key)
    if task is None or task.done.is_set():
        st.rerun(scope="app")  # the page now draws the result (or its error)
    st.progress(task.fraction, text=task.text())
    st.caption(
        "This page fills in when the computation finishes; the sidebar and the pages that "
        "are ready stay usable meanwhile."
    )


# --------------------------------------------------------------------------- experiments


def experiment(workspace: str, scenario: str | None) -> Experiment:
    """The workspace's experiment for ``scenario`` (parsed and loaded once per process, again
    after runs finished or were deleted: see :func:`refresh`). Opening a scenario queues its
    precompute task when :data:`PRECOMPUTE_ENV` is set."""
    refresh(workspace)
    exp = _experiment(workspace, scenario)
    if scenario is not None and os.environ.get(PRECOMPUTE_ENV) == "1":
        start_precompute(workspace, scenario)
    return exp


@st.cache_resource(show_spinner=False)
def _experiment(workspace: str, scenario: str | None) -> Experiment:
    return load_experiment(workspace, scenario=scenario)


def runs_signature(workspace: str) -> tuple[Any, ...]:
    """What the experiment takes from the registry: done runs (id, name) and added scenarios.

    Two empty tuples when there is no (readable) registry. One small SQLite read.
    """
    path = Path(workspace) / REGISTRY_FILE
    if not path.exists():
        return (), ()
    try:
        registry = RunRegistry(path, timeout=2.0)
        done = tuple((r.id, r.name) for r in registry.list(states=("done",)))
        return done, tuple(registry.scenarios())
    except CacheError:
        return (), ()


@st.cache_resource(show_spinner=False)
def _seen() -> dict[str, tuple[Any, ...]]:
    return {}


def refresh(workspace: str) -> bool:
    """Clear every in-memory copy when the workspace's registry signature changed since this
    process last looked; return whether it did."""
    signature = runs_signature(workspace)
    seen = _seen()
    changed = workspace in seen and seen[workspace] != signature
    seen[workspace] = signature
    if changed:
        clear()
    return changed


# --------------------------------------------------------------------------- precompute


PRECOMPUTE_DELAY_SECONDS = 20.0
"""The background precompute waits for the first page drawn in full, at most this long: its
pool (a process importing torch, then evaluating models) would otherwise compete for the
cores with the page the user is waiting for."""
PRECOMPUTE_NICE = 10
"""Niceness of the background pool the app starts: pages keep the cores they need."""
BROWSER_SECONDS = 3.0
"""After the first page is drawn, the browser still renders it (~2.5 s for the sample's Models
page on 2 cores: the chart code, the data grid, the charts); the precompute starts after that,
since importing torch in the CLI and the pool then delayed the first chart by 1.5–3 s."""
_PAGE_DRAWN = threading.Event()
_RELEASE: list[threading.Timer] = []
_RELEASE_LOCK = threading.Lock()


def page_drawn() -> None:
    """A page was drawn in full (no part pending): the background precompute may start
    :data:`BROWSER_SECONDS` later, and this session's pages now show a placeholder after
    :data:`GRACE_SECONDS`.

    When :data:`READY_ENV` names a file (``ulens dashboard`` sets it), that file is created,
    telling the command's precompute watcher the same thing.
    """
    st.session_state[_SESSION_DRAWN] = True
    with _RELEASE_LOCK:
        if _RELEASE:
            return
        timer = threading.Timer(BROWSER_SECONDS, _release_precompute)
        timer.daemon = True
        _RELEASE.append(timer)
    timer.start()


def _release_precompute() -> None:
    _PAGE_DRAWN.set()
    ready = os.environ.get(READY_ENV)
    if ready:
        with contextlib.suppress(OSError):
            Path(ready).touch()


@st.cache_resource(show_spinner=False)
def _precompute_started() -> set[tuple[str, str]]:
    return set()


def start_precompute(workspace: str, scenario: str) -> None:
    """Once per process and scenario: queue the scenario's precompute task (models table,
    default pair, its embedding) and start the workspace's background pool, niced, once a page
    has been drawn in full (:func:`page_drawn`; at most :data:`PRECOMPUTE_DELAY_SECONDS`
    later). A workspace that cannot be written is left alone."""
    started = _precompute_started()
    if (workspace, scenario) in started:
        return
    started.add((workspace, scenario))

    def submit() -> None:
        from analysis.runs import PrecomputeJob, ensure_workers, submit_precompute

        _PAGE_DRAWN.wait(PRECOMPUTE_DELAY_SECONDS)
        try:
            submit_precompute(workspace, PrecomputeJob(scenario=scenario))
            ensure_workers(workspace, idle=POOL_IDLE_SECONDS, nice=PRECOMPUTE_NICE)
        except Exception as exc:  # best effort: pages compute what they need themselves
            print(f"ulens: no background precompute ({exc})", file=sys.stderr)

    threading.Thread(target=submit, name="ulens-precompute", daemon=True).start()


def _follow_precompute(
    workspace: str, scenario: str, part: str, pair: tuple[str, str] | None, report: Report
) -> None:
    """While a running precompute task of the registry is computing ``part`` (of ``pair``),
    report its progress and wait; return as soon as it is not (done, failed, gone, or busy
    with another part: the page then computes, or loads, the part itself).

    The fraction reported is the share of the registry task done before ``part`` is, and the
    page's clock starts when that task started, so the ETA is the time until ``part`` is ready.
    A queued task is not waited for: its worker may take seconds to start.
    """
    from analysis.runs.precompute import PrecomputeJob, precompute_queue

    owner = getattr(report, "__self__", None)
    while True:
        try:
            tasks = precompute_queue(workspace).list(states=("running",), kind="precompute")
        except Exception:  # no readable registry: nothing to follow
            return
        mine = [t for t in tasks if _covers(t.job, scenario, pair) and _current(t) == part]
        if not mine:
            return
        task = mine[0]
        elapsed = task.elapsed()
        if isinstance(owner, Task) and elapsed is not None:
            owner.started = min(owner.started, time.monotonic() - elapsed)
        end = PrecomputeJob.from_dict(task.job).span(part)[1]
        report(f"background precompute, {task.stage or 'starting'}", task.fraction / end)
        time.sleep(0.25)


def _current(task: Any) -> str | None:
    """The part a running precompute task is computing (its first unfinished part)."""
    parts = task.job.get("parts", ()) if isinstance(task.job, dict) else ()
    return next((p for p in parts if p not in task.parts), None)


def _covers(job: Any, scenario: str, pair: tuple[str, str] | None) -> bool:
    if not isinstance(job, dict) or job.get("scenario") != scenario:
        return False
    return pair is None or (job.get("a"), job.get("b")) == pair


# --------------------------------------------------------------------------- results


def comparison(
    workspace: str,
    scenario: str,
    a: str,
    b: str,
    options: CompareOptions | None = None,
    *,
    embedding: bool = False,
) -> Comparison:
    """``analysis.compare`` of the pair, computed once per process in the background.

    Without ``embedding`` the comparison has no UMAP maps (``has_embedding`` False): every page
    but Instances (and the export of its figures) needs none. The maps are computed right after
    the comparison in the slow lane; ``embedding=True`` waits for them.

    Raises:
        Pending: Still computing (the progress placeholder was drawn).
        UlensError: The computation failed on bad input (the page shows it).
    """
    exp = experiment(workspace, scenario)
    opts = options or CompareOptions.from_experiment(exp)
    default = opts == CompareOptions.from_experiment(exp)
    key: Key = ("cmp", workspace, scenario, a, b, opts)
    values, runner = _memo()  # read here: background threads never call Streamlit's caches

    def fast(report: Report) -> Comparison:
        if default:
            _follow_precompute(workspace, scenario, "comparison", (a, b), report)
        return compare(exp, a, b, options=opts, progress=report, embedding=False)

    def prefetch(_: Comparison) -> None:
        maps_key, label, work = _embedding_work(exp, workspace, a, b, opts, default=default)
        if maps_key not in values:
            runner.submit(maps_key, label, work, lane="slow", speculative=True)

    cmp = _await(key, f"Comparing {a} and {b}", fast, then=prefetch)
    if not embedding:
        return cmp
    full_key: Key = ("cmp+emb", *key[1:])
    if full_key not in values:
        maps_key, label, work = _embedding_work(exp, workspace, a, b, opts, default=default)
        values[full_key] = cmp.with_embedding(_await(maps_key, label, work, lane="slow"))
    full: Comparison = values[full_key]
    return full


def _embedding_work(
    exp: Experiment, workspace: str, a: str, b: str, opts: CompareOptions, *, default: bool
) -> tuple[Key, str, Callable[[Report], Embedding]]:
    """The key, label and work of the pair's maps (computed in the slow lane)."""
    scenario = exp.scenario

    def work(report: Report) -> Embedding:
        if default:
            _follow_precompute(workspace, scenario, "embedding", (a, b), report)
        return pair_embedding(exp, a, b, options=opts, progress=report)

    key: Key = ("emb", workspace, scenario, a, b, opts)
    return key, f"Embedding {a} and {b} (UMAP)", work


def table(workspace: str, scenario: str) -> pd.DataFrame:
    """The models table of the scenario (every model's accuracies and privacy headlines)."""
    exp = experiment(workspace, scenario)

    def work(report: Report) -> pd.DataFrame:
        _follow_precompute(workspace, scenario, "table", None, report)
        return models_table(exp, progress=report)

    return _await(("table", workspace, scenario), "Evaluating every model", work)


def table_intervals(workspace: str, scenario: str) -> pd.DataFrame:
    """The models table with every model's bootstrap intervals (on demand: bootstraps all)."""
    exp = experiment(workspace, scenario)
    return _await(
        ("table_ci", workspace, scenario),
        "Bootstrapping every model's intervals",
        lambda p: models_table(exp, progress=p, intervals=True),
        lane="slow",
    )


def group_table(workspace: str, scenario: str, models: tuple[str, ...]) -> GroupTable:
    """:func:`analysis.group_robustness_table` of ``models`` (the Classes page's group section),
    computed once per process in the fast lane; its warnings (groups without forget samples,
    no retrain model) come back as ``notes``."""
    import warnings

    from analysis.group_robustness import group_robustness_table, load_groups

    exp = experiment(workspace, scenario)

    def work(report: Report) -> GroupTable:
        report("per-group metrics", 0.0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = group_robustness_table(exp, list(models))
        notes = tuple(dict.fromkeys(str(w.message) for w in caught))
        return GroupTable(frame, load_groups(exp).source, notes)

    return _await(("groups", workspace, scenario, models), "Per-group metrics", work)


@dataclass(frozen=True)
class GroupTable:
    """:func:`group_table`'s value: the long table, where the groups came from, the notes."""

    table: pd.DataFrame
    source: str
    notes: tuple[str, ...]


@st.cache_resource(show_spinner=False)
def _figure_memo() -> dict[Key, tuple[Any, Any]]:
    return {}


def export_figures(key: Key, cmp: Comparison, build: Callable[[], T]) -> T:
    """The Export page's figures of every page (``build()``), kept per process for this
    comparison object, ``key`` (workspace, scenario, pair, mode, pages) and the registry's
    finished runs: building them took ~1 s of CPU at every visit of the page."""
    memo = _figure_memo()
    full = (*key, runs_signature(str(key[0])))
    hit = memo.get(full)
    if hit is not None and hit[0] is cmp:
        value: T = hit[1]
        return value
    value = build()
    if len(memo) >= 8:
        memo.clear()
    memo[full] = (cmp, value)
    return value


def clear() -> None:
    """Forget the in-memory copies and the background tasks (after a model is added or
    removed)."""
    values, runner = _memo()
    runner.clear()
    values.clear()
    _figure_memo().clear()
    _experiment.clear()
    probabilities.clear()


@st.cache_data(show_spinner=False, max_entries=256)
def probabilities(
    workspace: str, scenario: str, names: tuple[str, ...], split: str, index: int
) -> dict[str, np.ndarray]:
    """Class probabilities (softmax of the logits) of one sample under each model in ``names``.

    Loads each model and runs it on that single sample (cheap); cached per argument set.
    """
    exp = experiment(workspace, scenario)
    x = exp.dataset(split).x[index : index + 1]
    out: dict[str, np.ndarray] = {}
    with torch.inference_mode():
        for name in names:
            model = exp.load_model(name)
            device = next(model.parameters()).device
            out[name] = torch.softmax(model(x.to(device)).double(), dim=1)[0].cpu().numpy()
    return out


@st.cache_data(show_spinner=False, ttl=60)
def methods() -> list[str]:
    """Every registered unlearning method (built-ins, ``register_method`` and entry-point
    plug-ins), re-read at most once a minute."""
    from analysis.unlearn import available_methods

    return available_methods()


# --------------------------------------------------------------------------- studies (issue 9)


def study_result(workspace: str, name: str) -> Any:
    """The :class:`~analysis.studies.StudyResult` of study ``name`` (computed once per process,
    again after runs finished: :func:`refresh` clears it). The note about runs not done yet is
    left out: the page shows each cell's done/total runs."""
    import warnings

    from analysis.studies import study_results

    refresh(workspace)

    def work(_: Report) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="study '", category=RuntimeWarning)
            return study_results(workspace, name)

    return _await(
        ("study", workspace, name), f"Evaluating the models of study {name}", work, lane="slow"
    )


def study_results_all(workspace: str) -> dict[str, Any]:
    """Name -> result of every study with a done run (the Export page and the report)."""
    from analysis.studies import list_studies, study_status

    names = [r.name for r in list_studies(workspace)]
    done = [n for n in names if study_status(workspace, n).counts["done"]]
    return {name: study_result(workspace, name) for name in done}


def study_groups(workspace: str, name: str) -> Any:
    """:func:`analysis.studies.study_groups` of study ``name`` (every done run's per-group
    metrics), computed once per process in the slow lane (again after runs finished)."""
    from analysis.studies import study_groups as compute

    refresh(workspace)
    return _await(
        ("study_groups", workspace, name),
        f"Per-group metrics of study {name}",
        lambda _: compute(workspace, name),
        lane="slow",
    )


def study_groups_all(workspace: str, names: list[str]) -> dict[str, Any]:
    """Name -> :func:`study_groups` of each named study (the Export page and the report)."""
    return {name: study_groups(workspace, name) for name in names}
