"""The workspace store: content hashes, an on-disk result cache and the SQLite run registry.

* **Hashes** — :func:`hash_arrays`, :func:`hash_file` (streamed SHA-256, memoised per
  ``(path, size, mtime_ns)``), :func:`hash_jsonable` (canonical JSON) and :func:`cache_key`, which
  combines named parts with :data:`CODE_VERSION` (bump it whenever a result format changes, and
  every old cache entry becomes a miss).
* **ResultCache** — one file per key, ``<root>/<key>.npz``, holding a JSON manifest (the
  value's structure: nested frozen dataclasses, tuples, lists, dicts, strings, numbers, paths),
  its arrays and its DataFrames (as Parquet bytes). Nothing is pickled: arrays load with
  ``allow_pickle=False`` and dataclasses are rebuilt by importing their class from an allow-list
  of module prefixes (``analysis.`` by default). A write goes to a temporary file in the same
  folder, is fsync'ed and renamed over the entry with :func:`os.replace`, so readers see the old
  or the new entry, never half of one, and concurrent writers of one key leave the last one.
  A SHA-256 checksum over the manifest and every payload is verified on read; a truncated,
  edited or otherwise unreadable entry is a miss (with a warning) and is removed.
* **RunRegistry** — moved to :mod:`analysis.runs.registry`; re-exported here with
  :class:`RunRecord`, :data:`RUN_STATUSES` and :func:`to_entry` for existing callers.
* :func:`safe_workspace_path` keeps a user-chosen path inside the workspace.

Example:
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> cache = ResultCache(root / "cache")
    >>> key = cache_key(data=np.arange(3), params={"k": 15})
    >>> cache.put(key, {"coords": np.zeros((2, 2)), "label": "A"})
    >>> cache.get(key)["label"]
    'A'
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import importlib
import io
import json
import os
import re
import stat
import tempfile
import threading
import time
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow

from analysis.errors import CacheError, ValidationError, describe
from analysis.runs.registry import RUN_STATUSES, RunRecord, RunRegistry, plain_json, to_entry

__all__ = [
    "CODE_VERSION",
    "RUN_STATUSES",
    "ResultCache",
    "RunRecord",
    "RunRegistry",
    "cache_key",
    "hash_arrays",
    "hash_file",
    "hash_jsonable",
    "safe_workspace_path",
    "to_entry",
]

CODE_VERSION = "3"
"""Version of every cached result format; part of every :func:`cache_key`."""

_CHUNK = 1 << 20
_FILE_MEMO_LIMIT = 4096
_FILE_MEMO: dict[tuple[str, int, int], str] = {}
_FILE_MEMO_LOCK = threading.Lock()

_FORMAT = 1
_STALE_SECONDS = 3600.0
_MANIFEST = "manifest"
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# Everything reading a damaged entry can raise; caught only around decoding, never around I/O
# of a healthy file, and turned into a miss.
_CORRUPT = (
    CacheError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    ImportError,
    EOFError,
    OSError,
    MemoryError,
    RuntimeError,  # zipfile: "compression method not supported", "file is encrypted"...
    zipfile.BadZipFile,
    pyarrow.ArrowException,
)


# --------------------------------------------------------------------------------------------
# Content hashes


def hash_arrays(*arrays: Any) -> str:
    """SHA-256 of arrays' dtypes, shapes and bytes, in order (hex digest).

    Args:
        *arrays: numpy arrays (or anything :func:`numpy.asarray` accepts) without object dtype.

    Raises:
        ValidationError: An array has object dtype (its bytes are pointers, not content).

    Example:
        >>> hash_arrays(np.arange(3)) == hash_arrays(np.arange(3))
        True
        >>> hash_arrays(np.arange(3)) == hash_arrays(np.arange(3.0))
        False
    """
    digest = hashlib.sha256(b"ulens-arrays\x00")
    for i, value in enumerate(arrays):
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise ValidationError(
                describe(
                    f"arrays[{i}]",
                    "an array without object dtype",
                    f"dtype {array.dtype}",
                    raw=True,
                )
            )
        _update_with_array(digest, array)
    return digest.hexdigest()


def _update_with_array(digest: Any, array: np.ndarray) -> None:
    header = json.dumps([array.dtype.str, list(array.shape)]).encode()
    digest.update(len(header).to_bytes(8, "little") + header)
    digest.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8).data)


def hash_file(path: str | Path) -> str:
    """Streamed SHA-256 of a file (hex digest), memoised by ``(path, size, mtime_ns)``.

    Raises:
        ValidationError: ``path`` is not an existing regular file.

    Example:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "w.bin"
        >>> _ = f.write_bytes(b"abc")
        >>> hash_file(f)[:12]
        'ba7816bf8f01'
    """
    resolved = Path(path).expanduser().resolve()
    before = _file_stat(resolved, path)
    memo_key = (str(resolved), before.st_size, before.st_mtime_ns)
    with _FILE_MEMO_LOCK:
        known = _FILE_MEMO.get(memo_key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    with resolved.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    result = digest.hexdigest()
    after = _file_stat(resolved, path)
    if (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns):
        _remember(memo_key, result)  # not memoised if the file changed while being read
    return result


def _file_stat(resolved: Path, shown: str | Path) -> os.stat_result:
    try:
        info = resolved.stat()
    except OSError as exc:
        raise ValidationError(describe("path", "an existing file", str(shown))) from exc
    if not stat.S_ISREG(info.st_mode):
        raise ValidationError(describe("path", "a regular file", str(shown)))
    return info


def _remember(memo_key: tuple[str, int, int], digest: str) -> None:
    with _FILE_MEMO_LOCK:
        if len(_FILE_MEMO) >= _FILE_MEMO_LIMIT:
            _FILE_MEMO.pop(next(iter(_FILE_MEMO)))  # oldest first (insertion order)
        _FILE_MEMO[memo_key] = digest


def hash_jsonable(obj: Any) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (sorted keys, no whitespace; hex digest).

    Mappings need string keys; tuples hash like lists, numpy scalars like Python numbers and
    paths like their string.

    Raises:
        ValidationError: ``obj`` holds something JSON cannot represent (e.g. an array).

    Example:
        >>> hash_jsonable({"b": 1, "a": [1, 2]}) == hash_jsonable({"a": (1, 2), "b": 1})
        True
    """
    return hashlib.sha256(_canonical_json(obj, "obj").encode()).hexdigest()


