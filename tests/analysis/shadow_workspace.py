"""Build a small npz + mlp workspace with reference and U-LiRA shadow models (test helper).

The layout is the one ``ulens shadows`` produces: for k = 0..K-1, ``members_k`` is a seeded
random half of the training set and ``forget_k = members_k ∩ F`` (F: the scenario's forget set);
``base_k`` is trained on ``members_k`` (role ``reference`` with its members mask); ``unl_k`` is
the unlearning method applied to ``base_k`` with ``forget_k`` (role ``shadow``, ``members_k``,
``forget_mask = forget_k``); ``ret_k`` is trained from scratch on ``members_k \\ forget_k`` (role
``shadow``, method ``retrain``). The audited models: ``original`` (all of train), ``retrain``
(train minus F), ``<method>`` (the method applied to the original) and ``noop_<method>`` (the
original's weights registered as a run of the method: an unlearning that did nothing).

The data are noisy 20-dim Gaussians in 4 classes and the MLP trains long enough to memorise its
training set, so membership leaves a trace a per-example attack can find.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = make_shadow_workspace(Path(tempfile.mkdtemp()), n_shadows=2)  # doctest: +SKIP
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from analysis.data import ArrayDataset, load_dataset, resolve_forget_set
from analysis.models import build_model, save_weights
from analysis.training import TrainConfig, train_model
from analysis.unlearn import get_method
from tests.fixtures import toml_value

ARCH = {"name": "mlp", "params": {"hidden": [64]}}
FORGET = {"random": 0.2, "seed": 0}
_CONFIG = {"epochs": 30, "lr": 0.05, "batch_size": 50}
_METHOD_PARAMS = {"ft": {"epochs": 3, "lr": 0.02}, "ga": {"epochs": 2, "lr": 0.01}}


def _data(seed: int, n_train: int, n_test: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 20))

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.permutation(np.arange(n) % 4).astype(np.int64)
        return (centres[y] + rng.normal(scale=1.6, size=(n, 20))).astype(np.float32), y

    (x_tr, y_tr), (x_te, y_te) = split(n_train), split(n_test)
    return {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}


def train_on(train: ArrayDataset, rows: np.ndarray, seed: int) -> Any:
    """An MLP initialised and trained from scratch (both seeded) on ``train``'s ``rows``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model("mlp", num_classes=4, input_shape=(20,), params=ARCH["params"])
    config = TrainConfig(**_CONFIG, seed=seed)  # type: ignore[arg-type]
    return train_model(model, train.subset(rows), config, device="cpu").model


class _Writer:
    def __init__(self, root: Path) -> None:
        self.root, self.entries = root, {}  # type: ignore[var-annotated]

    def model(self, name: str, model: Any, **entry: Any) -> None:
        save_weights(model, self.root / "models" / f"{name}.safetensors")
        self.entries[name] = {"file": f"models/{name}.safetensors", **entry}

    def mask(self, name: str, mask: np.ndarray) -> str:
        np.save(self.root / "models" / f"{name}.npy", mask, allow_pickle=False)
        return f"models/{name}.npy"

    def toml(self) -> None:
        lines = [
            '[experiment]\nname = "shadows"\n',
            '[dataset]\nkind = "npz"\npath = "data.npz"\n',
            f'[architecture]\nname = "mlp"\nparams = {toml_value(ARCH["params"])}\n',
            f"[forget.random]\nrandom = {FORGET['random']}\nseed = {FORGET['seed']}\n",
            '[analysis]\nembedding_method = "pca"\nn_bootstrap = 50\n',
        ]
        for name, entry in self.entries.items():
            body = "\n".join(f"{k} = {toml_value(v)}" for k, v in entry.items())
            lines.append(f"[models.{name}]\n{body}\n")
        (self.root / "experiment.toml").write_text("\n".join(lines), encoding="utf-8")


def make_shadow_workspace(
    root: Path,
    *,
    method: str = "ft",
    n_shadows: int = 6,
    n_train: int = 200,
    n_test: int = 200,
    seed: int = 0,
) -> Path:
    """Write the workspace described in the module docstring into ``root`` and return it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: thread start-up would dominate
    try:
        return _build(root, method, n_shadows, n_train, n_test, seed)
    finally:
        torch.set_num_threads(threads)


def _build(root: Path, method: str, n_shadows: int, n_train: int, n_test: int, seed: int) -> Path:
    (root / "models").mkdir(parents=True, exist_ok=True)
    np.savez(root / "data.npz", **_data(seed, n_train, n_test))
    train = load_dataset({"kind": "npz", "path": "data.npz"}, root=root).train
    forget = resolve_forget_set("random", FORGET, train.targets, root=root).indices
    is_forget = np.isin(np.arange(n_train), forget)
    run = get_method(method)(**_METHOD_PARAMS.get(method, {}))
    w = _Writer(root)
    original = train_on(train, np.arange(n_train), seed)
    w.model("original", original, role="original")
    w.model("retrain", train_on(train, np.flatnonzero(~is_forget), seed + 1), role="retrain")
    unlearned = run.run(original, train.subset(forget), train.subset(np.flatnonzero(~is_forget)))
    w.model(method, unlearned.model, role="unlearned", method=method, base="original")
    shutil.copy(root / "models" / "original.safetensors", root / "models" / "noop.safetensors")
    w.entries[f"noop_{method}"] = {
        "file": "models/noop.safetensors",
        "role": "unlearned",
        "method": method,
        "base": "original",
        "description": "the original's weights: an unlearning run that changed nothing",
    }
    rng = np.random.default_rng(seed + 1000)
    for k in range(n_shadows):
        members = np.zeros(n_train, bool)
        members[rng.permutation(n_train)[: n_train // 2]] = True
        forget_k = members & is_forget
        base = train_on(train, np.flatnonzero(members), seed + 100 + k)
        w.model(f"base{k}", base, role="reference", members=w.mask(f"base{k}_members", members))
        result = run.run(
            base,
            train.subset(np.flatnonzero(forget_k)),
            train.subset(np.flatnonzero(members & ~forget_k)),
            seed=k,
        )
        forget_mask = w.mask(f"forget{k}", forget_k)
        w.model(
            f"unl{k}",
            result.model,
            role="shadow",
            method=method,
            base=f"base{k}",
            members=w.entries[f"base{k}"]["members"],
            forget_mask=forget_mask,
        )
        kept = members & ~forget_k
        w.model(
            f"ret{k}",
            train_on(train, np.flatnonzero(kept), seed + 200 + k),
            role="shadow",
            method="retrain",
            members=w.mask(f"ret{k}_members", kept),
            forget_mask=forget_mask,
        )
    w.toml()
    return root
