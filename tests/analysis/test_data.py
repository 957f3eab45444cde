"""Tests of analysis.data: adapters (digits, npz, CIFAR, module:function) and forget sets."""

from __future__ import annotations

import io
import os
import pickle
import struct
import uuid
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from analysis.data import (
    ArrayDataset,
    DatasetBundle,
    iterate_batches,
    load_dataset,
    resolve_forget_set,
)
from analysis.errors import DatasetError, ValidationError
from analysis.trust import TrustNotice, UntrustedCodeError, trust_policy

# --------------------------------------------------------------------------- digits


@pytest.fixture(scope="module")
def digits() -> DatasetBundle:
    return load_dataset({"kind": "digits", "seed": 0})


def _rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Samples as sorted rows (label + pixels) to compare sets of samples regardless of order."""
    table = np.column_stack([y.astype(np.float64), x.reshape(len(x), -1).astype(np.float64)])
    return table[np.lexsort(table.T[::-1])]


def test_digits_split_sizes_shapes_and_scaling(digits: DatasetBundle) -> None:
    assert (len(digits.train), len(digits.test)) == (1437, 360)
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    assert digits.class_names == tuple(str(i) for i in range(10))
    assert digits.train.x.dtype == torch.float32 and digits.train.y.dtype == torch.int64
    assert float(digits.train.x.min()) == 0.0 and float(digits.train.x.max()) == 1.0


def test_digits_split_is_a_partition_of_the_sklearn_set(digits: DatasetBundle) -> None:
    raw = load_digits()
    x = np.concatenate([digits.train.x.numpy(), digits.test.x.numpy()]) * 16.0
    y = np.concatenate([digits.train.targets, digits.test.targets])
    np.testing.assert_array_equal(_rows(x, y), _rows(raw.images, raw.target))


def test_digits_split_is_stratified(digits: DatasetBundle) -> None:
    total = np.bincount(load_digits().target, minlength=10)
    test = np.bincount(digits.test.targets, minlength=10)
    assert np.all(np.abs(test - 0.2 * total) <= 1.0)


def test_digits_split_deterministic_per_seed_and_seed_in_meta(digits: DatasetBundle) -> None:
    again = load_dataset({"kind": "digits", "seed": 0})
    other = load_dataset({"kind": "digits", "seed": 1, "test_size": 0.25})
    assert torch.equal(again.train.x, digits.train.x) and torch.equal(again.test.y, digits.test.y)
    assert not torch.equal(other.train.y[:100], digits.train.y[:100])
    assert digits.meta["seed"] == 0 and other.meta["seed"] == 1
    assert other.meta["test_size"] == 0.25 and len(other.test) == 450
    assert digits.kind == "digits"


def test_digits_split_is_kept_in_the_workspace_cache_bit_for_bit(
    digits: DatasetBundle, tmp_path: Path
) -> None:
    # Opening the sample imported scikit-learn only to split digits: ~1 s of the first chart.
    import subprocess
    import sys

    first = load_dataset({"kind": "digits", "seed": 0}, root=tmp_path)
    assert len(list((tmp_path / ".ulens_cache").glob("*.npz"))) == 1
    probe = (
        "import sys; from analysis.data import load_dataset; "
        f"b = load_dataset({{'kind': 'digits', 'seed': 0}}, root={str(tmp_path)!r}); "
        "print('sklearn' in sys.modules, float(b.train.x.sum()), int(b.test.y[:50].sum()))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    assert out == ["False", str(float(digits.train.x.sum())), str(int(digits.test.y[:50].sum()))]
    for split in ("train", "test"):  # cached split == fresh split, bit for bit
        assert torch.equal(getattr(first, split).x, getattr(digits, split).x)
        assert torch.equal(getattr(first, split).y, getattr(digits, split).y)
    other = load_dataset({"kind": "digits", "seed": 1}, root=tmp_path)  # its own entry
    assert not torch.equal(other.train.y, digits.train.y)
    assert len(list((tmp_path / ".ulens_cache").glob("*.npz"))) == 2


@pytest.mark.parametrize("test_size", [0.0, 1.0, 1.5])
def test_digits_bad_test_size(test_size: float) -> None:
    with pytest.raises(DatasetError, match=r"dataset\.test_size: expected a fraction in \(0, 1\)"):
        load_dataset({"kind": "digits", "test_size": test_size})


def test_digits_unknown_option_named() -> None:
    with pytest.raises(
        DatasetError,
        match=r"dataset of kind 'digits': expected keys among \['seed', 'test_size'\], "
        r"received unknown key 'path'$",
    ):
        load_dataset({"kind": "digits", "path": "x.npz"})
    with pytest.raises(DatasetError, match=r"unknown key 'sed' \(did you mean 'seed'\?\)"):
        load_dataset({"kind": "digits", "sed": 1})


def test_unknown_kind_lists_the_options() -> None:
    with pytest.raises(DatasetError, match=r"dataset\.kind: expected 'digits', 'npz'.*'mnist'"):
        load_dataset({"kind": "mnist"})
    with pytest.raises(DatasetError, match=r"dataset\.kind"):
        load_dataset({})


# --------------------------------------------------------------------------- npz


def _write_npz(path: Path, **arrays: Any) -> Path:
    np.savez(path, **arrays)
    return path


def _npz_arrays(rng: np.random.Generator, n: int = 10, m: int = 6) -> dict[str, np.ndarray]:
    return {
        "x_train": rng.integers(0, 256, size=(n, 5, 4), dtype=np.uint8),
        "y_train": np.arange(n) % 3,
        "x_test": rng.integers(0, 256, size=(m, 5, 4), dtype=np.uint8),
        "y_test": np.arange(m) % 3,
    }


def test_npz_uint8_scaled_channel_axis_and_class_names(tmp_path: Path) -> None:
    arrays = _npz_arrays(np.random.default_rng(0))
    _write_npz(tmp_path / "d.npz", **arrays, class_names=np.array(["cat", "dog", "eel"]))
    bundle = load_dataset({"kind": "npz", "path": "d.npz"}, root=tmp_path)
    assert bundle.input_shape == (1, 5, 4) and bundle.kind == "npz"
    expected = arrays["x_train"].astype(np.float64)[:, None] / 255.0
    np.testing.assert_allclose(bundle.train.x.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(bundle.test.targets, arrays["y_test"])
    assert bundle.class_names == ("cat", "dog", "eel") and bundle.num_classes == 3
    assert bundle.meta["path"] == str(tmp_path / "d.npz")


def test_npz_float_inputs_kept_and_default_class_names(tmp_path: Path) -> None:
    x = np.random.default_rng(1).normal(size=(6, 7)).astype(np.float64)
    y = np.array([0, 1, 4, 0, 1, 4])
    path = _write_npz(tmp_path / "f.npz", x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])
    bundle = load_dataset({"kind": "npz", "path": str(path)})
    np.testing.assert_allclose(bundle.train.x.numpy(), x, rtol=1e-6)
    assert bundle.input_shape == (7,)
    assert bundle.class_names == ("0", "1", "2", "3", "4")


def test_npz_object_array_refused_without_unpickling(tmp_path: Path) -> None:
    arrays = _npz_arrays(np.random.default_rng(0))
    arrays["y_train"] = np.array([1, "two", None] * 3 + [0], dtype=object)
    path = _write_npz(tmp_path / "obj.npz", **arrays)
    with pytest.raises(
        DatasetError, match=r"obj\.npz' y_train: expected plain numeric or string arrays \(object"
    ):
        load_dataset({"kind": "npz", "path": str(path)})


def test_npz_missing_keys_named(tmp_path: Path) -> None:
    arrays = _npz_arrays(np.random.default_rng(0))
    del arrays["x_test"], arrays["y_test"]
    path = _write_npz(tmp_path / "part.npz", **arrays)
    with pytest.raises(DatasetError) as info:
        load_dataset({"kind": "npz", "path": str(path)})
    message = str(info.value)
    assert "part.npz" in message and "x_test" in message and "y_test" in message
    assert "x_train" not in message.split("received")[1]


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"y_train": np.linspace(0, 2, 10)}, r"y_train: expected a 1-D integer array of 10 labels"),
        ({"y_train": np.arange(9)}, r"y_train: expected a 1-D integer array of 10 labels"),
        ({"y_train": -np.ones(10, dtype=np.int64)}, "labels: expected"),
        ({"x_test": np.full((6, 5, 4), np.nan)}, "x_test: expected finite values"),
        (
            {"x_train": np.arange(10)},
            r"x_train: expected a real numeric array of shape \(n, \.\.\.\)",
        ),
        ({"x_train": np.ones((10, 2, 2), dtype=np.complex64)}, r"x_train: expected a real numeric"),
        ({"class_names": np.array(["a", "b"])}, "class_names: expected at least 3 names"),
    ],
)
def test_npz_malformed_arrays(tmp_path: Path, change: dict[str, Any], pattern: str) -> None:
    arrays = {**_npz_arrays(np.random.default_rng(0)), **change}
    path = _write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError, match=pattern) as info:
        load_dataset({"kind": "npz", "path": str(path)})
    assert "bad.npz" in str(info.value)


def test_npz_missing_path_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"dataset\.path: expected a file or folder path"):
        load_dataset({"kind": "npz"})
    with pytest.raises(DatasetError, match=r"dataset\.path: expected an existing file.*nope\.npz"):
        load_dataset({"kind": "npz", "path": "nope.npz"}, root=tmp_path)
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DatasetError, match=r"junk\.npz': expected an \.npz archive \(a zip"):
        load_dataset({"kind": "npz", "path": "junk.npz"}, root=tmp_path)
    np.save(tmp_path / "lone.npy", np.zeros(3))
    with pytest.raises(DatasetError, match=r"lone\.npy': expected an \.npz archive \(a zip"):
        load_dataset({"kind": "npz", "path": "lone.npy"}, root=tmp_path)


# --------------------------------------------------------------------------- CIFAR

_MEAN10 = np.array([0.4914, 0.4822, 0.4465])
_STD10 = np.array([0.2470, 0.2435, 0.2616])


def _save_py2_str(pickler: Any, obj: bytes) -> None:
    """Write ``bytes`` as a Python-2 ``str`` (``SHORT_BINSTRING`` / ``BINSTRING`` opcode)."""
    size = len(obj)
    if size < 256:
        pickler.write(pickle.SHORT_BINSTRING + bytes([size]) + obj)
    else:
        pickler.write(pickle.BINSTRING + struct.pack("<i", size) + obj)
    pickler.memoize(obj)


class _Python2Pickler(pickle._Pickler):
    """Pure-Python pickler that writes ``bytes`` as Python-2 ``str``, like the real CIFAR files."""

    dispatch: ClassVar[dict[type, Any]] = {**pickle._Pickler.dispatch, bytes: _save_py2_str}


def _dump(obj: Any, path: Path, *, python2: bool) -> None:
    if not python2:
        path.write_bytes(pickle.dumps(obj))
        return
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(obj)
    # numpy 1.x (which wrote the real files) lived in numpy.core, not numpy._core
    path.write_bytes(
        buffer.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    )


def _cifar_batch(rng: np.random.Generator, n: int, label_key: bytes = b"labels") -> dict:
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    return {b"batch_label": b"batch", b"data": data, label_key: rng.integers(0, 10, n).tolist()}


def _write_cifar10(root: Path, *, python2: bool = False) -> tuple[np.ndarray, np.ndarray]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = [_cifar_batch(rng, 4) for _ in range(5)] + [_cifar_batch(rng, 3)]
    for name, batch in zip(
        [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], batches, strict=True
    ):
        _dump(batch, folder / name, python2=python2)
    names = [
        b"airplane",
        b"automobile",
        b"bird",
        b"cat",
        b"deer",
        b"dog",
        b"frog",
        b"horse",
        b"ship",
        b"truck",
    ]
    _dump({b"label_names": names, b"num_vis": 3072}, folder / "batches.meta", python2=python2)
    data = np.concatenate([b[b"data"] for b in batches[:5]])
    return data, np.concatenate([b[b"labels"] for b in batches[:5]])


def _normalised(data: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    images = data.reshape(-1, 3, 32, 32).astype(np.float64) / 255.0
    return (images - mean[None, :, None, None]) / std[None, :, None, None]


@pytest.mark.parametrize("python2", [False, True], ids=["python3-pickle", "python2-pickle"])
def test_cifar10_folder_loads_normalised(tmp_path: Path, python2: bool) -> None:
    data, labels = _write_cifar10(tmp_path, python2=python2)
    bundle = load_dataset({"kind": "cifar10", "path": str(tmp_path)})
    assert (len(bundle.train), len(bundle.test)) == (20, 3) and bundle.input_shape == (3, 32, 32)
    np.testing.assert_allclose(
        bundle.train.x.numpy(), _normalised(data, _MEAN10, _STD10), atol=1e-5
    )
    np.testing.assert_array_equal(bundle.train.targets, labels)
    assert bundle.class_names[:3] == ("airplane", "automobile", "bird")
    assert bundle.kind == "cifar10" and bundle.meta["normalised"] is True
    # the batches folder itself is accepted too
    assert (
        len(load_dataset({"kind": "cifar10", "path": str(tmp_path / "cifar-10-batches-py")}).test)
        == 3
    )


def test_cifar100_folder_uses_fine_labels(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(3)
    train, test = _cifar_batch(rng, 5, b"fine_labels"), _cifar_batch(rng, 2, b"fine_labels")
    _dump(train, folder / "train", python2=False)
    _dump(test, folder / "test", python2=False)
    _dump(
        {b"fine_label_names": [f"c{i}".encode() for i in range(100)]},
        folder / "meta",
        python2=False,
    )
    bundle = load_dataset({"kind": "cifar100", "path": str(tmp_path)})
    mean, std = np.array([0.5071, 0.4865, 0.4409]), np.array([0.2673, 0.2564, 0.2762])
    np.testing.assert_allclose(
        bundle.test.x.numpy(), _normalised(test[b"data"], mean, std), atol=1e-5
    )
    np.testing.assert_array_equal(bundle.train.targets, train[b"fine_labels"])
    assert bundle.num_classes == 100 and bundle.class_names[99] == "c99"


class _Exploit:
    """Unpickling this would run a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_cifar_malicious_pickle_refused_and_not_executed(tmp_path: Path) -> None:
    _write_cifar10(tmp_path)
    marker = tmp_path / "pwned"
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    batch.write_bytes(pickle.dumps({b"data": _Exploit(marker), b"labels": [0]}))
    with pytest.raises(DatasetError) as info:
        load_dataset({"kind": "cifar10", "path": str(tmp_path)})
    message = str(info.value)
    assert "data_batch_2" in message and "system" in message and "refused" in message
    assert not marker.exists()