def _canonical_json(obj: Any, where: str) -> str:
    return json.dumps(
        plain_json(obj, where),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=True,
    )


def cache_key(**parts: Any) -> str:
    """Cache key of named parts plus :data:`CODE_VERSION` (a 64-character hex string).

    Each part is hashed by kind: a numpy array with :func:`hash_arrays`, a :class:`~pathlib.Path`
    with :func:`hash_file` (its content, not its name), anything else with :func:`hash_jsonable`
    (strings, e.g. digests computed earlier, are taken as they are).

    Example:
        >>> k = cache_key(features=np.ones(3), params={"method": "umap"})
        >>> len(k), k == cache_key(params={"method": "umap"}, features=np.ones(3))
        (64, True)
    """
    digests = {name: _part_digest(name, value) for name, value in parts.items()}
    return hash_jsonable({"code_version": CODE_VERSION, "parts": digests})


def _part_digest(name: str, value: Any) -> str:
    if isinstance(value, np.ndarray):
        return "arrays:" + hash_arrays(value)
    if isinstance(value, Path):
        return "file:" + hash_file(value)
    return "json:" + hashlib.sha256(_canonical_json(value, name).encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# Result cache


_WARNED_ROOTS: set[str] = set()


class ResultCache:
    """A content-addressed cache of analysis results on disk, without pickle.

    Values may be nested frozen (or plain) dataclasses, tuples, lists, dicts (any encodable
    hashable keys), ``str``, ``int``, ``float``, ``bool``, ``None``, numpy scalars and arrays
    (no object dtype), :class:`pathlib.Path` and :class:`pandas.DataFrame` (string column
    names). Round trips are exact: arrays bit for bit with their dtype, DataFrame dtypes
    (including pandas string and categorical dtypes) through Parquet.

    Args:
        root: Folder of the entries (created on the first :meth:`put`).
        allowed_modules: Module prefixes whose dataclasses may be rebuilt (``"analysis."``
            matches ``analysis.cka``; a name without a trailing dot matches that module and
            its submodules).
        workspace: When given, the cache is confined to this folder: if ``root`` resolves
            (after symlinks, e.g. a symlinked ``.ulens_cache``) outside it, the cache is
            disabled — every :meth:`get` misses and :meth:`put` writes nothing — after one
            warning. Checked again before every write. Allowed-outside locations do not count:
            they are for reading data, never for writing.

    Entries are opened without following symbolic links; an entry that is a link or a folder
    is a miss (with a warning), and a write that fails (a folder in the way, a read-only
    workspace, a full disk) warns and leaves the result uncached.

    Example:
        >>> import tempfile
        >>> cache = ResultCache(Path(tempfile.mkdtemp()))
        >>> cache.get("0" * 64) is None
        True
    """

    def __init__(
        self,
        root: str | Path,
        *,
        allowed_modules: Sequence[str] = ("analysis.",),
        workspace: str | Path | None = None,
    ) -> None:
        if isinstance(allowed_modules, str) or not all(
            isinstance(m, str) and m for m in allowed_modules
        ):
            raise ValidationError(
                describe("allowed_modules", "a sequence of module prefixes", allowed_modules)
            )
        self.root = Path(root)
        self._allowed = tuple(allowed_modules)
        self._workspace = None if workspace is None else Path(workspace).expanduser().resolve()
        if self._confined():
            _sweep_stale_temporaries(self.root)

    @property
    def enabled(self) -> bool:
        """False when the cache folder escapes its workspace (nothing is read or written)."""
        return self._confined()

    def _confined(self) -> bool:
        if self._workspace is None:
            return True
        try:
            inside = self.root.resolve().is_relative_to(self._workspace)
        except (OSError, RuntimeError):
            inside = False
        if not inside:
            self._warn(
                f"the cache folder {self.root.name} resolves outside the workspace (a symbolic "
                "link?): results are not cached; replace it with a plain folder to cache again"
            )
        return inside

    def _warn(self, message: str) -> None:
        """Warn once per process and cache folder (a dashboard builds many caches per folder)."""
        if str(self.root) not in _WARNED_ROOTS:
            _WARNED_ROOTS.add(str(self.root))
            warnings.warn(message, RuntimeWarning, stacklevel=3)

    def path(self, key: str) -> Path:
        """File holding the entry of ``key`` (it may not exist)."""
        return self.root / f"{_validate_key(key)}.npz"

    def get(self, key: str) -> object | None:
        """Return the value stored under ``key``, or ``None`` on a miss.

        A corrupt entry (truncated, edited, failing its checksum, naming a class that is not
        allowed or no longer exists) is a miss: a warning is issued and the file removed.

        Raises:
            ValidationError: ``key`` is not 1-128 characters of ``[A-Za-z0-9_.-]``.
        """
        path = self.path(key)
        if not self._confined():
            return None
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:  # a symbolic link (ELOOP), no permission
            warnings.warn(
                f"cache entry {path.name} cannot be read ({exc.strerror}); it is recomputed",
                stacklevel=2,
            )
            return None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            warnings.warn(
                f"cache entry {path.name} is not a regular file; it is recomputed", stacklevel=2
            )
            return None
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
        try:
            return self._decode(data)
        except _CORRUPT as exc:
            warnings.warn(
                f"cache entry {path.name} is unreadable ({type(exc).__name__}: {exc}); "
                "it was removed and will be recomputed",
                stacklevel=2,
            )
            _remove_if_unchanged(path, info)
            return None

    def put(self, key: str, value: object) -> None:
        """Store ``value`` under ``key`` atomically (temporary file, fsync, rename).

        Raises:
            ValidationError: Bad ``key``, or ``value`` (or something inside it) has a type the
                cache cannot store without pickle; nothing is written then.
        """
        path = self.path(key)
        if value is None:
            raise ValidationError(describe("value", "a result (None means a miss)", None))
        members = self._encode(value)
        if not self._confined():
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=self.root)
        except OSError as exc:  # a read-only workspace, a file in the way
            if exc.errno in _READ_ONLY_ERRNOS:
                _warn_read_only(self.root)
            else:
                self._warn(
                    f"cache folder {self.root.name} is not writable ({exc.strerror}): "
                    "results are not cached"
                )
            return
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, allow_pickle=False, **members)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:  # a folder in the way of the entry, a full disk
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            warnings.warn(
                f"cache entry {path.name} could not be written ({exc.strerror}); "
                "the result is not cached",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.root)

    def remove(self, key: str) -> bool:
        """Delete the entry of ``key``; return whether there was one."""
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    # ---- encoding

    def _encode(self, value: object) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        tree = _Encoder(self._allowed, arrays).encode(value, "value")
        body = {
            "format": _FORMAT,
            "code_version": CODE_VERSION,
            "tree": tree,
            "arrays": sorted(arrays),
        }
        manifest = {"body": body, "checksum": _checksum(body, arrays)}
        encoded = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        return {_MANIFEST: np.frombuffer(encoded, dtype=np.uint8), **arrays}

    def _decode(self, data: bytes) -> object:
        npz = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise CacheError("not an .npz archive")
        with npz:
            manifest = json.loads(npz[_MANIFEST].tobytes().decode("utf-8"))
            body = manifest["body"]
            if body["format"] != _FORMAT or set(npz.files) != {_MANIFEST, *body["arrays"]}:
                raise CacheError("entry layout does not match its manifest")
            arrays = {name: npz[name] for name in body["arrays"]}
        if manifest["checksum"] != _checksum(body, arrays):
            raise CacheError("checksum mismatch")
        return _Decoder(self._allowed, arrays).decode(body["tree"])


