"""The Studies page (issue 9): submit a study, watch its runs, cancel it, read its results.

* **New study**: kind (scalability sweep, sustainability sweep, worst-case forget set), name,
  methods (every registered method, plug-ins included), seeds, the kind's sizes, optional
  hyperparameters and retrain-recipe overrides. Submit = :func:`analysis.studies.submit_study`
  (all or nothing: a bad field names itself and nothing is queued) +
  :func:`analysis.runs.ensure_workers`, so the runs execute in the workspace's detached
  background pool and survive page reloads.
* **Studies**: each study with its runs per state and a determinate progress bar, and Cancel.
  While runs are active the list polls the registry every :data:`POLL_SECONDS` (a fragment);
  when runs finish the whole page reruns and the results follow.
* **Results**: the chosen study's plots (:mod:`dashboard.figures.studies`) with PNG / SVG /
  PDF / CSV downloads, and the summary table (mean ± std over seeds per method and point).

The form logic (:func:`build_study` and its parsers) is plain Python, tested without Streamlit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import streamlit as st

import analysis.runs as runs_api
from analysis.errors import UlensError, ValidationError, describe
from analysis.studies import (
    DIFFICULTY_SCORES,
    ScalabilityStudy,
    Study,
    StudyResult,
    SustainabilityStudy,
    WorstCaseStudy,
    cancel_study,
    list_studies,
    study_status,
    submit_study,
)
from dashboard import cached, export, messages, state
from dashboard.figures import FigureSpec
from dashboard.figures import studies as figs
from dashboard.messages import md

__all__ = [
    "KINDS",
    "POLL_SECONDS",
    "StudyRequest",
    "build_study",
    "counts_text",
    "file_name",
    "kind_label",
    "parse_assignments",
    "parse_numbers",
    "render",
    "studies_list",
]

POLL_SECONDS = 2.0
"""Seconds between two looks at the registry while a study's runs are queued or running."""
KINDS = {
    "scalability": "Scalability: growing forget sets",
    "sustainability": "Sustainability: successive deletion requests",
    "worst_case": "Worst case: hardest vs random forget set",
    "corrective": "Corrective: manipulated data, a known part forgotten",
}
"""Study kinds offered by the form -> label."""
_PREFIX = "stu_"
_MESSAGE = "_stu_message"


# --------------------------------------------------------------------------- form logic


@dataclass(frozen=True)
class StudyRequest:
    """What the form holds (texts as typed; :func:`build_study` parses and validates them)."""

    kind: str
    name: str
    methods: tuple[str, ...]
    seeds: str = "0"
    forget: str = "random"
    sizes: str = ""
    requests: int = 2
    size: str = ""
    within: int | None = None
    score: str = "memorization"
    params: str = ""
    recipe: str = ""
    forget_seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def parse_numbers(text: str, argument: str, cast: type = float) -> list[Any]:
    """Comma-separated numbers; a clear error naming ``argument`` otherwise.

    Example:
        >>> parse_numbers("0.05, 0.1", "sizes"), parse_numbers("0,1", "seeds", int)
        ([0.05, 0.1], [0, 1])
    """
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        values = [cast(p) for p in parts]
    except ValueError:
        values = []
    if not values:
        raise ValidationError(describe(argument, "comma-separated numbers", text))
    return values


def parse_assignments(
    text: str, methods: Sequence[str], *, workspace: str | None = None
) -> dict[str, dict[str, Any]]:
    """``"ga:lr=0.01, epochs=1"`` -> per-method hyperparameters (``KEY=VALUE`` without a method
    applies to every method), typed against each method's ``Params``.

    Example:
        >>> parse_assignments("ga:lr=0.01, epochs=1", ["ga", "ft"])
        {'ga': {'lr': 0.01, 'epochs': 1}, 'ft': {'epochs': 1}}
    """
    from analysis.runs import parse_params

    out: dict[str, dict[str, Any]] = {}
    for item in (p.strip() for p in str(text).split(",")):
        if not item:
            continue
        head, sep, value = item.partition("=")
        method, colon, key = head.rpartition(":")
        targets = [method.strip()] if colon else list(methods)
        if colon and method.strip() not in methods:
            raise ValidationError(
                describe("hyperparameters", f"a method among {list(methods)}", method)
            )
        for target in targets:
            parsed = parse_params(
                target, [f"{key.strip()}{sep}{value.strip()}"], workspace=workspace
            )
            out.setdefault(target, {}).update(parsed)
    return out


