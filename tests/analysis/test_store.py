"""Tests of analysis/store.py: hashes, the pickle-free result cache, the run registry, paths."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import pickle
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import analysis.store as store
from analysis.errors import ValidationError
from analysis.store import (
    ResultCache,
    cache_key,
    hash_arrays,
    hash_file,
    hash_jsonable,
    safe_workspace_path,
)

# --------------------------------------------------------------------------------------------
# values to cache


@dataclass(frozen=True)
class Inner:
    values: np.ndarray
    label: str
    scale: float


@dataclass(frozen=True)
class Outer:
    inner: Inner
    frame: pd.DataFrame
    pairs: dict[Any, Any]
    items: tuple[Any, ...]
    seq: list[Any]
    path: Path
    count: int
    flag: bool
    nothing: None
    scalar: np.float32
    cached: float = field(init=False, default=0.0)


def _frame() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "i64": np.array([1, -2, 3], dtype=np.int64),
            "f32": np.array([0.5, np.nan, -1.25], dtype=np.float32),
            "flag": [True, False, True],
            "name": pd.array(["a", None, "c"], dtype=pd.StringDtype("python")),
            "plain": pd.Series(["x", "y", "z"], dtype="str"),
            "cat": pd.Categorical(["u", "v", "u"]),
            "nullable": pd.array([1, None, 3], dtype="Int64"),
            "when": pd.to_datetime(["2024-01-01", "2024-06-01", "2025-01-01"], utc=True),
        },
        index=pd.Index([10, 20, 30], name="sample"),
    )
    return frame


def _value() -> Outer:
    arrays = {
        "f64": np.array([0.1, -0.0, np.inf, np.nan, 5e-324]),
        "bigendian": np.arange(6, dtype=">f8").reshape(2, 3),
        "fortran": np.asfortranarray(np.arange(12, dtype=np.int8).reshape(3, 4)),
        "complex": np.array([1 + 2j, -3j], dtype=np.complex64),
        "bool": np.array([[True, False]]),
        "text": np.array(["ab", "cde"]),
        "when": np.array(["2024-01-01", "NaT"], dtype="datetime64[ns]"),
        "zero_d": np.array(3.5, dtype=np.float16),
        "empty": np.zeros((0, 3), dtype=np.uint16),
    }
    obj = Outer(
        inner=Inner(values=np.linspace(0, 1, 7, dtype=np.float32), label="ü-λ", scale=-0.0),
        frame=_frame(),
        pairs={("a", "b"): arrays, 3: [1.5, math.nan], "k": {"deep": (None, True)}},
        items=(1, 2**70, 0.1 + 0.2, float("-inf"), "s"),
        seq=[Inner(np.ones(2), "x", 1e-300), np.int64(7)],
        path=Path("models/a.safetensors"),
        count=-5,
        flag=False,
        nothing=None,
        scalar=np.float32(2.5),
    )
    object.__setattr__(obj, "cached", 9.75)  # an init=False field
    return obj


def _same(a: Any, b: Any) -> bool:
    """Exact equality: same types, arrays bit for bit with dtype/shape, frames with dtypes."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return (
            a.dtype == b.dtype
            and a.shape == b.shape
            and a.dtype.str == b.dtype.str
            and a.tobytes(order="A") == b.tobytes(order="A")
            and a.flags.f_contiguous == b.flags.f_contiguous
        )
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()
    if isinstance(a, pd.DataFrame):
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        except AssertionError:
            return False
        return list(a.dtypes) == list(b.dtypes)
    if isinstance(a, float):
        return a.hex() == b.hex() if not math.isnan(a) else math.isnan(b)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if hasattr(a, "__dataclass_fields__"):
        return all(_same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return bool(a == b)


@pytest.fixture
def cache(tmp_path: Path) -> ResultCache:
    return ResultCache(tmp_path / "cache", allowed_modules=("analysis.", __name__))


# --------------------------------------------------------------------------------------------
# hashes


def test_hash_arrays_is_content_dtype_and_shape_sensitive() -> None:
    x = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert hash_arrays(x) == hash_arrays(x.copy()) == hash_arrays(np.asfortranarray(x))
    assert hash_arrays(x[:, ::2]) == hash_arrays(np.ascontiguousarray(x[:, ::2]))
    assert hash_arrays(x) != hash_arrays(x.reshape(4, 3))  # same bytes, other shape
    assert hash_arrays(x) != hash_arrays(x.view(np.float32))  # same bytes, other dtype
    assert hash_arrays(x, x) != hash_arrays(x)
    y = x.copy()
    y[2, 3] += 1
    assert hash_arrays(x) != hash_arrays(y)
    with pytest.raises(ValidationError, match=r"^arrays\[1\]"):
        hash_arrays(x, np.array([object()]))


def test_hash_file_matches_sha256_and_is_memoised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "w.bin"
    data = os.urandom(3 * (1 << 20) + 17)  # several read chunks
    f.write_bytes(data)
    assert hash_file(f) == hashlib.sha256(data).hexdigest()

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the file was read again")

    monkeypatch.setattr(Path, "open", refuse)
    assert hash_file(str(f)) == hashlib.sha256(data).hexdigest()  # memo hit, no read
    monkeypatch.undo()
    f.write_bytes(b"changed")
    os.utime(f, ns=(1, 1))  # new size and mtime: a new memo key
    assert hash_file(f) == hashlib.sha256(b"changed").hexdigest()
    with pytest.raises(ValidationError, match=r"^path:"):
        hash_file(tmp_path / "missing.bin")
    with pytest.raises(ValidationError, match=r"^path:"):
        hash_file(tmp_path)


def test_hash_jsonable_is_canonical() -> None:
    obj = {"b": [1, 2.5, None], "a": {"y": True, "x": "é"}}
    direct = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hash_jsonable(obj) == hashlib.sha256(direct.encode()).hexdigest()
    assert hash_jsonable({"a": (1, 2)}) == hash_jsonable({"a": [1, 2]})
    assert hash_jsonable({"a": np.int64(1)}) == hash_jsonable({"a": 1})
    assert hash_jsonable({"a": 1}) != hash_jsonable({"a": 1.5})
    with pytest.raises(ValidationError, match="obj"):
        hash_jsonable({"a": np.zeros(2)})
    with pytest.raises(ValidationError, match="string keys"):
        hash_jsonable({1: "x"})


def test_cache_key_combines_parts_and_code_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "m.safetensors"
    weights.write_bytes(b"weights-1")
    base = {"weights": weights, "x": np.arange(4), "params": {"k": 15}, "split": "train"}
    key = cache_key(**base)
    assert len(key) == 64 and set(key) <= set("0123456789abcdef")
    assert key == cache_key(**dict(reversed(list(base.items()))))
    assert key != cache_key(**{**base, "x": np.arange(4.0)})
    assert key != cache_key(**{**base, "params": {"k": 16}})
    assert key != cache_key(**{**base, "split": "test"})
    assert key != cache_key(**{**base, "extra": 1})
    weights.write_bytes(b"weights-2")  # same name, new content
    assert key != cache_key(**base)
    weights.write_bytes(b"weights-1")
    os.utime(weights, ns=(5, 5))
    assert key == cache_key(**base)
    monkeypatch.setattr(store, "CODE_VERSION", "999")
    assert key != cache_key(**base)


# --------------------------------------------------------------------------------------------
# result cache


def test_round_trip_nested_dataclass_is_exact(cache: ResultCache) -> None:
    value = _value()
    key = cache_key(name="round-trip")
    assert cache.get(key) is None
    cache.put(key, value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = cache.get(key)
    assert isinstance(back, Outer) and _same(back, value)
    assert back.frame["name"].dtype == pd.StringDtype("python")
    assert back.frame["plain"].dtype == value.frame["plain"].dtype
    assert isinstance(back.frame["cat"].dtype, pd.CategoricalDtype)
    assert back.cached == 9.75 and isinstance(back.scalar, np.float32)
    assert back.inner.values.flags.writeable  # a fresh array, not a view of a file


def test_same_check_detects_differences() -> None:
    """The comparison the corruption tests rely on is not a tautology."""
    value = _value()
    other = dataclasses.replace(value, count=6)
    object.__setattr__(other, "cached", value.cached)
    assert _same(value, value) and not _same(value, other)
    assert not _same(np.zeros(2, np.float32), np.zeros(2, np.float64))
    frame = _frame()
    frame["plain"] = frame["plain"].astype(object)
    assert not _same(_frame(), frame)


def test_round_trip_analysis_dataclass(tmp_path: Path) -> None:
    from analysis.cka import CKAMatrix

    value = CKAMatrix("A", "B", ("l1", "l2"), ("l1",), np.array([[0.5], [np.nan]]), 40)
    cache = ResultCache(tmp_path)  # default allow-list: analysis.*
    cache.put("cka", value)
    back = cache.get("cka")
    assert isinstance(back, CKAMatrix) and _same(back, value)


def test_no_pickle_is_used(cache: ResultCache, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pickle used")

    for name in ("loads", "load", "dumps", "dump", "Unpickler", "Pickler"):
        monkeypatch.setattr(pickle, name, refuse)
    value = _value()
    cache.put("nopickle", value)
    assert _same(cache.get("nopickle"), value)


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"a": np.array([object()])}, r"value\['a'\]"),
        ((1, {2, 3}), r"value\[1\]"),
        ([lambda: 0], r"value\[0\]"),
        (pd.DataFrame({1: [1.0]}), "value"),
        (pd.Series([1.0]), "value"),
        (np.ma.masked_array([1.0]), "value"),
        (None, "value"),
    ],
)
def test_unstorable_values_are_refused_before_writing(
    cache: ResultCache, value: Any, where: str
) -> None:
    with pytest.raises(ValidationError, match=f"^{where}"):
        cache.put("bad", value)
    assert not cache.path("bad").exists()


