"""Build tiny, complete workspaces for tests (analysis, CLI and dashboard alike).

:func:`make_tiny_workspace` writes, in a fraction of a second, the inputs of a workspace: a
deterministic ``data.npz``, an ``experiment.toml`` with two forget scenarios (``classwise`` and
``random``), an ``original`` model, per scenario a ``retrain`` and two ``unlearned`` models (a
few full-batch Adam steps each in plain torch, saved with :func:`analysis.models.save_weights`)
and ``n_reference`` reference models with boolean membership masks. No run registry or cache is
written: those are produced by the code under test.

Example:
    >>> import tempfile
    >>> from analysis.experiment import load_experiment
    >>> root = make_tiny_workspace(Path(tempfile.mkdtemp()) / "ws")
    >>> exp = load_experiment(root)
    >>> exp.scenario, sorted(exp.names_with_role("unlearned"))
    ('classwise', ['finetune_classwise', 'gradascent_classwise'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from analysis.models import build_model, save_weights

__all__ = [
    "ARCH_PARAMS",
    "DATASETS",
    "SCENARIOS",
    "TinyData",
    "make_tiny_workspace",
    "tiny_arrays",
    "toml_value",
]

SCENARIOS: dict[str, dict[str, Any]] = {
    "classwise": {"classes": [1]},
    "random": {"random": 0.1, "seed": 0},
}
"""The two forget scenarios every tiny workspace declares."""

DATASETS = ("npz", "npz_flat")
"""``npz``: 1×6×6 float images; ``npz_flat``: 20-dim float vectors (written to ``data.npz``)."""

ARCH_PARAMS: dict[str, dict[str, Any]] = {
    "mlp": {"hidden": [16, 8]},
    "smallcnn": {"width": 4, "hidden": 8},
    "resnet18_cifar": {"width": 4},
}
"""Small-sized options written to ``[architecture.params]`` so models train instantly."""

_STEPS, _LR = 15, 0.05


@dataclass(frozen=True)
class TinyData:
    """The arrays written to a tiny workspace's ``data.npz``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input."""
        return tuple(self.x_train.shape[1:])


def tiny_arrays(
    *,
    dataset: str = "npz",
    n_train: int = 120,
    n_test: int = 60,
    num_classes: int = 4,
    seed: int = 0,
) -> TinyData:
    """Deterministic, learnable data: class-dependent means plus Gaussian noise.

    Every class appears in both splits (labels cycle through the classes before shuffling).

    Example:
        >>> d = tiny_arrays(dataset="npz_flat", n_train=8, n_test=4, num_classes=2)
        >>> d.x_train.shape, d.x_train.dtype.name, sorted(set(d.y_test.tolist()))
        ((8, 20), 'float32', [0, 1])
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset: expected one of {list(DATASETS)}, received {dataset!r}")
    if num_classes < 2 or min(n_train, n_test) < num_classes:
        raise ValueError("need num_classes >= 2 and at least one sample per class in each split")
    shape = (1, 6, 6) if dataset == "npz" else (20,)
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, size=(num_classes, *shape))

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.permutation(np.arange(n) % num_classes).astype(np.int64)
        x = centres[y] + rng.normal(0.0, 0.8, size=(n, *shape))
        return x.astype(np.float32), y

    x_train, y_train = split(n_train)
    x_test, y_test = split(n_test)
    names = tuple(f"class_{i}" for i in range(num_classes))
    return TinyData(x_train, y_train, x_test, y_test, names)


def toml_value(value: Any) -> str:
    """Format a Python value as a TOML value (str, bool, int, float, list, table).

    Example:
        >>> toml_value({"hidden": [16, 8], "name": "a"})
        '{ hidden = [16, 8], name = "a" }'
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        text = str(value).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{text}"'
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml_table(header: str, table: Mapping[str, Any]) -> str:
    lines = [f"[{header}]"] + [f"{k} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _forget_indices(scenario: str, labels: np.ndarray) -> np.ndarray:
    """Mirror of the scenario definitions (kept independent of ``analysis.data`` on purpose)."""
    spec = SCENARIOS[scenario]
    if "classes" in spec:
        return np.flatnonzero(np.isin(labels, spec["classes"]))
    n = len(labels)
    rng = np.random.default_rng(spec["seed"])
    return np.sort(rng.choice(n, size=max(1, round(spec["random"] * n)), replace=False))


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, ascent: bool = False) -> None:
    """A few full-batch Adam steps (gradient ascent when ``ascent``); leaves the model in eval."""
    model.train()
    optimiser = torch.optim.Adam(model.parameters(), lr=_LR)
    for _ in range(_STEPS):
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        (-loss if ascent else loss).backward()
        optimiser.step()
    model.eval()