def _one(values: list[Any], text: str, argument: str = "size") -> Any:
    if len(values) != 1:
        raise ValidationError(describe(argument, "one number", text))
    return values[0]


def build_study(request: StudyRequest, *, workspace: str | None = None) -> Study:
    """The study the form describes.

    Raises:
        UlensError: A field is missing or invalid (the message names it).

    Example:
        >>> build_study(StudyRequest("scalability", "grow", ("ga",), sizes="0.05, 0.1")).kind
        'scalability'
    """
    from analysis.runs import parse_recipe

    if request.kind not in KINDS:
        raise ValidationError(describe("kind", f"one of {list(KINDS)}", request.kind))
    if not request.name.strip():
        raise ValidationError(describe("name", "a study name", "nothing", raw=True))
    if not request.methods:
        raise ValidationError(describe("methods", "at least one method", "none", raw=True))
    common: dict[str, Any] = {
        "name": request.name.strip(),
        "methods": tuple(request.methods),
        "seeds": tuple(parse_numbers(request.seeds, "seeds", int)),
        "params": parse_assignments(request.params, request.methods, workspace=workspace),
        "recipe": parse_recipe([p.strip() for p in request.recipe.split(",") if p.strip()]),
        "forget_seed": int(request.forget_seed),
    }
    if request.kind == "scalability":
        cast = float if request.forget == "random" else int
        sizes = tuple(parse_numbers(request.sizes, "sizes", cast))
        return ScalabilityStudy(forget=request.forget, sizes=sizes, **common)
    if request.kind == "sustainability":
        cast = float if request.forget == "random" else int
        size = _one(parse_numbers(request.size, "size", cast), request.size)
        return SustainabilityStudy(
            forget=request.forget, requests=int(request.requests), size=size, **common
        )
    if request.kind == "corrective":
        return _corrective(request, common)
    count = _one(parse_numbers(request.size, "size", int), request.size)
    return WorstCaseStudy(size=count, within=request.within, score=request.score, **common)


def _corrective(request: StudyRequest, common: dict[str, Any]) -> Study:
    """The corrective study of the form: ``extra`` holds the manipulation's fields."""
    from analysis.studies import CorrectiveStudy

    extra = request.extra
    poison = str(extra.get("poison", ""))
    fraction = _one(parse_numbers(poison, "poison fraction"), poison, "poison fraction")
    manipulation = {
        "kind": extra.get("manipulation", "trigger"),
        "fraction": fraction,
        "seed": int(extra.get("manipulation_seed", 0)),
        "target": extra.get("target"),
        "patch": int(extra.get("patch", 3)),
        "value": None,
    }
    known = tuple(parse_numbers(request.sizes, "known fractions"))
    return CorrectiveStudy(forget="random", manipulation=manipulation, known=known, **common)


# --------------------------------------------------------------------------- the page


def render() -> None:
    """Draw the page."""
    ctx = state.context()
    st.header("Studies")
    if not ctx.presentation:
        st.caption(
            "A study is a named set of runs plus an aggregation: forget sets of growing size "
            "(scalability), successive deletion requests (sustainability), the hardest "
            "forget set of a size against a random one (worst case), or manipulated training "
            "data of which each method forgets a known part (corrective). Its runs execute in the "
            "background; the plots show mean ± std over seeds against the retrain models."
        )
    try:
        records = list_studies(ctx.workspace)
    except UlensError as exc:
        messages.error(f"Could not read the studies of this workspace: {exc}.")
        return
    _form(ctx, open_=not records)
    studies_list(ctx.workspace)
    _results(ctx, [r.name for r in records])


def _form(ctx: state.Context, *, open_: bool) -> None:
    with st.expander("New study", expanded=open_):
        request = _request(ctx)
        if st.button("Submit study", key=f"{_PREFIX}submit", type="primary"):
            _submit(ctx.workspace, request)
        note = st.session_state.pop(_MESSAGE, None)
        if note:
            st.success(note)