def test_dataclass_outside_allow_list_is_refused(tmp_path: Path) -> None:
    @dataclass(frozen=True)
    class Local:
        x: int

    with pytest.raises(ValidationError, match="defined at module level"):
        ResultCache(tmp_path, allowed_modules=(__name__,)).put("k", Local(1))
    with pytest.raises(ValidationError, match=r"^value: expected a dataclass"):  # not allowed
        ResultCache(tmp_path).put("k", _value())


@pytest.mark.parametrize("key", ["", "../x", ".hidden", "a/b", "x" * 129, 5])
def test_bad_keys_are_refused(cache: ResultCache, key: Any) -> None:
    with pytest.raises(ValidationError, match=r"^key:"):
        cache.put(key, 1)
    with pytest.raises(ValidationError, match=r"^key:"):
        cache.get(key)


def _rewrite(path: Path, edit: Any) -> None:
    """Re-save an entry after ``edit(manifest_dict, arrays)`` changed it in place."""
    with np.load(path, allow_pickle=False) as npz:
        members = {name: npz[name] for name in npz.files}
    manifest = json.loads(members.pop("manifest").tobytes())
    edit(manifest, members)
    encoded = json.dumps(manifest).encode()
    np.savez(path, manifest=np.frombuffer(encoded, dtype=np.uint8), **members)