_READ_ONLY_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)
_READ_ONLY_WARNED: set[str] = set()


def _warn_read_only(root: Path) -> None:
    """Say once per folder that results cannot be saved (a read-only workspace still works)."""
    if str(root) in _READ_ONLY_WARNED:
        return
    _READ_ONLY_WARNED.add(str(root))
    warnings.warn(
        f"cannot save results in {root.name}/ (read-only workspace): they are computed "
        "again next time; already cached results still load",
        RuntimeWarning,
        stacklevel=3,
    )


def _checksum(body: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> str:
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(arrays):
        digest.update(name.encode() + b"\x00")
        _update_with_array(digest, arrays[name])
    return digest.hexdigest()


def _validate_key(key: Any) -> str:
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ValidationError(
            describe(
                "key",
                "1-128 characters of [A-Za-z0-9_.-] not starting "
                "with '.', '_' or '-' (e.g. a cache_key())",
                key,
            )
        )
    return key


def _sweep_stale_temporaries(root: Path) -> None:
    """Delete temporary files of writers that died more than an hour ago (best effort)."""
    cutoff = time.time() - _STALE_SECONDS
    for tmp in root.glob(".*.tmp") if root.is_dir() else ():
        with contextlib.suppress(OSError):
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()


def _remove_if_unchanged(path: Path, info: os.stat_result) -> None:
    """Delete ``path`` unless another writer replaced it since it was read."""
    with contextlib.suppress(OSError):
        now = path.stat()
        if (now.st_ino, now.st_size, now.st_mtime_ns) == (
            info.st_ino,
            info.st_size,
            info.st_mtime_ns,
        ):
            path.unlink()


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort; not possible on every platform)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _module_allowed(module: str, allowed: Sequence[str]) -> bool:
    return any(
        module == p.rstrip(".") or module.startswith(p if p.endswith(".") else p + ".")
        for p in allowed
    )


