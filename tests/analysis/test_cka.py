"""Tests of analysis.cka against independent numpy references and known invariances."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import analysis
import analysis.cka as cka_module
from analysis.cka import CKAAccumulator, CKAMatrix, linear_cka, rbf_cka
from analysis.errors import ValidationError
from analysis.inference import forward_pass
from analysis.models import discover_layers

CPU = "cpu"


# ------------------------------------------------------------------------------------------
# Independent references (literal formulas, explicit loops; they do not call analysis.cka)


def reference_hsic1(k: np.ndarray, l_: np.ndarray) -> float:
    """Song et al. (2012) unbiased HSIC, literal formula on zero-diagonal Gram matrices."""
    n = k.shape[0]
    k, l_ = k.copy(), l_.copy()
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l_, 0.0)
    ones = np.ones(n)
    return float(
        (
            np.trace(k @ l_)
            + (ones @ k @ ones) * (ones @ l_ @ ones) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (ones @ k @ l_ @ ones)
        )
        / (n * (n - 3))
    )


def reference_minibatch_cka(x: np.ndarray, y: np.ndarray, batch_size: int | None) -> float:
    """Nguyen et al. (2021) minibatch CKA: sum HSIC_1 over consecutive batches of > 3 rows."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    step = len(x) if batch_size is None else batch_size
    xy = xx = yy = 0.0
    for start in range(0, len(x), step):
        xb, yb = x[start : start + step], y[start : start + step]
        if len(xb) <= 3:
            continue
        k, l_ = xb @ xb.T, yb @ yb.T
        xy += reference_hsic1(k, l_)
        xx += reference_hsic1(k, k)
        yy += reference_hsic1(l_, l_)
    return xy / np.sqrt(xx * yy)


def reference_centred_cka(batches_x: list, batches_y: list) -> float:
    """The same estimator on given batches, each centred on its batch mean in float64 first.

    HSIC_1 is shift invariant, so this is the literal estimator, without the cancellation the
    literal formula suffers on features with a large mean.
    """
    xy = xx = yy = 0.0
    for xb, yb in zip(batches_x, batches_y, strict=True):
        if len(xb) <= 3:
            continue
        xb = np.asarray(xb, dtype=np.float64).reshape(len(xb), -1)
        yb = np.asarray(yb, dtype=np.float64).reshape(len(yb), -1)
        xb, yb = xb - xb.mean(0), yb - yb.mean(0)
        k, l_ = xb @ xb.T, yb @ yb.T
        xy += reference_hsic1(k, l_)
        xx += reference_hsic1(k, k)
        yy += reference_hsic1(l_, l_)
    return xy / np.sqrt(xx * yy)


def reference_rbf_cka(x: np.ndarray, y: np.ndarray, sigma_frac: float) -> float:
    """Kornblith et al. (2019) biased RBF CKA, σ = sigma_frac × median distance over i < j."""

    def centred_kernel(z: np.ndarray) -> np.ndarray:
        z = z.reshape(len(z), -1)
        sq = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
        sigma = sigma_frac * np.median(np.sqrt(sq[np.triu_indices(len(z), 1)]))
        k = np.exp(-sq / (2 * sigma**2))
        h = np.eye(len(z)) - 1.0 / len(z)
        return h @ k @ h

    k, l_ = centred_kernel(x), centred_kernel(y)
    return float(np.trace(k @ l_) / np.sqrt(np.trace(k @ k) * np.trace(l_ @ l_)))


def related(rng: np.random.Generator, n: int, d1: int = 12, d2: int = 9) -> tuple:
    """x and a noisy non-linear function of it (CKA clearly between 0 and 1)."""
    x = rng.normal(size=(n, d1))
    y = np.tanh(x @ rng.normal(size=(d1, d2))) + 0.7 * rng.normal(size=(n, d2))
    return x, y


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


# ------------------------------------------------------------------------------------------
# linear_cka: invariances


