"""Adding models to a workspace: validated weights, atomic file writes, the run registry.

Models added here (uploads, runs) live in ``models/added/`` and in ``runs.sqlite``; the
experiment merges them with ``experiment.toml``'s models when it is loaded.

Example:
    >>> import analysis, tempfile, shutil
    >>> ws = shutil.copytree("sample_data/digits", tempfile.mkdtemp() + "/ws")
    >>> exp = analysis.load_experiment(ws)
    >>> data = open(exp.entry("ga").file, "rb").read()
    >>> add_model_bytes(exp, data, name="ga_copy", role="unlearned", method="ga",
    ...                 base="original").name
    'ga_copy'
    >>> "ga_copy" in analysis.load_experiment(ws).models
    True
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import warnings

from analysis.errors import ValidationError, describe
from analysis.experiment import Experiment
from analysis.models import load_weights_into
from analysis.spec import ExperimentSpec, ModelEntry
from analysis.store import RunRegistry, safe_workspace_path, to_entry

__all__ = ["MAX_UPLOAD_BYTES", "REGISTRY_FILE", "add_model_bytes", "with_registered_runs"]

MAX_UPLOAD_BYTES = 512 * 1024 * 1024
REGISTRY_FILE = "runs.sqlite"


def with_registered_runs(spec: ExperimentSpec) -> ExperimentSpec:
    """``spec`` plus the finished runs of the workspace's registry (TOML names win)."""
    db = spec.root / REGISTRY_FILE
    if not db.exists():
        return spec
    extra: dict[str, ModelEntry] = {}
    for record in RunRegistry(db).list():
        if record.status != "done" or record.name in spec.models:
            continue
        if record.forget is not None and record.forget not in spec.scenarios:
            warnings.warn(
                f"{db}: run {record.name!r} names unknown scenario {record.forget!r}; skipped",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        extra[record.name] = to_entry(record, spec.architecture)
    return dataclasses.replace(spec, models={**spec.models, **extra}) if extra else spec


def _validate_upload(exp: Experiment, data: bytes, name: str, role: str) -> None:
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationError(
            describe(
                "weights",
                f"at most {MAX_UPLOAD_BYTES // 2**20} MiB",
                f"{len(data) / 2**20:.1f} MiB",
                raw=True,
            )
        )
    if name in exp.spec.models:
        raise ValidationError(describe("name", "a name not used by another model", name))
    if role not in ("original", "retrain", "unlearned", "reference"):
        raise ValidationError(describe("role", "original, retrain, unlearned or reference", role))


def add_model_bytes(
    exp: Experiment,
    data: bytes,
    *,
    name: str,
    role: str,
    method: str | None = None,
    base: str | None = None,
    description: str = "",
    rt: float | None = None,
) -> ModelEntry:
    """Validate ``.safetensors`` bytes against the experiment's architecture and add the model.

    The bytes are checked (size limit, safetensors format, finite values, keys, shapes and class
    count via a real load) before anything is written; then the file is moved atomically into
    ``models/added/NAME.safetensors`` and registered in ``runs.sqlite`` for the current scenario.

    Raises:
        ValidationError: Bad name / role, or over the size limit.
        WeightsError: The bytes are not valid weights for this architecture and dataset.
    """
    _validate_upload(exp, data, name, role)
    target = safe_workspace_path(exp.root, f"models/added/{name}.safetensors")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise ValidationError(describe("name", "a name without weights in models/added/", name))
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".safetensors")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        load_weights_into(exp.build(), tmp, num_classes=exp.num_classes)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    forget = None if role in ("original", "reference") else exp.scenario
    try:
        record = RunRegistry(exp.root / REGISTRY_FILE).add(
            name,
            role=role,
            file=target,
            forget=forget,
            method=method,
            base=base,
            description=description,
            rt=rt,
            status="done",
        )
    except Exception:
        target.unlink(missing_ok=True)  # nothing half-added
        raise
    return to_entry(record, exp.spec.architecture)
