"""Dataset adapters and forget sets.

Every adapter returns a :class:`DatasetBundle`: a train and a test :class:`ArrayDataset` (float32
inputs and int64 labels held as tensors, so any pass over them is batched slicing, never a
per-sample Python loop) plus the class names.

Adapters: ``digits`` (scikit-learn's bundled 8×8 digits with a fixed stratified split), ``npz``
(``allow_pickle=False``), ``cifar10`` / ``cifar100`` (a local torchvision-format folder, read with
a restricted unpickler that only rebuilds numpy arrays; never downloads) and ``module:function``.

Example:
    >>> from analysis.data import load_dataset
    >>> bundle = load_dataset({"kind": "digits"})
    >>> len(bundle.train), len(bundle.test), bundle.num_classes
    (1437, 360, 10)
"""

from __future__ import annotations

import io
import math
import os
import pickle
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from analysis.errors import DatasetError, ValidationError, describe, did_you_mean, unknown_keys
from analysis.trust import (
    ResourceLimitError,
    TrustPolicy,
    check_budget,
    confine,
    current_policy,
    import_reference,
)

__all__ = [
    "DATASET_COMMON_OPTIONS",
    "DATASET_OPTIONS",
    "ArrayDataset",
    "DatasetBundle",
    "ForgetSet",
    "iterate_batches",
    "load_dataset",
    "resolve_forget_set",
]

DATASET_OPTIONS: dict[str, tuple[str, ...]] = {
    "digits": ("seed", "test_size"),
    "npz": ("path",),
    "cifar10": ("path",),
    "cifar100": ("path",),
}
"""Keys of ``[dataset]`` (besides ``kind``) per built-in kind; a factory takes any keys."""
DATASET_COMMON_OPTIONS = ("groups",)
"""Keys of ``[dataset]`` every kind accepts and no adapter sees: ``groups`` = a
workspace-relative ``.npz`` of group labels (:func:`analysis.group_robustness.load_groups`)."""

_CIFAR_MEAN = {10: (0.4914, 0.4822, 0.4465), 100: (0.5071, 0.4865, 0.4409)}
_CIFAR_STD = {10: (0.2470, 0.2435, 0.2616), 100: (0.2673, 0.2564, 0.2762)}


class ArrayDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """An in-memory dataset of ``(x, y)`` pairs backed by two tensors.

    Args:
        x: Inputs, shape ``(n, ...)``; stored as float32.
        y: Integer labels, shape ``(n,)``; stored as int64.

    Example:
        >>> ds = ArrayDataset(torch.zeros(4, 3), torch.tensor([0, 1, 0, 1]))
        >>> len(ds), ds[1][1].item(), tuple(ds.subset([0, 2]).x.shape)
        (4, 1, (2, 3))
    """

    def __init__(self, x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> None:
        x_t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        y_t = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
        if x_t.ndim < 2 or y_t.ndim != 1 or x_t.shape[0] != y_t.shape[0]:
            raise ValidationError(
                describe(
                    "x, y",
                    "x of shape (n, ...) and y of shape (n,)",
                    f"x {tuple(x_t.shape)}, y {tuple(y_t.shape)}",
                    raw=True,
                )
            )
        self.x = x_t.to(torch.float32).contiguous()
        self.y = y_t.to(torch.int64).contiguous()

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]

    @property
    def targets(self) -> np.ndarray:
        """Labels as a numpy int64 array."""
        return self.y.numpy()

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input (without the batch axis)."""
        return tuple(self.x.shape[1:])

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> ArrayDataset:
        """Return a new dataset holding the rows at ``indices`` (in that order)."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return ArrayDataset(self.x[idx], self.y[idx])