def test_cifar_truncated_or_missing_batch_names_the_file(tmp_path: Path) -> None:
    _write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    raw = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError, match="test_batch: expected a CIFAR batch"):
        load_dataset({"kind": "cifar10", "path": str(tmp_path)})
    (folder / "data_batch_5").unlink()
    with pytest.raises(
        DatasetError,
        match=r"dataset\.path .*: expected a torchvision CIFAR folder with .*data_batch_5",
    ):
        load_dataset({"kind": "cifar10", "path": str(tmp_path)})


# --------------------------------------------------------------------------- module:function


@pytest.fixture
def factory_module(tmp_path: Path) -> str:
    """A module (unique name) with dataset factories in the workspace ``tmp_path``."""
    name = f"ulens_test_factory_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        "import numpy as np\n"
        "import torch\n"
        "from torch.utils.data import TensorDataset\n\n"
        "def arrays(n=6, offset=0.0):\n"
        "    x = np.arange(n * 3, dtype=np.float64).reshape(n, 3) + offset\n"
        "    y = np.arange(n) % 2\n"
        "    return (x, y), (x[:2], y[:2]), ['even', 'odd']\n\n"
        "def tensors():\n"
        "    x = torch.arange(30.0).reshape(10, 3)\n"
        "    y = torch.arange(10) % 3\n"
        "    return TensorDataset(x, y), TensorDataset(x[:4], y[:4]), ('a', 'b', 'c')\n\n"
        "def wrong_arity():\n"
        "    return (np.zeros((2, 1)), np.zeros(2))\n\n"
        "def wrong_split():\n"
        "    return [1, 2], (np.zeros((2, 1)), np.zeros(2)), ['a']\n\n"
        "def raises(**options):\n"
        "    raise KeyError('no such split')\n",
        encoding="utf-8",
    )
    return name


