"""The only place with Streamlit caching: experiments, comparisons and the models table.

Heavy results come from the analysis library's disk cache (content-hash keyed); these wrappers
keep one in-memory copy per process, show a progress bar while something computes (once), and
make concurrent sessions wait for the same computation instead of repeating it.

Runs finish in the background pool (and other sessions or the CLI add scenarios or delete
runs), so :func:`experiment` first compares the workspace's registry signature (done runs and
added scenarios, :func:`runs_signature`) with the one it last saw and clears every in-memory
copy when it changed (:func:`refresh`): finished runs join the models table on the next rerun.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import streamlit as st
import torch

from analysis.compare import CompareOptions, Comparison, compare, models_table
from analysis.errors import CacheError
from analysis.experiment import Experiment, load_experiment
from analysis.runs.registry import REGISTRY_FILE, RunRegistry

T = TypeVar("T")


def experiment(workspace: str, scenario: str | None) -> Experiment:
    """The workspace's experiment for ``scenario`` (parsed and loaded once per process, again
    after runs finished or were deleted: see :func:`refresh`)."""
    refresh(workspace)
    return _experiment(workspace, scenario)


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


@st.cache_resource(show_spinner=False)
def _memo() -> tuple[dict[tuple[Any, ...], Any], dict[tuple[Any, ...], threading.Lock]]:
    return {}, {}


def _once(key: tuple[Any, ...], label: str, work: Callable[[Callable[[str, float], None]], T]) -> T:
    values, locks = _memo()
    if key in values:
        cached_value: T = values[key]
        return cached_value
    lock = locks.setdefault(key, threading.Lock())
    with lock:
        if key not in values:
            bar = st.progress(0.0, text=label)

            def report(stage: str, fraction: float) -> None:
                bar.progress(min(max(fraction, 0.0), 1.0), text=f"{label}: {stage}")

            try:
                values[key] = work(report)
            finally:
                bar.empty()
    result: T = values[key]
    return result


def comparison(
    workspace: str, scenario: str, a: str, b: str, options: CompareOptions | None = None
) -> Comparison:
    """``analysis.compare`` of the pair, computed once per process (progress bar meanwhile)."""
    exp = experiment(workspace, scenario)
    opts = options or CompareOptions.from_experiment(exp)
    return _once(
        ("cmp", workspace, scenario, a, b, opts),
        f"Comparing {a} and {b}",
        lambda p: compare(exp, a, b, options=opts, progress=p),
    )


def table(workspace: str, scenario: str) -> pd.DataFrame:
    """The models table of the scenario (every model's accuracies and privacy headlines)."""
    exp = experiment(workspace, scenario)
    return _once(
        ("table", workspace, scenario),
        "Evaluating every model",
        lambda p: models_table(exp, progress=p),
    )


def table_intervals(workspace: str, scenario: str) -> pd.DataFrame:
    """The models table with every model's bootstrap intervals (on demand: bootstraps all)."""
    exp = experiment(workspace, scenario)
    return _once(
        ("table_ci", workspace, scenario),
        "Bootstrapping every model's intervals",
        lambda p: models_table(exp, progress=p, intervals=True),
    )


def clear() -> None:
    """Forget the in-memory copies (after a model is added or removed)."""
    values, _ = _memo()
    values.clear()
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

    def work(_: Callable[[str, float], None]) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="study '", category=RuntimeWarning)
            return study_results(workspace, name)

    return _once(("study", workspace, name), f"Evaluating the models of study {name}", work)


def study_results_all(workspace: str) -> dict[str, Any]:
    """Name -> result of every study with a done run (the Export page and the report)."""
    from analysis.studies import list_studies, study_status

    names = [r.name for r in list_studies(workspace)]
    done = [n for n in names if study_status(workspace, n).counts["done"]]
    return {name: study_result(workspace, name) for name in done}