class _Encoder:
    """Turn a value into a JSON tree; arrays and DataFrames go to ``arrays`` by reference."""

    def __init__(self, allowed: Sequence[str], arrays: dict[str, np.ndarray]) -> None:
        self._allowed = allowed
        self._arrays = arrays

    def _ref(self, array: np.ndarray) -> str:
        name = f"a{len(self._arrays)}"
        self._arrays[name] = array
        return name

    def encode(self, value: Any, where: str) -> dict[str, Any]:
        """Encode one node; ``where`` names it in error messages (``value.field[2]``)."""
        if value is None or type(value) is bool or type(value) is str:
            return {"t": "none" if value is None else type(value).__name__, "v": value}
        if isinstance(value, np.generic):
            return {"t": "scalar", "ref": self._ref(self._plain_array(np.asarray(value), where))}
        if type(value) is int:
            return {"t": "int", "v": value}
        if type(value) is float:
            return {"t": "float", "v": value.hex()}  # exact, and NaN/inf need no JSON extension
        if type(value) is np.ndarray:
            return {"t": "ndarray", "ref": self._ref(self._plain_array(value, where))}
        if type(value) is pd.DataFrame:
            ref = self._ref(_parquet_bytes(value, where))
            return {"t": "dataframe", "ref": ref, "strings": _string_dtypes(value)}
        if isinstance(value, Path):
            return {"t": "path", "v": str(value)}
        if type(value) is tuple or type(value) is list:
            items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return {"t": type(value).__name__, "items": items}
        if isinstance(value, Mapping):
            return {
                "t": "dict",
                "items": [
                    [self.encode(k, f"{where} key"), self.encode(v, f"{where}[{k!r}]")]
                    for k, v in value.items()
                ],
            }
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self._dataclass(value, where)
        raise ValidationError(
            describe(
                where,
                "dataclasses, tuples, lists, dicts, str, numbers, None, paths, numpy arrays "
                "or DataFrames",
                type(value).__name__,
                raw=True,
            )
        )

    def _plain_array(self, array: np.ndarray, where: str) -> np.ndarray:
        if array.dtype.hasobject:
            raise ValidationError(
                describe(
                    where,
                    "an array without object dtype (no pickle)",
                    f"dtype {array.dtype}",
                    raw=True,
                )
            )
        return array

    def _dataclass(self, value: Any, where: str) -> dict[str, Any]:
        cls = type(value)
        name = f"{cls.__module__}:{cls.__qualname__}"
        if not _module_allowed(cls.__module__, self._allowed) or _find_class(name) is not cls:
            raise ValidationError(
                describe(
                    where, f"a dataclass defined at module level in {list(self._allowed)}", name
                )
            )
        fields = {
            f.name: self.encode(getattr(value, f.name), f"{where}.{f.name}")
            for f in dataclasses.fields(value)
        }
        return {"t": "dataclass", "cls": name, "fields": fields}