def test_factory_with_array_tuples_and_options(factory_module: str, tmp_path: Path) -> None:
    with pytest.warns(TrustNotice, match=rf"workspace file {factory_module}\.py"):
        bundle = load_dataset(
            {"kind": f"{factory_module}:arrays", "n": 8, "offset": 1.0}, root=tmp_path
        )
    assert bundle.train.x.dtype == torch.float32 and bundle.train.x[0, 0].item() == 1.0
    np.testing.assert_array_equal(bundle.train.targets, np.arange(8) % 2)
    assert len(bundle.test) == 2 and bundle.class_names == ("even", "odd")
    assert bundle.kind == f"{factory_module}:arrays" and bundle.meta == {"n": 8, "offset": 1.0}


def test_factory_with_torch_datasets(factory_module: str, tmp_path: Path) -> None:
    bundle = load_dataset({"kind": f"{factory_module}:tensors"}, root=tmp_path)
    assert torch.equal(bundle.train.x, torch.arange(30.0).reshape(10, 3))
    assert torch.equal(bundle.train.y, torch.arange(10) % 3)
    assert len(bundle.test) == 4 and bundle.class_names == ("a", "b", "c")


def test_factory_outside_the_workspace_needs_the_opt_in(
    factory_module: str, tmp_path: Path
) -> None:
    with pytest.raises(UntrustedCodeError, match=rf"--allow-code {factory_module}"):
        load_dataset({"kind": f"{factory_module}:arrays"}, root=tmp_path / "elsewhere")
    with pytest.raises(UntrustedCodeError):
        load_dataset({"kind": f"{factory_module}:arrays"})  # no workspace at all


