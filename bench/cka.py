"""Benchmark of linear CKA: analysis.cka against pytorch-cka, side by side, ratios from one run.

Two ResNet-18-CIFAR models (randomly initialised with seeds 0 and 1, eval mode), ``--n``
CIFAR-shaped inputs (uniform images normalised with the CIFAR-10 channel statistics), the 10
layers of ``discover_layers(..., max_layers=10)``, all 10 × 10 layer pairs, batches of
``--batch-size``. Both tools compute the same estimator: unbiased HSIC_1 summed over the same
minibatches (Nguyen et al. 2021). Prints:

(a) end to end, the time beyond the bare forward passes of both models over the same batches:
    ours = ``analysis.inference.forward_pass`` (the lockstep pass compare() runs) feeding a
    ``CKAAccumulator``; pytorch-cka = ``cka.compute_cka`` (its hooks, its accumulation).
(b) the CKA computation alone on the same captured activations, per batch (activations
    captured once, then each tool's per-batch update timed on them): ours =
    ``CKAAccumulator.update``; pytorch-cka = ``CKA._accumulate_hsic`` (its Gram matrices and
    HSIC terms); and the floor no linear CKA can go below: the float32 Gram products X Xᵀ of
    every layer of both models (``torch.mm``). Also printed: the same products when only 3 of
    the 4 (b/2)² blocks of each symmetric Gram matrix are formed, which our path uses.
(c) each tool's max |error| over the 100 layer pairs against a float64 reference of the same
    minibatch estimator (batch-mean-centred float64 features, literal HSIC_1 formula).

pytorch-cka (PyPI ``pytorch-cka``, module ``cka``) is a bench-only dependency (dev extra).
Timings on a shared machine are noisy: compare the ratios, measured in the same run.

Usage: ``python bench/cka.py [--n 1000] [--batch-size 256] [--threads 2] [--repeats 3]``
(``--n 4000`` for end-to-end numbers above the noise).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Running as a script puts bench/ first on sys.path, where this file would shadow pytorch-cka's
# top-level module ``cka``: use the repository root instead.
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from analysis.cka import CKAAccumulator  # noqa: E402
from analysis.data import ArrayDataset  # noqa: E402
from analysis.inference import forward_pass  # noqa: E402
from analysis.models import build_model, discover_layers  # noqa: E402

try:
    import cka as pytorch_cka  # PyPI: pytorch-cka
except ImportError:  # pragma: no cover - the bench says how to get it
    sys.exit("bench/cka.py needs pytorch-cka: pip install -e '.[dev]' (or pip install pytorch-cka)")

CIFAR_MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
CIFAR_STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)


def make_models() -> dict[str, nn.Module]:
    models = {}
    for seed, name in enumerate(("A", "B")):
        torch.manual_seed(seed)
        models[name] = build_model("resnet18_cifar", num_classes=10, input_shape=(3, 32, 32))
        models[name].eval()
    return models


def make_inputs(n: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1234)
    return (torch.rand(n, 3, 32, 32, generator=gen) - CIFAR_MEAN) / CIFAR_STD


def batches(n: int, batch_size: int) -> list[slice]:
    return [slice(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]


# ------------------------------------------------------------------------------ (a) end to end


def bare_forward(models: dict[str, nn.Module], x: torch.Tensor, batch_size: int) -> None:
    with torch.inference_mode():
        for rows in batches(len(x), batch_size):
            for model in models.values():
                model(x[rows])


def ours_end_to_end(
    models: dict[str, nn.Module], x: torch.Tensor, layers: Sequence[str], batch_size: int
) -> np.ndarray:
    acc = CKAAccumulator({"A": layers, "B": layers}, [("A", "B")], device="cpu")
    dataset = ArrayDataset(x, torch.zeros(len(x), dtype=torch.long))
    forward_pass(
        models,
        dataset,
        batch_size=batch_size,
        device="cpu",
        activation_groups={"all": np.arange(len(x))},
        layers={"A": layers, "B": layers},
        on_activations=lambda _group, acts: acc.update(acts),
    )
    return acc.result()[("A", "B")].values


def pytorch_cka_end_to_end(
    models: dict[str, nn.Module], x: torch.Tensor, layers: Sequence[str], batch_size: int
) -> np.ndarray:
    loader = DataLoader(TensorDataset(x), batch_size=batch_size, shuffle=False)
    (matrix,) = pytorch_cka.compute_cka(
        models["A"], models["B"], loader, layers=list(layers), device="cpu", progress=False
    )
    return matrix.double().numpy()


def end_to_end(
    models: dict[str, nn.Module],
    x: torch.Tensor,
    layers: Sequence[str],
    batch_size: int,
    repeats: int,
) -> dict[str, float]:
    """Best-of-``repeats`` wall time of each, the three interleaved in every round."""
    runs: dict[str, Callable[[], object]] = {
        "bare": lambda: bare_forward(models, x, batch_size),
        "ours": lambda: ours_end_to_end(models, x, layers, batch_size),
        "pytorch-cka": lambda: pytorch_cka_end_to_end(models, x, layers, batch_size),
    }
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


# --------------------------------------------------- (b) computation alone, (c) float64 reference


def capture(model: nn.Module, layers: Sequence[str], x: torch.Tensor) -> list[torch.Tensor]:
    """Flattened outputs of ``layers`` for one batch (what both tools' hooks hand over)."""
    modules = dict(model.named_modules())
    got: dict[str, torch.Tensor] = {}
    handles = [
        modules[name].register_forward_hook(
            lambda _m, _i, out, name=name: got.__setitem__(name, out.detach().flatten(1))
        )
        for name in layers
    ]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return [got[name] for name in layers]


def reference_hsic(grams_x: torch.Tensor, grams_y: torch.Tensor) -> torch.Tensor:
    """Literal Song et al. (2012) HSIC_1 in float64 for every pair: (Lx, Ly)."""
    n = grams_x.shape[-1]
    kx, ky = grams_x.clone(), grams_y.clone()
    kx.diagonal(dim1=1, dim2=2).zero_()
    ky.diagonal(dim1=1, dim2=2).zero_()
    ones = torch.ones(n, dtype=torch.float64)
    trace = torch.einsum("aij,bji->ab", kx, ky)
    sums = torch.outer(kx.sum(dim=(1, 2)), ky.sum(dim=(1, 2))) / ((n - 1) * (n - 2))
    cross = torch.einsum("ai,bi->ab", kx @ ones, ky @ ones)
    return (trace + sums - 2.0 / (n - 2) * cross) / (n * (n - 3))


def reference_grams(features: Sequence[torch.Tensor]) -> torch.Tensor:
    """float64 Gram matrices of the batch-mean-centred features, (L, b, b)."""
    grams = []
    for f in features:
        centred = f.double()
        centred -= centred.mean(dim=0, keepdim=True)
        grams.append(centred @ centred.T)
    return torch.stack(grams)


class Reference:
    """float64 sums of HSIC_1 over the same minibatches; CKA = Σxy / sqrt(Σxx Σyy)."""

    def __init__(self, n_layers: int) -> None:
        self.xy = torch.zeros(n_layers, n_layers, dtype=torch.float64)
        self.xx = torch.zeros(n_layers, dtype=torch.float64)
        self.yy = torch.zeros(n_layers, dtype=torch.float64)

    def update(self, acts_a: Sequence[torch.Tensor], acts_b: Sequence[torch.Tensor]) -> None:
        ka, kb = reference_grams(acts_a), reference_grams(acts_b)
        self.xy += reference_hsic(ka, kb)
        self.xx += reference_hsic(ka, ka).diagonal()
        self.yy += reference_hsic(kb, kb).diagonal()

    def cka(self) -> np.ndarray:
        return (self.xy / torch.sqrt(torch.outer(self.xx, self.yy))).numpy()


def plain_gram_products(features: Sequence[torch.Tensor]) -> None:
    """X Xᵀ of every layer: the float32 Gram products any linear CKA has to form."""
    for f in features:
        torch.mm(f, f.T)


def symmetric_gram_products(features: Sequence[torch.Tensor]) -> None:
    """3 of the 4 (b/2)-row blocks of every X Xᵀ, as our path forms them (b even).

    The two diagonal blocks in one batched product, the top-right block in another; the
    bottom-left block is the transpose of the top-right one.
    """
    for f in features:
        h = f.shape[0] // 2
        if f.shape[0] % 2:
            torch.mm(f, f.T)
            continue
        halves = f.view(2, h, -1)
        torch.bmm(halves, halves.transpose(1, 2))
        torch.mm(f[:h], f[h:].T)


def computation_alone(
    models: dict[str, nn.Module],
    x: torch.Tensor,
    layers: Sequence[str],
    batch_size: int,
    repeats: int,
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """Per batch: capture activations once, then time each step on them, best of ``repeats``.

    Times are wall-clock and process CPU time (both threads; less sensitive to other
    processes taking the cores away, though it counts OpenMP spin-waiting).

    Each tool's result accumulates every batch exactly once (the first round); later rounds
    time the same update on scratch accumulators.
    """
    pairs, both = [("A", "B")], {"A": layers, "B": layers}
    ours = [CKAAccumulator(both, pairs, device="cpu") for _ in range(2)]  # result, scratch
    theirs = pytorch_cka.CKA(models["A"], models["B"], layers=list(layers), device="cpu")
    size = len(layers)
    sums = [[torch.zeros(size, size), torch.zeros(size), torch.zeros(size)] for _ in range(2)]
    reference = Reference(size)
    names = ["floor", "floor (3/4 blocks)", "ours", "pytorch-cka"]
    totals = {clock: dict.fromkeys(names, 0.0) for clock in ("wall", "cpu")}
    for rows in batches(len(x), batch_size):
        acts = {m: capture(models[m], layers, x[rows]) for m in ("A", "B")}
        feed = {m: dict(zip(layers, a, strict=True)) for m, a in acts.items()}
        theirs._model1_layer_to_feature, theirs._model2_layer_to_feature = feed["A"], feed["B"]
        everything = (*acts["A"], *acts["B"])
        best = {clock: dict.fromkeys(names, float("inf")) for clock in totals}
        for r in range(repeats):
            slot = min(r, 1)
            steps: dict[str, Callable[[], object]] = {
                "floor": partial(plain_gram_products, everything),
                "floor (3/4 blocks)": partial(symmetric_gram_products, everything),
                "ours": partial(ours[slot].update, feed),
                "pytorch-cka": partial(theirs._accumulate_hsic, *sums[slot]),
            }
            for name, step in steps.items():
                with torch.inference_mode():
                    start, cpu = time.perf_counter(), time.process_time()
                    step()
                    best["wall"][name] = min(best["wall"][name], time.perf_counter() - start)
                    best["cpu"][name] = min(best["cpu"][name], time.process_time() - cpu)
        for clock, per_step in totals.items():
            for name in names:
                per_step[name] += best[clock][name]
        reference.update(acts["A"], acts["B"])
    xy, xx, yy = sums[0]
    values = {
        "reference": reference.cka(),
        "ours": ours[0].result()[("A", "B")].values,
        "pytorch-cka": theirs._compute_cka_matrix(xy, xx, yy).double().numpy(),
        "pytorch-cka, unclamped": (xy / torch.sqrt(torch.outer(xx, yy))).double().numpy(),
    }
    return totals, values


# ------------------------------------------------------------------------------------- report


def max_error(values: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(np.asarray(values, dtype=np.float64) - reference).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="inputs (default 1000)")
    parser.add_argument("--batch-size", type=int, default=256, help="rows per batch")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = make_models()
    layers = discover_layers(models["A"], max_layers=10)
    x = make_inputs(args.n)
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, pytorch-cka "
        f"{pytorch_cka.__version__}; ResNet-18-CIFAR × 2 (seeds 0, 1), n={args.n}, "
        f"batch {args.batch_size}, {len(layers)} layers × {len(layers)} pairs; best of "
        f"{args.repeats}; load average {os.getloadavg()[0]:.2f}"
    )
    alone, values = computation_alone(models, x, layers, args.batch_size, args.repeats)
    wall = end_to_end(models, x, layers, args.batch_size, args.repeats)
    report(alone, values, wall, models, x, layers, args.batch_size)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


def report(
    alone: dict[str, dict[str, float]],
    values: dict[str, np.ndarray],
    wall: dict[str, float],
    models: dict[str, nn.Module],
    x: torch.Tensor,
    layers: Sequence[str],
    batch_size: int,
) -> None:
    extra = {tool: wall[tool] - wall["bare"] for tool in ("ours", "pytorch-cka")}
    print(f"(a) end to end: bare forward of both models {wall['bare']:.2f}s")
    for tool, seconds in extra.items():
        print(f"    {tool:<12} {wall[tool]:7.2f}s = bare + {seconds:+.2f}s")
    ratio = extra["ours"] / extra["pytorch-cka"] if extra["pytorch-cka"] > 0 else float("nan")
    print(f"    extra time ours / pytorch-cka: {ratio:.2f}")
    wall_t, cpu_t = alone["wall"], alone["cpu"]
    print("(b) computation alone on the same captured activations (summed over batches):")
    print(f"    {'':<20} {'wall':>8} {'× floor':>8}   {'CPU time':>8} {'× floor':>8}")
    for name in wall_t:
        print(
            f"    {name:<20} {wall_t[name]:7.3f}s {wall_t[name] / wall_t['floor']:8.3f}   "
            f"{cpu_t[name]:7.3f}s {cpu_t[name] / cpu_t['floor']:8.3f}"
        )
    print(
        f"    ours / pytorch-cka: wall {wall_t['ours'] / wall_t['pytorch-cka']:.3f}, "
        f"CPU time {cpu_t['ours'] / cpu_t['pytorch-cka']:.3f}"
    )
    reference = values["reference"]
    print("(c) max |error| over all layer pairs vs the float64 reference (same minibatches):")
    for name in ("ours", "pytorch-cka", "pytorch-cka, unclamped"):
        print(f"    {name:<24} {max_error(values[name], reference):.2e}")
    e2e_ours = ours_end_to_end(models, x, layers, batch_size)
    e2e_theirs = pytorch_cka_end_to_end(models, x, layers, batch_size)
    print(
        f"    end-to-end results: ours {max_error(e2e_ours, reference):.2e}, "
        f"pytorch-cka {max_error(e2e_theirs, reference):.2e}; "
        f"reference CKA range [{reference.min():.3f}, {reference.max():.3f}]"
    )


if __name__ == "__main__":
    main()
