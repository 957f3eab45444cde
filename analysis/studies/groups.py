"""Group robustness of a study's runs: per-group metrics of every done run, worst-group gaps.

Every study's result can be read per group (:func:`study_groups`): each done run of a step's
scenario gets :func:`analysis.group_robustness.group_metrics` against that scenario's retrain
model, and the worst-group gap ``max_g |TA_gap(g)|`` and worst-group accuracy are summarised
per (method, x) with mean ± std over seeds, like :func:`~analysis.studies.study_results`.
Corrective studies have no retrain model per known subset (their reference is the retrain
without every manipulated sample), so their gaps are NaN here; their own table has the gaps.

Example:
    >>> import shutil, tempfile
    >>> from analysis.studies import ScalabilityStudy, submit_study
    >>> ws = shutil.copytree("sample_data/digits", tempfile.mkdtemp() + "/ws")
    >>> _ = submit_study(ws, ScalabilityStudy(name="g", methods=("ga",), sizes=(0.05,)))
    >>> study_groups(ws, "g").runs.empty  # nothing has run yet
    True
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from analysis.group_robustness import _COLUMNS, _Logits, group_metrics, load_groups
from analysis.studies.base import summarise

__all__ = ["GROUP_STUDY_METRICS", "StudyGroups", "study_groups"]

GROUP_STUDY_METRICS = ("worst_gap", "worst_acc")
"""Per-run group headline numbers summarised per (method, x)."""


@dataclass(frozen=True)
class StudyGroups:
    """A study's runs read per group.

    Attributes:
        name: The study.
        x_label: What ``x`` measures.
        source: Where the groups came from (``classes``, a file).
        runs: One row per (done run, group): ``method``, ``x``, ``seed``, ``name`` (the run),
            ``scenario`` and the :attr:`~analysis.GroupMetrics.table` columns (the group's
            name as ``group_name``); and per step the rows of the model the methods start
            from (method ``before``, no seed: the base, or a corrective study's poisoned
            original) against that step's retrain model.
        worst: One row per (method, x): ``runs``, ``done`` and ``worst_gap_mean/std``,
            ``worst_acc_mean/std`` over seeds.
        per_group: One row per (method, x, group, group_name): mean and std over seeds of
            ``TA``, ``TA_gap`` and ``PS``.
    """

    name: str
    x_label: str
    source: str
    runs: pd.DataFrame
    worst: pd.DataFrame
    per_group: pd.DataFrame


def study_groups(
    workspace: str | Path,
    name: str,
    *,
    groups: Any = None,
    device: str | torch.device = "auto",
) -> StudyGroups:
    """Per-group metrics of study ``name``'s done runs (see the module docstring).

    Args:
        workspace: The workspace.
        name: The study.
        groups: See :func:`analysis.group_robustness.load_groups`.
        device: ``"auto"``, ``"cpu"``, ``"cuda[:N]"``.

    Raises:
        ValidationError: No study called ``name``, bad groups.
    """
    from analysis.experiment import load_experiment
    from analysis.runs.plan import workspace_root
    from analysis.studies.api import _record, load_study, study_runs

    study = load_study(_record(workspace, name))
    runs = study_runs(workspace, name)
    base = load_experiment(workspace_root(workspace))
    labels = load_groups(base, groups)
    rows: list[pd.DataFrame] = []
    heads: list[dict[str, Any]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # empty groups: NaN by design
        for step in study.steps():
            if step.scenario not in base.spec.scenarios:
                continue
            exp = base.with_scenario(step.scenario)
            logits = _Logits(exp, device)
            for record in runs:
                if record.forget != step.scenario:
                    continue
                method = "retrain" if record.role == "retrain" else record.method
                head = {"method": method, "x": step.x, "seed": record.seed, "name": record.name}
                head |= {"scenario": step.scenario, "state": record.state}
                heads.append(head | {m: math.nan for m in GROUP_STUDY_METRICS})
                if record.state != "done" or record.name not in exp.models:
                    continue
                result = group_metrics(exp, record.name, groups=labels, _logits=logits)
                heads[-1] |= {"worst_gap": result.worst_gap, "worst_acc": result.worst_acc}
                rows.append(result.table.rename(columns={"name": "group_name"}).assign(**head))
            before = _before(study, exp)
            if before is not None:  # the model every method starts from, on this step
                head = {"method": "before", "x": step.x, "seed": math.nan, "name": before}
                head |= {"scenario": step.scenario, "state": "done"}
                result = group_metrics(exp, before, groups=labels, _logits=logits)
                heads.append(head | {"worst_gap": result.worst_gap, "worst_acc": result.worst_acc})
                rows.append(result.table.rename(columns={"name": "group_name"}).assign(**head))
    keys = ["method", "x", "seed", "name", "scenario"]
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=keys)
    columns = ["group_name" if c == "name" else c for c in _COLUMNS]
    table = table.reindex(columns=[*keys, *columns])
    head_frame = pd.DataFrame(heads, columns=[*keys, "state", *GROUP_STUDY_METRICS])
    return StudyGroups(
        name=name,
        x_label=study.x_label,
        source=labels.source,
        runs=table,
        worst=summarise(head_frame, GROUP_STUDY_METRICS),
        per_group=_per_group(table),
    )


def _before(study: Any, exp: Any) -> str | None:
    """The model the study's methods start from ("before" unlearning): the base model, or a
    corrective study's poisoned original; None when it is not in the workspace."""
    name = getattr(study, "original_name", None) or study.base
    return name if name in exp.models else None


def _per_group(table: pd.DataFrame) -> pd.DataFrame:
    keys = ["method", "x", "group", "group_name"]
    metrics = ["TA", "TA_gap", "PS"]
    columns = [*keys, *(f"{m}_{s}" for m in metrics for s in ("mean", "std"))]
    if table.empty:
        return pd.DataFrame(columns=columns)
    frame = table.copy()
    for metric in metrics:
        frame[metric] = pd.to_numeric(frame[metric], errors="coerce")
    stats = frame.groupby(keys, sort=False)[metrics].agg(["mean", "std"])
    stats.columns = [f"{pair[0]}_{pair[1]}" for pair in stats.columns]
    return stats.reset_index().reindex(columns=columns)
