"""Benchmark of the comparison engine: ratios measured in one run (no absolute budgets).

Prints, for the digits sample and for a synthetic CIFAR-shaped experiment (3×32×32 inputs,
``smallcnn``, n and 4n training samples):

* compare (cold cache, UMAP excluded) / the bare forward passes it needs   (goal ≤ 1.5)
* UMAP time, separately (first fit in the process includes numba's JIT)
* warm-cache compare / cold compare                                          (goal ≤ 0.02)
* compare(4n) / compare(n), UMAP excluded                                    (goal ≤ 4.4)

Usage: ``python bench/engine.py [--n 5000] [--threads N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import analysis
from analysis.compare import CompareOptions
from analysis.inference import forward_pass
from analysis.models import build_model, save_weights
from analysis.samples import to_toml
from analysis.store import ResultCache

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "digits"


def synthetic_workspace(
    root: Path,
    n_train: int,
    *,
    n_test: int | None = None,
    n_reference: int = 4,
    classes: int = 10,
    seed: int = 0,
) -> Path:
    """A CIFAR-shaped npz experiment with randomly initialised smallcnn models."""
    rng = np.random.default_rng(seed)
    n_test = n_test or n_train // 4
    protos = rng.normal(size=(classes, 3, 32, 32)).astype(np.float32)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, classes, n)
        return (protos[y] + rng.normal(size=(n, 3, 32, 32)).astype(np.float32)), y

    (x_tr, y_tr), (x_te, y_te) = draw(n_train), draw(n_test)
    root.mkdir(parents=True, exist_ok=True)
    np.savez(root / "data.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    models: dict[str, dict[str, object]] = {}
    roles = {"original": "original", "retrain": "retrain", "unlearned": "unlearned"}
    for i, name in enumerate([*roles, *[f"ref{r}" for r in range(n_reference)]]):
        torch.manual_seed(seed + i)
        save_weights(
            build_model("smallcnn", num_classes=classes, input_shape=(3, 32, 32)),
            root / f"{name}.safetensors",
        )
        entry: dict[str, object] = {
            "role": roles.get(name, "reference"),
            "file": f"{name}.safetensors",
        }
        if name == "unlearned":
            entry.update(method="ga", base="original")
        if name.startswith("ref"):
            mask = np.zeros(n_train, bool)
            mask[rng.permutation(n_train)[: n_train // 2]] = True
            np.save(root / f"{name}_members.npy", mask)
            entry["members"] = f"{name}_members.npy"
        models[name] = entry
    doc = {
        "dataset": {"kind": "npz", "path": "data.npz"},
        "architecture": {"name": "smallcnn"},
        "forget": {"classes": [3]},
        "models": models,
    }
    (root / "experiment.toml").write_text(to_toml(doc))
    return root


def bare_passes(exp: analysis.Experiment, names: list[str], batch_size: int) -> float:
    """Time of one plain forward pass per model and split (what compare cannot avoid)."""
    models = {n: exp.load_model(n) for n in names}
    start = time.perf_counter()
    for split in ("train", "test"):
        forward_pass(models, exp.dataset(split), batch_size=batch_size)
    return time.perf_counter() - start


def timed_compare(
    exp: analysis.Experiment, a: str, b: str, opts: CompareOptions, cache: ResultCache
) -> tuple[float, float]:
    """(total seconds, embedding seconds) of one compare."""
    start = time.perf_counter()
    cmp = analysis.compare(exp, a, b, options=opts, cache=cache)
    return time.perf_counter() - start, cmp.timings.get("embedding", 0.0) if cmp.timings else 0.0


def bench(label: str, exp: analysis.Experiment, a: str, b: str, method: str) -> dict[str, float]:
    """Cold and warm compare vs the bare passes; UMAP time reported apart."""
    opts = CompareOptions.from_experiment(exp, embedding_method=method)
    names = list(
        dict.fromkeys(
            [a, b, exp.original_name, exp.retrain_name, *exp.names_with_role("reference")]
        )
    )
    names = [n for n in names if n is not None]
    bare = bare_passes(exp, names, opts.batch_size)
    cache = ResultCache(Path(tempfile.mkdtemp()) / "cache")
    cold, embed = timed_compare(exp, a, b, opts, cache)
    warm, _ = timed_compare(exp, a, b, opts, cache)
    row = {
        "bare": bare,
        "cold": cold,
        "embed": embed,
        "warm": warm,
        "ratio_vs_bare": (cold - embed) / bare,
        "warm_over_cold": warm / cold,
    }
    print(
        f"{label:<28} n_train={len(exp.dataset('train')):>6}  bare {bare:6.2f}s  "
        f"cold {cold:6.2f}s (embedding {method} {embed:5.2f}s)  warm {warm:5.3f}s  "
        f"compare-no-embedding/bare {row['ratio_vs_bare']:.2f}  "
        f"warm/cold {row['warm_over_cold']:.4f}"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="synthetic training samples (n)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "ulens_numba"))
    warnings.simplefilter("ignore")
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"device {analysis.resolve_device('auto')}"
    )
    sample = analysis.load_experiment(SAMPLE)
    bench("sample (UMAP, 1st fit)", sample, "retrain", "ga", "umap")
    bench("sample (UMAP, warm JIT)", sample, "retrain", "rl", "umap")
    tmp = Path(tempfile.mkdtemp())
    small = analysis.load_experiment(synthetic_workspace(tmp / "n", args.n))
    large = analysis.load_experiment(synthetic_workspace(tmp / "4n", 4 * args.n))
    r1 = bench("synthetic n (PCA)", small, "retrain", "unlearned", "pca")
    r4 = bench("synthetic 4n (PCA)", large, "retrain", "unlearned", "pca")
    bench("synthetic 4n (UMAP)", large, "original", "unlearned", "umap")
    scale = (r4["cold"] - r4["embed"]) / (r1["cold"] - r1["embed"])
    print(f"time(4n)/time(n), embedding excluded: {scale:.2f}  (goal <= 4.4)")


if __name__ == "__main__":
    main()