class _Writer:
    """Builds, trains and saves the models of one workspace."""

    def __init__(self, root: Path, arch: str, data: TinyData, seed: int) -> None:
        self.root, self.arch, self.data, self.seed = root, arch, data, seed
        self.params = ARCH_PARAMS.get(arch, {})
        self.x = torch.from_numpy(data.x_train)
        self.y = torch.from_numpy(data.y_train)
        self.entries: dict[str, dict[str, Any]] = {}

    def model(self, offset: int, base: nn.Module | None = None) -> nn.Module:
        torch.manual_seed(self.seed * 1000 + offset)
        model = build_model(
            self.arch,
            num_classes=len(self.data.class_names),
            input_shape=self.data.input_shape,
            params=self.params,
        )
        if base is not None:
            model.load_state_dict(base.state_dict())
        return model

    def save(self, name: str, model: nn.Module, entry: dict[str, Any]) -> None:
        file = f"models/{name}.safetensors"
        save_weights(model, self.root / file, metadata={"role": entry["role"]})
        self.entries[name] = {"role": entry.pop("role"), "file": file, **entry}


def _write_scenario(writer: _Writer, scenario: str, original: nn.Module, offset: int) -> None:
    forget = _forget_indices(scenario, writer.data.y_train)
    retain = np.setdiff1d(np.arange(len(writer.y)), forget)
    retrain = writer.model(offset)
    _train(retrain, writer.x[retain], writer.y[retain])
    train = {"steps": _STEPS, "lr": _LR, "seed": writer.seed * 1000 + offset}
    writer.save(
        f"retrain_{scenario}",
        retrain,
        {"role": "retrain", "forget": scenario, "train": train, "rt": 0.01},
    )
    finetune = writer.model(offset, base=original)
    _train(finetune, writer.x[retain], writer.y[retain])
    writer.save(
        f"finetune_{scenario}",
        finetune,
        {
            "role": "unlearned",
            "forget": scenario,
            "method": "finetune",
            "base": "original",
            "params": {"steps": _STEPS, "lr": _LR},
            "rt": 0.005,
        },
    )
    ascent = writer.model(offset, base=original)
    _train(ascent, writer.x[forget], writer.y[forget], ascent=True)
    writer.save(
        f"gradascent_{scenario}",
        ascent,
        {
            "role": "unlearned",
            "forget": scenario,
            "method": "gradient_ascent",
            "base": "original",
            "params": {"steps": _STEPS, "lr": _LR},
            "rt": 0.004,
        },
    )