@dataclass(frozen=True)
class DatasetBundle:
    """Train and test splits with class names and where they came from.

    Raises:
        DatasetError: An empty split, train and test inputs of different shapes, or a label
            without a class name.
    """

    train: ArrayDataset
    test: ArrayDataset
    class_names: tuple[str, ...]
    kind: str
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for split, ds in (("train", self.train), ("test", self.test)):
            if len(ds) == 0:
                raise DatasetError(
                    describe(f"dataset {split} split", "at least one sample", "0 samples", raw=True)
                )
        if self.train.input_shape != self.test.input_shape:
            raise DatasetError(
                describe(
                    "dataset",
                    "train and test inputs of one shape",
                    f"train {self.train.input_shape}, test {self.test.input_shape}",
                    raw=True,
                )
            )
        top = max(int(self.train.y.max()), int(self.test.y.max()))
        if int(min(self.train.y.min(), self.test.y.min())) < 0 or top >= len(self.class_names):
            raise DatasetError(
                describe(
                    "dataset labels",
                    f"class ids in [0, {len(self.class_names)}) (one per class name)",
                    f"labels up to {top}",
                    raw=True,
                )
            )

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input."""
        return self.train.input_shape


@dataclass(frozen=True)
class ForgetSet:
    """A resolved forget set: sorted training indices and the classes (class-wise only)."""

    name: str
    indices: np.ndarray
    classes: tuple[int, ...] | None
    kind: str

    @property
    def is_classwise(self) -> bool:
        """True when whole classes are forgotten."""
        return self.classes is not None


def iterate_batches(
    dataset: ArrayDataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x, y)`` minibatches by tensor slicing (fast, deterministic with a generator).

    Example:
        >>> ds = ArrayDataset(torch.arange(10.0).reshape(5, 2), torch.arange(5))
        >>> [len(y) for _, y in iterate_batches(ds, 2)]
        [2, 2, 1]
    """
    if batch_size < 1:
        raise ValidationError(describe("batch_size", "a positive integer", batch_size))
    n = len(dataset)
    order = torch.randperm(n, generator=generator) if shuffle else None
    for start in range(0, n, batch_size):
        if order is None:
            yield dataset.x[start : start + batch_size], dataset.y[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]
            yield dataset.x[idx], dataset.y[idx]


# --------------------------------------------------------------------------- adapters


def load_dataset(spec: Mapping[str, Any], *, root: Path | None = None) -> DatasetBundle:
    """Load the dataset a ``[dataset]`` table describes.

    Sizes are checked against the memory budget (:attr:`analysis.trust.TrustPolicy.max_bytes`,
    default 4 GiB) *before* anything large is allocated: an ``.npz``'s arrays from their
    headers inside the zip (without decompressing the data), CIFAR batches from their file
    sizes, and the class count (a C × C float64 matrix and one model's logits, n × C float32,
    must fit the budget).

    Args:
        spec: Mapping with ``kind`` (``digits``, ``npz``, ``cifar10``, ``cifar100`` or
            ``module:function``) and the adapter's options (``path``, ``seed``, ``test_size``...).
        root: The workspace: relative paths resolve against it, every path must stay inside it
            (:func:`analysis.trust.confine`) and ``module:function`` may name its ``.py`` files.
            ``None``: paths are taken as given (relative to the current folder) and a factory
            must lie in an allowed package.

    Returns:
        The dataset bundle.

    Raises:
        DatasetError: The kind is unknown, an option is invalid, the files are missing or
            malformed, or the factory failed (its exception is the cause).
        ResourceLimitError: The dataset would exceed the memory budget.
        UntrustedCodeError: A factory outside the workspace and the allowed packages.
        OutsideWorkspaceError: ``path`` resolves outside the workspace.

    Example:
        >>> load_dataset({"kind": "digits", "seed": 0}).class_names[:3]
        ('0', '1', '2')
    """
    if not isinstance(spec, Mapping):
        raise DatasetError(describe("dataset", "a table with kind = '...'", spec))
    kind = spec.get("kind")
    options = {k: v for k, v in spec.items() if k != "kind" and k not in DATASET_COMMON_OPTIONS}
    policy = current_policy()
    if isinstance(kind, str) and kind in DATASET_OPTIONS:
        message = unknown_keys(f"dataset of kind {kind!r}", options, DATASET_OPTIONS[kind])
        if message is not None:
            raise DatasetError(message)
    if kind == "digits":
        return _load_digits(options.get("seed", 0), options.get("test_size", 0.2), root)
    if kind == "npz":
        path, shown = _resolve_path(options, root)
        return _load_npz(path, shown, policy)
    if kind in ("cifar10", "cifar100"):
        path, shown = _resolve_path(options, root)
        return _load_cifar(path, shown, 10 if kind == "cifar10" else 100, policy)
    if isinstance(kind, str) and ":" in kind:
        return _load_factory(kind, options, root, policy)
    raise DatasetError(
        describe(
            "dataset.kind",
            "'digits', 'npz', 'cifar10', 'cifar100' or 'module:function'",
            f"{kind!r}{did_you_mean(kind, DATASET_OPTIONS) if isinstance(kind, str) else ''}",
            raw=True,
        )
    )