def _request(ctx: state.Context) -> StudyRequest:
    kind = st.radio(
        "Kind", list(KINDS), format_func=KINDS.__getitem__, key=f"{_PREFIX}kind", horizontal=True
    )
    c1, c2, c3 = st.columns([2, 3, 1])
    name = c1.text_input("Name", key=f"{_PREFIX}name", placeholder="e.g. grow")
    methods = cached.methods()
    chosen = c2.multiselect(
        "Methods", methods, default=["ga"] if "ga" in methods else [], key=f"{_PREFIX}methods"
    )
    seeds = c3.text_input("Seeds", "0", key=f"{_PREFIX}seeds", help="comma-separated, e.g. 0, 1, 2")
    fields = _kind_fields(ctx, kind)
    with st.expander("Options: hyperparameters, retrain recipe, forget seed, workers"):
        o1, o2, o3 = st.columns([3, 3, 1])
        params = o1.text_input(
            "Hyperparameters",
            key=f"{_PREFIX}params",
            placeholder="e.g. epochs=2, ga:lr=0.01",
            help="KEY=VALUE applies to every method, METHOD:KEY=VALUE to one; comma-separated",
        )
        recipe = o2.text_input(
            "Retrain recipe",
            key=f"{_PREFIX}recipe",
            placeholder="e.g. epochs=5",
            help="overrides of the retrain models' training recipe (KEY=VALUE, comma-separated)",
        )
        forget_seed = o3.number_input("Forget seed", 0, 2**31 - 1, 0, key=f"{_PREFIX}fseed")
        fields["extra"] = {
            **fields.get("extra", {}),
            "workers": int(st.number_input("Parallel runs", 1, 8, 1, key=f"{_PREFIX}workers")),
        }
    return StudyRequest(
        kind=kind,
        name=name,
        methods=tuple(chosen),
        seeds=seeds,
        params=params,
        recipe=recipe,
        forget_seed=int(forget_seed),
        **fields,
    )


def _kind_fields(ctx: state.Context, kind: str) -> dict[str, Any]:
    c1, c2, c3 = st.columns(3)
    if kind == "corrective":
        return _corrective_fields(ctx, (c1, c2, c3))
    if kind == "worst_case":
        names = ctx.experiment.class_names
        within = c1.selectbox(
            "Within",
            [None, *range(len(names))],
            format_func=lambda c: "all training samples" if c is None else f"class {names[c]}",
            key=f"{_PREFIX}within",
        )
        size = c2.text_input("Size (samples)", "30", key=f"{_PREFIX}wsize")
        score = c3.selectbox("Difficulty score", list(DIFFICULTY_SCORES), key=f"{_PREFIX}score")
        return {"within": within, "size": size, "score": score}
    forget = c1.radio(
        "Forget",
        ["random", "classes"],
        key=f"{_PREFIX}forget",
        horizontal=True,
        help="random training samples (sizes are fractions) or whole classes (counts)",
    )
    if kind == "scalability":
        default = "0.05, 0.1, 0.2" if forget == "random" else "1, 2, 3"
        sizes = c2.text_input(
            "Sizes",
            default,
            key=f"{_PREFIX}sizes_{forget}",
            help="increasing fractions of the training set, or numbers of classes",
        )
        return {"forget": forget, "sizes": sizes}
    requests = c2.number_input("Requests", 1, 20, 3, key=f"{_PREFIX}requests")
    size = c3.text_input(
        "Size per request",
        "0.05" if forget == "random" else "1",
        key=f"{_PREFIX}size_{forget}",
        help="a fraction of the training set, or a number of classes",
    )
    return {"forget": forget, "requests": int(requests), "size": size}


def _corrective_fields(ctx: state.Context, columns: Any) -> dict[str, Any]:
    """The manipulation (kind, share, target, patch) and the known fractions."""
    c1, c2, c3 = columns
    kind = c1.radio(
        "Manipulation",
        ["trigger", "label_flip"],
        key=f"{_PREFIX}manip",
        horizontal=True,
        help="trigger: a square patch in the corner and the target label (a backdoor); "
        "label_flip: the label becomes the target, or a random other class",
    )
    names = ctx.experiment.class_names
    targets = [*range(len(names))] if kind == "trigger" else [None, *range(len(names))]
    target = c2.selectbox(
        "Target label",
        targets,
        format_func=lambda c: "a random other class" if c is None else f"class {names[c]}",
        key=f"{_PREFIX}target_{kind}",
    )
    poison = c3.text_input("Poison fraction", "0.1", key=f"{_PREFIX}poison")
    k1, k2, _ = st.columns(3)
    known = k1.text_input(
        "Known fractions",
        "0.1, 0.5, 1",
        key=f"{_PREFIX}known",
        help="increasing shares of the manipulated samples given to each method to forget",
    )
    patch = (
        k2.number_input("Patch side (px)", 1, 32, 3, key=f"{_PREFIX}patch")
        if (kind == "trigger")
        else 3
    )
    extra = {"manipulation": kind, "target": target, "poison": poison, "patch": int(patch)}
    return {"sizes": known, "extra": extra}