def _write_references(writer: _Writer, n_reference: int) -> None:
    n = len(writer.y)
    rng = np.random.default_rng(writer.seed + 12345)
    for i in range(n_reference):
        mask = np.zeros(n, dtype=bool)
        mask[rng.permutation(n)[: n // 2]] = True
        members = f"models/ref{i}_members.npy"
        np.save(writer.root / members, mask, allow_pickle=False)
        model = writer.model(100 + i)
        _train(model, writer.x[mask], writer.y[mask])
        writer.save(
            f"ref{i}",
            model,
            {
                "role": "reference",
                "members": members,
                "train": {"steps": _STEPS, "lr": _LR, "seed": writer.seed * 1000 + 100 + i},
            },
        )


def _write_dataset(root: Path, data: TinyData) -> dict[str, Any]:
    np.savez(
        root / "data.npz",
        x_train=data.x_train,
        y_train=data.y_train,
        x_test=data.x_test,
        y_test=data.y_test,
        class_names=np.asarray(data.class_names),
    )
    return {"kind": "npz", "path": "data.npz"}


def _write_toml(
    root: Path,
    dataset: Mapping[str, Any],
    arch: str,
    params: Mapping[str, Any],
    scenarios: Sequence[str],
    entries: Mapping[str, Mapping[str, Any]],
) -> None:
    parts = [
        '[experiment]\nname = "tiny"\n',
        _toml_table("dataset", dataset),
        _toml_table("architecture", {"name": arch, "params": dict(params)}),
        # PCA keeps tests free of UMAP's numba JIT (15-25 s per process).
        _toml_table("analysis", {"embedding_method": "pca", "n_bootstrap": 20}),
    ]
    parts += [_toml_table(f"forget.{s}", SCENARIOS[s]) for s in scenarios]
    parts += [_toml_table(f"models.{name}", entry) for name, entry in entries.items()]
    (root / "experiment.toml").write_text("\n".join(parts), encoding="utf-8")


def make_tiny_workspace(
    root: Path,
    *,
    arch: str = "mlp",
    dataset: str = "npz",
    scenario: str = "classwise",
    n_train: int = 120,
    n_test: int = 60,
    num_classes: int = 4,
    n_reference: int = 4,
    seed: int = 0,
) -> Path:
    """Write a complete tiny workspace into ``root`` (created if needed) and return ``root``.

    Models: ``original`` (trained on all of train), for each scenario ``retrain_<s>`` (on the
    retain set), ``finetune_<s>`` (original fine-tuned on retain) and ``gradascent_<s>``
    (gradient ascent on forget), and ``ref0``..``ref<n-1>`` (each trained on a seeded random
    half of train, mask in ``models/ref<i>_members.npy``).

    Args:
        root: Workspace folder.
        arch: A registry architecture (``mlp``, ``smallcnn``, ``resnet18_cifar``...); the small
            options of :data:`ARCH_PARAMS` are written as ``[architecture.params]``.
        dataset: One of :data:`DATASETS`.
        scenario: ``classwise`` or ``random``: the scenario listed first (the default one when
            the workspace is loaded). Both scenarios are always written.
        n_train: Training samples.
        n_test: Test samples.
        num_classes: Classes (at least 2; class 1 is the class-wise forget class).
        n_reference: Reference models with membership masks.
        seed: Seed of data, initialisations and masks; equal arguments give equal files.

    Returns:
        ``root``.

    Example:
        >>> import tempfile
        >>> ws = make_tiny_workspace(Path(tempfile.mkdtemp()), n_reference=1, scenario="random")
        >>> sorted(p.name for p in ws.iterdir())
        ['data.npz', 'experiment.toml', 'models']
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario: expected one of {list(SCENARIOS)}, received {scenario!r}")
    root = Path(root)
    (root / "models").mkdir(parents=True, exist_ok=True)
    data = tiny_arrays(
        dataset=dataset, n_train=n_train, n_test=n_test, num_classes=num_classes, seed=seed
    )
    dataset_table = _write_dataset(root, data)
    scenarios = [scenario] + [s for s in SCENARIOS if s != scenario]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: thread start-up dominates, badly so on a loaded machine
    try:
        _write_models(root, arch, data, seed, scenarios, n_reference, dataset_table)
    finally:
        torch.set_num_threads(threads)
    return root


def _write_models(
    root: Path,
    arch: str,
    data: TinyData,
    seed: int,
    scenarios: list[str],
    n_reference: int,
    dataset_table: Mapping[str, Any],
) -> None:
    with torch.random.fork_rng(devices=[]):
        writer = _Writer(root, arch, data, seed)
        original = writer.model(0)
        _train(original, writer.x, writer.y)
        writer.save(
            "original",
            original,
            {"role": "original", "rt": 0.02, "train": {"steps": _STEPS, "lr": _LR, "seed": seed}},
        )
        for name in scenarios:  # offsets by name: same weights whichever scenario is first
            _write_scenario(writer, name, original, offset=10 * (list(SCENARIOS).index(name) + 1))
        _write_references(writer, n_reference)
    _write_toml(root, dataset_table, arch, writer.params, scenarios, writer.entries)
