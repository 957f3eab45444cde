"""The Models page's "Run experiments" panel: build jobs, start them, watch the queue.

* The form: job kind (unlearn, train original / retrain, references, shadows), method (every
  registered method, plug-ins included), base model, scenario, and one typed widget per
  hyperparameter of the method's ``Params`` (or of the training recipe); grid mode takes up to
  five values per hyperparameter and several seeds and says how many runs Start queues.
* Start = :func:`analysis.runs.submit` + :func:`analysis.runs.ensure_workers`: the runs execute
  in the workspace's detached background pool, outside this script thread; they survive page
  reloads, new browser sessions and a restart of the dashboard (the registry keeps them).
* The queue (:func:`queue`): each run's live state (stage, epoch, current UA/RA, elapsed,
  ETA, error text of a failed run), cancel per run and for all, "Make Model B" for a finished
  run, delete with a confirmation. While runs are active it polls the registry every
  :data:`POLL_SECONDS` (a fragment, so only the queue redraws); when the set of finished runs
  changes the whole page reruns and the new models join the table.

The form logic is in :mod:`dashboard.views.run_form` (no Streamlit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import streamlit as st

import analysis.runs as runs_api
from analysis.errors import UlensError, ValidationError, describe
from analysis.runs.jobs import Job, ParamField
from analysis.spec import AUXILIARY_ROLES
from dashboard import cached, messages, state
from dashboard.figures import runs as run_figs
from dashboard.views import run_actions
from dashboard.views import run_form as form

POLL_SECONDS = 1.5
"""Seconds between two looks at the registry while runs are queued or running."""
RECENT_FINISHED = 8
"""Finished runs the queue shows unless "Show all runs" is on."""
_PREFIX = "run_"


# --------------------------------------------------------------------------- starting


def start(
    workspace: str, jobs: Sequence[Job], *, executor: str = "local", workers: int = 1
) -> tuple[list[int], bool]:
    """Queue ``jobs`` and make sure the workspace's background pool runs them.

    Returns:
        The queued run ids and whether a pool was started (False: one was already running).

    Raises:
        UlensError: A job does not fit the workspace (nothing is queued then), or a bad
            executor setting.
    """
    ids = runs_api.submit(workspace, list(jobs))
    started = runs_api.ensure_workers(workspace, executor=executor, workers=int(workers))
    return ids, started


def _start_clicked(workspace: str, jobs: Sequence[Job], executor: str, workers: int) -> None:
    try:
        ids, started = start(workspace, jobs, executor=executor, workers=workers)
    except UlensError as exc:
        messages.error(f"Nothing was started: {exc}. Fix the value named above and start again.")
        return
    pool = "started the background workers" if started else "the background workers pick them up"
    st.success(f"Queued {len(ids)} run(s); {pool}. They keep running if you close this page.")


# --------------------------------------------------------------------------- the form


def _number_step(default: Any) -> float:
    if isinstance(default, int | float) and default and math.isfinite(default):
        return float(10 ** math.floor(math.log10(abs(float(default)))))
    return 0.01


def _single_widget(spec: ParamField, key: str) -> Any:
    """One typed widget (number_input / checkbox / selectbox / text_input) for a field."""
    low, high = form.field_bounds(spec)
    if spec.type == "int":
        return st.number_input(
            spec.name, value=int(spec.default or 0), step=1, min_value=low, max_value=high, key=key
        )
    if spec.type == "float":
        return st.number_input(
            spec.name,
            value=float(spec.default or 0.0),
            step=_number_step(spec.default),
            min_value=None if low is None else float(low),
            max_value=None if high is None else float(high),
            format="%g",
            key=key,
        )
    if spec.type == "bool":
        return st.checkbox(spec.name, value=bool(spec.default), key=key)
    if spec.type == "choice":
        options = list(spec.choices)
        index = options.index(spec.default) if spec.default in options else 0
        return st.selectbox(spec.name, options, index=index, key=key)
    return st.text_input(
        spec.name, value="" if spec.default is None else str(spec.default), key=key
    )


def _grid_widget(spec: ParamField, key: str) -> list[Any]:
    """Up to five values of a field: a multiselect for choices and flags, else comma text."""
    if spec.type in ("choice", "bool"):
        options = list(spec.choices) if spec.type == "choice" else [True, False]
        chosen = st.multiselect(
            spec.name, options, default=[spec.default], key=key, max_selections=5
        )
        if not chosen:
            raise ValidationError(describe(spec.name, "at least one value", "none", raw=True))
        return list(chosen)
    text = st.text_input(
        spec.name,
        value=form.format_values([spec.default]),
        key=key,
        help=f"Up to {form.MAX_GRID_VALUES} comma-separated values, e.g. 0.01, 0.02",
    )
    return form.parse_field_values(spec, text)


def _field_values(
    fields: Sequence[ParamField], *, grid: bool, scope: str
) -> tuple[dict[str, list[Any]], list[str]]:
    """Each field's values from its widget (4 per row) and the problems found."""
    values: dict[str, list[Any]] = {}
    problems: list[str] = []
    columns = st.columns(4)
    for i, spec in enumerate(fields):
        key = f"{_PREFIX}{'g' if grid else 'f'}_{scope}_{spec.name}"
        with columns[i % 4]:
            try:
                values[spec.name] = _grid_widget(spec, key) if grid else [_single_widget(spec, key)]
            except UlensError as exc:
                problems.append(str(exc))
    return values, problems