@pytest.mark.parametrize("batch_size", [None, 32])
def test_self_similarity_is_one(rng, batch_size):
    x = rng.normal(size=(200, 20))
    assert linear_cka(x, x, batch_size=batch_size, device=CPU) == pytest.approx(1.0, abs=1e-12)


def test_orthogonal_transform_invariance(rng):
    x = rng.normal(size=(300, 16))
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    assert linear_cka(x, x @ q, batch_size=50, device=CPU) == pytest.approx(1.0, abs=1e-10)


def test_isotropic_scaling_invariance(rng):
    x, y = related(rng, 240)
    base = linear_cka(x, y, batch_size=40, device=CPU)
    assert 0.1 < base < 0.9
    scaled = linear_cka(7.5 * x, 0.01 * y, batch_size=40, device=CPU)
    assert scaled == pytest.approx(base, rel=1e-10)


def test_not_invariant_to_general_linear_map(rng):
    x = rng.normal(size=(300, 10))
    a = rng.normal(size=(10, 10)) @ np.diag(np.geomspace(1.0, 100.0, 10))
    assert abs(np.linalg.det(a)) > 1e-6  # invertible
    assert linear_cka(x, x @ a, device=CPU) < 0.95


def test_translation_invariance_of_unbiased_estimator(rng):
    # HSIC_1 is exactly invariant to shifting features by a constant vector.
    x, y = related(rng, 150)
    shifted = x + rng.normal(size=(1, x.shape[1])) * 5
    assert linear_cka(shifted, y, batch_size=30, device=CPU) == pytest.approx(
        linear_cka(x, y, batch_size=30, device=CPU), abs=1e-10
    )


# ------------------------------------------------------------------------------------------
# linear_cka: agreement with the literal minibatch estimator


@pytest.mark.parametrize("batch_size", [None, 7, 32, 100])
@pytest.mark.parametrize("n", [250, 227])  # 227 = 32·7 + 3: the last batch of 7 is skipped
def test_matches_reference_minibatch_estimator(rng, batch_size, n):
    x, y = related(rng, n)
    expected = reference_minibatch_cka(x, y, batch_size)
    assert linear_cka(x, y, batch_size=batch_size, device=CPU) == pytest.approx(expected, abs=1e-10)


def test_float32_features_with_large_mean_stay_accurate(rng):
    # ReLU-like activations with a large mean: a naive (uncentred) Gram matrix loses ~all digits.
    z = rng.normal(size=(128, 32))
    w = rng.normal(size=(32, 8192)) / 6
    x = (100.0 + z @ w + 0.1 * rng.normal(size=(128, 8192))).astype(np.float32)
    y = (100.0 + z @ (w * 1.3) + 0.5 * rng.normal(size=(128, 8192))).astype(np.float32)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    expected = reference_minibatch_cka(x64 - x64.mean(0), y64 - y64.mean(0), None)
    assert linear_cka(x, y, device=CPU) == pytest.approx(expected, abs=1e-6)
    assert linear_cka(torch.from_numpy(x), torch.from_numpy(y), device=CPU) == pytest.approx(
        expected, abs=1e-6
    )


def test_higher_dimensional_inputs_are_flattened_per_sample(rng):
    x = rng.normal(size=(64, 3, 4, 4))
    y = rng.normal(size=(64, 5)) + x[:, 0, 0, :1]
    flat = linear_cka(x.reshape(64, -1), y, batch_size=16, device=CPU)
    assert linear_cka(torch.from_numpy(x), y, batch_size=16, device=CPU) == pytest.approx(flat)
    assert flat == pytest.approx(reference_minibatch_cka(x, y, 16), abs=1e-10)


def test_wide_features_spanning_several_gram_slices(rng, monkeypatch):
    monkeypatch.setattr(cka_module, "_SCRATCH_BYTES", 1)  # slices of _MIN_CHUNK columns
    z = rng.normal(size=(40, 5))
    x = z @ rng.normal(size=(5, 5000)) + rng.normal(size=(40, 5000))  # 5000 = 4·1024 + 904
    y = z @ rng.normal(size=(5, 3)) + rng.normal(size=(40, 3))
    assert linear_cka(x, y, batch_size=20, device=CPU) == pytest.approx(
        reference_minibatch_cka(x, y, 20), abs=1e-10
    )