def _resolve_path(options: Mapping[str, Any], root: Path | None) -> tuple[Path, str]:
    """The dataset path (confined to ``root`` when given) and how messages show it."""
    raw = options.get("path")
    if not isinstance(raw, str) or not raw or "\x00" in raw:
        raise DatasetError(describe("dataset.path", "a file or folder path (string)", raw))
    shown = f"dataset.path {raw!r}"
    if root is None:
        path = Path(raw).expanduser()
    else:
        try:
            path = confine(raw, root, argument="dataset.path")
        except ValidationError as exc:  # NUL byte, symlink loop; OutsideWorkspaceError passes
            raise DatasetError(str(exc)) from exc
    if not path.exists():
        raise DatasetError(describe("dataset.path", "an existing file or folder", raw))
    return path, shown


def _load_digits(seed: Any, test_size: Any, root: Path | None = None) -> DatasetBundle:
    """sklearn's digits, split stratified; in a workspace the split is kept in its result
    cache (keyed by seed, test size and the scikit-learn version), so opening the sample does
    not import scikit-learn (~1 s) again."""
    if not (_is_int(seed) and 0 <= seed < 2**32):
        raise DatasetError(describe("dataset.seed", "an integer in [0, 2**32)", seed))
    if not (_is_number(test_size) and 0.0 < float(test_size) < 1.0):
        raise DatasetError(describe("dataset.test_size", "a fraction in (0, 1)", test_size))
    cache, key = _digits_cache(root, int(seed), float(test_size))
    split = cache.get(key) if cache is not None else None
    if not (isinstance(split, dict) and set(split) == set(_DIGITS_PARTS)):
        split = _split_digits(int(seed), float(test_size))
        if cache is not None:
            with warnings.catch_warnings():  # a read-only workspace: just not kept
                warnings.simplefilter("ignore")
                cache.put(key, split)
    x_tr, x_te, y_tr, y_te = (np.asarray(split[part]) for part in _DIGITS_PARTS)
    names = tuple(str(i) for i in range(10))
    meta = {
        "seed": int(seed),
        "test_size": float(test_size),
        "source": "sklearn.datasets.load_digits",
    }
    return DatasetBundle(ArrayDataset(x_tr, y_tr), ArrayDataset(x_te, y_te), names, "digits", meta)


_DIGITS_PARTS = ("x_train", "x_test", "y_train", "y_test")


def _digits_cache(root: Path | None, seed: int, test_size: float) -> tuple[Any, str]:
    """The workspace's result cache (None outside a workspace) and the split's key."""
    if root is None:
        return None, ""
    from importlib.metadata import version

    from analysis.store import ResultCache, cache_key

    key = cache_key(
        dataset="digits-split", seed=seed, test_size=test_size, sklearn=version("scikit-learn")
    )
    root = Path(root)
    return ResultCache(root / ".ulens_cache", workspace=root), key


def _split_digits(seed: int, test_size: float) -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = digits.target.astype(np.int64)
    try:
        parts = train_test_split(x, y, test_size=test_size, stratify=y, random_state=seed)
    except ValueError as exc:  # a split too small to hold every class
        raise DatasetError(
            describe("dataset.test_size", "a split holding every class", f"{test_size} ({exc})")
        ) from exc
    return dict(zip(_DIGITS_PARTS, parts, strict=True))


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_number(value: Any) -> bool:
    return _is_int(value) or isinstance(value, float | np.floating)


# --------------------------------------------------------------------------- npz

_NPZ_REQUIRED = ("x_train", "y_train", "x_test", "y_test")
_NPZ_KEYS = (*_NPZ_REQUIRED, "class_names")