def _seeds(grid: bool, default: int, scope: str) -> tuple[list[int], str | None]:
    if grid:
        text = st.text_input(
            "Seeds", value=str(default), key=f"{_PREFIX}seeds_{scope}", help="e.g. 0, 1, 2"
        )
        try:
            return form.parse_seeds(text), None
        except UlensError as exc:
            return [], str(exc)
    seed = st.number_input("Seed", value=int(default), step=1, key=f"{_PREFIX}seed_{scope}")
    return [int(seed)], None


def _model_choice(ctx: state.Context, scenario: str | None) -> str:
    exp = cached.experiment(ctx.workspace, scenario)
    names = [n for n, m in exp.models.items() if m.role not in AUXILIARY_ROLES]
    default = exp.original_name if exp.original_name in names else names[0]
    return str(
        st.selectbox(
            "Base model", names, index=names.index(default), key=f"{_PREFIX}base_{scenario}"
        )
    )


def _targets(ctx: state.Context, kind: str) -> dict[str, Any]:
    """Method, base, scenario, role and count widgets of a job kind."""
    scenarios = list(ctx.experiment.scenarios)
    out: dict[str, Any] = {}
    cols = st.columns(4)
    if kind in ("unlearn", "shadows"):
        methods = cached.methods()
        default = "ga" if "ga" in methods else methods[0]
        out["method"] = cols[0].selectbox(
            "Method", methods, index=methods.index(default), key=f"{_PREFIX}method"
        )
    if kind == "train":
        out["role"] = cols[0].radio(
            "Train", ["original", "retrain"], index=1, key=f"{_PREFIX}role", horizontal=True
        )
    if kind in ("unlearn", "shadows") or out.get("role") == "retrain":
        index = scenarios.index(ctx.scenario) if ctx.scenario in scenarios else 0
        out["scenario"] = cols[1].selectbox(
            "Scenario", scenarios, index=index, key=f"{_PREFIX}scenario"
        )
    if kind == "unlearn":
        with cols[2]:
            out["base"] = _model_choice(ctx, out["scenario"])
    if kind in ("references", "shadows"):
        out["count"] = int(
            cols[3].number_input("K (models)", 1, 256, 4, key=f"{_PREFIX}count_{kind}")
        )
    return out


def _recipe_defaults(ctx: state.Context, kind: str, targets: dict[str, Any]) -> dict[str, Any]:
    from analysis.runs.plan import resolve_recipe

    role = targets.get("role", "reference") if kind == "train" else "reference"
    return resolve_recipe(ctx.experiment, role, targets.get("scenario"))