def test_integer_and_half_inputs_are_accepted(rng):
    x = rng.integers(0, 10, size=(60, 6))
    y = x + rng.normal(size=(60, 6))
    assert linear_cka(x, y, device=CPU) == pytest.approx(
        reference_minibatch_cka(x, y, None), abs=1e-10
    )
    half = torch.from_numpy(y).to(torch.float16)
    assert linear_cka(x, half, device=CPU) == pytest.approx(
        reference_minibatch_cka(x, half.double().numpy(), None), abs=1e-5
    )


# ------------------------------------------------------------------------------------------
# linear_cka: statistical behaviour


@pytest.mark.parametrize("batch_size", [None, 100])
def test_independent_features_are_near_zero(rng, batch_size):
    x = rng.normal(size=(2000, 32))
    y = rng.normal(size=(2000, 32))
    value = linear_cka(x, y, batch_size=batch_size, device=CPU)
    assert abs(value) < 0.05
    # The biased estimator on the same data is far from 0 (so this test can fail).
    xc, yc = x - x.mean(0), y - y.mean(0)
    biased = np.linalg.norm(xc.T @ yc) ** 2 / (
        np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)
    )
    assert biased > 0.012 and abs(value) < biased


def test_expectation_does_not_depend_on_batch_size(rng):
    w = rng.normal(size=(8, 8))
    estimates: dict[int, list[float]] = {8: [], 128: []}
    for _ in range(40):
        x = rng.normal(size=(128, 8))
        y = np.tanh(x @ w) + 1.5 * rng.normal(size=(128, 8))
        for batch_size, values in estimates.items():
            values.append(linear_cka(x, y, batch_size=batch_size, device=CPU))
    small, large = np.mean(estimates[8]), np.mean(estimates[128])
    x = rng.normal(size=(20000, 8))
    y = np.tanh(x @ w) + 1.5 * rng.normal(size=(20000, 8))
    population = linear_cka(x, y, batch_size=500, device=CPU)
    assert small == pytest.approx(large, abs=0.03)
    assert small == pytest.approx(population, abs=0.03)
    assert large == pytest.approx(population, abs=0.03)


def test_negative_estimates_are_not_clamped():
    rng = np.random.default_rng(0)
    values = [
        linear_cka(rng.normal(size=(20, 3)), rng.normal(size=(20, 3)), device=CPU)
        for _ in range(10)
    ]
    assert min(values) < 0.0


# ------------------------------------------------------------------------------------------
# linear_cka: degenerate and bad input


def test_final_batch_of_three_or_fewer_is_skipped(rng):
    x, y = related(rng, 227)
    assert linear_cka(x, y, batch_size=7, device=CPU) == pytest.approx(
        linear_cka(x[:224], y[:224], batch_size=7, device=CPU), abs=1e-12
    )
    x, y = related(rng, 228)  # last batch of 4 counts
    assert linear_cka(x, y, batch_size=7, device=CPU) != pytest.approx(
        linear_cka(x[:224], y[:224], batch_size=7, device=CPU), abs=1e-9
    )


def test_too_few_samples_warns_and_returns_nan(rng):
    with pytest.warns(RuntimeWarning, match="undefined"):
        assert np.isnan(linear_cka(rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), device=CPU))
    with pytest.warns(RuntimeWarning, match="undefined"):
        value = linear_cka(rng.normal(size=(30, 4)), rng.normal(size=(30, 4)), batch_size=3)
    assert np.isnan(value)