def _find_class(name: str) -> Any:
    """Import ``module:qualname``; None when it cannot be found."""
    module_name, _, qualname = name.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError:
        return None
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def _parquet_bytes(frame: pd.DataFrame, where: str) -> np.ndarray:
    bad = [c for c in frame.columns if not isinstance(c, str)]
    if bad:  # Parquet would silently turn them into strings
        raise ValidationError(describe(f"{where} columns", "string column names", bad[0]))
    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer, engine="pyarrow")
    except (ValueError, TypeError, pyarrow.ArrowException) as exc:
        raise ValidationError(
            describe(
                where,
                "a DataFrame Parquet can store (string column names, no Python objects)",
                f"{exc}",
                raw=True,
            )
        ) from exc
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8)


def _string_dtypes(frame: pd.DataFrame) -> list[list[Any]]:
    """``[position, storage, na]`` of every pandas string column (-1: the index).

    Parquet keeps "string" but not its storage (python / pyarrow) nor its missing-value marker
    (``pd.NA`` for ``"string"``, NaN for ``"str"``); they are restored from these.
    """
    dtypes = [(-1, frame.index.dtype), *enumerate(frame.dtypes)]
    return [
        [i, d.storage, "nan" if d.na_value is np.nan else "NA"]
        for i, d in dtypes
        if isinstance(d, pd.StringDtype)
    ]