def test_factory_bad_results_and_imports(factory_module: str, tmp_path: Path) -> None:
    def load(attr: str) -> DatasetBundle:
        return load_dataset({"kind": f"{factory_module}:{attr}"}, root=tmp_path)

    with pytest.raises(DatasetError, match=r"wrong_arity\(\): expected a tuple \(train, test"):
        load("wrong_arity")
    with pytest.raises(DatasetError, match=r"wrong_split\(\) split: expected an \(x, y\) tuple"):
        load("wrong_split")
    with pytest.raises(DatasetError, match=r"dataset\.kind: expected an attribute 'missing'"):
        load("missing")
    with pytest.raises(DatasetError, match=r"raises\(\) raised KeyError: 'no such split'") as info:
        load("raises")
    assert isinstance(info.value.__cause__, KeyError)
    with (
        trust_policy(allow_code=["no_such_module_ulens"]),
        pytest.raises(DatasetError, match=r"dataset\.kind: expected an importable module"),
    ):
        load_dataset({"kind": "no_such_module_ulens:make"})


# --------------------------------------------------------------------------- ArrayDataset


def test_array_dataset_batches_and_subset() -> None:
    ds = ArrayDataset(np.arange(14.0).reshape(7, 2), np.arange(7))
    batches = list(iterate_batches(ds, 3))
    assert [len(y) for _, y in batches] == [3, 3, 1]
    assert torch.equal(torch.cat([x for x, _ in batches]), ds.x)
    shuffled = [
        y
        for _, y in iterate_batches(ds, 3, shuffle=True, generator=torch.Generator().manual_seed(0))
    ]
    again = [
        y
        for _, y in iterate_batches(ds, 3, shuffle=True, generator=torch.Generator().manual_seed(0))
    ]
    assert all(torch.equal(a, b) for a, b in zip(shuffled, again, strict=True))
    assert sorted(torch.cat(shuffled).tolist()) == list(range(7))
    assert ds.subset([4, 1]).y.tolist() == [4, 1]
    with pytest.raises(ValidationError, match="batch_size: expected a positive integer"):
        list(iterate_batches(ds, 0))
    with pytest.raises(ValidationError, match=r"x, y: expected .* received x \(7, 2\), y \(6,\)"):
        ArrayDataset(np.zeros((7, 2)), np.zeros(6))


