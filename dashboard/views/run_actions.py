"""Actions on one registry run, shared by the run queue and the models table's selected row:
cancel, make it Model B, delete (with a confirmation step), download its weights and a
metrics JSON.

Actions run as widget callbacks (before the script or the queue's fragment reruns) and set
:data:`APP_RERUN` when the whole page must redraw (the pair or the set of models changed).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import streamlit as st

import analysis.runs as runs_api
from analysis.errors import UlensError
from analysis.runs.registry import RunRecord
from analysis.spec import AUXILIARY_ROLES
from dashboard import cached, messages, state
from dashboard.figures import runs as run_figs
from dashboard.messages import md

APP_RERUN = "_run_app_rerun"
"""Session key: a callback asks the queue fragment to rerun the whole page."""
_MESSAGE = "_run_message"


def cancel(workspace: str, run_id: int | None) -> None:
    """Cancel one run (or every active run); a callback."""
    try:
        ids = runs_api.cancel(workspace, run_id)
    except UlensError as exc:
        st.session_state[_MESSAGE] = ("error", f"Not cancelled: {exc}")
        return
    text = f"Cancel requested for {len(ids)} run(s)." if ids else "Nothing left to cancel."
    st.session_state[_MESSAGE] = ("info", text)


def _make_b(name: str, scenario: str | None) -> None:
    if scenario is not None and st.session_state.get("scenario") != scenario:
        state.set_value("scenario", scenario)
    a = st.session_state.get("a", "")
    if a == name:
        a = st.session_state.get("b", "")
    state.set_value("a", a)
    state.set_value("b", name)
    st.session_state[APP_RERUN] = True
    st.session_state[_MESSAGE] = ("info", f"Model B = {name}.")


def make_b_button(record: RunRecord, current_scenario: str | None, *, key: str) -> None:
    """A "Make Model B" button for a finished run (switches the scenario to the run's)."""
    usable = (
        record.state == "done"
        and record.role not in AUXILIARY_ROLES
        and st.session_state.get("b") != record.name
    )
    target = record.forget if record.forget is not None else current_scenario
    label = "Make Model B" if target == current_scenario else f"Make Model B ({target})"
    st.button(
        label,
        key=key,
        disabled=not usable,
        on_click=_make_b,
        args=(record.name, target),
        help=None
        if usable or record.role not in AUXILIARY_ROLES
        else "reference and shadow models are not compared as A/B",
    )


def _ask(key: str) -> None:
    st.session_state[key] = True


def _forget(key: str) -> None:
    st.session_state.pop(key, None)


def _delete(workspace: str, run_id: int, key: str, in_fragment: bool) -> None:
    st.session_state.pop(key, None)
    try:
        record = runs_api.delete_run(workspace, run_id)
    except UlensError as exc:
        st.session_state[_MESSAGE] = ("error", f"Not deleted: {exc}")
        return
    cached.clear()
    if in_fragment:
        st.session_state[APP_RERUN] = True
    st.session_state[_MESSAGE] = ("info", f"Deleted {record.name} and its files.")


def delete_controls(
    workspace: str, record: RunRecord, *, key: str, in_fragment: bool = False
) -> None:
    """ "Delete…" then "Yes, delete" / "Keep": removes the run, its weights and history.

    ``in_fragment``: drawn in the queue's fragment (a deletion then reruns the whole page).
    """
    confirm = f"{key}_confirm"
    if not st.session_state.get(confirm):
        st.button("Delete…", key=key, on_click=_ask, args=(confirm,))
    else:
        messages.warning(f"Delete {record.name} and its files? This cannot be undone.")
        c1, c2 = st.columns(2)
        c1.button(
            "Yes, delete",
            key=f"{key}_yes",
            type="primary",
            on_click=_delete,
            args=(workspace, record.id, confirm, in_fragment),
        )
        c2.button("Keep", key=f"{key}_no", on_click=_forget, args=(confirm,))


def show_message() -> None:
    """Show (once) what the last action's callback reported (callbacks draw nothing: a
    callback of a fragment rerun must not display elements)."""
    message = st.session_state.pop(_MESSAGE, None)
    if message is None:
        return
    kind, text = message
    (messages.error if kind == "error" else st.caption)(text)


def _read(path: Path) -> bytes:
    return path.read_bytes()


def download_controls(record: RunRecord, *, key: str) -> None:
    """Download buttons: the weights (read when clicked) and the run's metrics JSON."""
    c1, c2 = st.columns(2)
    c1.download_button(
        "Weights (.safetensors)",
        data=partial(_read, record.file),
        file_name=record.file.name,
        mime="application/octet-stream",
        key=f"{key}_weights",
        disabled=not record.file.is_file(),
        on_click="ignore",
    )
    c2.download_button(
        "Metrics (.json)",
        data=run_figs.run_metrics_json(record),
        file_name=f"{record.name}.metrics.json",
        mime="application/json",
        key=f"{key}_metrics",
        on_click="ignore",
    )


def render(ctx: state.Context, record: RunRecord | None, name: str | None) -> None:
    """Row actions of the models table's selected model ``name`` when it is a registry run
    (``record``; None for a model of experiment.toml)."""
    if name is None:
        return
    if record is None:
        st.caption(f"{md(name)} is declared in experiment.toml: edit the file to change it.")
        return
    rows = run_figs.queue_rows([record])
    what = rows[0].what if rows else "uploaded model"
    with st.container(border=True):
        st.markdown(f"**{md(name)}** — {what}")
        c1, c2 = st.columns([2, 1])
        with c1:
            download_controls(record, key=f"mdl_run_{record.id}")
        with c2:
            delete_controls(ctx.workspace, record, key=f"mdl_run_del_{record.id}")
        show_message()
