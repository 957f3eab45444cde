"""Hostile and careless inputs to the analysis library: one clear error each, nothing escapes.

Every case builds a bad input inside a copy of the tiny workspace (weights files,
``experiment.toml`` variants, dataset files, code references, symlinks), runs what a user would
run (``load_experiment``, ``.data``, ``load_model``...) and asserts

* the exact error class (a :class:`analysis.errors.UlensError`, never a raw traceback),
* that the message names the input (the field or the path as written),
* that no absolute path outside the workspace appears in the message,
* that nothing outside the workspace was written: a sibling sentinel folder, a temporary
  ``HOME`` and the rest of the test's temporary folder are snapshotted before and after.

Property-based tests (hypothesis) mutate a valid spec at random: the outcome is a valid spec
or a :class:`UlensError`, never another exception.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import pickle
import shutil
import tomllib
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

import analysis
from analysis.errors import (
    DatasetError,
    SpecError,
    UlensError,
    UnsafeFileError,
    ValidationError,
    WeightsError,
)
from analysis.models import build_model, save_weights
from analysis.spec import parse_spec
from analysis.store import ResultCache, cache_key
from analysis.trust import (
    ALLOW_CODE_ENV,
    ALLOW_OUTSIDE_ENV,
    CONFIG_ENV,
    MAX_BYTES_ENV,
    OutsideWorkspaceError,
    ResourceLimitError,
    TrustNotice,
    UntrustedCodeError,
    trust_policy,
)
from analysis.unlearn import make_method

# --------------------------------------------------------------------------- the sandbox


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.fixtures import make_tiny_workspace

    return make_tiny_workspace(tmp_path_factory.mktemp("hostile") / "ws", n_reference=1)


@dataclass
class Sandbox:
    """A fresh workspace copy beside a sentinel folder and a private HOME."""

    root: Path  # the test's temporary folder
    ws: Path

    @property
    def outside(self) -> Path:
        """A folder beside the workspace that hostile links point into."""
        folder = self.root / "outside"
        folder.mkdir(exist_ok=True)
        return folder

    def snapshot(self) -> dict[str, tuple[bool, int, int]]:
        """Every file and folder outside the workspace: kind, size and modification time."""
        seen: dict[str, tuple[bool, int, int]] = {}
        for path in sorted(self.root.rglob("*")):
            if path == self.ws or self.ws in path.parents:
                continue
            info = path.lstat()
            seen[str(path.relative_to(self.root))] = (path.is_dir(), info.st_size, info.st_mtime_ns)
        return seen


@pytest.fixture
def sandbox(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    ws = tmp_path / "ws"
    shutil.copytree(template, ws)
    (tmp_path / "sentinel").mkdir()
    (tmp_path / "sentinel" / "keep.txt").write_text("keep", encoding="utf-8")
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    for key in (ALLOW_CODE_ENV, ALLOW_OUTSIDE_ENV, MAX_BYTES_ENV):
        monkeypatch.delenv(key, raising=False)
    return Sandbox(tmp_path, ws)


# --------------------------------------------------------------------------- helpers


def _toml(ws: Path) -> str:
    return (ws / "experiment.toml").read_text(encoding="utf-8")


def _edit(ws: Path, old: str, new: str) -> None:
    text = _toml(ws)
    assert old in text, old
    (ws / "experiment.toml").write_text(text.replace(old, new, 1), encoding="utf-8")


def _append(ws: Path, text: str) -> None:
    (ws / "experiment.toml").write_text(_toml(ws) + "\n" + text, encoding="utf-8")


def _exp(ws: Path) -> analysis.Experiment:
    return analysis.load_experiment(ws)


def _load_original(ws: Path, file: str | None = None) -> Callable[[], object]:
    if file is not None:
        _edit(ws, 'file = "models/original.safetensors"', f'file = "{file}"')
    return lambda: _exp(ws).load_model("original", device="cpu")


def _bytes(seed: int, size: int = 4096) -> bytes:
    data = bytearray(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    data[0] = 0x07  # neither a zip ("PK") nor a pickle (0x80)
    return bytes(data)


def _npz(ws: Path, **changes: Any) -> None:
    with np.load(ws / "data.npz", allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays.update(changes)
    for key in [k for k, v in arrays.items() if v is None]:
        del arrays[key]
    np.savez(ws / "data.npz", **arrays)


def _data(ws: Path) -> Callable[[], object]:
    return lambda: _exp(ws).data


def _state(ws: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return dict(load_file(ws / "models" / "original.safetensors"))


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _npy_header_member(shape: tuple[int, ...], dtype: str) -> bytes:
    buffer = io.BytesIO()
    header = {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + b"\x00" * 64  # a few bytes of "data": the header is the lie


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    """A hostile input: ``setup(sandbox)`` writes it and returns the action a user runs."""

    id: str
    setup: Callable[[Sandbox], Callable[[], object]]
    error: type[UlensError]
    needle: str


def _weights_text(s: Sandbox) -> Callable[[], object]:
    (s.ws / "models" / "bad.pt").write_text("these are not weights\n", encoding="utf-8")
    return _load_original(s.ws, "models/bad.pt")


def _weights_random(s: Sandbox) -> Callable[[], object]:
    (s.ws / "models" / "rand.pt").write_bytes(_bytes(1))
    return _load_original(s.ws, "models/rand.pt")


def _weights_pickle_garbage(s: Sandbox) -> Callable[[], object]:
    (s.ws / "models" / "garbage.pth").write_bytes(b"\x80\x02" + _bytes(2))
    return _load_original(s.ws, "models/garbage.pth")


def _weights_malicious(s: Sandbox) -> Callable[[], object]:
    marker = s.root / "sentinel" / "pwned"
    (s.ws / "models" / "evil.pt").write_bytes(pickle.dumps({"w": _Exploit(marker)}))
    return _load_original(s.ws, "models/evil.pt")


def _weights_truncated_zip(s: Sandbox) -> Callable[[], object]:
    buffer = io.BytesIO()
    torch.save(_state(s.ws), buffer)
    (s.ws / "models" / "cut.pt").write_bytes(buffer.getvalue()[:300])
    return _load_original(s.ws, "models/cut.pt")


def _weights_non_tensor_pt(s: Sandbox) -> Callable[[], object]:
    torch.save({"weight": 1, "note": "hello"}, s.ws / "models" / "dict.pt")
    return _load_original(s.ws, "models/dict.pt")


def _weights_empty(s: Sandbox) -> Callable[[], object]:
    (s.ws / "models" / "original.safetensors").write_bytes(b"")
    return _load_original(s.ws)


def _weights_garbage_safetensors(s: Sandbox) -> Callable[[], object]:
    (s.ws / "models" / "original.safetensors").write_bytes(_bytes(3))
    return _load_original(s.ws)


def _weights_nan(s: Sandbox) -> Callable[[], object]:
    state = _state(s.ws)
    state["out.weight"][0, 0] = float("nan")
    save_file(state, s.ws / "models" / "original.safetensors")
    return _load_original(s.ws)


def _weights_int64(s: Sandbox) -> Callable[[], object]:
    state = {k: (v * 100).to(torch.int64) for k, v in _state(s.ws).items()}
    save_file(state, s.ws / "models" / "original.safetensors")
    return _load_original(s.ws)


def _weights_class_count(s: Sandbox) -> Callable[[], object]:
    model = build_model("mlp", num_classes=7, input_shape=(1, 6, 6), params={"hidden": [16, 8]})
    save_weights(model, s.ws / "models" / "original.safetensors")
    return _load_original(s.ws)


def _weights_directory(s: Sandbox) -> Callable[[], object]:
    (s.ws / "models" / "folder.safetensors").mkdir()
    return _load_original(s.ws, "models/folder.safetensors")


def _weights_extension(s: Sandbox) -> Callable[[], object]:
    shutil.copy(s.ws / "models" / "original.safetensors", s.ws / "models" / "original.bin")
    return _load_original(s.ws, "models/original.bin")


WEIGHTS = [
    Case("text-file-renamed-pt", _weights_text, WeightsError, "models/bad.pt"),
    Case("random-bytes-pt", _weights_random, WeightsError, "models/rand.pt"),
    Case("corrupt-pickle-pth", _weights_pickle_garbage, WeightsError, "models/garbage.pth"),
    Case("malicious-pickle-pt", _weights_malicious, UnsafeFileError, "models/evil.pt"),
    Case("truncated-zip-pt", _weights_truncated_zip, WeightsError, "models/cut.pt"),
    Case("pt-without-tensors", _weights_non_tensor_pt, WeightsError, "models/dict.pt"),
    Case("empty-safetensors", _weights_empty, WeightsError, "models.original.file"),
    Case("garbage-safetensors", _weights_garbage_safetensors, WeightsError, "original.safet"),
    Case("nan-weights", _weights_nan, WeightsError, "NaN/Inf in ['out.weight']"),
    Case("int64-weights", _weights_int64, WeightsError, "non-float tensors"),
    Case("wrong-class-count", _weights_class_count, WeightsError, "7 outputs in out.weight"),
    Case("weights-file-is-a-folder", _weights_directory, WeightsError, "folder.safetensors"),
    Case("unknown-extension", _weights_extension, WeightsError, "original.bin"),
]


def _spec(edit: Callable[[Path], None]) -> Callable[[Sandbox], Callable[[], object]]:
    def setup(s: Sandbox) -> Callable[[], object]:
        edit(s.ws)
        return lambda: _exp(s.ws)

    return setup


def _link_outside(s: Sandbox, link: str, target_name: str, source: str) -> None:
    target = s.outside / target_name
    shutil.copy(s.ws / source, target)
    (s.ws / link).symlink_to(target)


def _spec_symlinked_weights(s: Sandbox) -> Callable[[], object]:
    _link_outside(s, "models/link.safetensors", "w.safetensors", "models/original.safetensors")
    _edit(s.ws, 'file = "models/original.safetensors"', 'file = "models/link.safetensors"')
    return lambda: _exp(s.ws)


def _spec_symlinked_members(s: Sandbox) -> Callable[[], object]:
    _link_outside(s, "models/m.npy", "m.npy", "models/ref0_members.npy")
    _edit(s.ws, 'members = "models/ref0_members.npy"', 'members = "models/m.npy"')
    return lambda: _exp(s.ws)


def _spec_symlinked_dataset(s: Sandbox) -> Callable[[], object]:
    _link_outside(s, "shared.npz", "data.npz", "data.npz")
    _edit(s.ws, 'path = "data.npz"', 'path = "shared.npz"')
    return lambda: _exp(s.ws)


def _spec_symlink_loop(s: Sandbox) -> Callable[[], object]:
    (s.ws / "loop").symlink_to(s.ws / "loop")
    _edit(s.ws, 'file = "models/original.safetensors"', 'file = "loop/w.safetensors"')
    return lambda: _exp(s.ws)


def _spec_toml_is_a_folder(s: Sandbox) -> Callable[[], object]:
    (s.ws / "experiment.toml").unlink()
    (s.ws / "experiment.toml").mkdir()
    return lambda: _exp(s.ws)


def _write(text: str) -> Callable[[Path], None]:
    return lambda ws: (ws / "experiment.toml").write_text(text, encoding="utf-8")


ORIGINAL_FILE = 'file = "models/original.safetensors"'
SPEC = [
    Case("misspelt-table", _spec(lambda ws: _edit(ws, "[analysis]", "[anaylsis]")), SpecError,
         "[anaylsis] (did you mean 'analysis'?)"),
    Case("misspelt-params", _spec(lambda ws: _edit(ws, "params = { hidden", "parms = { hidden")),
         SpecError, "'parms' (did you mean 'params'?)"),
    Case("trust-table-in-workspace", _spec(lambda ws: _append(ws, '[trust]\nallow_code = ["os"]')),
         SpecError, "[trust]"),
    Case("model-key-misspelt", _spec(lambda ws: _edit(ws, "rt = 0.02", "rtt = 0.02")),
         SpecError, "'rtt' (did you mean 'rt'?)"),
    Case("role-misspelt", _spec(lambda ws: _edit(ws, 'role = "original"', 'role = "orignal"')),
         SpecError, "models.original.role"),
    Case("file-dot-dot",
         _spec(lambda ws: _edit(ws, ORIGINAL_FILE, 'file = "../sentinel/keep.txt"')),
         OutsideWorkspaceError, "models.original.file"),
    Case("file-absolute", _spec(lambda ws: _edit(ws, ORIGINAL_FILE, 'file = "/etc/passwd"')),
         OutsideWorkspaceError, "'/etc/passwd'"),
    Case("file-home", _spec(lambda ws: _edit(ws, ORIGINAL_FILE, 'file = "~/.ssh/id_rsa"')),
         OutsideWorkspaceError, "'~/.ssh/id_rsa'"),
    Case("file-symlink-outside", _spec_symlinked_weights, OutsideWorkspaceError,
         "models/link.safetensors"),
    Case("history-dot-dot", _spec(lambda ws: _edit(ws, "rt = 0.02", 'history = "../../h.json"')),
         OutsideWorkspaceError, "models.original.history"),
    Case("members-symlink-outside", _spec_symlinked_members, OutsideWorkspaceError,
         "models.ref0.members"),
    Case("forget-indices-outside",
         _spec(lambda ws: _append(ws, '[forget.listed]\nindices = "/tmp/f.npy"')),
         OutsideWorkspaceError, "forget.listed.indices"),
    Case("dataset-path-dot-dot",
         _spec(lambda ws: _edit(ws, 'path = "data.npz"', 'path = "../data.npz"')),
         OutsideWorkspaceError, "dataset.path"),
    Case("dataset-path-symlink-outside", _spec_symlinked_dataset, OutsideWorkspaceError,
         "'shared.npz'"),
    Case("nul-in-path", _spec(lambda ws: _edit(ws, ORIGINAL_FILE, 'file = "models/o\\u0000.pt"')),
         SpecError, "models.original.file"),
    Case("symlink-loop", _spec_symlink_loop, SpecError, "loop/w.safetensors"),
    Case("bool-class-id", _spec(lambda ws: _edit(ws, "classes = [1]", "classes = [true]")),
         SpecError, "forget.classwise.classes"),
    Case("rt-nan", _spec(lambda ws: _edit(ws, "rt = 0.02", "rt = nan")), SpecError,
         "models.original.rt"),
    Case("unknown-dataset-kind", _spec(lambda ws: _edit(ws, 'kind = "npz"', 'kind = "npzz"')),
         SpecError, "'npzz' (did you mean 'npz'?)"),
    Case("invalid-toml", _spec(lambda ws: _append(ws, "[models.x\nrole = ")), SpecError,
         "experiment.toml"),
    Case("non-utf8-toml", _spec(lambda ws: (ws / "experiment.toml").write_bytes(b"\xff\xfe[x]")),
         SpecError, "experiment.toml"),
    Case("toml-is-a-folder", _spec_toml_is_a_folder, SpecError, "experiment.toml"),
    Case("models-not-a-table", _spec(_write('models = 3\n[dataset]\nkind = "digits"\n'
                                           '[architecture]\nname = "mlp"\n'
                                           '[forget]\nclasses = [1]\n')),
         SpecError, "[models]"),
]  # fmt: skip


def _digits(ws: Path, extra: str) -> Callable[[], object]:
    _edit(ws, 'kind = "npz"\npath = "data.npz"', f'kind = "digits"\n{extra}')
    return _data(ws)


def _dataset_header_bomb(s: Sandbox) -> Callable[[], object]:
    """A tiny .npz whose x_train header claims 19.7 GB of float64: refused from the header."""
    with np.load(s.ws / "data.npz", allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    with zipfile.ZipFile(s.ws / "data.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x_train.npy", _npy_header_member((200_000, 3, 64, 64), "<f8"))
        archive.writestr("y_train.npy", _npy_header_member((200_000,), "<i8"))
        for key in ("x_test", "y_test"):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, arrays[key], allow_pickle=False)
            archive.writestr(f"{key}.npy", buffer.getvalue())
    return _data(s.ws)


def _dataset_compression_bomb(s: Sandbox) -> Callable[[], object]:
    """A real zip bomb: 16 MiB of zeros compress to kilobytes; the budget is 4 MiB here."""
    np.savez_compressed(
        s.ws / "data.npz",
        x_train=np.zeros((2048, 1, 32, 32)),
        y_train=np.arange(2048) % 2,
        x_test=np.zeros((8, 1, 32, 32)),
        y_test=np.arange(8) % 2,
    )
    assert (s.ws / "data.npz").stat().st_size < 200_000

    def action() -> object:
        with trust_policy(max_bytes="4MiB"):
            return _exp(s.ws).data

    return action


def _dataset(change: Callable[[Path], None]) -> Callable[[Sandbox], Callable[[], object]]:
    def setup(s: Sandbox) -> Callable[[], object]:
        change(s.ws)
        return _data(s.ws)

    return setup


def _npz_case(**changes: Any) -> Callable[[Sandbox], Callable[[], object]]:
    return _dataset(lambda ws: _npz(ws, **changes))


def _dataset_factory(body: str, kind: str) -> Callable[[Sandbox], Callable[[], object]]:
    def setup(s: Sandbox) -> Callable[[], object]:
        (s.ws / "broken.py").write_text(body, encoding="utf-8")
        _edit(s.ws, 'kind = "npz"\npath = "data.npz"', f'kind = "{kind}"\ncommand = "touch x"')

        def action() -> object:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", TrustNotice)
                return _exp(s.ws).data

        return action

    return setup


def _dataset_cifar_exploit(s: Sandbox) -> Callable[[], object]:
    folder = s.ws / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    marker = s.root / "sentinel" / "pwned"
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"a"] * 10}))
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": _Exploit(marker)}))
    _edit(s.ws, 'kind = "npz"\npath = "data.npz"', 'kind = "cifar10"\npath = "cifar"')
    return _data(s.ws)


def _forget(ws: Path, old: str, new: str, scenario: str = "classwise") -> Callable[[], object]:
    _edit(ws, old, new)
    return lambda: analysis.load_experiment(ws, scenario=scenario).forget_set


def _compare_forgetting_every_class(s: Sandbox) -> Callable[[], object]:
    """Refused before any forward pass (it used to fail, cryptically, a minute later)."""
    _edit(s.ws, "classes = [1]", "classes = [3, 2, 1, 0]")

    def action() -> object:
        exp = _exp(s.ws)
        result = analysis.compare(exp, "retrain_classwise", "finetune_classwise", device="cpu")
        return result

    return action


def _forget_indices(s: Sandbox, content: Any, name: str) -> Callable[[], object]:
    if isinstance(content, dict):
        np.savez(s.ws / name, **content)
    else:
        np.save(s.ws / name, content)
    _edit(s.ws, "classes = [1]", f'indices = "{name}"')
    return lambda: _exp(s.ws).forget_set


def _members_bloated(s: Sandbox) -> Callable[[], object]:
    np.save(s.ws / "models" / "ref0_members.npy", np.ones(10_000_000, dtype=bool))
    return lambda: _exp(s.ws).members_mask("ref0")


DATASETS = [
    Case("digits-seed-abc", lambda s: _digits(s.ws, 'seed = "abc"'), DatasetError, "dataset.seed"),
    Case("digits-test-size-big", lambda s: _digits(s.ws, 'test_size = "big"'), DatasetError,
         "dataset.test_size"),
    Case("digits-seed-huge", lambda s: _digits(s.ws, "seed = 1099511627776"), DatasetError,
         "dataset.seed"),
    Case("digits-test-size-tiny", lambda s: _digits(s.ws, "test_size = 0.001"), DatasetError,
         "dataset.test_size"),
    Case("npz-header-inflates-to-20GB", _dataset_header_bomb, ResourceLimitError,
         "dataset.path 'data.npz'"),
    Case("npz-compression-bomb", _dataset_compression_bomb, ResourceLimitError,
         "dataset.path 'data.npz'"),
    Case("label-two-billion", _npz_case(y_train=np.r_[np.arange(119) % 4, 2_000_000_000]),
         ResourceLimitError, "2000000001 classes"),
    Case("class-names-flood", _npz_case(class_names=np.arange(100_000).astype("U6")),
         ResourceLimitError, "class_names"),
    Case("object-array", _npz_case(y_test=np.array([1, "a", None] * 20, dtype=object)),
         DatasetError, "y_test"),
    Case("text-file-as-npz", _dataset(lambda ws: (ws / "data.npz").write_text("x_train\n1\n")),
         DatasetError, "dataset.path 'data.npz'"),
    Case("npz-missing-arrays", _npz_case(x_test=None), DatasetError,
         "missing ['x_test']"),
    Case("train-test-shapes-differ", _npz_case(x_test=np.zeros((60, 1, 7, 7), np.float32)),
         DatasetError, "train (1, 6, 6), test (1, 7, 7)"),
    Case("nan-inputs", _npz_case(x_train=np.full((120, 1, 6, 6), np.nan, np.float32)),
         DatasetError, "x_train: expected finite values"),
    Case("float-labels", _npz_case(y_test=np.linspace(0, 3, 60)), DatasetError,
         "y_test"),
    Case("labels-count-mismatch", _npz_case(y_train=np.arange(100) % 4),
         DatasetError, "y_train: expected a 1-D integer array of 120 labels"),
    Case("empty-test-split", _npz_case(x_test=np.zeros((0, 1, 6, 6), np.float32),
                                          y_test=np.zeros(0, np.int64)),
         DatasetError, "dataset test split"),
    Case("too-few-class-names", _npz_case(class_names=np.array(["a", "b"])),
         DatasetError, "class_names: expected at least 4 names"),
    Case("factory-raises", _dataset_factory("def make(**kw):\n    raise OSError('disk gone')\n",
                                            "broken:make"),
         DatasetError, "broken:make(command) raised OSError: disk gone"),
    Case("factory-returns-junk",
         _dataset_factory("def make(**kw):\n    return 42\n", "broken:make"),
         DatasetError, "broken:make()"),
    Case("factory-os-system", _dataset_factory("", "os:system"), UntrustedCodeError,
         "'os:system' (refused; nothing was imported)"),
    Case("factory-malformed", _dataset_factory("", "broken:"), DatasetError, "dataset.kind"),
    Case("cifar-malicious-pickle", _dataset_cifar_exploit, DatasetError, "data_batch_1"),
    Case("forget-every-class",
         lambda s: _forget(s.ws, "classes = [1]", "classes = [0, 1, 2, 3]"),
         ValidationError, "forget.classwise.classes: expected a strict subset"),
    Case("forget-every-class-in-compare", _compare_forgetting_every_class, ValidationError,
         "forget.classwise.classes: expected a strict subset"),
    Case("forget-absent-class", lambda s: _forget(s.ws, "classes = [1]", "classes = [9]"),
         ValidationError, "forget.classwise.classes"),
    Case("forget-random-everything",
         lambda s: _forget(s.ws, "random = 0.1", "random = 0.999", "random"),
         ValidationError, "forget.random.random") ,
    Case("forget-indices-npz", lambda s: _forget_indices(s, {"a": np.arange(3)}, "f.npz"),
         ValidationError, "forget.classwise.indices"),
    Case("forget-indices-everything", lambda s: _forget_indices(s, np.arange(120), "f.npy"),
         ValidationError, "all 120 of 'f.npy'"),
    Case("forget-indices-out-of-range", lambda s: _forget_indices(s, np.array([5, 500]), "f.npy"),
         ValidationError, "forget.classwise.indices"),
    Case("members-mask-bloated", _members_bloated, SpecError, "models.ref0.members"),
]  # fmt: skip


def _arch(ws: Path, params: str, name: str = "mlp") -> Callable[[], object]:
    _edit(ws, 'name = "mlp"\nparams = { hidden = [16, 8] }', f'name = "{name}"\nparams = {params}')
    return lambda: _exp(ws).build()


def _method_link_outside(s: Sandbox) -> Callable[[], object]:
    (s.outside / "plugin.py").write_text("raise SystemExit('ran')\n", encoding="utf-8")
    (s.ws / "plugin.py").symlink_to(s.outside / "plugin.py")
    return lambda: make_method("plugin:Method", workspace=s.ws)


CODE = [
    Case("negative-width", lambda s: _arch(s.ws, "{ width = -4 }", "smallcnn"), ValidationError,
         "smallcnn params.width"),
    Case("bool-hidden", lambda s: _arch(s.ws, "{ hidden = [true] }"), ValidationError,
         "mlp params.hidden"),
    Case("huge-model", lambda s: _arch(s.ws, "{ hidden = [1000000, 1000000] }"),
         ResourceLimitError, "architecture 'mlp' params"),
    Case("unknown-param", lambda s: _arch(s.ws, "{ depth = 3 }"), ValidationError,
         "architecture 'mlp' params"),
    Case("architecture-subprocess", lambda s: _arch(s.ws, "{ args = ['touch', 'x'] }",
                                                    "subprocess:run"),
         UntrustedCodeError, "'subprocess:run'"),
    Case("method-builtins-eval", lambda s: lambda: make_method("builtins:eval", workspace=s.ws),
         UntrustedCodeError, "'builtins:eval'"),
    Case("method-file-links-outside", _method_link_outside, UntrustedCodeError, "plugin.py"),
]  # fmt: skip

CASES = WEIGHTS + SPEC + DATASETS + CODE


def test_there_are_at_least_forty_hostile_inputs() -> None:
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_gives_one_clear_error_and_writes_nothing_outside(
    sandbox: Sandbox, case: Case
) -> None:
    action = case.setup(sandbox)
    before = sandbox.snapshot()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # e.g. a degenerate metric
        with pytest.raises(UlensError) as info:
            action()
    assert type(info.value) is case.error, f"{type(info.value).__name__}: {info.value}"
    message = str(info.value)
    assert case.needle in message, message
    assert "\n" not in message and "Traceback" not in message
    assert str(sandbox.root.resolve()) not in message.replace(str(sandbox.ws.resolve()), "")
    assert sandbox.snapshot() == before  # nothing written outside the workspace


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1", "tpu"])
def test_device_without_hardware_is_a_clear_error(sandbox: Sandbox, device: str) -> None:
    before = sandbox.snapshot()
    with pytest.raises(ValidationError, match=rf"^device: expected .*received '{device}'$"):
        _exp(sandbox.ws).load_model("original", device=device)
    assert sandbox.snapshot() == before


# --------------------------------------------------------------------------- the cache


def test_cache_entry_that_is_a_folder_is_a_miss_and_the_write_is_skipped(sandbox: Sandbox) -> None:
    cache = _exp(sandbox.ws).cache
    key = cache_key(kind="test", n=1)
    cache.path(key).mkdir(parents=True)
    before = sandbox.snapshot()
    with pytest.warns(UserWarning, match="not a regular file"):
        assert cache.get(key) is None
    with pytest.warns(RuntimeWarning, match="could not be written"):
        cache.put(key, {"a": np.arange(3)})
    assert cache.path(key).is_dir() and sandbox.snapshot() == before


def test_cache_entry_linking_outside_is_never_followed(sandbox: Sandbox) -> None:
    cache = _exp(sandbox.ws).cache
    key = cache_key(kind="test", n=2)
    target = sandbox.outside / "precious.npz"
    ResultCache(sandbox.outside).put("x" * 8, {"v": 1})  # a valid entry, outside
    shutil.move(sandbox.outside / f"{'x' * 8}.npz", target)
    cache.root.mkdir(parents=True, exist_ok=True)
    cache.path(key).symlink_to(target)
    before = sandbox.snapshot()
    with pytest.warns(UserWarning, match="cannot be read"):
        assert cache.get(key) is None
    cache.put(key, {"v": 2})  # replaces the link itself, not its target
    assert not cache.path(key).is_symlink() and cache.get(key) == {"v": 2}
    assert target.exists() and sandbox.snapshot() == before


def test_symlinked_cache_folder_is_never_written(sandbox: Sandbox) -> None:
    """A ``.ulens_cache`` linking outside: compare runs uncached after one warning."""
    elsewhere = sandbox.outside / "cache"
    elsewhere.mkdir()
    (sandbox.ws / ".ulens_cache").symlink_to(elsewhere)
    exp = _exp(sandbox.ws)
    before = sandbox.snapshot()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = analysis.compare(exp, "retrain_classwise", "finetune_classwise", device="cpu")
    assert result.models["finetune_classwise"].accuracy.ra >= 0.0
    cache_warnings = [w for w in caught if "resolves outside the workspace" in str(w.message)]
    assert len(cache_warnings) == 1 and not exp.cache.enabled
    assert list(elsewhere.iterdir()) == [] and sandbox.snapshot() == before
    assert ".ulens_cache" in str(cache_warnings[0].message)
    assert str(sandbox.root) not in str(cache_warnings[0].message)


def test_garbage_cache_entry_is_a_miss_and_removed(sandbox: Sandbox) -> None:
    cache = _exp(sandbox.ws).cache
    key = cache_key(kind="test", n=3)
    cache.root.mkdir(parents=True, exist_ok=True)
    cache.path(key).write_bytes(b"PK\x03\x04 garbage")
    before = sandbox.snapshot()
    with pytest.warns(UserWarning, match="unreadable"):
        assert cache.get(key) is None
    assert not cache.path(key).exists() and sandbox.snapshot() == before


# --------------------------------------------------------------------------- fuzzing

_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["../x", "/etc/passwd", "~/x", "a\x00b", "os:system", "mlp", "original"]),
)
_VALUES = st.one_of(
    _LEAVES,
    st.lists(_LEAVES, max_size=3),
    st.dictionaries(st.text(max_size=8), st.one_of(_LEAVES, st.lists(_LEAVES)), max_size=3),
)


def _paths(tree: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix] if prefix else []
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += _paths(value, (*prefix, key))
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_spec_structures_give_a_spec_or_a_ulens_error(
    template: Path, data: st.DataObject
) -> None:
    raw = tomllib.loads((template / "experiment.toml").read_text(encoding="utf-8"))
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(_paths(raw)))
        parent: Any = raw
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = data.draw(_VALUES)
        elif isinstance(parent, dict):
            parent[data.draw(st.text(min_size=1, max_size=8))] = data.draw(_VALUES)
        if not _paths(raw):
            break
    try:
        spec = parse_spec(raw, root=template)
    except UlensError:
        return
    assert spec.models and spec.scenarios  # a valid spec is complete


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_toml_text_gives_a_spec_or_a_ulens_error(
    template: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    text = bytearray((template / "experiment.toml").read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(text) - 1))
        kind = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        byte = data.draw(st.sampled_from(b'[]="\\.,#:/\x00\xff0a~\n '))
        if kind == "flip":
            text[at] = byte
        elif kind == "delete":
            del text[at]
        else:
            text.insert(at, byte)
    ws = tmp_path_factory.mktemp("fuzz")
    (ws / "experiment.toml").write_bytes(bytes(text))
    with contextlib.suppress(UlensError):
        analysis.load_spec(ws)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.one_of(st.integers(-5, 2**40), st.text(max_size=4), st.booleans(), st.floats()),
    test_size=st.one_of(st.floats(), st.integers(-2, 3), st.text(max_size=4), st.none()),
)
def test_fuzzed_digits_options_give_data_or_a_dataset_error(seed: Any, test_size: Any) -> None:
    spec = {"kind": "digits", "seed": seed}
    if test_size is not None:
        spec["test_size"] = test_size
    try:
        bundle = analysis.load_dataset(spec)
    except DatasetError:
        return
    assert len(bundle.train) + len(bundle.test) == 1797 and math.isfinite(float(test_size or 0.2))