def _recompute_checksum(manifest: dict, arrays: dict) -> None:
    manifest["checksum"] = store._checksum(manifest["body"], arrays)


def _first_float(node: Any) -> dict | None:
    if isinstance(node, dict):
        if node.get("t") == "float":
            return node
        children = list(node.values())
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _first_float(child)
        if found is not None:
            return found
    return None


def _edit_float(manifest: dict, arrays: dict) -> None:
    node = _first_float(manifest["body"]["tree"])
    assert node is not None
    node["v"] = (1234.5).hex()  # valid JSON, plausible value; checksum left stale


def _edit_array(manifest: dict, arrays: dict) -> None:
    arrays["a0"] = arrays["a0"].copy()
    arrays["a0"].flat[0] += 1  # bytes changed, checksum stale


def _unknown_class(manifest: dict, arrays: dict) -> None:
    manifest["body"]["tree"]["cls"] = f"{__name__}:Missing"
    _recompute_checksum(manifest, arrays)  # only the class lookup can catch it


def _class_outside_allow_list(manifest: dict, arrays: dict) -> None:
    manifest["body"]["tree"]["cls"] = "subprocess:CompletedProcess"
    _recompute_checksum(manifest, arrays)


def _extra_member(manifest: dict, arrays: dict) -> None:
    arrays["zz"] = np.zeros(1)


