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

import importlib
import io
import pickle
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from analysis.errors import DatasetError, ValidationError, describe

__all__ = [
    "ArrayDataset",
    "DatasetBundle",
    "ForgetSet",
    "iterate_batches",
    "load_dataset",
    "resolve_forget_set",
]

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
    """Train and test splits with class names and where they came from."""

    train: ArrayDataset
    test: ArrayDataset
    class_names: tuple[str, ...]
    kind: str
    meta: Mapping[str, Any] = field(default_factory=dict)

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

    Args:
        spec: Mapping with ``kind`` (``digits``, ``npz``, ``cifar10``, ``cifar100`` or
            ``module:function``) and the adapter's options (``path``, ``seed``, ``test_size``...).
        root: Folder relative paths are resolved against (the workspace).

    Returns:
        The dataset bundle.

    Raises:
        DatasetError: The kind is unknown or the files are missing or malformed.

    Example:
        >>> load_dataset({"kind": "digits", "seed": 0}).class_names[:3]
        ('0', '1', '2')
    """
    kind = spec.get("kind")
    options = {k: v for k, v in spec.items() if k != "kind"}
    base = root or Path.cwd()
    if kind == "digits":
        unknown = sorted(set(options) - {"seed", "test_size"})
        if unknown:
            raise DatasetError(
                describe(
                    "dataset", "options among ['seed', 'test_size'] for kind 'digits'", unknown
                )
            )
        return _load_digits(**options)
    if kind == "npz":
        return _load_npz(_resolve_path(options, base), options)
    if kind in ("cifar10", "cifar100"):
        return _load_cifar(_resolve_path(options, base), 10 if kind == "cifar10" else 100)
    if isinstance(kind, str) and ":" in kind:
        return _load_factory(kind, options)
    raise DatasetError(
        describe(
            "dataset.kind", "'digits', 'npz', 'cifar10', 'cifar100' or 'module:function'", kind
        )
    )


def _resolve_path(options: Mapping[str, Any], base: Path) -> Path:
    raw = options.get("path")
    if not isinstance(raw, str) or not raw:
        raise DatasetError(describe("dataset.path", "a file or folder path (string)", raw))
    path = Path(raw).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.exists():
        raise DatasetError(describe("dataset.path", "an existing file or folder", str(path)))
    return path


def _load_digits(*, seed: int = 0, test_size: float = 0.2) -> DatasetBundle:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < float(test_size) < 1.0:
        raise DatasetError(describe("dataset.test_size", "a fraction in (0, 1)", test_size))
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=int(seed)
    )
    names = tuple(str(i) for i in range(10))
    meta = {
        "seed": int(seed),
        "test_size": float(test_size),
        "source": "sklearn.datasets.load_digits",
    }
    return DatasetBundle(ArrayDataset(x_tr, y_tr), ArrayDataset(x_te, y_te), names, "digits", meta)


def _load_npz(path: Path, options: Mapping[str, Any]) -> DatasetBundle:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except ValueError as exc:  # object arrays need pickle: refused
        raise DatasetError(
            f"{path}: expected an .npz of plain numeric arrays, received {exc}"
        ) from exc
    except (OSError, EOFError, zipfile.BadZipFile, TypeError) as exc:  # TypeError: a lone .npy
        raise DatasetError(f"{path}: expected a readable .npz archive, received {exc}") from exc
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise DatasetError(
            describe(
                str(path), "arrays x_train, y_train, x_test, y_test", f"missing {missing}", raw=True
            )
        )
    x_tr, x_te = _prepare_inputs(arrays["x_train"], path), _prepare_inputs(arrays["x_test"], path)
    y_tr, y_te = _prepare_labels(arrays["y_train"], path), _prepare_labels(arrays["y_test"], path)
    num_classes = int(max(y_tr.max(initial=0), y_te.max(initial=0))) + 1
    names = _class_names(arrays.get("class_names"), num_classes, path)
    return DatasetBundle(
        ArrayDataset(x_tr, y_tr), ArrayDataset(x_te, y_te), names, "npz", {"path": str(path)}
    )


def _prepare_inputs(x: np.ndarray, path: Path) -> np.ndarray:
    if x.ndim < 2 or not np.issubdtype(x.dtype, np.number):
        raise DatasetError(
            describe(
                f"{path} inputs",
                "a numeric array of shape (n, ...)",
                f"{x.dtype} array of shape {x.shape}",
                raw=True,
            )
        )
    out = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    if out.ndim == 3:  # (n, H, W) greyscale images get a channel axis
        out = out[:, None]
    if not np.isfinite(out).all():
        raise DatasetError(describe(f"{path} inputs", "finite values", "NaN or Inf", raw=True))
    return out


def _prepare_labels(y: np.ndarray, path: Path) -> np.ndarray:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
        raise DatasetError(
            describe(
                f"{path} labels",
                "a 1-D array of non-negative integers",
                f"{y.dtype} array of shape {y.shape}",
                raw=True,
            )
        )
    return y.astype(np.int64)


def _class_names(raw: np.ndarray | None, num_classes: int, source: Path | str) -> tuple[str, ...]:
    if raw is None:
        return tuple(str(i) for i in range(num_classes))
    names = tuple(
        v.decode("latin1") if isinstance(v, bytes) else str(v) for v in np.asarray(raw).tolist()
    )
    if len(names) < num_classes:
        raise DatasetError(
            describe(f"{source} class_names", f"at least {num_classes} names", len(names))
        )
    return names


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

    def __init__(self, file: io.BytesIO, *, source: Path) -> None:
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


def _read_cifar_batch(path: Path) -> dict[Any, Any]:
    if not path.exists():
        raise DatasetError(
            describe(
                "dataset.path",
                f"a torchvision CIFAR folder with {path.name}",
                f"{path} missing",
                raw=True,
            )
        )
    try:
        data = _NumpyOnlyUnpickler(io.BytesIO(path.read_bytes()), source=path).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(
            describe(
                str(path),
                "a CIFAR batch (pickled dict of arrays)",
                f"an unreadable file ({type(exc).__name__}: {exc})",
                raw=True,
            )
        ) from exc
    if not isinstance(data, dict):
        raise DatasetError(describe(str(path), "a dict batch", type(data).__name__, raw=True))
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in data.items()}


def _load_cifar(path: Path, num_classes: int) -> DatasetBundle:
    folder_name = "cifar-10-batches-py" if num_classes == 10 else "cifar-100-python"
    folder = path / folder_name if (path / folder_name).is_dir() else path
    if num_classes == 10:
        train_files, test_files, label_key = (
            [f"data_batch_{i}" for i in range(1, 6)],
            ["test_batch"],
            "labels",
        )
        meta = _read_cifar_batch(folder / "batches.meta")
        names_raw = meta.get("label_names")
    else:
        train_files, test_files, label_key = ["train"], ["test"], "fine_labels"
        names_raw = _read_cifar_batch(folder / "meta").get("fine_label_names")
    x_tr, y_tr = _stack_cifar([_read_cifar_batch(folder / f) for f in train_files], label_key)
    x_te, y_te = _stack_cifar([_read_cifar_batch(folder / f) for f in test_files], label_key)
    mean = np.asarray(_CIFAR_MEAN[num_classes], np.float32)[None, :, None, None]
    std = np.asarray(_CIFAR_STD[num_classes], np.float32)[None, :, None, None]
    names = _class_names(
        np.asarray(names_raw) if names_raw is not None else None, num_classes, folder
    )
    return DatasetBundle(
        ArrayDataset((x_tr - mean) / std, y_tr),
        ArrayDataset((x_te - mean) / std, y_te),
        names,
        f"cifar{num_classes}",
        {"path": str(folder), "normalised": True},
    )


def _stack_cifar(batches: list[dict[Any, Any]], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([np.asarray(b["data"], np.uint8) for b in batches]).reshape(-1, 3, 32, 32)
    y = np.concatenate([np.asarray(b[label_key], np.int64) for b in batches])
    return x.astype(np.float32) / 255.0, y


def _load_factory(target: str, options: Mapping[str, Any]) -> DatasetBundle:
    func = import_object(target, argument="dataset.kind")
    result = func(**options)
    if not (isinstance(result, tuple) and len(result) == 3):
        raise DatasetError(
            describe(
                f"{target}()", "a tuple (train, test, class_names)", type(result).__name__, raw=True
            )
        )
    train, test, names = result
    train_ds, test_ds = _to_array_dataset(train, target), _to_array_dataset(test, target)
    return DatasetBundle(train_ds, test_ds, tuple(str(n) for n in names), target, dict(options))


def _to_array_dataset(data: Any, source: str) -> ArrayDataset:
    if isinstance(data, ArrayDataset):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        return ArrayDataset(
            torch.as_tensor(np.asarray(data[0])), torch.as_tensor(np.asarray(data[1]))
        )
    if isinstance(data, Dataset):
        xs, ys = zip(*DataLoader(data, batch_size=512), strict=True)  # batched collation
        return ArrayDataset(torch.cat(list(xs)), torch.cat(list(ys)))
    raise DatasetError(
        describe(
            f"{source}() split", "an (x, y) tuple or a torch Dataset", type(data).__name__, raw=True
        )
    )


def import_object(target: str, *, argument: str) -> Any:
    """Import ``module:attribute`` and return the attribute.

    Example:
        >>> import_object("math:sqrt", argument="fn")(4.0)
        2.0
    """
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ValidationError(describe(argument, "'module:attribute'", target))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValidationError(
            describe(argument, "an importable module", f"{target} ({exc})", raw=True)
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValidationError(
                describe(argument, f"an attribute {attr!r} in {module_name}", target)
            )
        obj = getattr(obj, part)
    return obj


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
        root: Folder relative index files are resolved against.

    Returns:
        The forget set.

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
        if not isinstance(frac, (int, float)) or not 0.0 < float(frac) < 1.0:
            raise ValidationError(describe(f"forget.{name}.random", "a fraction in (0, 1)", frac))
        seed = spec.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValidationError(describe(f"forget.{name}.seed", "a non-negative integer", seed))
        rng = np.random.default_rng(int(seed))
        count = max(1, round(float(frac) * n))
        idx = np.sort(rng.choice(n, size=count, replace=False))
        return ForgetSet(name, idx.astype(np.int64), None, "random")
    return ForgetSet(name, _load_index_file(name, spec["indices"], n, root), None, "indices")


def _validate_classes(name: str, raw: Any, labels: np.ndarray) -> tuple[int, ...]:
    present = set(np.unique(labels).tolist())
    if (
        not isinstance(raw, (list, tuple))
        or not raw
        or not all(isinstance(c, int) and c in present for c in raw)
    ):
        raise ValidationError(
            describe(
                f"forget.{name}.classes",
                f"a non-empty list of class ids among {sorted(present)}",
                raw,
            )
        )
    return tuple(sorted(set(int(c) for c in raw)))


def _load_index_file(name: str, raw: Any, n: int, root: Path | None) -> np.ndarray:
    path = Path(str(raw))
    path = path if path.is_absolute() else (root or Path.cwd()) / path
    try:
        idx = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValidationError(
            describe(
                f"forget.{name}.indices", "a readable .npy of integers", f"{path} ({exc})", raw=True
            )
        ) from exc
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer) or idx.size == 0:
        raise ValidationError(
            describe(
                f"forget.{name}.indices",
                "a non-empty 1-D integer array",
                f"{idx.dtype} {idx.shape}",
                raw=True,
            )
        )
    if idx.min() < 0 or idx.max() >= n or len(np.unique(idx)) != idx.size:
        raise ValidationError(
            describe(f"forget.{name}.indices", f"unique indices in [0, {n})", f"{path}", raw=True)
        )
    return np.sort(idx.astype(np.int64))