def _fields(ctx: state.Context, kind: str, targets: dict[str, Any]) -> tuple[list[ParamField], int]:
    """The kind's typed fields and the default seed."""
    if kind in ("unlearn", "shadows"):
        return form.fields_for(kind, method=targets["method"]), 0
    recipe = _recipe_defaults(ctx, kind, targets)
    return form.fields_for(kind, recipe=recipe), int(recipe.get("seed", 0))


def _options(kind: str) -> dict[str, Any]:
    """Stopping rule, evaluation cadence and the worker settings."""
    with st.expander("Options: stopping rule, evaluation, workers"):
        c1, c2, c3, c4 = st.columns(4)
        stop = None
        if kind in ("unlearn", "shadows") and c1.checkbox(
            "Stop at UA ≤",
            key=f"{_PREFIX}stop_on",
            help="end a run once its forget accuracy is low",
        ):
            stop = float(c1.number_input("UA target", 0.0, 1.0, 0.05, key=f"{_PREFIX}stop"))
        every = int(
            c2.number_input(
                "Evaluate every (epochs)",
                0,
                100,
                1,
                key=f"{_PREFIX}eval_every",
                help="UA/RA/TUA/TRA/PS per epoch for the curves; 0 = only at the end",
            )
        )
        executor = c3.radio("Executor", ["local", "ray"], key=f"{_PREFIX}executor", horizontal=True)
        workers = int(c4.number_input("Parallel runs", 1, 8, 1, key=f"{_PREFIX}workers"))
    return {"stop_at_ua": stop, "eval_every": every, "executor": executor, "workers": workers}


def _request(ctx: state.Context) -> tuple[form.RunRequest | None, dict[str, Any], list[str]]:
    """Draw the form; return the request (None when a field is invalid), the run options
    and the problems to show."""
    kind = st.radio(
        "Job kind",
        list(form.JOB_KINDS),
        format_func=lambda k: form.JOB_KINDS[k],
        key=f"{_PREFIX}kind",
        horizontal=True,
    )
    targets = _targets(ctx, kind)
    grid = kind in form.GRID_KINDS and st.toggle(
        "Grid: several values per hyperparameter (up to 5) and several seeds",
        key=f"{_PREFIX}grid",
    )
    try:
        fields, default_seed = _fields(ctx, kind, targets)
    except UlensError as exc:
        return None, {}, [str(exc)]
    scope = "_".join(filter(None, [kind, targets.get("method", targets.get("role"))]))
    values, problems = _field_values(fields, grid=grid, scope=scope)
    seeds, seed_problem = _seeds(grid, default_seed, scope)
    options = _options(kind)
    problems += [seed_problem] if seed_problem else []
    if problems:
        return None, options, problems
    request = form.RunRequest(
        kind,
        method=targets.get("method"),
        base=targets.get("base", "original"),
        scenario=targets.get("scenario"),
        role=targets.get("role", "original"),
        values=values,
        seeds=seeds,
        count=targets.get("count", 1),
        stop_at_ua=options["stop_at_ua"],
        eval_every=options["eval_every"],
    )
    return request, options, []


def render(ctx: state.Context) -> None:
    """Draw the panel (form, run count, Start) and the queue."""
    st.subheader("Runs")
    with st.expander("Run experiments: unlearn, train, references, shadows", key="run_open"):
        request, options, problems = _request(ctx)
        jobs: list[Job] = []
        if request is not None:
            try:
                jobs = form.build_jobs(request)
            except UlensError as exc:
                problems.append(str(exc))
        for problem in problems:
            messages.error(f"{problem}. Nothing is started until it is fixed.")
        if jobs and request is not None:
            st.info(f"Start queues {form.grid_summary(request, jobs)}.")
        if st.button("Start", key=f"{_PREFIX}start", type="primary", disabled=not jobs):
            _start_clicked(ctx.workspace, jobs, options["executor"], options["workers"])
    queue(ctx.workspace, scenario=ctx.scenario)