# --------------------------------------------------------------------------- forget sets

_LABELS = np.arange(120) % 4


def test_forget_classes_sorted_indices_of_those_classes() -> None:
    fs = resolve_forget_set("cw", {"classes": [3, 1, 3]}, _LABELS)
    np.testing.assert_array_equal(fs.indices, np.flatnonzero((_LABELS == 1) | (_LABELS == 3)))
    assert fs.classes == (1, 3) and fs.is_classwise and fs.kind == "classes" and fs.name == "cw"
    assert fs.indices.dtype == np.int64


def test_forget_random_size_sorted_unique_and_seeded() -> None:
    fs = resolve_forget_set("r", {"random": 0.1, "seed": 7}, _LABELS)
    assert len(fs.indices) == 12 and not fs.is_classwise and fs.kind == "random"
    assert np.all(np.diff(fs.indices) > 0) and fs.indices[0] >= 0 and fs.indices[-1] < 120
    again = resolve_forget_set("r", {"random": 0.1, "seed": 7}, _LABELS)
    other = resolve_forget_set("r", {"random": 0.1, "seed": 8}, _LABELS)
    np.testing.assert_array_equal(fs.indices, again.indices)
    assert not np.array_equal(fs.indices, other.indices)
    assert len(resolve_forget_set("r", {"random": 0.25}, _LABELS).indices) == 30