def _bad_json(path: Path) -> None:
    with np.load(path, allow_pickle=False) as npz:
        members = {name: npz[name] for name in npz.files}
    members["manifest"] = np.frombuffer(b"{not json", dtype=np.uint8)
    np.savez(path, **members)


CORRUPTIONS = {
    "truncated_half": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "truncated_empty": lambda p: p.write_bytes(b""),
    "not_a_zip": lambda p: p.write_bytes(b"garbage" * 10),
    "bad_json_manifest": _bad_json,
    "edited_manifest_value": lambda p: _rewrite(p, _edit_float),
    "edited_array_bytes": lambda p: _rewrite(p, _edit_array),
    "unknown_class": lambda p: _rewrite(p, _unknown_class),
    "class_outside_allow_list": lambda p: _rewrite(p, _class_outside_allow_list),
    "extra_member": lambda p: _rewrite(p, _extra_member),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_entry_is_a_miss_with_warning_and_removed(
    cache: ResultCache, corruption: str
) -> None:
    value = _value()
    cache.put("entry", value)
    CORRUPTIONS[corruption](cache.path("entry"))
    with pytest.warns(UserWarning, match="unreadable"):
        assert cache.get("entry") is None
    assert not cache.path("entry").exists()
    cache.put("entry", value)  # the caller recomputes; the entry works again
    assert _same(cache.get("entry"), value)


def test_any_flipped_byte_is_a_miss_or_the_exact_value(cache: ResultCache) -> None:
    value = _value()
    cache.put("flip", value)
    path = cache.path("flip")
    original = path.read_bytes()
    detected = 0
    for position in range(0, len(original), max(1, len(original) // 400)):
        damaged = bytearray(original)
        damaged[position] ^= 0xFF
        path.write_bytes(bytes(damaged))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            back = cache.get("flip")
        if back is None:
            detected += 1
            assert caught and "unreadable" in str(caught[0].message)
        else:  # a byte zip/npz never reads (e.g. padding) may go unnoticed, harmlessly
            assert _same(back, value), f"wrong value after flipping byte {position}"
    assert detected > 300


def test_concurrent_writers_of_one_key_never_expose_a_torn_entry(cache: ResultCache) -> None:
    values = [
        (i, np.full(20_000, i, dtype=np.int64), pd.DataFrame({"v": [i] * 50})) for i in range(4)
    ]
    cache.put("shared", values[0])
    errors: list[str] = []

    def writer(i: int) -> None:
        for _ in range(15):
            cache.put("shared", values[i])

    def reader() -> None:
        for _ in range(40):
            got = cache.get("shared")
            if got is None or not any(_same(got, v) for v in values):
                errors.append(f"read {type(got).__name__}")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a corrupt read would warn
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert any(_same(cache.get("shared"), v) for v in values)
    assert [p.name for p in cache.root.iterdir()] == ["shared.npz"]  # no temporary left


def test_stale_temporaries_are_swept(tmp_path: Path) -> None:
    old, fresh = tmp_path / ".k.123.tmp", tmp_path / ".k.456.tmp"
    old.write_bytes(b"partial")
    fresh.write_bytes(b"in progress")
    os.utime(old, (1.0, 1.0))
    ResultCache(tmp_path)
    assert not old.exists() and fresh.exists()


# --------------------------------------------------------------------------------------------
# path safety


def test_safe_workspace_path(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "models").mkdir(parents=True)
    assert safe_workspace_path(root, "models/a.pt") == root / "models" / "a.pt"
    assert safe_workspace_path(str(root), "models/../b.pt") == root / "b.pt"
    assert safe_workspace_path(root, root / "models") == root / "models"  # absolute, inside
    outside = tmp_path / "secret"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    for bad in (
        "../x",
        "models/../../x",
        str(outside / "f"),
        "/etc/passwd",
        "link/f",
        "",
        "a\x00b",
    ):
        with pytest.raises(ValidationError, match=r"^path"):
            safe_workspace_path(root, bad)