def _submit(workspace: str, request: StudyRequest) -> None:
    try:
        study = build_study(request, workspace=workspace)
        submit_study(workspace, study)
    except UlensError as exc:
        messages.error(f"The study was not submitted: {exc}. Fix that field and submit again.")
        return
    total = study_status(workspace, study.name).total
    try:
        runs_api.ensure_workers(workspace, workers=int(request.extra.get("workers", 1)))
    except UlensError as exc:
        messages.error(f"Study {study.name} is queued but no workers started: {exc}.")
        return
    st.session_state[_MESSAGE] = (
        f"Study {study.name}: queued {total} runs; the background workers run them. "
        "They keep running if you close this page."
    )
    st.rerun()


# --------------------------------------------------------------------------- the list


def studies_list(workspace: str) -> None:
    """Every study with its progress and Cancel; polls while runs are active."""
    try:
        statuses = [study_status(workspace, r.name) for r in list_studies(workspace)]
    except UlensError as exc:
        messages.error(f"Could not read the run registry: {exc}.")
        return
    active = any(not s.finished for s in statuses)
    (_live_list if active else _static_list)(workspace, active)


def counts_text(counts: dict[str, int]) -> str:
    """``"1 queued · 2 running · 3 done · 0 failed"`` (+ cancelled / interrupted when any).

    Example:
        >>> counts_text({"queued": 1, "running": 0, "done": 2, "failed": 0, "cancelled": 1})
        '1 queued · 0 running · 2 done · 0 failed · 1 cancelled'
    """
    shown = ["queued", "running", "done", "failed"]
    shown += [s for s in ("cancelled", "interrupted") if counts.get(s)]
    return " · ".join(f"{counts.get(s, 0)} {s}" for s in shown)


def _list_body(workspace: str, live: bool) -> None:
    if cached.refresh(workspace):
        st.rerun(scope="app")  # runs finished: the results and the sidebar change
    try:
        statuses = [study_status(workspace, r.name) for r in list_studies(workspace)]
    except UlensError as exc:
        messages.error(f"Could not read the run registry: {exc}.")
        return
    if live and all(s.finished for s in statuses):
        st.rerun(scope="app")  # everything finished: stop polling, show the results
    st.subheader("Studies")
    if not statuses:
        st.info("No study yet: open New study above.")
    for status in statuses:
        _study_row(workspace, status)


_live_list = st.fragment(run_every=POLL_SECONDS)(_list_body)
_static_list = st.fragment(_list_body)


def _study_row(workspace: str, status: Any) -> None:
    with st.container(border=True):
        c1, c2, c3 = st.columns([2, 5, 1], vertical_alignment="center")
        c1.markdown(f"**{md(status.name)}**  \n{kind_label(status.kind)}")
        finished = status.total - status.counts["queued"] - status.counts["running"]
        c2.progress(
            min(max(status.fraction, 0.0), 1.0),
            text=f"{finished} of {status.total} runs finished · {counts_text(status.counts)}",
        )
        c3.button(
            "Cancel",
            key=f"{_PREFIX}cancel_{status.name}",
            disabled=status.finished,
            on_click=_cancel,
            args=(workspace, status.name),
        )
        if status.finished:
            _delete_control(c3, workspace, status.name)


def _delete_control(column: Any, workspace: str, name: str) -> None:
    """Delete, behind a confirm step: a popover saying what goes, with the real button."""
    with column.popover("Delete", key=f"{_PREFIX}delete_{name}"):
        st.caption(
            f"Delete study {md(name)}: its runs, their weights and the forget scenarios only "
            "it uses. Models and scenarios of your own stay."
        )
        st.button(
            "Delete study",
            type="primary",
            key=f"{_PREFIX}delete_ok_{name}",
            on_click=_delete,
            args=(workspace, name),
        )


def _delete(workspace: str, name: str) -> None:
    from analysis.studies import delete_study

    try:
        gone = delete_study(workspace, name)
    except UlensError as exc:
        messages.error(f"Could not delete study {name}: {exc}.")
        return
    st.toast(f"Deleted study {name}: {len(gone.runs)} run(s), {len(gone.scenarios)} scenario(s)")