def test_constant_features_warn_and_return_nan(rng):
    with pytest.warns(RuntimeWarning, match="undefined"):
        assert np.isnan(linear_cka(np.ones((50, 4)), rng.normal(size=(50, 3)), device=CPU))


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "argument"),
    [
        (np.zeros((10, 2)), np.zeros((11, 2)), {}, "y"),
        (np.full((10, 2), np.nan), np.zeros((10, 2)), {}, "x"),
        (np.zeros((10, 2)), np.full((10, 2), np.inf), {}, "y"),
        (np.zeros(10), np.zeros((10, 2)), {}, "x"),
        (np.zeros((0, 2)), np.zeros((0, 2)), {}, "x"),
        (np.array([["a", "b"]] * 5), np.zeros((5, 2)), {}, "x"),
        (np.zeros((10, 2), dtype=bool), np.zeros((10, 2)), {}, "x"),
        (np.zeros((10, 2)), np.zeros((10, 2)), {"batch_size": 0}, "batch_size"),
        (np.zeros((10, 2)), np.zeros((10, 2)), {"batch_size": -4}, "batch_size"),
        (np.zeros((10, 2)), np.zeros((10, 2)), {"batch_size": 2.5}, "batch_size"),
        (np.zeros((10, 2)), np.zeros((10, 2)), {"batch_size": True}, "batch_size"),
        (np.zeros((10, 2)), np.zeros((10, 2)), {"device": "tpu"}, "device"),
    ],
)
def test_bad_input_names_the_argument(x, y, kwargs, argument):
    with pytest.raises(ValidationError, match=rf"^{argument}: expected"):
        linear_cka(x, y, **kwargs)


def test_cuda_request_without_cuda_is_rejected():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ValidationError, match=r"^device: .*CUDA is not available"):
        linear_cka(np.zeros((10, 2)), np.zeros((10, 2)), device="cuda:0")


# ------------------------------------------------------------------------------------------
# CKAAccumulator


def make_activations(rng: np.random.Generator, n: int) -> dict[str, dict[str, np.ndarray]]:
    """Three models with unequal layer counts and shapes sharing a latent signal."""
    z = rng.normal(size=(n, 6))

    def layer(*shape: int, noise: float) -> np.ndarray:
        width = int(np.prod(shape))
        out = np.tanh(z @ rng.normal(size=(6, width))) + noise * rng.normal(size=(n, width))
        return out.reshape(n, *shape)

    return {
        "A": {
            "conv": layer(2, 3, 3, noise=0.3),
            "block": layer(10, noise=1.0),
            "fc": layer(4, noise=2),
        },
        "B": {"conv": layer(2, 3, 3, noise=0.5), "fc": layer(5, noise=0.1)},
        "C": {f"l{i}": layer(7, noise=0.5 * i) for i in range(4)},
    }


def run_accumulator(acts, pairs, batch_size, dtype=torch.float64):
    layers = {model: list(per_layer) for model, per_layer in acts.items()}
    acc = CKAAccumulator(layers, pairs, device=CPU)
    n = len(next(iter(acts["A"].values())))
    for start in range(0, n, batch_size):
        acc.update(
            {
                model: {
                    name: torch.from_numpy(a[start : start + batch_size]).to(dtype)
                    for name, a in per_layer.items()
                }
                for model, per_layer in acts.items()
            }
        )
    return acc


def test_accumulator_equals_pairwise_linear_cka(rng):
    acts = make_activations(rng, 100)
    pairs = [("A", "B"), ("A", "C"), ("B", "C"), ("C", "A"), ("A", "A")]
    acc = run_accumulator(acts, pairs, batch_size=16)  # last batch of 4 counts
    results = acc.result()
    assert set(results) == set(pairs)
    assert acc.n_samples == 100
    for (a, b), matrix in results.items():
        assert matrix.model_a == a and matrix.model_b == b
        assert matrix.layers_a == tuple(acts[a]) and matrix.layers_b == tuple(acts[b])
        assert matrix.values.shape == (len(acts[a]), len(acts[b]))
        assert matrix.values.dtype == np.float64
        assert matrix.n_samples == 100
        for i, la in enumerate(acts[a].values()):
            for j, lb in enumerate(acts[b].values()):
                expected = reference_minibatch_cka(la, lb, 16)
                assert matrix.values[i, j] == pytest.approx(expected, abs=1e-10)
                assert matrix.values[i, j] == pytest.approx(
                    linear_cka(la, lb, batch_size=16, device=CPU), abs=1e-12
                )
    np.testing.assert_allclose(results[("C", "A")].values, results[("A", "C")].values.T)
    np.testing.assert_allclose(np.diag(results[("A", "A")].values), 1.0)


