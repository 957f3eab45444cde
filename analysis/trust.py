"""The trust boundary: a workspace is data, not code; its paths stay inside it.

Three rules, applied wherever the library meets user-provided text:

* **Code references** (``module:function`` / ``module:Class`` in ``experiment.toml``, method
  names, a registry record) resolve only to (a) a ``.py`` file (or package folder) inside the
  workspace folder — imported from its file, without ``PYTHONPATH``, under a private module
  name, after a one-line :class:`TrustNotice` naming the file — or (b) a module of a package
  the user allowed explicitly (``--allow-code PKG``, the environment variable
  ``ULENS_ALLOW_CODE`` or the user-level config file; never the workspace's own TOML).
  Registered built-ins and entry points are resolved before this module is asked. Anything
  else (``os:system``, ``subprocess:run``, ``builtins:eval``...) is refused *before import*.
* **Paths** named by a workspace resolve, after symlinks, inside the workspace folder unless
  they lie under a location the user allowed (``--allow-outside PATH``,
  ``ULENS_ALLOW_OUTSIDE`` or the config file). Messages name the field and the path as
  written, never the server's absolute path outside the workspace (:func:`display_path`).
* **Sizes** a workspace controls (dataset tensors, class counts, built-in model widths) are
  checked against a memory budget, :attr:`TrustPolicy.max_bytes`, *before* anything is
  allocated (``ULENS_MAX_BYTES`` or ``max_bytes`` in the config file; default 4 GiB).

The policy of a process comes from the environment (so child processes — the dashboard
server, worker pools, Ray tasks — inherit what the command line allowed) and from the
user-level file ``~/.config/unlearning-lens/config.toml`` (``ULENS_CONFIG`` overrides its
location)::

    [trust]
    allow_code = ["mylab_models"]          # packages (or dotted modules) whose code may run
    allow_outside = ["/data/shared"]       # folders a workspace may name paths under
    max_bytes = "8GiB"                     # memory budget of a workspace's dataset

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
import math
import os
import re
import sys
import tomllib
import types
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.errors import UlensError, ValidationError, describe

__all__ = [
    "ALLOW_CODE_ENV",
    "ALLOW_OUTSIDE_ENV",
    "CONFIG_ENV",
    "DEFAULT_MAX_BYTES",
    "MAX_BYTES_ENV",
    "OutsideWorkspaceError",
    "ResourceLimitError",
    "TrustNotice",
    "TrustPolicy",
    "UntrustedCodeError",
    "check_budget",
    "confine",
    "current_policy",
    "display_path",
    "format_bytes",
    "import_reference",
    "parse_bytes",
    "patched_environ",
    "trust_policy",
]

ALLOW_CODE_ENV = "ULENS_ALLOW_CODE"
"""Environment variable: comma-separated packages (or dotted modules) whose code may run."""
ALLOW_OUTSIDE_ENV = "ULENS_ALLOW_OUTSIDE"
"""Environment variable: ``os.pathsep``-separated folders a workspace may name paths under."""
MAX_BYTES_ENV = "ULENS_MAX_BYTES"
"""Environment variable: the memory budget of a workspace's dataset (``"8GiB"``, ``"500MB"``)."""
CONFIG_ENV = "ULENS_CONFIG"
"""Environment variable: the user-level config file (default ``~/.config/unlearning-lens``)."""
DEFAULT_MAX_BYTES = 4 * 2**30
"""Default memory budget: 4 GiB."""

_HOW_TO_ALLOW_CODE = (
    "--allow-code {pkg}, {env}={pkg} or allow_code in the [trust] table of "
    "~/.config/unlearning-lens/config.toml"
)


class UntrustedCodeError(UlensError):
    """A code reference points outside the workspace and outside the allowed packages."""


class OutsideWorkspaceError(UlensError):
    """A path resolves (after symlinks) outside the workspace and the allowed locations."""


class ResourceLimitError(UlensError):
    """An input would allocate more memory than the budget (:attr:`TrustPolicy.max_bytes`)."""


class TrustNotice(UserWarning):
    """Code from the workspace folder is being imported (shown once per file)."""


