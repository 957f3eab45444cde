"""The experiment spec: ``experiment.toml`` parsed and validated into frozen dataclasses.

A workspace folder holds ``experiment.toml``, a ``models/`` folder and a cache. The TOML names the
dataset, one or more forget sets ("scenarios"), a default architecture and the models with their
roles (see README for a full example)::

    [dataset]
    kind = "digits"

    [architecture]
    name = "smallcnn"

    [forget.classwise]
    classes = [3]

    [models.original]
    role = "original"
    file = "models/original.safetensors"

Example:
    >>> spec = parse_spec({"dataset": {"kind": "digits"}, "architecture": {"name": "mlp"},
    ...     "forget": {"classes": [3]},
    ...     "models": {"o": {"role": "original", "file": "o.safetensors"}}}, root=Path("."))
    >>> list(spec.scenarios), spec.models["o"].role
    (['default'], 'original')
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from analysis.errors import SpecError, ValidationError, describe, did_you_mean, unknown_keys
from analysis.trust import confine

__all__ = [
    "AUXILIARY_ROLES",
    "ROLES",
    "TABLES",
    "ArchitectureSpec",
    "ExperimentSpec",
    "ModelEntry",
    "find_spec_file",
    "load_spec",
    "parse_spec",
]

ROLES = ("original", "retrain", "unlearned", "reference", "shadow")
"""Model roles; ``shadow`` models (U-LiRA) are never Model A/B (see AUXILIARY_ROLES)."""

AUXILIARY_ROLES = ("reference", "shadow")
"""Roles of models that only feed attacks (not listed as comparable models)."""
TABLES = ("experiment", "dataset", "architecture", "forget", "models", "analysis")
"""The top-level tables of ``experiment.toml``; any other table or key is refused."""

_FORGET_KEYS = {"classes", "random", "indices"}
_SCENARIO_KEYS = (*sorted(_FORGET_KEYS), "seed")
_EXPERIMENT_KEYS = ("name", "description")
_ARCHITECTURE_KEYS = ("name", "params")
_MODEL_KEYS = {
    "role",
    "file",
    "architecture",
    "forget",
    "method",
    "base",
    "params",
    "train",
    "rt",
    "members",
    "forget_mask",
    "history",
    "description",
    "seed",
}


@dataclass(frozen=True)
class ArchitectureSpec:
    """An architecture (registry name, ``torchvision:NAME`` or ``module:function``) + options."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelEntry:
    """One model of the experiment.

    Attributes:
        name: Unique model name (the TOML table key).
        role: ``original``, ``retrain``, ``unlearned`` or ``reference``.
        file: Absolute path of the weights file.
        architecture: The architecture it was built with.
        forget: The scenario a ``retrain`` / ``unlearned`` model belongs to (None for the others).
        method: Unlearning method name (``unlearned`` models).
        base: Name of the model the method was applied to (``unlearned`` models).
        params: Method hyperparameters as run.
        train: Training settings (epochs, lr, batch_size, seed...) of trained models.
        rt: Wall time in seconds of the method or training, as measured by the runner.
        members: Path of the ``.npy`` boolean training-membership mask (``reference`` and
            ``shadow`` models): the samples the model (or its base) was trained on.
        forget_mask: Path of the ``.npy`` boolean mask of the training samples a ``shadow``
            model unlearned (shadow unlearned models) or was retrained without (shadow retrains).
        history: Path of a JSON file with per-epoch metrics, if any.
        description: Free text.
    """

    name: str
    role: str
    file: Path
    architecture: ArchitectureSpec
    forget: str | None = None
    method: str | None = None
    base: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    train: Mapping[str, Any] = field(default_factory=dict)
    rt: float | None = None
    members: Path | None = None
    history: Path | None = None
    description: str = ""
    forget_mask: Path | None = None


@dataclass(frozen=True)
class ExperimentSpec:
    """A validated ``experiment.toml``."""

    root: Path
    name: str
    dataset: Mapping[str, Any]
    architecture: ArchitectureSpec
    scenarios: Mapping[str, Mapping[str, Any]]
    models: Mapping[str, ModelEntry]
    analysis: Mapping[str, Any] = field(default_factory=dict)


