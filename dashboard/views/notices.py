"""Notices for scenarios that are not fully built yet (shown on every page, never as errors).

* :func:`no_retrain` — the scenario has no retrain model: metrics that need it are N/A; a
  button queues it (or the notice says where its run stands);
* :func:`too_few_models` — the scenario has fewer than two models (e.g. just added): nothing to
  compare yet; the retrain button and the run queue are shown instead of the pages.
"""

from __future__ import annotations

import streamlit as st

import analysis.runs as runs_api
from analysis.errors import UlensError
from analysis.experiment import Experiment
from analysis.runs.jobs import TrainJob
from analysis.runs.registry import RunRecord
from analysis.spec import AUXILIARY_ROLES
from dashboard import messages, state
from dashboard.figures import runs as run_figs
from dashboard.messages import md
from dashboard.views import runs_panel


def retrain_run(workspace: str, scenario: str) -> RunRecord | None:
    """The newest queued, running or done retrain run of ``scenario`` in the registry."""
    try:
        records = runs_api.list_runs(workspace)
    except UlensError:
        return None
    found = [
        r
        for r in records
        if r.role == "retrain" and r.forget == scenario and r.state in ("queued", "running", "done")
    ]
    return found[-1] if found else None


def queue_retrain(workspace: str, scenario: str) -> list[int]:
    """Queue the retrain model of ``scenario`` (the TOML retrain's recipe, else the
    original's) and start the background workers; return the run ids."""
    ids, _ = runs_panel.start(workspace, [TrainJob(role="retrain", scenario=scenario)])
    return ids


def offer_retrain(workspace: str, scenario: str, *, key: str) -> None:
    """Say that ``scenario`` has no retrain model, with a button queueing it (or its run's
    state when one is already queued or running)."""
    record = retrain_run(workspace, scenario)
    if record is not None and record.state == "done":
        return  # trained: the experiment lists it from the next rerun on
    if record is not None:
        row = run_figs.queue_rows([record])[0]
        st.info(
            f"Scenario {md(scenario)} has no retrain model yet: run {record.name} is "
            f"{row.progress} ({row.timing}). Metrics that compare with the retrain model "
            "show N/A until it finishes; the page updates then."
        )
        return
    c1, c2 = st.columns([3, 1], vertical_alignment="center")
    c1.info(
        f"Scenario {md(scenario)} has no retrain model (trained without the forget set, the "
        "target of exact unlearning), so the accuracy gap, the retrain-coloured cells, PS and "
        "the retrain gaps of the privacy audit are N/A. Queue it here, or run "
        f"`ulens train WORKSPACE --role retrain --scenario {scenario}`."
    )
    if c2.button(f"Queue the retrain model for {scenario}", key=key, type="primary"):
        try:
            ids = queue_retrain(workspace, scenario)
        except UlensError as exc:
            messages.error(f"Not queued: {exc}. Fix the recipe in experiment.toml and try again.")
            return
        st.toast(f"Queued {len(ids)} run(s): the retrain model of {scenario}.")
        st.rerun()  # the notice now follows the run


def no_retrain(ctx: state.Context) -> None:
    """The notice of a scenario without a retrain model (nothing when it has one)."""
    if ctx.experiment.retrain_name is None:
        offer_retrain(ctx.workspace, ctx.scenario, key="notice_retrain")


def too_few_models(workspace: str, exp: Experiment) -> None:
    """What the app shows instead of the pages when ``exp``'s scenario has < 2 models."""
    names = [n for n, m in exp.models.items() if m.role not in AUXILIARY_ROLES]
    listed = ", ".join(names) or "none"
    st.info(
        f"Scenario {exp.scenario!r} has {len(names)} model(s) to compare ({listed}); two are "
        "needed. Queue its retrain model below, queue unlearning runs for it from the Models "
        "page's Run panel (choose another scenario in the sidebar meanwhile), or add models "
        "to experiment.toml."
    )
    if exp.retrain_name is None:
        offer_retrain(workspace, exp.scenario, key="notice_retrain")
    runs_panel.queue(workspace, scenario=exp.scenario)