def test_forget_indices_file_relative_to_root(tmp_path: Path) -> None:
    np.save(tmp_path / "forget.npy", np.array([9, 2, 5], dtype=np.int32))
    fs = resolve_forget_set("f", {"indices": "forget.npy"}, _LABELS, root=tmp_path)
    assert fs.indices.tolist() == [2, 5, 9] and fs.indices.dtype == np.int64
    assert fs.kind == "indices" and fs.classes is None


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({}, "forget.x: expected exactly one of classes, random, indices"),
        ({"classes": [1], "random": 0.1}, "forget.x: expected exactly one of"),
        ({"classes": []}, "forget.x.classes: expected a non-empty list"),
        ({"classes": [7]}, r"forget.x.classes: expected .* among \[0, 1, 2, 3\], received \[7\]"),
        ({"classes": "1"}, "forget.x.classes"),
        ({"classes": [1.0]}, "forget.x.classes"),
        ({"random": 0.0}, r"forget.x.random: expected a fraction in \(0, 1\)"),
        ({"random": 1.0}, "forget.x.random"),
        ({"random": "0.1"}, "forget.x.random"),
        ({"random": 0.1, "seed": "zero"}, "forget.x.seed: expected a non-negative integer"),
        ({"random": 0.1, "seed": 1.5}, "forget.x.seed"),
    ],
)
def test_forget_invalid_specs_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        resolve_forget_set("x", spec, _LABELS)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (None, r"a readable \.npy of integers, received .*absent\.npy"),
        (np.array([1.0, 2.0]), "a non-empty 1-D integer array, received float64"),
        (np.zeros((2, 2), dtype=np.int64), "a non-empty 1-D integer array"),
        (np.array([], dtype=np.int64), "a non-empty 1-D integer array"),
        (np.array([0, 120]), r"unique indices in \[0, 120\)"),
        (np.array([-1, 3]), r"unique indices in \[0, 120\)"),
        (np.array([3, 3]), r"unique indices in \[0, 120\)"),
        (np.array([{"a": 1}], dtype=object), r"a readable \.npy of integers"),
    ],
)
def test_forget_invalid_index_files(tmp_path: Path, content: Any, pattern: str) -> None:
    name = "absent.npy"
    if content is not None:
        name = "idx.npy"
        np.save(tmp_path / name, content, allow_pickle=True)
    with pytest.raises(ValidationError, match=f"forget.x.indices: expected {pattern}"):
        resolve_forget_set("x", {"indices": name}, _LABELS, root=tmp_path)