def find_spec_file(path: str | Path) -> Path:
    """Return the ``experiment.toml`` of a workspace folder, or ``path`` itself if it is a file.

    Example:
        >>> find_spec_file("sample_data/digits").name
        'experiment.toml'
    """
    p = Path(path).expanduser()
    candidate = p / "experiment.toml" if p.is_dir() else p
    if not candidate.is_file():
        raise SpecError(
            describe("workspace", "a folder containing experiment.toml, or that file", str(p))
        )
    return candidate.resolve()


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and validate ``experiment.toml`` (or the one inside the given folder).

    Raises:
        SpecError: The TOML is malformed or a field is missing / invalid; the message names it.

    Example:
        >>> load_spec("sample_data/digits").dataset["kind"]
        'digits'
    """
    file = find_spec_file(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(
            describe("experiment.toml", "valid TOML", f"a parse error: {exc}", raw=True)
        ) from exc
    except OSError as exc:
        raise SpecError(
            describe("experiment.toml", "a readable file", exc.strerror or str(exc), raw=True)
        ) from exc
    return parse_spec(raw, root=file.parent)


def parse_spec(raw: Mapping[str, Any], *, root: Path) -> ExperimentSpec:
    """Validate a parsed TOML mapping; relative paths resolve against ``root``.

    Every table and key is checked (a misspelt one is refused with a "did you mean"
    suggestion) and every path must resolve inside ``root`` (see :func:`analysis.trust.confine`).

    Raises:
        SpecError: A missing, unknown or invalid table, key or value; the message names it.
        OutsideWorkspaceError: A path resolves outside the workspace and the allowed locations.
    """
    if not isinstance(raw, Mapping):
        raise SpecError(describe("experiment.toml", "a TOML document (tables)", raw))
    _check_tables(raw)
    dataset = _dataset(_table(raw, "dataset", required=True), root)
    arch = _architecture(raw.get("architecture"), "architecture")
    scenarios = _scenarios(_table(raw, "forget", required=True), root)
    models_raw = _table(raw, "models", required=True)
    models = {
        name: _model(name, entry, arch, scenarios, root) for name, entry in models_raw.items()
    }
    _check_references(models)
    meta = _table(raw, "experiment", required=False)
    _check_keys("[experiment]", meta, _EXPERIMENT_KEYS)
    for key in _EXPERIMENT_KEYS:
        if key in meta and not isinstance(meta[key], str):
            raise SpecError(describe(f"experiment.{key}", "a string", meta[key]))
    analysis = _table(raw, "analysis", required=False)
    _check_keys("[analysis]", analysis, _analysis_keys())
    return ExperimentSpec(
        root=root,
        name=str(meta.get("name", root.name)),
        dataset=dataset,
        architecture=arch,
        scenarios=scenarios,
        models=models,
        analysis=analysis,
    )


def _check_tables(raw: Mapping[str, Any]) -> None:
    for key in raw:
        if key in TABLES:
            continue
        hint = did_you_mean(key, TABLES)
        if key == "trust":
            hint = " (trust settings are read only from your user config, never from a workspace)"
        raise SpecError(
            describe("experiment.toml", f"tables among {list(TABLES)}", f"[{key}]{hint}", raw=True)
        )


def _check_keys(where: str, table: Mapping[str, Any], allowed: Iterable[str]) -> None:
    message = unknown_keys(where, table, allowed)
    if message is not None:
        raise SpecError(message)


def _analysis_keys() -> tuple[str, ...]:
    from analysis.compare import CompareOptions  # compare imports this module: import late

    return ("default_a", "default_b", *(f.name for f in fields(CompareOptions)))


def _dataset(table: dict[str, Any], root: Path) -> dict[str, Any]:
    from analysis.data import (  # data imports torch: not for find_spec_file
        DATASET_COMMON_OPTIONS,
        DATASET_OPTIONS,
    )

    kind = table.get("kind")
    if not isinstance(kind, str) or not kind:
        raise SpecError(
            describe("dataset.kind", "a string such as 'digits' or 'npz'", table.get("kind"))
        )
    if kind in DATASET_OPTIONS:
        allowed = ("kind", *DATASET_OPTIONS[kind], *DATASET_COMMON_OPTIONS)
        _check_keys(f"[dataset] of kind {kind!r}", table, allowed)
    elif ":" not in kind:
        raise SpecError(
            describe(
                "dataset.kind",
                f"one of {sorted(DATASET_OPTIONS)} or 'module:function'",
                f"{kind!r}{did_you_mean(kind, DATASET_OPTIONS)}",
                raw=True,
            )
        )
    if "path" in table and kind in DATASET_OPTIONS:
        if not isinstance(table["path"], str) or not table["path"]:
            raise SpecError(describe("dataset.path", "a file or folder path", table["path"]))
        _path(root, table["path"], "dataset.path")
    if "groups" in table:
        if not isinstance(table["groups"], str) or not table["groups"]:
            raise SpecError(describe("dataset.groups", "an .npz file path", table["groups"]))
        _path(root, table["groups"], "dataset.groups")
    return dict(table)


def _table(raw: Mapping[str, Any], key: str, *, required: bool) -> dict[str, Any]:
    value = raw.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict) or (required and not value):
        raise SpecError(describe(f"[{key}]", "a non-empty table", value))
    return value


def _architecture(raw: Any, where: str) -> ArchitectureSpec:
    if isinstance(raw, str) and raw:
        return ArchitectureSpec(raw)
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise SpecError(describe(where, "a table with name = '<architecture>' (or a string)", raw))
    _check_keys(f"[{where}]", raw, _ARCHITECTURE_KEYS)
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise SpecError(describe(f"{where}.params", "a table", params))
    return ArchitectureSpec(raw["name"], dict(params))


def _scenarios(forget: dict[str, Any], root: Path) -> dict[str, dict[str, Any]]:
    # A single unnamed forget set has a plain value under classes/random/indices; a table under
    # such a key is a scenario that happens to be named like one (e.g. [forget.random]).
    if any(not isinstance(forget[k], dict) for k in _FORGET_KEYS & set(forget)):
        return {"default": _scenario("forget", forget, root)}
    out: dict[str, dict[str, Any]] = {}
    for name, table in forget.items():
        if not isinstance(table, dict):
            hint = did_you_mean(name, _SCENARIO_KEYS)
            raise SpecError(
                describe(
                    f"forget.{name}",
                    "a table with one of classes, random, indices",
                    f"{table!r}{hint}",
                    raw=True,
                )
            )
        out[name] = _scenario(f"forget.{name}", table, root)
    return out


def _scenario(where: str, table: dict[str, Any], root: Path) -> dict[str, Any]:
    _check_keys(f"[{where}]", table, _SCENARIO_KEYS)
    if len(_FORGET_KEYS & set(table)) != 1:
        raise SpecError(
            describe(where, "a table with exactly one of classes, random, indices", sorted(table))
        )
    classes, frac = table.get("classes"), table.get("random")
    if "classes" in table and not (
        isinstance(classes, list) and classes and all(_is_int(c) and c >= 0 for c in classes)
    ):
        raise SpecError(
            describe(f"{where}.classes", "a non-empty list of class ids (integers >= 0)", classes)
        )
    if "random" in table and not (
        isinstance(frac, int | float) and _is_number(frac) and 0 < frac < 1
    ):
        raise SpecError(describe(f"{where}.random", "a fraction in (0, 1)", frac))
    if "seed" in table and not (_is_int(table["seed"]) and table["seed"] >= 0):
        raise SpecError(describe(f"{where}.seed", "a non-negative integer", table["seed"]))
    if "indices" in table:
        if not isinstance(table["indices"], str) or not table["indices"]:
            raise SpecError(describe(f"{where}.indices", "a .npy file path", table["indices"]))
        _path(root, table["indices"], f"{where}.indices")
    return dict(table)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _model(
    name: str, entry: Any, default_arch: ArchitectureSpec, scenarios: Mapping[str, Any], root: Path
) -> ModelEntry:
    where = f"models.{name}"
    if not isinstance(entry, dict):
        raise SpecError(describe(where, "a table", entry))
    _check_keys(f"[{where}]", entry, _MODEL_KEYS)
    role = entry.get("role")
    if role not in ROLES:
        shown = f"{role!r}{did_you_mean(role, ROLES)}" if isinstance(role, str) else repr(role)
        raise SpecError(describe(f"{where}.role", f"one of {list(ROLES)}", shown, raw=True))
    if not isinstance(entry.get("file"), str) or not entry["file"]:
        raise SpecError(describe(f"{where}.file", "a weights path (string)", entry.get("file")))
    for key in ("method", "base", "description"):
        if key in entry and not isinstance(entry[key], str):
            raise SpecError(describe(f"{where}.{key}", "a string", entry[key]))
    if "seed" in entry and not _is_int(entry["seed"]):
        raise SpecError(describe(f"{where}.seed", "an integer", entry["seed"]))
    forget = _model_forget(where, role, entry.get("forget"), scenarios)
    if role == "unlearned" and not (
        isinstance(entry.get("method"), str) and isinstance(entry.get("base"), str)
    ):
        raise SpecError(
            describe(
                where,
                "method = '<name>' and base = '<model>' for an unlearned model",
                {k: entry.get(k) for k in ("method", "base")},
            )
        )
    if role in AUXILIARY_ROLES and not isinstance(entry.get("members"), str):
        raise SpecError(
            describe(
                f"{where}.members",
                f"a .npy membership mask path for a {role} model",
                entry.get("members"),
            )
        )
    if role == "shadow" and not isinstance(entry.get("forget_mask"), str):
        raise SpecError(
            describe(
                f"{where}.forget_mask",
                "a .npy mask of the samples a shadow model unlearned",
                entry.get("forget_mask"),
            )
        )
    arch = (
        _architecture(entry["architecture"], f"{where}.architecture")
        if "architecture" in entry
        else default_arch
    )
    return ModelEntry(
        name=name,
        role=role,
        file=_path(root, entry["file"], f"{where}.file"),
        architecture=arch,
        forget=forget,
        method=entry.get("method"),
        base=entry.get("base"),
        params=_subtable(where, entry, "params"),
        train=_subtable(where, entry, "train"),
        rt=_optional_float(where, entry.get("rt")),
        members=_optional_path(root, where, entry, "members"),
        history=_optional_path(root, where, entry, "history"),
        description=str(entry.get("description", "")),
        forget_mask=_optional_path(root, where, entry, "forget_mask"),
    )


def _model_forget(where: str, role: str, forget: Any, scenarios: Mapping[str, Any]) -> str | None:
    if role in ("original", "reference"):
        return None
    if forget is None and len(scenarios) == 1:
        return next(iter(scenarios))
    if not isinstance(forget, str) or forget not in scenarios:
        raise SpecError(
            describe(f"{where}.forget", f"one of the scenarios {list(scenarios)}", forget)
        )
    return str(forget)


def _subtable(where: str, entry: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = entry.get(key, {})
    if not isinstance(value, dict):
        raise SpecError(describe(f"{where}.{key}", "a table", value))
    return dict(value)


def _optional_path(root: Path, where: str, entry: Mapping[str, Any], key: str) -> Path | None:
    if key not in entry:
        return None
    if not isinstance(entry[key], str) or not entry[key]:
        raise SpecError(describe(f"{where}.{key}", "a file path (string)", entry[key]))
    return _path(root, entry[key], f"{where}.{key}")


def _optional_float(where: str, value: Any) -> float | None:
    if value is None:
        return None
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise SpecError(describe(f"{where}.rt", "a non-negative number of seconds", value))
    return float(value)


def _path(root: Path, raw: str, argument: str) -> Path:
    """``raw`` resolved against ``root``, confined to it (OutsideWorkspaceError otherwise)."""
    try:
        return confine(raw, root, argument=argument)
    except ValidationError as exc:  # NUL byte, symlink loop (OutsideWorkspaceError passes)
        raise SpecError(str(exc)) from exc


def _check_references(models: Mapping[str, ModelEntry]) -> None:
    for entry in models.values():
        if entry.base is not None and entry.base not in models:
            raise SpecError(
                describe(f"models.{entry.name}.base", f"a model among {sorted(models)}", entry.base)
            )