@dataclass(frozen=True)
class TrustPolicy:
    """What the user allowed beyond the workspace.

    Attributes:
        allow_code: Packages (``"mylab"``) or dotted modules (``"mylab.models"``) whose modules
            may be imported by reference; a name allows itself and everything below it.
        allow_outside: Resolved folders that workspace paths may point into (read only: the
            cache and the registry are never written there).
        max_bytes: Memory budget of one dataset (or one built-in model) a workspace describes.

    Example:
        >>> p = TrustPolicy(allow_code=("mylab.models",))
        >>> p.allows_package("mylab.models.cnn"), p.allows_package("mylab.other")
        (True, False)
    """

    allow_code: tuple[str, ...] = ()
    allow_outside: tuple[Path, ...] = field(default_factory=tuple)
    max_bytes: int = DEFAULT_MAX_BYTES

    def allows_package(self, module: str) -> bool:
        """Whether the dotted ``module`` lies in an allowed package (or is an allowed module)."""
        return any(module == name or module.startswith(name + ".") for name in self.allow_code)

    def allows_path(self, path: Path) -> bool:
        """Whether a resolved ``path`` lies under an allowed outside location."""
        return any(path.is_relative_to(base) for base in self.allow_outside)


# --------------------------------------------------------------------------- sizes

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$", re.IGNORECASE)


def parse_bytes(value: Any, *, argument: str = "max_bytes") -> int:
    """A positive byte count from an int or a string with a unit (``"4GiB"``, ``"500 MB"``).

    Example:
        >>> parse_bytes("4GiB"), parse_bytes(1000), parse_bytes("1.5 kB")
        (4294967296, 1000, 1500)
    """
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SIZE_RE.match(value) if isinstance(value, str) else None
    if match is not None:
        number = float(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
        if math.isfinite(number) and number >= 1:
            return int(number)
    raise ValidationError(
        describe(argument, "a positive size in bytes, e.g. 4294967296 or '4GiB'", value)
    )


def format_bytes(count: float) -> str:
    """A byte count for messages (binary units).

    Example:
        >>> format_bytes(3 * 2**30), format_bytes(512)
        ('3.0 GiB', '512 B')
    """
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} B"


def check_budget(
    nbytes: float, *, argument: str, what: str, policy: TrustPolicy | None = None
) -> None:
    """Raise :class:`ResourceLimitError` if ``nbytes`` exceeds the policy's budget.

    Args:
        nbytes: The bytes the input would allocate.
        argument: The input at fault (``dataset.path 'big.npz'``).
        what: What would be allocated (``"x_train as float32 (50000, 3, 32, 32)"``).
        policy: The policy; default :func:`current_policy`.

    Example:
        >>> check_budget(10, argument="x", what="ten bytes")
        >>> check_budget(2**40, argument="x", what="a TiB")
        Traceback (most recent call last):
        ...
        analysis.trust.ResourceLimitError: x: expected at most 4.0 GiB ...
    """
    budget = (policy or current_policy()).max_bytes
    if nbytes > budget:
        raise ResourceLimitError(
            describe(
                argument,
                f"at most {format_bytes(budget)} of memory (raise the budget with "
                f"{MAX_BYTES_ENV} or max_bytes in the [trust] config table)",
                f"{what}: {format_bytes(nbytes)}",
                raw=True,
            )
        )


# --------------------------------------------------------------------------- the policy


def _config_file() -> Path:
    raw = os.environ.get(CONFIG_ENV)
    return Path(raw).expanduser() if raw else Path.home() / ".config/unlearning-lens/config.toml"


_CONFIG_MEMO: dict[tuple[str, int, int], dict[str, Any]] = {}