@dataclass(frozen=True)
class _Header:
    """Shape and dtype of one ``.npy`` member, read without its data."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    def describe(self, name: str) -> str:
        return f"{name} {self.dtype} {self.shape}"


def _read_npy_header(handle: Any) -> _Header:
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        reader = np.lib.format._read_array_header  # type: ignore[attr-defined]  # no public 3.0
        shape, _, dtype = reader(handle, version)
    return _Header(tuple(int(v) for v in shape), np.dtype(dtype))


def _npz_headers(path: Path, shown: str) -> dict[str, _Header]:
    """Headers of the arrays the loader uses, read inside the zip (data never decompressed)."""
    headers: dict[str, _Header] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                key = info.filename.removesuffix(".npy")
                if key in _NPZ_KEYS and key not in headers:
                    with archive.open(info) as handle:
                        headers[key] = _read_npy_header(handle)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DatasetError(
            describe(
                shown,
                "an .npz archive (a zip of .npy arrays)",
                f"an unreadable file ({reason or type(exc).__name__})",
                raw=True,
            )
        ) from exc
    missing = [k for k in _NPZ_REQUIRED if k not in headers]
    if missing:
        raise DatasetError(
            describe(
                shown, "arrays x_train, y_train, x_test, y_test", f"missing {missing}", raw=True
            )
        )
    return headers


def _check_npz_headers(headers: Mapping[str, _Header], shown: str, policy: TrustPolicy) -> None:
    """Refuse object arrays, bad shapes and over-budget sizes before reading any data."""
    for key, head in headers.items():
        if head.dtype.hasobject:
            raise DatasetError(
                describe(
                    f"{shown} {key}",
                    "plain numeric or string arrays (object arrays need unpickling: refused)",
                    head.describe(key),
                    raw=True,
                )
            )
    for split in ("train", "test"):
        x, y = headers[f"x_{split}"], headers[f"y_{split}"]
        if len(x.shape) < 2 or not _numeric(x.dtype):
            raise DatasetError(
                describe(
                    f"{shown} x_{split}",
                    "a real numeric array of shape (n, ...)",
                    x.describe(f"x_{split}"),
                    raw=True,
                )
            )
        if len(y.shape) != 1 or not np.issubdtype(y.dtype, np.integer) or y.shape[0] != x.shape[0]:
            raise DatasetError(
                describe(
                    f"{shown} y_{split}",
                    f"a 1-D integer array of {x.shape[0]} labels (one per row of x_{split})",
                    y.describe(f"y_{split}"),
                    raw=True,
                )
            )
    total = sum(h.nbytes for h in headers.values())
    total += sum(4 * math.prod(headers[k].shape) for k in ("x_train", "x_test"))
    check_budget(
        total,
        argument=shown,
        what="its arrays once decompressed and converted to float32",
        policy=policy,
    )


def _numeric(dtype: np.dtype[Any]) -> bool:
    return bool(np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating))


def _load_npz(path: Path, shown: str, policy: TrustPolicy) -> DatasetBundle:
    headers = _npz_headers(path, shown)
    _check_npz_headers(headers, shown, policy)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in headers}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(
            describe(shown, "a readable .npz archive", f"a corrupt member ({exc})", raw=True)
        ) from exc
    y_tr, y_te = (
        _prepare_labels(arrays.pop("y_train"), shown),
        _prepare_labels(arrays.pop("y_test"), shown),
    )
    num_classes = int(max(y_tr.max(initial=0), y_te.max(initial=0))) + 1
    _check_class_count(num_classes, len(y_tr) + len(y_te), f"{shown} labels", policy)
    names = _class_names(arrays.pop("class_names", None), num_classes, shown, policy)
    x_tr = _prepare_inputs(arrays.pop("x_train"), f"{shown} x_train")
    x_te = _prepare_inputs(arrays.pop("x_test"), f"{shown} x_test")
    return DatasetBundle(
        ArrayDataset(x_tr, y_tr), ArrayDataset(x_te, y_te), names, "npz", {"path": str(path)}
    )


def _prepare_inputs(x: np.ndarray, shown: str) -> np.ndarray:
    if x.ndim < 2 or not _numeric(x.dtype):
        raise DatasetError(
            describe(
                shown,
                "a real numeric array of shape (n, ...)",
                f"{x.dtype} array of shape {x.shape}",
                raw=True,
            )
        )
    out = x.astype(np.float32)
    if x.dtype == np.uint8:
        out /= 255.0
    if out.ndim == 3:  # (n, H, W) greyscale images get a channel axis
        out = out[:, None]
    if not np.isfinite(out).all():
        raise DatasetError(describe(shown, "finite values", "NaN or Inf", raw=True))
    return out


def _prepare_labels(y: np.ndarray, shown: str) -> np.ndarray:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
        raise DatasetError(
            describe(
                f"{shown} labels",
                "a 1-D array of non-negative integers",
                f"{y.dtype} array of shape {y.shape}",
                raw=True,
            )
        )
    if y.size and int(y.max()) > np.iinfo(np.int64).max:
        raise DatasetError(describe(f"{shown} labels", "int64 class ids", int(y.max())))
    return y.astype(np.int64)


def _check_class_count(count: int, samples: int, argument: str, policy: TrustPolicy) -> None:
    """Refuse a class count whose per-class tables would exceed the memory budget."""
    check_budget(
        8 * count * count,
        argument=argument,
        what=f"{count} classes (max label + 1), one {count}×{count} float64 matrix",
        policy=policy,
    )
    check_budget(
        4 * count * samples,
        argument=argument,
        what=f"{count} classes × {samples} samples of logits per model",
        policy=policy,
    )


def _class_names(raw: Any, num_classes: int, shown: str, policy: TrustPolicy) -> tuple[str, ...]:
    if raw is None:
        return tuple(str(i) for i in range(num_classes))
    try:
        count = len(raw)
    except TypeError as exc:
        raise DatasetError(
            describe(f"{shown} class_names", "a sequence of names", type(raw).__name__, raw=True)
        ) from exc
    if count < num_classes:
        raise DatasetError(describe(f"{shown} class_names", f"at least {num_classes} names", count))
    _check_class_count(count, 1, f"{shown} class_names", policy)
    values = raw.tolist() if isinstance(raw, np.ndarray) else list(raw)
    return tuple(v.decode("latin1") if isinstance(v, bytes) else str(v) for v in values)


# --------------------------------------------------------------------------- CIFAR


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays and builtin containers (CIFAR batches)."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def __init__(self, file: io.BytesIO, *, source: str) -> None:
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise DatasetError(
            describe(
                f"CIFAR batch file {self.source}",
                "only numpy arrays and builtin types",
                f"a reference to {module}.{name} (refused, nothing was executed)",
                raw=True,
            )
        )


def _read_cifar_batch(path: Path, shown: str) -> dict[Any, Any]:
    if not path.is_file():
        raise DatasetError(
            describe(
                shown, f"a torchvision CIFAR folder with the file {path.name}", "none", raw=True
            )
        )
    name = f"{shown} {path.name}"
    try:
        data = _NumpyOnlyUnpickler(io.BytesIO(path.read_bytes()), source=name).load()
    except DatasetError:
        raise
    except Exception as exc:  # any malformed pickle: nothing but numpy arrays was rebuilt
        raise DatasetError(
            describe(
                name,
                "a CIFAR batch (pickled dict of arrays)",
                f"an unreadable file ({type(exc).__name__}: {exc})",
                raw=True,
            )
        ) from exc
    if not isinstance(data, dict):
        raise DatasetError(describe(name, "a dict batch", type(data).__name__, raw=True))
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in data.items()}


def _load_cifar(path: Path, shown: str, num_classes: int, policy: TrustPolicy) -> DatasetBundle:
    folder_name = "cifar-10-batches-py" if num_classes == 10 else "cifar-100-python"
    folder = path / folder_name if (path / folder_name).is_dir() else path
    if num_classes == 10:
        train_files = [f"data_batch_{i}" for i in range(1, 6)]
        test_files, label_key, meta_file, names_key = (
            ["test_batch"],
            "labels",
            "batches.meta",
            "label_names",
        )
    else:
        train_files, test_files, label_key = ["train"], ["test"], "fine_labels"
        meta_file, names_key = "meta", "fine_label_names"
    sizes = [
        (folder / f).stat().st_size for f in train_files + test_files if (folder / f).is_file()
    ]
    check_budget(
        5 * sum(sizes), argument=shown, what="CIFAR batches read and converted", policy=policy
    )
    names_raw = _read_cifar_batch(folder / meta_file, shown).get(names_key)
    x_tr, y_tr = _stack_cifar(
        [_read_cifar_batch(folder / f, shown) for f in train_files], label_key, shown
    )
    x_te, y_te = _stack_cifar(
        [_read_cifar_batch(folder / f, shown) for f in test_files], label_key, shown
    )
    mean = np.asarray(_CIFAR_MEAN[num_classes], np.float32)[None, :, None, None]
    std = np.asarray(_CIFAR_STD[num_classes], np.float32)[None, :, None, None]
    names = _class_names(
        np.asarray(names_raw) if names_raw is not None else None, num_classes, shown, policy
    )
    return DatasetBundle(
        ArrayDataset((x_tr - mean) / std, y_tr),
        ArrayDataset((x_te - mean) / std, y_te),
        names,
        f"cifar{num_classes}",
        {"path": str(folder), "normalised": True},
    )


def _stack_cifar(
    batches: list[dict[Any, Any]], label_key: str, shown: str
) -> tuple[np.ndarray, np.ndarray]:
    try:
        x = np.concatenate([np.asarray(b["data"], np.uint8) for b in batches])
        x = x.reshape(-1, 3, 32, 32)
        y = np.concatenate([np.asarray(b[label_key], np.int64) for b in batches])
    except (KeyError, ValueError, TypeError) as exc:
        raise DatasetError(
            describe(
                shown,
                f"CIFAR batches with 'data' (n × 3072 bytes) and {label_key!r}",
                f"{type(exc).__name__}: {exc}",
                raw=True,
            )
        ) from exc
    if y.ndim != 1 or len(y) != len(x):
        raise DatasetError(
            describe(
                shown, "one CIFAR label per image", f"{len(y)} labels, {len(x)} images", raw=True
            )
        )
    return x.astype(np.float32) / 255.0, y


# --------------------------------------------------------------------------- module:function


def _load_factory(
    target: str, options: Mapping[str, Any], root: Path | None, policy: TrustPolicy
) -> DatasetBundle:
    try:
        func = import_reference(target, argument="dataset.kind", workspace=root, policy=policy)
    except ValidationError as exc:  # import failure; UntrustedCodeError passes unchanged
        raise DatasetError(str(exc)) from exc
    if not callable(func):
        raise DatasetError(describe("dataset.kind", "a callable factory", target))
    try:
        result = func(**options)
        if not (isinstance(result, tuple) and len(result) == 3):
            raise DatasetError(
                describe(
                    f"{target}()",
                    "a tuple (train, test, class_names)",
                    type(result).__name__,
                    raw=True,
                )
            )
        train, test, names = result
        train_ds = _to_array_dataset(train, target, policy)
        test_ds = _to_array_dataset(test, target, policy)
        samples = len(train_ds) + len(test_ds)
        top = max((int(ds.y.max()) for ds in (train_ds, test_ds) if len(ds)), default=0) + 1
        _check_class_count(top, samples, f"dataset.kind {target!r} labels", policy)
        labels = _class_names(names, top, f"{target}()", policy)
        return DatasetBundle(train_ds, test_ds, labels, target, dict(options))
    except (DatasetError, ResourceLimitError):
        raise
    except Exception as exc:  # the factory (user code) failed: name it, keep the cause
        raise DatasetError(
            describe(
                "dataset.kind",
                "a factory that returns (train, test, class_names)",
                f"{target}({', '.join(options)}) raised {type(exc).__name__}: {exc}",
                raw=True,
            )
        ) from exc


def _to_array_dataset(data: Any, source: str, policy: TrustPolicy) -> ArrayDataset:
    if isinstance(data, ArrayDataset):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        x, y = (v if isinstance(v, torch.Tensor) else np.asarray(v) for v in data)
        check_budget(
            4 * x.numel() if isinstance(x, torch.Tensor) else 4 * x.size,
            argument=f"{source}() split",
            what="inputs as float32",
            policy=policy,
        )
        return ArrayDataset(x, y)
    if isinstance(data, Dataset):
        xs, ys = zip(*DataLoader(data, batch_size=512), strict=True)  # batched collation
        return ArrayDataset(torch.cat(list(xs)), torch.cat(list(ys)))
    raise DatasetError(
        describe(
            f"{source}() split", "an (x, y) tuple or a torch Dataset", type(data).__name__, raw=True
        )
    )


# --------------------------------------------------------------------------- forget sets


def resolve_forget_set(
    name: str, spec: Mapping[str, Any], train_labels: np.ndarray, *, root: Path | None = None
) -> ForgetSet:
    """Resolve a forget-set spec to sorted training indices.

    Args:
        name: The scenario name (for messages).
        spec: Exactly one of ``classes = [..]``, ``random = fraction`` (with ``seed``) or
            ``indices = "file.npy"``.
        train_labels: Labels of the training split.
        root: The workspace: a relative index file resolves against it and must stay inside
            it (:func:`analysis.trust.confine`); ``None``: the path is taken as given.

    Returns:
        The forget set.

    Raises:
        ValidationError: An invalid spec, or a forget set that leaves nothing to retain (every
            class, or every training sample).
        OutsideWorkspaceError: The index file resolves outside the workspace.

    Example:
        >>> fs = resolve_forget_set("cw", {"classes": [1]}, np.array([0, 1, 1, 2]))
        >>> fs.indices.tolist(), fs.classes
        ([1, 2], (1,))
    """
    keys = [k for k in ("classes", "random", "indices") if k in spec]
    if len(keys) != 1:
        raise ValidationError(
            describe(f"forget.{name}", "exactly one of classes, random, indices", sorted(spec))
        )
    n = len(train_labels)
    if keys[0] == "classes":
        classes = _validate_classes(name, spec["classes"], train_labels)
        idx = np.flatnonzero(np.isin(train_labels, classes))
        return ForgetSet(name, idx.astype(np.int64), classes, "classes")
    if keys[0] == "random":
        frac = spec["random"]
        if not _is_number(frac) or not 0.0 < float(frac) < 1.0:
            raise ValidationError(describe(f"forget.{name}.random", "a fraction in (0, 1)", frac))
        seed = spec.get("seed", 0)
        if not _is_int(seed) or seed < 0:
            raise ValidationError(describe(f"forget.{name}.seed", "a non-negative integer", seed))
        count = max(1, round(float(frac) * n))
        if count >= n:
            raise ValidationError(
                describe(
                    f"forget.{name}.random",
                    f"a fraction leaving training samples to retain ({n} samples)",
                    frac,
                )
            )
        rng = np.random.default_rng(int(seed))
        idx = np.sort(rng.choice(n, size=count, replace=False))
        return ForgetSet(name, idx.astype(np.int64), None, "random")
    return ForgetSet(name, _load_index_file(name, spec["indices"], n, root), None, "indices")


def _validate_classes(name: str, raw: Any, labels: np.ndarray) -> tuple[int, ...]:
    present = set(np.unique(labels).tolist())
    if (
        not isinstance(raw, list | tuple)
        or not raw
        or not all(_is_int(c) and int(c) in present for c in raw)
    ):
        raise ValidationError(
            describe(
                f"forget.{name}.classes",
                f"a non-empty list of class ids among {sorted(present)}",
                raw,
            )
        )
    classes = tuple(sorted({int(c) for c in raw}))
    if set(classes) == present:
        raise ValidationError(
            describe(
                f"forget.{name}.classes",
                "a strict subset of the classes (forgetting every class leaves nothing to retain)",
                list(classes),
            )
        )
    return classes


def _load_index_file(name: str, raw: Any, n: int, root: Path | None) -> np.ndarray:
    where = f"forget.{name}.indices"
    if not isinstance(raw, str) or not raw or "\x00" in raw:
        raise ValidationError(describe(where, "a .npy file path", raw))
    path = Path(raw).expanduser() if root is None else confine(raw, root, argument=where)
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            check_budget(size, argument=where, what="the index file")
            idx = np.load(handle, allow_pickle=False)
    except ResourceLimitError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValidationError(
            describe(where, "a readable .npy of integers", f"{raw!r} ({reason})", raw=True)
        ) from exc
    if not isinstance(idx, np.ndarray):
        raise ValidationError(describe(where, "a .npy file (not an .npz)", raw))
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer) or idx.size == 0:
        raise ValidationError(
            describe(where, "a non-empty 1-D integer array", f"{idx.dtype} {idx.shape}", raw=True)
        )
    if idx.min() < 0 or idx.max() >= n or len(np.unique(idx)) != idx.size:
        raise ValidationError(describe(where, f"unique indices in [0, {n})", raw))
    if idx.size >= n:
        raise ValidationError(
            describe(
                where, "indices leaving training samples to retain", f"all {n} of {raw!r}", raw=True
            )
        )
    return np.sort(idx.astype(np.int64))