# --------------------------------------------------------------------------- the queue


def queue(workspace: str, *, scenario: str | None) -> None:
    """The run queue: polls while runs are active (see the module docstring)."""
    try:
        records = runs_api.list_runs(workspace)
    except UlensError as exc:
        messages.error(f"Could not read the run registry: {exc}. Runs are not shown.")
        return
    active = any(r.state in ("queued", "running") for r in records)
    (_live_queue if active else _static_queue)(workspace, scenario, active)


def _queue_body(workspace: str, scenario: str | None, live: bool) -> None:
    if cached.refresh(workspace) or st.session_state.pop(run_actions.APP_RERUN, False):
        st.rerun(scope="app")  # finished or deleted runs: the table and sidebar change
    try:
        records = runs_api.list_runs(workspace)
    except UlensError as exc:
        messages.error(f"Could not read the run registry: {exc}.")
        return
    rows = run_figs.queue_rows(records)
    if live and not any(r.active for r in rows):
        st.rerun(scope="app")  # everything finished: stop polling, show the results
    st.markdown("**Queue**")
    run_actions.show_message()
    _queue_header(workspace, records, rows)
    show_all = st.toggle("Show all runs", key=f"{_PREFIX}show_all") if rows else False
    finished = [r for r in rows if not r.active]
    shown = [r for r in rows if r.active] + (finished if show_all else finished[:RECENT_FINISHED])
    by_id = {r.id: r for r in records}
    for row in shown:
        _queue_row(workspace, scenario, row, by_id[row.id])


_live_queue = st.fragment(run_every=POLL_SECONDS)(_queue_body)
_static_queue = st.fragment(_queue_body)


def _queue_header(workspace: str, records: Sequence[Any], rows: Sequence[Any]) -> None:
    counts: dict[str, int] = {}
    for record in records:
        if record.kind != "upload":
            counts[record.state] = counts.get(record.state, 0) + 1
    c1, c2, c3 = st.columns([4, 1, 1], vertical_alignment="center")
    summary = " · ".join(f"{n} {s}" for s, n in counts.items()) or "no runs yet"
    pool = "workers running" if runs_api.workers_running(workspace) else "no workers running"
    c1.caption(f"{summary} — {pool}")
    queued = counts.get("queued", 0)
    if c2.button("Start workers", key=f"{_PREFIX}pool", disabled=not queued):
        runs_api.ensure_workers(workspace)
    c3.button(
        "Cancel all",
        key=f"{_PREFIX}cancel_all",
        disabled=not any(r.active for r in rows),
        on_click=run_actions.cancel,
        args=(workspace, None),
    )


def _queue_row(workspace: str, scenario: str | None, row: Any, record: Any) -> None:
    with st.container(border=True):
        c1, c2, c3 = st.columns([3, 3, 2], vertical_alignment="center")
        c1.markdown(f"**{row.title}**  \n{row.what}")
        c2.progress(row.fraction, text=row.progress)
        c2.caption(" · ".join(p for p in (row.metrics, row.timing) if p))
        with c3:
            if row.active:
                st.button(
                    "Cancelling…" if row.cancelling else "Cancel",
                    key=f"{_PREFIX}cancel_{row.id}",
                    disabled=row.cancelling,
                    on_click=run_actions.cancel,
                    args=(workspace, row.id),
                )
            elif row.state == "done":
                run_actions.make_b_button(record, scenario, key=f"{_PREFIX}b_{row.id}")
            if not row.active:
                run_actions.delete_controls(
                    workspace, record, key=f"{_PREFIX}del_{row.id}", in_fragment=True
                )
        if row.error:
            first, _, rest = row.error.partition("\n")
            messages.error(f"{row.name} {row.state}: {first}")
            if rest.strip():
                with st.expander("Details"):
                    st.code(rest)