def _user_config() -> dict[str, Any]:
    path = _config_file()
    try:
        info = path.stat()
    except OSError:
        return {}
    memo = (str(path), info.st_mtime_ns, info.st_size)
    if memo in _CONFIG_MEMO:
        return _CONFIG_MEMO[memo]
    try:
        trust = tomllib.loads(path.read_text(encoding="utf-8")).get("trust", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError(
            describe(str(path), "a readable TOML config", f"{exc}", raw=True)
        ) from exc
    if not isinstance(trust, dict):
        raise ValidationError(describe(f"{path} [trust]", "a table", trust))
    unknown = sorted(set(trust) - {"allow_code", "allow_outside", "max_bytes"})
    if unknown:
        raise ValidationError(
            describe(f"{path} [trust]", "keys allow_code, allow_outside, max_bytes", unknown)
        )
    _CONFIG_MEMO.clear()
    _CONFIG_MEMO[memo] = trust
    return trust


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(describe(where, "a list of strings", value))
    return [v.strip() for v in value if v.strip()]


def _module_names(names: list[str], where: str) -> list[str]:
    bad = [n for n in names if not all(part.isidentifier() for part in n.split("."))]
    if bad:
        raise ValidationError(describe(where, "package or dotted module names", bad))
    return names


def current_policy() -> TrustPolicy:
    """The policy in force: environment variables plus the user-level config file.

    Example:
        >>> isinstance(current_policy(), TrustPolicy)
        True
    """
    config = _user_config()
    code = _strings(config.get("allow_code"), "[trust] allow_code")
    env_code = [p.strip() for p in os.environ.get(ALLOW_CODE_ENV, "").split(",") if p.strip()]
    outside = _strings(config.get("allow_outside"), "[trust] allow_outside")
    outside += [p for p in os.environ.get(ALLOW_OUTSIDE_ENV, "").split(os.pathsep) if p.strip()]
    budget = os.environ.get(MAX_BYTES_ENV, "").strip() or config.get("max_bytes")
    where = MAX_BYTES_ENV if os.environ.get(MAX_BYTES_ENV, "").strip() else "[trust] max_bytes"
    return TrustPolicy(
        allow_code=tuple(
            dict.fromkeys(
                _module_names(code, "[trust] allow_code") + _module_names(env_code, ALLOW_CODE_ENV)
            )
        ),
        allow_outside=tuple(dict.fromkeys(_resolve_folder(p) for p in outside)),
        max_bytes=DEFAULT_MAX_BYTES if budget is None else parse_bytes(budget, argument=where),
    )


def _resolve_folder(text: str) -> Path:
    try:
        return Path(text).expanduser().resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise ValidationError(describe("allow_outside", "a folder path", text)) from exc


@contextmanager
def trust_policy(
    *,
    allow_code: Iterable[str] = (),
    allow_outside: Iterable[str | Path] = (),
    max_bytes: int | str | None = None,
) -> Iterator[None]:
    """Extend the process policy inside a ``with`` block (also seen by child processes).

    The policy lives in environment variables, so it is process-wide: use it at the start of
    a program or in a test, not around code running concurrently in other threads.

    Example:
        >>> with trust_policy(allow_code=["math"]):
        ...     import_reference("math:sqrt", argument="fn", workspace=None)(9.0)
        3.0
    """
    if isinstance(allow_code, str) or isinstance(allow_outside, str | Path):
        raise ValidationError(
            describe("allow_code / allow_outside", "lists of names / paths", allow_code)
        )
    saved = {k: os.environ.get(k) for k in (ALLOW_CODE_ENV, ALLOW_OUTSIDE_ENV)}
    code = [*filter(None, (saved[ALLOW_CODE_ENV] or "").split(",")), *allow_code]
    _module_names(list(allow_code), "allow_code")
    outside = [*filter(None, (saved[ALLOW_OUTSIDE_ENV] or "").split(os.pathsep))]
    outside += [str(_resolve_folder(str(p))) for p in allow_outside]
    values = {ALLOW_CODE_ENV: ",".join(code), ALLOW_OUTSIDE_ENV: os.pathsep.join(outside)}
    if max_bytes is not None:
        values[MAX_BYTES_ENV] = str(parse_bytes(max_bytes))
    with patched_environ(values):
        yield


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables inside a ``with`` block; restore (or remove) them after.

    Example:
        >>> with patched_environ({"ULENS_EXAMPLE": "1"}):
        ...     os.environ["ULENS_EXAMPLE"]
        '1'
        >>> "ULENS_EXAMPLE" in os.environ
        False
    """
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --------------------------------------------------------------------------- paths


def _resolve_in(text: str, root: Path) -> Path | None:
    try:
        return (root / Path(text).expanduser()).resolve()
    except (OSError, RuntimeError, ValueError):  # unknown ~user, a symlink loop
        return None


def confine(
    path: str | Path, workspace: str | Path, *, argument: str, policy: TrustPolicy | None = None
) -> Path:
    """Resolve ``path`` (relative to ``workspace``) and refuse it outside the workspace.

    Symbolic links are resolved first. A location under a folder the user allowed
    (:attr:`TrustPolicy.allow_outside`) is accepted.

    Args:
        path: The path as written (relative to the workspace, or absolute).
        workspace: The workspace folder.
        argument: The field it comes from, for messages (``models.a.file``).
        policy: The policy; default :func:`current_policy`.

    Returns:
        The resolved absolute path (it need not exist).

    Raises:
        OutsideWorkspaceError: The resolved path escapes the workspace (the message names
            ``argument``, the path as written and how to allow it, not the absolute path).
        ValidationError: Empty path, a NUL byte, or a path that cannot be resolved (an
            unknown ``~user``, a symlink loop).

    Example:
        >>> confine("../../etc/passwd", "/tmp", argument="dataset.path")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        analysis.trust.OutsideWorkspaceError: dataset.path: expected a path inside the ...
    """
    text = str(path) if isinstance(path, str | Path) else None
    if not text or "\x00" in text:
        raise ValidationError(describe(argument, "a non-empty file path", path))
    root = Path(workspace).expanduser().resolve()
    candidate = _resolve_in(text, root)
    if candidate is None:
        raise ValidationError(
            describe(argument, "a path that resolves (no symlink loop, no unknown ~user)", text)
        )
    if candidate.is_relative_to(root) or (policy or current_policy()).allows_path(candidate):
        return candidate
    raise OutsideWorkspaceError(
        describe(
            argument,
            "a path inside the workspace (allow another location with --allow-outside PATH "
            f"or {ALLOW_OUTSIDE_ENV})",
            text,
        )
    )


def display_path(path: str | Path, workspace: str | Path | None) -> str:
    """How to show ``path`` in a message: relative inside the workspace, else its name only.

    Example:
        >>> display_path("/ws/models/a.pt", "/ws"), display_path("/srv/x/b.npz", "/ws")
        ('models/a.pt', '.../b.npz')
    """
    p = Path(path)
    if workspace is None:
        return str(p)
    root = Path(workspace).expanduser()
    for base, candidate in ((root, p), (_safe_resolve(root), _safe_resolve(p))):
        if candidate.is_relative_to(base):
            return candidate.relative_to(base).as_posix() or "."
    return f".../{p.name}"


def _safe_resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return path


# --------------------------------------------------------------------------- code


_NOTICED: set[Path] = set()


def _split(target: str, argument: str) -> tuple[str, str]:
    module, _, attr = target.partition(":") if isinstance(target, str) else ("", "", "")
    ok = module and attr and all(part.isidentifier() for part in module.split("."))
    if not ok or not all(part.isidentifier() for part in attr.split(".")):
        raise ValidationError(describe(argument, "'module:attribute'", target))
    return module, attr


def _workspace_file(module: str, root: Path, argument: str) -> Path | None:
    """The ``.py`` file of ``module`` inside the workspace, or None when there is none."""
    relative = Path(*module.split("."))
    for candidate in (root / relative.with_suffix(".py"), root / relative / "__init__.py"):
        if candidate.is_file():
            resolved = candidate.resolve()
            if not resolved.is_relative_to(root):
                raise UntrustedCodeError(
                    describe(
                        argument,
                        "a module file inside the workspace folder",
                        f"{candidate.relative_to(root).as_posix()} (a link to a file outside it)",
                        raw=True,
                    )
                )
            return resolved
    return None


def _workspace_package(root: Path) -> str:
    """A private package whose ``__path__`` is the workspace: its modules import from there."""
    name = f"_ulens_workspace_{hashlib.sha256(str(root).encode()).hexdigest()[:12]}"
    if name not in sys.modules:
        package = types.ModuleType(name, f"Code of the workspace {root.name}")
        package.__path__ = [str(root)]
        sys.modules[name] = package
    return name


def _import_file(module: str, file: Path, root: Path, argument: str) -> types.ModuleType:
    name = f"{_workspace_package(root)}.{module}"
    if name in sys.modules:
        return sys.modules[name]
    shown = file.relative_to(root).as_posix()
    if file not in _NOTICED:
        _NOTICED.add(file)
        warnings.warn(
            f"{argument}: importing code from the workspace file {shown}", TrustNotice, stacklevel=4
        )
    importlib.invalidate_caches()
    try:
        return importlib.import_module(name)
    except (Exception, SystemExit) as exc:  # the workspace's own code failed: name it
        raise ValidationError(
            describe(
                argument,
                "a workspace module that imports cleanly",
                f"{shown} raised {type(exc).__name__}: {exc}",
                raw=True,
            )
        ) from exc


def import_reference(
    target: str, *, argument: str, workspace: str | Path | None, policy: TrustPolicy | None = None
) -> Any:
    """Resolve a ``module:attribute`` reference under the trust rules and return the attribute.

    A module inside the workspace is imported from its file under a private package name
    (``_ulens_workspace_<hash>.<module>``), so it needs no ``PYTHONPATH`` and cannot shadow an
    installed module; inside it, import sibling workspace modules relatively
    (``from . import helpers``). A :class:`TrustNotice` names the file before it is imported
    (once per file and process). Anything else must lie in an allowed package.

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
    file = None if root is None else _workspace_file(module_name, root, argument)
    if file is not None and root is not None:
        module = _import_file(module_name, file, root, argument)
    elif (policy or current_policy()).allows_package(module_name):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValidationError(
                describe(argument, "an importable module", f"{target} ({exc})", raw=True)
            ) from exc
    else:
        top = module_name.split(".")[0]
        raise UntrustedCodeError(
            describe(
                argument,
                "a module inside the workspace folder, a built-in, or a package you allowed "
                "(allow it with " + _HOW_TO_ALLOW_CODE.format(pkg=top, env=ALLOW_CODE_ENV) + ")",
                f"{target!r} (refused; nothing was imported)",
                raw=True,
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