def kind_label(kind: str) -> str:
    """Short label of a study kind."""
    return KINDS.get(kind, kind).split(":")[0]


def _cancel(workspace: str, name: str) -> None:
    try:
        hit = cancel_study(workspace, name)
    except UlensError as exc:
        messages.error(f"Could not cancel study {name}: {exc}.")
        return
    st.toast(f"Cancel requested for {len(hit)} run(s) of study {name}")


# --------------------------------------------------------------------------- results


def _results(ctx: state.Context, names: list[str]) -> None:
    done = [n for n in names if study_status(ctx.workspace, n).counts["done"]]
    if not done:
        return
    st.subheader("Results")
    name = st.selectbox("Study", done, index=len(done) - 1, key=f"{_PREFIX}shown")
    try:
        result: StudyResult = cached.study_result(ctx.workspace, name)
    except UlensError as exc:
        messages.error(f"Could not evaluate study {name}: {exc}.")
        return
    problem = export.renderer_problem()
    for spec in figs.study_figures(result, presentation=ctx.presentation):
        st.plotly_chart(spec.figure, width="stretch", theme=None, key=f"{_PREFIX}fig_{spec.key}")
        _downloads(ctx, spec, images_ok=problem is None)
    if problem and not ctx.presentation:
        st.caption("PNG / SVG / PDF need a Chromium-based browser for kaleido; CSV works.")
    st.dataframe(figs.summary_display(result), hide_index=True, key=f"{_PREFIX}summary")
    if not ctx.presentation:
        st.caption(
            "Mean ± sample std over the seeds of the done runs; the retrain rows are the "
            "reference (one model per forget set). Export and the HTML report include these "
            "plots."
        )
    _group_results(ctx, name, images_ok=problem is None)


def _group_results(ctx: state.Context, name: str, *, images_ok: bool) -> None:
    """The study read per group (last: it may still be computing in the slow lane)."""
    st.subheader("Group robustness")
    try:
        groups = cached.study_groups(ctx.workspace, name)
    except UlensError as exc:
        messages.error(f"Could not compute study {name}'s per-group metrics: {exc}.")
        return
    if groups.worst.empty or not int(groups.worst["done"].sum()):
        st.info("No done run to read per group yet.")
        return
    spec = figs.study_groups_spec(groups, presentation=ctx.presentation)
    st.plotly_chart(spec.figure, width="stretch", theme=None, key=f"{_PREFIX}fig_{spec.key}")
    _downloads(ctx, spec, images_ok=images_ok)
    if not ctx.presentation:
        st.caption(
            "Worst-group gap = the largest |test accuracy − the step's retrain model's| over "
            "the groups (classes, or the dataset's group column); per-group bars at the last "
            "step. Corrective studies have no retrain per known subset: their gaps are N/A."
        )


def file_name(experiment: str, spec: FigureSpec, ext: str) -> str:
    """Download name of a study figure: ``<experiment>_<figure key>.<ext>``.

    Example:
        >>> import pandas as pd, plotly.graph_objects as go
        >>> file_name("my digits", FigureSpec("study_g_scalability", "", go.Figure(),
        ...     pd.DataFrame()), "svg")
        'my-digits_study_g_scalability.svg'
    """
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", experiment).strip("-") or "experiment"
    return f"{stem}_{spec.key}.{ext}"


def _downloads(ctx: state.Context, spec: FigureSpec, *, images_ok: bool) -> None:
    cols = st.columns([4, 1, 1, 1, 1])
    cols[0].caption(spec.title)
    for col, fmt in zip(cols[1:4], export.FORMATS, strict=True):
        col.download_button(
            fmt.upper(),
            data=partial(export.figure_bytes, spec.figure, fmt),
            file_name=file_name(ctx.experiment.spec.name, spec, fmt),
            mime=export.FORMATS[fmt],
            key=f"{_PREFIX}{spec.key}_{fmt}",
            on_click="ignore",
            disabled=not images_ok,
        )
    cols[4].download_button(
        "CSV",
        data=export.csv_bytes(spec.data),
        file_name=file_name(ctx.experiment.spec.name, spec, "csv"),
        mime="text/csv",
        key=f"{_PREFIX}{spec.key}_csv",
        on_click="ignore",
    )