def test_accumulator_float32_matches_float64_reference(rng):
    acts = make_activations(rng, 64)
    acc = run_accumulator(acts, [("A", "C")], batch_size=32, dtype=torch.float32)
    values = acc.result()[("A", "C")].values
    for i, la in enumerate(acts["A"].values()):
        for j, lc in enumerate(acts["C"].values()):
            assert values[i, j] == pytest.approx(reference_minibatch_cka(la, lc, 32), abs=1e-5)


def test_accumulator_skips_tiny_batches(rng):
    acts = make_activations(rng, 35)  # batches 16, 16, 3 -> the last is skipped
    acc = run_accumulator(acts, [("A", "B")], batch_size=16)
    assert acc.n_samples == 32
    assert acc.result()[("A", "B")].n_samples == 32
    short = {m: {k: v[:32] for k, v in per.items()} for m, per in acts.items()}
    np.testing.assert_allclose(
        acc.result()[("A", "B")].values,
        run_accumulator(short, [("A", "B")], batch_size=16).result()[("A", "B")].values,
        atol=1e-12,
    )


def test_accumulator_without_usable_batches_warns_nan(rng):
    acts = make_activations(rng, 3)
    acc = run_accumulator(acts, [("A", "B")], batch_size=3)
    with pytest.warns(RuntimeWarning, match="undefined for 6 layer pair"):
        values = acc.result()[("A", "B")].values
    assert np.isnan(values).all()


def test_accumulator_ignores_extra_models_and_layers(rng):
    acts = make_activations(rng, 40)
    acc = CKAAccumulator({"A": ["fc"], "B": ["fc"], "C": ["l0"]}, [("A", "B")], device=CPU)
    acc.update({m: {k: torch.from_numpy(v) for k, v in per.items()} for m, per in acts.items()})
    value = acc.result()[("A", "B")].values[0, 0]
    assert value == pytest.approx(reference_minibatch_cka(acts["A"]["fc"], acts["B"]["fc"], None))


def test_accumulator_detaches_tensors_requiring_grad(rng):
    x = torch.randn(20, 5, requires_grad=True)
    acc = CKAAccumulator({"A": ["h"], "B": ["h"]}, [("A", "B")], device=CPU)
    acc.update({"A": {"h": x}, "B": {"h": x * 2}})
    assert acc.result()[("A", "B")].values[0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("layers", "pairs", "argument"),
    [
        ({}, [("A", "A")], "layers"),
        ({"A": []}, [("A", "A")], r"layers\['A'\]"),
        ({"A": "conv"}, [("A", "A")], r"layers\['A'\]"),
        ({"A": ["x", "x"]}, [("A", "A")], r"layers\['A'\]"),
        ({"A": ["x"]}, [("A", "Z")], "pairs"),
        ({"A": ["x"]}, [], "pairs"),
        ({"A": ["x"]}, [("A",)], "pairs"),
        ({"A": ["x"]}, [(["A"], "A")], "pairs"),
        ({"A": ["x"]}, ["AA"], "pairs"),
    ],
)
def test_accumulator_rejects_bad_configuration(layers, pairs, argument):
    with pytest.raises(ValidationError, match=rf"^{argument}: expected"):
        CKAAccumulator(layers, pairs, device=CPU)


