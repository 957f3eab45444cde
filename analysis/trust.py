"""The trust boundary: a workspace is data, not code; its paths stay inside it.

Two rules, applied wherever the library meets user-provided text:

* **Code references** (``module:function`` / ``module:Class`` in ``experiment.toml``, method
  names, a registry record) resolve only to (a) a ``.py`` file inside the workspace folder —
  imported from its file, without ``PYTHONPATH``, with a one-line :class:`TrustNotice` — or
  (b) an installed package the user allowed explicitly (``--allow-code PKG``, the environment
  variable ``ULENS_ALLOW_CODE`` or the user-level config file; never the workspace's own TOML).
  Registered built-ins and entry points are resolved before this module is asked. Anything
  else (``os:system``, ``subprocess:run``, ``builtins:eval``...) is refused *before import*.
* **Paths** named by a workspace resolve, after symlinks, inside the workspace folder unless
  they lie under a location the user allowed (``--allow-outside PATH``,
  ``ULENS_ALLOW_OUTSIDE`` or the config file).

The policy of a process comes from the environment (so child processes — the dashboard
server, worker pools, Ray tasks — inherit what the command line allowed) and from the
user-level file ``~/.config/unlearning-lens/config.toml`` (``ULENS_CONFIG`` overrides its
location)::

    [trust]
    allow_code = ["mylab_models"]
    allow_outside = ["/data/shared"]

Example:
    >>> import tempfile
    >>> ws = Path(tempfile.mkdtemp())
    >>> confine(ws / "models" / "a.safetensors", ws, argument="file").name
    'a.safetensors'
    >>> import_reference("os:system", argument="dataset.kind", workspace=ws)
    Traceback (most recent call last):
    ...
    analysis.trust.UntrustedCodeError: dataset.kind: expected a module inside the workspace ...
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import tomllib
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from analysis.errors import UlensError, ValidationError, describe

__all__ = [
    "ALLOW_CODE_ENV",
    "ALLOW_OUTSIDE_ENV",
    "CONFIG_ENV",
    "OutsideWorkspaceError",
    "TrustNotice",
    "TrustPolicy",
    "UntrustedCodeError",
    "confine",
    "current_policy",
    "import_reference",
    "trust_policy",
]

ALLOW_CODE_ENV = "ULENS_ALLOW_CODE"
"""Environment variable: comma-separated top-level packages whose code may be imported."""
ALLOW_OUTSIDE_ENV = "ULENS_ALLOW_OUTSIDE"
"""Environment variable: ``os.pathsep``-separated folders a workspace may name paths under."""
CONFIG_ENV = "ULENS_CONFIG"
"""Environment variable: the user-level config file (default ``~/.config/unlearning-lens``)."""


class UntrustedCodeError(UlensError):
    """A code reference points outside the workspace and outside the allowed packages."""


class OutsideWorkspaceError(UlensError):
    """A path resolves (after symlinks) outside the workspace and the allowed locations."""


class TrustNotice(UserWarning):
    """Code from the workspace folder is being imported (shown once per file)."""


@dataclass(frozen=True)
class TrustPolicy:
    """What the user allowed beyond the workspace.

    Attributes:
        allow_code: Top-level package names whose modules may be imported by reference.
        allow_outside: Resolved folders that workspace paths may point into.
    """

    allow_code: tuple[str, ...] = ()
    allow_outside: tuple[Path, ...] = field(default_factory=tuple)

    def allows_package(self, module: str) -> bool:
        """Whether ``module`` (dotted) belongs to an allowed top-level package."""
        return module.split(".")[0] in self.allow_code

    def allows_path(self, path: Path) -> bool:
        """Whether a resolved ``path`` lies under an allowed outside location."""
        return any(path.is_relative_to(base) for base in self.allow_outside)


def _config_file() -> Path:
    raw = os.environ.get(CONFIG_ENV)
    return Path(raw).expanduser() if raw else Path.home() / ".config/unlearning-lens/config.toml"


def _user_config() -> dict[str, Any]:
    path = _config_file()
    if not path.is_file():
        return {}
    try:
        trust = tomllib.loads(path.read_text(encoding="utf-8")).get("trust", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError(
            describe(str(path), "a readable TOML config", f"{exc}", raw=True)
        ) from exc
    if not isinstance(trust, dict):
        raise ValidationError(describe(f"{path} [trust]", "a table", trust))
    return trust


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(describe(where, "a list of strings", value))
    return [v for v in value if v.strip()]


def current_policy() -> TrustPolicy:
    """The policy in force: environment variables plus the user-level config file.

    Example:
        >>> isinstance(current_policy(), TrustPolicy)
        True
    """
    config = _user_config()
    code = _strings(config.get("allow_code"), "[trust] allow_code")
    code += [p.strip() for p in os.environ.get(ALLOW_CODE_ENV, "").split(",") if p.strip()]
    outside = _strings(config.get("allow_outside"), "[trust] allow_outside")
    outside += [p for p in os.environ.get(ALLOW_OUTSIDE_ENV, "").split(os.pathsep) if p.strip()]
    return TrustPolicy(
        allow_code=tuple(dict.fromkeys(code)),
        allow_outside=tuple(dict.fromkeys(Path(p).expanduser().resolve() for p in outside)),
    )


@contextmanager
def trust_policy(
    *, allow_code: Iterable[str] = (), allow_outside: Iterable[str | Path] = ()
) -> Iterator[None]:
    """Extend the process policy inside a ``with`` block (also seen by child processes).

    Example:
        >>> with trust_policy(allow_code=["math"]):
        ...     import_reference("math:sqrt", argument="fn", workspace=None)(9.0)
        3.0
    """
    saved = {k: os.environ.get(k) for k in (ALLOW_CODE_ENV, ALLOW_OUTSIDE_ENV)}
    code = [*filter(None, (saved[ALLOW_CODE_ENV] or "").split(",")), *allow_code]
    outside = [*filter(None, (saved[ALLOW_OUTSIDE_ENV] or "").split(os.pathsep))]
    outside += [str(Path(p).expanduser().resolve()) for p in allow_outside]
    os.environ[ALLOW_CODE_ENV] = ",".join(code)
    os.environ[ALLOW_OUTSIDE_ENV] = os.pathsep.join(outside)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --------------------------------------------------------------------------- paths


def confine(
    path: str | Path, workspace: str | Path, *, argument: str, policy: TrustPolicy | None = None
) -> Path:
    """Resolve ``path`` (relative to ``workspace``) and refuse it outside the workspace.

    Symbolic links are resolved first. A location under a folder the user allowed
    (:class:`TrustPolicy.allow_outside`) is accepted.

    Raises:
        OutsideWorkspaceError: The resolved path escapes the workspace (the message names
            ``argument`` and how to allow it, not the server's absolute path).
        ValidationError: Empty path or a NUL byte.
    """
    text = str(path) if isinstance(path, str | Path) else None
    if not text or "\x00" in text:
        raise ValidationError(describe(argument, "a non-empty file path", path))
    root = Path(workspace).expanduser().resolve()
    candidate = (root / Path(text).expanduser()).resolve()
    if candidate.is_relative_to(root):
        return candidate
    if (policy or current_policy()).allows_path(candidate):
        return candidate
    raise OutsideWorkspaceError(
        describe(
            argument,
            "a path inside the workspace (allow another location with --allow-outside PATH)",
            text,
        )
    )


# --------------------------------------------------------------------------- code


_NOTICED: set[Path] = set()


def _split(target: str, argument: str) -> tuple[str, str]:
    module, _, attr = target.partition(":")
    ok = module and attr and all(part.isidentifier() for part in module.split("."))
    if not ok or not all(part.isidentifier() for part in attr.split(".")):
        raise ValidationError(describe(argument, "'module:attribute'", target))
    return module, attr


def _workspace_file(module: str, workspace: Path | None) -> Path | None:
    if workspace is None:
        return None
    root = Path(workspace).expanduser().resolve()
    relative = Path(*module.split("."))
    for candidate in (root / relative.with_suffix(".py"), root / relative / "__init__.py"):
        if candidate.is_file():
            resolved = candidate.resolve()
            return resolved if resolved.is_relative_to(root) else None
    return None


def _import_file(module: str, file: Path, root: Path) -> ModuleType:
    tag = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    name = f"_ulens_workspace_{tag}.{module}"
    if name in sys.modules:
        return sys.modules[name]
    if file not in _NOTICED:
        _NOTICED.add(file)
        warnings.warn(
            f"importing workspace code {file.relative_to(root)}", TrustNotice, stacklevel=3
        )
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ValidationError(describe("module", "an importable .py file", file.name))
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded
    try:
        spec.loader.exec_module(loaded)
    except BaseException:
        del sys.modules[name]
        raise
    return loaded


def import_reference(
    target: str, *, argument: str, workspace: str | Path | None, policy: TrustPolicy | None = None
) -> Any:
    """Resolve a ``module:attribute`` reference under the trust rules and return the attribute.

    Args:
        target: ``module:attribute`` (dotted attribute paths allowed).
        argument: The field being resolved, for messages (``dataset.kind``, ``method``...).
        workspace: The workspace folder whose ``.py`` files may be imported, or None.
        policy: The policy; default :func:`current_policy`.

    Raises:
        UntrustedCodeError: Neither a workspace file nor an allowed package; nothing imported.
        ValidationError: Malformed reference, import failure, or a missing attribute.
    """
    module_name, attr = _split(target, argument)
    root = None if workspace is None else Path(workspace).expanduser().resolve()
    file = _workspace_file(module_name, root)
    if file is not None and root is not None:
        module = _import_file(module_name, file, root)
    elif (policy or current_policy()).allows_package(module_name):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValidationError(
                describe(argument, "an importable module", f"{target} ({exc})", raw=True)
            ) from exc
    else:
        raise UntrustedCodeError(
            describe(
                argument,
                "a module inside the workspace folder, a built-in, or a package allowed with "
                f"--allow-code {module_name.split('.')[0]}",
                target,
            )
        )
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValidationError(
                describe(argument, f"an attribute {attr!r} in {module_name}", target)
            )
        obj = getattr(obj, part)
    return obj
