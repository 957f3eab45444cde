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

import contextlib
import dataclasses
import os
import tempfile
import warnings
from pathlib import Path

from analysis.errors import CacheError, ValidationError, describe
from analysis.experiment import Experiment
from analysis.models import load_weights_into
from analysis.runs.registry import REGISTRY_FILE, RunRegistry, to_entry, validate_name
from analysis.spec import ExperimentSpec, ModelEntry
from analysis.store import safe_workspace_path

__all__ = ["MAX_UPLOAD_BYTES", "REGISTRY_FILE", "add_model_bytes", "with_registered_runs"]

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
"""Default upload size limit (``ulens dashboard --max-upload-mb`` sets the app's)."""


def with_registered_runs(spec: ExperimentSpec) -> ExperimentSpec:
    """``spec`` plus the registry's scenarios and finished runs (TOML names win).

    The registry never blocks ``experiment.toml``'s models: a locked, corrupt (moved aside) or
    unreadable registry, or a record naming a path outside the workspace, is reported as a
    warning and skipped.
    """
    db = spec.root / REGISTRY_FILE
    if not db.exists():
        return spec
    try:
        registry = RunRegistry(db, timeout=2.0)
        scenarios = registry.scenarios()
        records = registry.list()
    except CacheError as exc:
        warnings.warn(
            f"run registry not read ({exc}); showing experiment.toml's models only",
            RuntimeWarning,
            stacklevel=2,
        )
        return spec
    merged = dict(spec.scenarios)
    for name, table in scenarios.items():
        if name in merged:
            warnings.warn(
                f"{REGISTRY_FILE}: scenario {name!r} is also in experiment.toml; "
                "the TOML one is used",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        merged[name] = table
    extra: dict[str, ModelEntry] = {}
    for record in records:
        if record.state != "done" or record.name in spec.models:
            continue
        if record.forget is not None and record.forget not in merged:
            warnings.warn(
                f"{REGISTRY_FILE}: run {record.name!r} names unknown scenario "
                f"{record.forget!r}; skipped",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        extra[record.name] = to_entry(record, spec.architecture)
    if not extra and merged == dict(spec.scenarios):
        return spec
    return dataclasses.replace(spec, models={**spec.models, **extra}, scenarios=merged)


def _validate_upload(
    exp: Experiment, data: bytes, name: str, role: str, max_bytes: int = MAX_UPLOAD_BYTES
) -> None:
    if len(data) > max_bytes:
        raise ValidationError(
            describe(
                "weights",
                f"at most {max_bytes // 2**20} MiB",
                f"{len(data) / 2**20:.1f} MiB",
                raw=True,
            )
        )
    validate_name(name)
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
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> ModelEntry:
    """Validate ``.safetensors`` bytes against the experiment's architecture and add the model.

    The bytes are checked (size limit, safetensors format, finite values, keys, shapes and class
    count via a real load) before anything is written. The name is then reserved in
    ``runs.sqlite`` (the registry's UNIQUE constraint decides between concurrent adders), the
    file is linked into ``models/added/NAME.safetensors`` without replacing an existing file,
    and the record is marked done. Two processes adding one name: one wins, the other gets a
    clear error and nothing of the winner's is touched.

    Raises:
        ValidationError: Bad name / role, a name already used (by a model, a run or a file),
            or over the size limit.
        WeightsError: The bytes are not valid weights for this architecture and dataset.
        ReadOnlyWorkspaceError: The workspace cannot be written (nothing was saved).
    """
    _validate_upload(exp, data, name, role, max_bytes)
    target = safe_workspace_path(exp.root, f"models/added/{name}.safetensors")
    if target.exists():
        raise ValidationError(describe("name", "a name without weights in models/added/", name))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=".safetensors")
    except OSError as exc:
        from analysis.runs.registry import ReadOnlyWorkspaceError

        raise ReadOnlyWorkspaceError(
            describe(
                "weights",
                "a writable workspace to save the model",
                f"a read-only workspace ({exc.strerror})",
                raw=True,
            )
        ) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        load_weights_into(exp.build(), tmp, num_classes=exp.num_classes)
        return _register_upload(exp, tmp, target, name, role, method, base, description, rt)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _register_upload(
    exp: Experiment,
    tmp: str,
    target: Path,
    name: str,
    role: str,
    method: str | None,
    base: str | None,
    description: str,
    rt: float | None,
) -> ModelEntry:
    registry = RunRegistry(exp.root / REGISTRY_FILE)
    forget = None if role in ("original", "reference") else exp.scenario
    record = registry.add(
        name,
        role=role,
        file=target,
        forget=forget,
        method=method,
        base=base,
        description=description,
        rt=rt,
        state="running",
        pid=os.getpid(),
    )  # the reservation: a concurrent adder of this name fails here, before any file
    try:
        os.link(tmp, target)  # never replaces an existing file
    except FileExistsError as exc:
        registry.remove(name)
        raise ValidationError(
            describe("name", "a name without weights in models/added/", name)
        ) from exc
    except BaseException:
        registry.remove(name)
        raise
    done = registry.finish(record.id, "done")
    if done is None:  # reaped meanwhile (should not happen): keep the file, say so
        raise ValidationError(describe("name", "a registry record that stays reserved", name))
    return to_entry(done, exp.spec.architecture)