def test_accumulator_rejects_bad_batches():
    acc = CKAAccumulator({"A": ["h", "o"], "B": ["h"]}, [("A", "B")], device=CPU)
    good = torch.zeros(8, 3)
    cases = [
        ({"A": {"h": good, "o": good}}, r"activations\['B'\]"),
        ({"A": {"h": good}, "B": {"h": good}}, r"activations\['A'\]\['o'\]"),
        ({"A": {"h": good, "o": torch.zeros(9, 3)}, "B": {"h": good}}, r"\['A'\]\['o'\].*9 samp"),
        ({"A": {"h": good, "o": good}, "B": {"h": torch.zeros(8)}}, r"\['B'\]\['h'\].*shape"),
        ({"A": {"h": good, "o": good}, "B": {"h": good.numpy()}}, r"\['B'\]\['h'\].*Tensor"),
        (
            {"A": {"h": good, "o": torch.full((8, 3), float("nan"))}, "B": {"h": good}},
            r"\['A'\]\['o'\].*finite",
        ),
        ({"A": {"h": good, "o": good}, "B": {"h": good.bool()}}, r"\['B'\]\['h'\].*bool"),
        ([good], "activations"),
    ]
    for batch, pattern in cases:
        with pytest.raises(ValidationError, match=pattern):
            acc.update(batch)
    assert acc.n_samples == 0


@pytest.mark.parametrize("batch", [3, 16])
@pytest.mark.parametrize("bad_value", [float("nan"), float("inf"), -float("inf"), 1e30])
def test_accumulator_rejects_non_finite_activations_without_accumulating(rng, batch, bad_value):
    acts = make_activations(rng, 40)
    layers = {model: list(per_layer) for model, per_layer in acts.items()}
    acc = CKAAccumulator(layers, [("A", "B"), ("B", "C")], device=CPU)
    clean = {
        m: {k: torch.from_numpy(v[:batch]).float() for k, v in p.items()} for m, p in acts.items()
    }
    acc.update(clean)
    before = {pair: m.values.copy() for pair, m in acc.result().items()} if batch > 3 else None
    dirty = {m: dict(p) for m, p in clean.items()}
    dirty["C"]["l2"] = dirty["C"]["l2"].clone()
    dirty["C"]["l2"][1, 3] = bad_value
    if bad_value == 1e30 and batch <= 3:
        acc.update(dirty)  # finite input in a skipped batch: nothing to overflow
        return
    with pytest.raises(ValidationError, match=r"^activations\['C'\]\['l2'\]: expected finite"):
        acc.update(dirty)
    assert acc.n_samples == (batch if batch > 3 else 0)
    if before is not None:
        for pair, matrix in acc.result().items():
            np.testing.assert_array_equal(matrix.values, before[pair])


def test_cka_matrix_diagonal_and_immutability():
    square = CKAMatrix("A", "B", ("a", "b"), ("a", "b"), np.array([[1.0, 0.2], [0.3, 0.9]]), 10)
    np.testing.assert_array_equal(square.diagonal(), [1.0, 0.9])
    with pytest.raises(ValueError):
        square.values[0, 0] = 5.0
    wide = CKAMatrix("A", "C", ("a",), ("a", "b"), np.array([[1.0, 0.2]]), 10)
    with pytest.raises(ValidationError, match=r"^CKAMatrix.diagonal: expected as many layers"):
        wide.diagonal()


# ------------------------------------------------------------------------------------------
# The Gram path (shift, symmetric half-block products, float64 centring) vs float64 references

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "digits"


def relu_like(rng: np.random.Generator, z: np.ndarray, width: int, top_mean: float) -> np.ndarray:
    """Rectified features of a shared latent z with column means up to ``top_mean`` (float32)."""
    means = rng.uniform(0.0, top_mean, size=width)
    pre = means + z @ rng.normal(size=(z.shape[1], width)) + rng.normal(size=(len(z), width))
    return np.maximum(pre, 0.0).astype(np.float32)


def batches_of(a: np.ndarray, batch_size: int) -> list[np.ndarray]:
    return [a[s : s + batch_size] for s in range(0, len(a), batch_size)]


