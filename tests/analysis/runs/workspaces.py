"""Workspaces for the runs tests: a copy of the digits sample and a fresh npz + mlp workspace.

The fresh workspace declares its original model (with a ``train`` recipe) in
``experiment.toml`` but has no weights at all: ``ulens train --role original`` produces them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from tests.fixtures import tiny_arrays

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "sample_data" / "digits"


def copy_sample(dst: Path) -> Path:
    """A private copy of ``sample_data/digits`` without cache or registry."""
    return Path(
        shutil.copytree(SAMPLE, dst, ignore=shutil.ignore_patterns(".ulens_cache", "runs.sqlite*"))
    )


MLP_TOML = """
[experiment]
name = "blobs"

[dataset]
kind = "npz"
path = "data.npz"

[architecture]
name = "mlp"
params = { hidden = [16] }

[forget.classwise]
classes = [1]

[forget.random]
random = 0.1
seed = 0

[models.original]
role = "original"
file = "models/original.safetensors"
train = { epochs = 3, lr = 0.05, batch_size = 32, optimizer = "adam", seed = 7 }
"""


def make_mlp_workspace(dst: Path) -> Path:
    """A fresh npz workspace (3 classes of 20-d blobs) with an ``mlp`` and no weights yet."""
    dst.mkdir(parents=True)
    data = tiny_arrays(dataset="npz_flat", n_train=180, n_test=60, num_classes=3, seed=3)
    np.savez(
        dst / "data.npz",
        x_train=data.x_train,
        y_train=data.y_train,
        x_test=data.x_test,
        y_test=data.y_test,
    )
    (dst / "experiment.toml").write_text(MLP_TOML, encoding="utf-8")
    return dst
