"""Studies: named sets of jobs plus an aggregation (issue 9).

* :class:`ScalabilityStudy` — forget sets of growing size, each with its retrain model;
* :class:`SustainabilityStudy` — successive deletion requests, each applied to the previous
  request's output, against a retrain on everything removed so far;
* :class:`CorrectiveStudy` — a manipulated training set (label flips or a trigger patch), a
  poisoned original, and methods given only a known part of the manipulated samples;
* :class:`WorstCaseStudy` — the hardest forget set of a size (by a per-sample difficulty score,
  :mod:`analysis.studies.difficulty`) against a random one of the same size.

A study is submitted with :func:`submit_study` (its scenarios are added to the registry and its
runs queued under one batch), executed like every run (:func:`run_study` in the foreground, or
:func:`analysis.runs.ensure_workers` in the background; local or Ray), watched with
:func:`study_status`, stopped with :func:`cancel_study`, read with :func:`study_results`
(the models table's metrics per run, mean ± std over seeds per method and size) and removed
with :func:`delete_study` (its runs, weights and the scenarios only it uses).

Example:
    >>> import shutil, tempfile
    >>> ws = shutil.copytree("sample_data/digits", tempfile.mkdtemp() + "/ws")
    >>> study = ScalabilityStudy(name="grow", methods=("ga",), sizes=(0.05, 0.1))
    >>> submit_study(ws, study).kind
    'scalability'
    >>> study_status(ws, "grow").counts["queued"]
    4
"""

from __future__ import annotations

from analysis.studies.api import (
    STALL_SECONDS,
    StudyDeletion,
    StudyStatus,
    cancel_study,
    collect_runs,
    delete_study,
    list_studies,
    load_study,
    run_study,
    study_origin,
    study_results,
    study_runs,
    study_scenarios,
    study_status,
    submit_study,
)
from analysis.studies.base import (
    STUDY_KINDS,
    STUDY_METRICS,
    Step,
    Study,
    StudyResult,
    register_study,
    study_from_dict,
    summarise,
)
from analysis.studies.corrective import CORRECTIVE_METRICS, CorrectiveStudy
from analysis.studies.difficulty import DIFFICULTY_SCORES, difficulty_scores
from analysis.studies.groups import GROUP_STUDY_METRICS, StudyGroups, study_groups
from analysis.studies.scalability import ScalabilityStudy
from analysis.studies.sustainability import SustainabilityStudy
from analysis.studies.worst_case import WorstCaseStudy

__all__ = [
    "CORRECTIVE_METRICS",
    "DIFFICULTY_SCORES",
    "GROUP_STUDY_METRICS",
    "STALL_SECONDS",
    "STUDY_KINDS",
    "STUDY_METRICS",
    "CorrectiveStudy",
    "ScalabilityStudy",
    "Step",
    "Study",
    "StudyDeletion",
    "StudyGroups",
    "StudyResult",
    "StudyStatus",
    "SustainabilityStudy",
    "WorstCaseStudy",
    "cancel_study",
    "collect_runs",
    "delete_study",
    "difficulty_scores",
    "list_studies",
    "load_study",
    "register_study",
    "run_study",
    "study_from_dict",
    "study_groups",
    "study_origin",
    "study_results",
    "study_runs",
    "study_scenarios",
    "study_status",
    "submit_study",
    "summarise",
]