# 64, 100: symmetric half-block products; 65: odd, one full product; 16: below the threshold.
@pytest.mark.parametrize("batch_size", [64, 100, 65, 16])
@pytest.mark.parametrize("sliced", [False, True])
def test_gram_path_equals_float64_on_large_mean_relu_features(rng, monkeypatch, batch_size, sliced):
    if sliced:  # force several column slices per layer through the shared scratch buffer
        monkeypatch.setattr(cka_module, "_SCRATCH_BYTES", 1)
        monkeypatch.setattr(cka_module, "_MIN_CHUNK", 700)
    n = 2 * batch_size + 37
    z = rng.normal(size=(n, 6))
    acts = {
        "A": {"wide": relu_like(rng, z, 3000, 300.0), "mid": relu_like(rng, z, 257, 200.0)},
        "B": {"wide": relu_like(rng, z, 2048, 400.0), "dense": relu_like(rng, z, 9, 5.0)},
    }
    layers = {m: list(per) for m, per in acts.items()}
    acc = CKAAccumulator(layers, [("A", "B"), ("A", "A")], device=CPU)
    for start in range(0, n, batch_size):
        acc.update(
            {
                m: {k: torch.from_numpy(v[start : start + batch_size]) for k, v in per.items()}
                for m, per in acts.items()
            }
        )
    results = acc.result()
    for a, b in results:
        for i, la in enumerate(acts[a].values()):
            for j, lb in enumerate(acts[b].values()):
                expected = reference_centred_cka(
                    batches_of(la, batch_size), batches_of(lb, batch_size)
                )
                assert results[(a, b)].values[i, j] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("batch", [4, 16, 64, 65, 200])
def test_centred_grams_equal_float64_centred_grams_for_every_dtype(rng, batch):
    base = 40.0 + rng.normal(size=(batch, 300))
    layers = [
        torch.from_numpy(base).float(),
        torch.from_numpy(base[:, :77]),  # float64: the stack is formed in float64
        torch.from_numpy(base[:, :50]).half(),
        torch.from_numpy(np.round(base[:, :20]).astype(np.int64)),
    ]
    grams, diagonals = cka_module._centred_grams(layers)
    assert grams.dtype == torch.float64 and grams.shape == (4, batch, batch)
    for tensor, gram, diagonal in zip(layers, grams, diagonals, strict=True):
        x = tensor.double().numpy()
        x = x - x.mean(0)
        expected = x @ x.T
        scale = np.abs(expected).max()
        tolerance = 1e-10 if tensor.dtype == torch.float64 else 1e-6
        np.testing.assert_allclose(diagonal.numpy(), np.diag(expected), atol=tolerance * scale)
        np.fill_diagonal(expected, 0.0)
        np.testing.assert_allclose(gram.numpy(), expected, atol=tolerance * scale)


def test_update_leaves_the_callers_tensors_unchanged(rng):
    x = torch.from_numpy(relu_like(rng, rng.normal(size=(128, 3)), 900, 50.0))
    y = x[:, :300] * 2.0 + 1.0
    x_before, y_before = x.clone(), y.clone()
    acc = CKAAccumulator({"A": ["h"], "B": ["h"]}, [("A", "B")], device=CPU)
    acc.update({"A": {"h": x}, "B": {"h": y}})
    torch.testing.assert_close(x, x_before, rtol=0, atol=0)
    torch.testing.assert_close(y, y_before, rtol=0, atol=0)


def test_accumulator_works_inside_and_outside_inference_mode(rng):
    x, y = related(rng, 200)
    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y).float()
    batches = [{"A": {"h": xt[s : s + 64]}, "B": {"h": yt[s : s + 64]}} for s in range(0, 200, 64)]
    expected = reference_minibatch_cka(x, y, 64)

    def run(create_inside: bool, inside: list[bool]) -> float:
        layers, pairs = {"A": ["h"], "B": ["h"]}, [("A", "B")]
        if create_inside:
            with torch.inference_mode():
                acc = CKAAccumulator(layers, pairs, device=CPU)
        else:
            acc = CKAAccumulator(layers, pairs, device=CPU)
        for batch, in_mode in zip(batches, inside, strict=True):
            with torch.inference_mode(in_mode):
                acc.update(batch)
        return float(acc.result()[("A", "B")].values[0, 0])

    for create_inside in (True, False):
        for inside in ([True, False, True, False], [False, True, False, True]):
            assert run(create_inside, inside) == pytest.approx(expected, abs=1e-6)


