"""The only place with Streamlit caching: experiments, comparisons and the models table.

Heavy results come from the analysis library's disk cache (content-hash keyed); these wrappers
keep one in-memory copy per process, show a progress bar while something computes (once), and
make concurrent sessions wait for the same computation instead of repeating it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import streamlit as st
import torch

from analysis.compare import CompareOptions, Comparison, compare, models_table
from analysis.experiment import Experiment, load_experiment

T = TypeVar("T")


@st.cache_resource(show_spinner=False)
def experiment(workspace: str, scenario: str | None) -> Experiment:
    """The workspace's experiment for ``scenario`` (parsed and loaded once per process)."""
    return load_experiment(workspace, scenario=scenario)


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
    experiment.clear()
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