def _read_frame(raw: np.ndarray, strings: list[list[Any]]) -> pd.DataFrame:
    frame = pd.read_parquet(io.BytesIO(raw.tobytes()))
    for position, storage, na in strings:
        if storage not in ("python", "pyarrow") or na not in ("nan", "NA"):
            raise CacheError(f"unknown string dtype {storage!r}/{na!r}")
        dtype = pd.StringDtype(storage=storage, na_value=np.nan if na == "nan" else pd.NA)
        if position == -1:
            frame.index = frame.index.astype(dtype)
        else:
            frame.isetitem(position, frame.iloc[:, position].astype(dtype))
    return frame


class _Decoder:
    """Rebuild a value from its JSON tree; anything unexpected raises :class:`CacheError`."""

    def __init__(self, allowed: Sequence[str], arrays: Mapping[str, np.ndarray]) -> None:
        self._allowed = allowed
        self._arrays = arrays

    def decode(self, node: Mapping[str, Any]) -> Any:
        kind = node["t"]
        if kind in ("none", "bool", "str", "int"):
            return _checked_plain(kind, node["v"])
        if kind == "float":
            return float.fromhex(node["v"])
        if kind == "scalar":
            return self._arrays[node["ref"]][()]
        if kind == "ndarray":
            return self._arrays[node["ref"]]
        if kind == "dataframe":
            return _read_frame(self._arrays[node["ref"]], node["strings"])
        if kind == "path":
            return Path(node["v"])
        if kind in ("tuple", "list"):
            items = [self.decode(item) for item in node["items"]]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            return {self.decode(k): self.decode(v) for k, v in node["items"]}
        if kind == "dataclass":
            return self._dataclass(node)
        raise CacheError(f"unknown node type {kind!r}")

    def _dataclass(self, node: Mapping[str, Any]) -> Any:
        name = node["cls"]
        cls = _find_class(name) if _module_allowed(name.partition(":")[0], self._allowed) else None
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise CacheError(f"class {name} is not an allowed dataclass (renamed or removed?)")
        values = {key: self.decode(child) for key, child in node["fields"].items()}
        fields = dataclasses.fields(cls)
        if {f.name for f in fields} != set(values):
            raise CacheError(f"fields of {name} changed since the entry was written")
        obj = cls(**{f.name: values[f.name] for f in fields if f.init})
        for f in fields:
            if not f.init:
                object.__setattr__(obj, f.name, values[f.name])
        return obj


def _checked_plain(kind: str, value: Any) -> Any:
    expected = {"none": type(None), "bool": bool, "str": str, "int": int}[kind]
    if type(value) is not expected:
        raise CacheError(f"a {kind} node holds {type(value).__name__}")
    return value


# --------------------------------------------------------------------------------------------
# Path safety


def safe_workspace_path(root: str | Path, relative: str | Path) -> Path:
    """Resolve ``relative`` against the workspace ``root`` and refuse anything outside it.

    Symbolic links are resolved first, so a link pointing out of the workspace is refused too.
    An absolute path is accepted when it lies inside the workspace.

    Raises:
        ValidationError: The path is empty, contains a NUL byte, or escapes the workspace.

    Example:
        >>> safe_workspace_path("/w", "models/a.pt").as_posix()
        '/w/models/a.pt'
        >>> safe_workspace_path("/w", "../etc/passwd")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        analysis.errors.ValidationError: path: expected a path inside the workspace /w, ...
    """
    base = Path(root).expanduser().resolve()
    text = str(relative) if isinstance(relative, str | Path) else None
    if not text or "\x00" in text:
        raise ValidationError(describe("path", "a non-empty file path", relative))
    candidate = (base / text).resolve()
    if not candidate.is_relative_to(base):
        raise ValidationError(describe("path", f"a path inside the workspace {base}", text))
    return candidate