def test_sample_models_match_float64_reference():
    exp = analysis.load_experiment(SAMPLE)
    models = {name: exp.load_model(name, device=CPU) for name in ("original", "ga")}
    layers = {name: discover_layers(model) for name, model in models.items()}
    acc = CKAAccumulator(layers, [("original", "ga"), ("ga", "ga")], device=CPU)
    seen: dict[str, dict[str, list[np.ndarray]]] = {
        m: {k: [] for k in ls} for m, ls in layers.items()
    }

    def feed(_group: str, acts) -> None:  # type: ignore[no-untyped-def]
        acc.update(acts)
        for model, per_layer in acts.items():
            for layer, tensor in per_layer.items():
                seen[model][layer].append(tensor.double().numpy().copy())

    rows = np.arange(0, len(exp.dataset("train")), 2)[:700]
    forward_pass(
        models,
        exp.dataset("train"),
        batch_size=128,
        device=CPU,
        activation_groups={"cka": rows},
        layers=layers,
        on_activations=feed,
    )
    assert acc.n_samples == 700 and len(seen["ga"][layers["ga"][0]]) == 6
    for (a, b), matrix in acc.result().items():
        for i, la in enumerate(layers[a]):
            for j, lb in enumerate(layers[b]):
                expected = reference_centred_cka(seen[a][la], seen[b][lb])
                assert matrix.values[i, j] == pytest.approx(expected, abs=1e-6)
    assert np.diag(acc.result()[("ga", "ga")].values) == pytest.approx(1.0, abs=1e-9)


# ------------------------------------------------------------------------------------------
# rbf_cka


def test_rbf_matches_reference(rng):
    x, y = related(rng, 120)
    for sigma_frac in (0.5, 0.8, 2.0):
        expected = reference_rbf_cka(x, y, sigma_frac)
        assert 0.05 < expected < 0.95
        assert rbf_cka(x, y, sigma_frac=sigma_frac, device=CPU) == pytest.approx(
            expected, abs=1e-10
        )


def test_rbf_invariances(rng):
    x, y = related(rng, 100)
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    base = rbf_cka(x, y, device=CPU)
    assert rbf_cka(x, x, device=CPU) == pytest.approx(1.0, abs=1e-12)
    assert rbf_cka(3.0 * x @ q + 5.0, y, device=CPU) == pytest.approx(base, abs=1e-10)
    a = rng.normal(size=(12, 12)) @ np.diag(np.geomspace(1.0, 100.0, 12))
    assert abs(rbf_cka(x @ a, y, device=CPU) - base) > 0.02


def test_rbf_degenerate_warns_nan(rng):
    same = np.zeros((10, 3))
    with pytest.warns(RuntimeWarning, match="undefined"):
        assert np.isnan(rbf_cka(same, rng.normal(size=(10, 3)), device=CPU))
    with pytest.warns(RuntimeWarning, match="undefined"):
        assert np.isnan(rbf_cka(np.ones((1, 3)), np.ones((1, 3)), device=CPU))


@pytest.mark.parametrize(
    ("n", "kwargs", "argument"),
    [
        (5001, {}, "x"),
        (10, {"sigma_frac": 0.0}, "sigma_frac"),
        (10, {"sigma_frac": float("nan")}, "sigma_frac"),
        (10, {"sigma_frac": "0.8"}, "sigma_frac"),
    ],
)
def test_rbf_bad_input(n, kwargs, argument):
    with pytest.raises(ValidationError, match=rf"^{argument}: expected"):
        rbf_cka(np.zeros((n, 2)), np.zeros((n, 2)), **kwargs)


def test_no_warnings_on_regular_input(rng):
    x, y = related(rng, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        linear_cka(x, y, batch_size=16, device=CPU)
        rbf_cka(x, y, device=CPU)
