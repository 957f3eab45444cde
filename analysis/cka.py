"""Layer similarity: unbiased minibatch linear CKA (every layer pair in one pass) and RBF CKA.

Linear CKA uses the unbiased HSIC estimator of Song et al. (2012) accumulated over minibatches
(Nguyen, Raghu & Kornblith 2021). For a batch of n > 3 samples with linear Gram matrices K, L whose
diagonals are zeroed::

    HSIC_1(K, L) = [tr(KL) + (1ᵀK1)(1ᵀL1) / ((n-1)(n-2)) - 2/(n-2) · 1ᵀKL1] / (n(n-3))

HSIC_1(K, L), HSIC_1(K, K) and HSIC_1(L, L) are summed over batches in float64 and
``CKA = ΣHSIC(K, L) / sqrt(ΣHSIC(K, K) · ΣHSIC(L, L))``. The expectation does not depend on the
batch size, so the estimate streams over any dataset size. It is not clamped: a negative value is
a legitimate estimate.

Numerics (measured, see the tests and bench/cka.py): HSIC_1 is a U-statistic that is exactly
invariant to shifting the features by a constant vector, but numerically a Gram matrix of
features with a large mean is a small difference of huge numbers (an error of 0.15 in CKA even in
float64 for features with mean 100 and spread 0.1; forming float32 Gram matrices of uncentred
ResNet-18 activations and centring them afterwards still leaves errors of ~2e-6). So before the
product each layer's features are shifted by the mean of their first 8 rows (in float32; float64
input stays float64) into a reused scratch buffer: one read of the activations, nothing
allocated, and the shifted features are within ~σ/√8 of centred. The product then forms only 3
of the 4 (b/2)×(b/2) blocks of the symmetric Gram matrix, which pays for the shift: the whole
step costs about one plain float32 X Xᵀ. The exact batch-mean centring is applied on the b×b
side in float64 (H K H, the Gram matrix of the batch-mean-centred features), and everything
after the Gram matrix (traces, sums, accumulation) is float64. Error vs a float64 reference:
~2e-8 on 256 × 65,536 ResNet-18 activations, ~2e-11 for float32 features with mean 100.

Example:
    >>> import numpy as np
    >>> from analysis.cka import linear_cka
    >>> x = np.random.default_rng(0).normal(size=(200, 16))
    >>> round(linear_cka(x, 3.0 * x), 6)
    1.0
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from analysis.device import resolve_device
from analysis.errors import ValidationError, describe

__all__ = ["CKAAccumulator", "CKAMatrix", "linear_cka", "rbf_cka"]

_MIN_BATCH = 4  # HSIC_1 needs n > 3 samples per batch
_RBF_MAX_SAMPLES = 5000
# Scratch memory for the shifted features of one layer (per thread, dtype and device, reused):
# a batch of 256 CIFAR ResNet-18 activations (64 × 32 × 32 floats each) fits whole, so a layer
# costs one subtraction and three products; wider batches go in column slices of at least
# _MIN_CHUNK. Few large operations also keep 2 threads from waiting on each other.
_SCRATCH_BYTES = 64 * 2**20
_MIN_CHUNK = 1024
# Rows whose mean is the shift (any shift leaves HSIC_1 unchanged; this one is close enough to
# the batch mean that the float32 product loses no accuracy, and costs 8/b of one read).
_SHIFT_ROWS = 8
# From this (even) batch size on, a Gram matrix is formed from 3 of its 4 (b/2)² blocks.
_SYMMETRIC_MIN_BATCH = 64


# --------------------------------------------------------------------------------------------
# Result type


@dataclass(frozen=True)
class CKAMatrix:
    """Linear CKA between every layer of ``model_a`` and every layer of ``model_b``.

    Attributes:
        model_a: Name of the first model (rows).
        model_b: Name of the second model (columns).
        layers_a: Layer names of ``model_a``, in row order.
        layers_b: Layer names of ``model_b``, in column order.
        values: float64 array of shape ``(len(layers_a), len(layers_b))``;
            ``values[i, j]`` = CKA(layer i of a, layer j of b). NaN where undefined.
        n_samples: Samples that contributed (batches of at most 3 samples are skipped).

    Example:
        >>> m = CKAMatrix("A", "B", ("l1",), ("l1",), np.array([[0.9]]), 100)
        >>> m.diagonal()
        array([0.9])
    """

    model_a: str
    model_b: str
    layers_a: tuple[str, ...]
    layers_b: tuple[str, ...]
    values: np.ndarray
    n_samples: int

    def __post_init__(self) -> None:
        self.values.setflags(write=False)

    def diagonal(self) -> np.ndarray:
        """Return CKA(layer i of a, layer i of b) for every i (the usual per-layer curve).

        Raises:
            ValidationError: The two models have different numbers of layers.

        Example:
            >>> m = CKAMatrix("A", "B", ("l1", "l2"), ("l1", "l2"), np.eye(2), 10)
            >>> m.diagonal()
            array([1., 1.])
        """
        rows, cols = self.values.shape
        if rows != cols:
            raise ValidationError(
                describe(
                    "CKAMatrix.diagonal",
                    "as many layers in model_a as in model_b",
                    f"{rows} layers in {self.model_a!r} and {cols} in {self.model_b!r}",
                    raw=True,
                )
            )
        return np.diagonal(self.values).copy()


# --------------------------------------------------------------------------------------------
# HSIC core (the only implementation; linear_cka and CKAAccumulator both use it)


@dataclass(frozen=True)
class _GramStats:
    """Per-batch statistics of one model's stacked zero-diagonal Gram matrices (float64)."""

    flat: torch.Tensor  # (L, b*b) Gram matrices, diagonal zeroed, flattened
    row_sums: torch.Tensor  # (L, b) K·1
    totals: torch.Tensor  # (L,) 1ᵀK1
    n: int


def _gram_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every other dtype forms its Gram matrix in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


_scratch = threading.local()


def _shift_buffer(rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
    """A reusable (rows, cols) scratch tensor in ``like``'s Gram dtype and device.

    One buffer per thread, dtype and device, kept between calls (at most
    ``_SCRATCH_BYTES`` each): forming a Gram matrix allocates nothing per batch and layer.
    """
    dtype = _gram_dtype(like.dtype)
    buffers: dict[tuple[torch.dtype, torch.device], torch.Tensor]
    buffers = _scratch.__dict__.setdefault("buffers", {})
    buffer = buffers.get((dtype, like.device))
    if buffer is None or buffer.numel() < rows * cols:
        with torch.inference_mode(False):  # usable both inside and outside inference mode
            buffer = torch.empty(rows * cols, dtype=dtype, device=like.device)
        buffers[(dtype, like.device)] = buffer
    return buffer[: rows * cols].view(rows, cols)


def _add_products(part: torch.Tensor, gram: torch.Tensor) -> None:
    """Add ``part @ part.T`` to ``gram`` (b×b); for an even b >= 64, the upper blocks only.

    Splitting the rows into halves X1, X2, the two diagonal blocks X1 X1ᵀ, X2 X2ᵀ are one
    batched product and the top-right block X1 X2ᵀ another; the bottom-left block, its
    transpose, is mirrored later. That is 3/4 of the multiply-adds of one b×b product, and on
    2 CPU threads the batched product runs one block per thread. (Three separate half-size
    products measured slower than the full one on 2 threads.)
    """
    b = part.shape[0]
    if part.dtype != gram.dtype:
        gram += part @ part.T
        return
    if b < _SYMMETRIC_MIN_BATCH or b % 2:
        gram.addmm_(part, part.T)
        return
    h = b // 2
    halves = part.view(2, h, -1)
    diagonal = gram.as_strided((2, h, h), (h * b + h, b, 1), gram.storage_offset())
    diagonal += torch.bmm(halves, halves.transpose(1, 2))
    gram[:h, h:].addmm_(part[:h], part[h:].T)


def _add_shifted_gram(flat: torch.Tensor, gram: torch.Tensor) -> None:
    """Add the Gram products of ``flat`` (b, d), shifted close to its batch mean, to ``gram``.

    The shift is the mean of the first ``_SHIFT_ROWS`` rows (their sum, scaled inside the
    subtraction: one operation fewer per layer). Shifted features go to a scratch
    buffer (whole layers up to ``_SCRATCH_BYTES``, column slices beyond); the caller's tensor is
    never modified.
    """
    b, d = flat.shape
    rows = min(b, _SHIFT_ROWS)
    shift = flat[:rows].sum(dim=0, dtype=_gram_dtype(flat.dtype))  # divided by rows below
    chunk = min(d, max(_MIN_CHUNK, _SCRATCH_BYTES // (b * shift.element_size())))
    buffer = _shift_buffer(b, chunk, shift)
    for start in range(0, d, chunk):
        stop = min(start + chunk, d)
        part = buffer[:, : stop - start]
        torch.sub(flat[:, start:stop], shift[start:stop], alpha=1.0 / rows, out=part)
        _add_products(part, gram)


def _centred_grams(layers: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-diagonal linear Gram matrices of every layer after batch-mean centring: (L, b, b).

    Also returns the diagonals that were zeroed, (L, b).

    Each layer's features are shifted by a vector close to their batch mean and multiplied in
    float32 (float64 if any layer is float64); every layer's Gram matrix lands in one stack, and
    the rest is done on the whole stack in float64: mirroring the skipped block, the exact
    batch-mean centring H K H (H = I - 11ᵀ/b; the Gram matrix of the batch-mean-centred
    features) and zeroing the diagonals. So the float32 products only ever see nearly centred
    features, and the per-layer work is one subtraction and the products.
    """
    flats = [x.reshape(x.shape[0], -1) for x in layers]
    b = flats[0].shape[0]
    wide = any(_gram_dtype(f.dtype) == torch.float64 for f in flats)
    dtype = torch.float64 if wide else torch.float32
    grams = torch.zeros(len(flats), b, b, dtype=dtype, device=flats[0].device)
    for flat, gram in zip(flats, grams, strict=True):
        _add_shifted_gram(flat, gram)
    grams = grams.to(torch.float64)
    h = b // 2
    grams[:, h:, :h] = grams[:, :h, h:].transpose(1, 2)  # full products: already symmetric
    grams -= grams.mean(dim=1, keepdim=True)
    grams -= grams.mean(dim=2, keepdim=True)
    diagonals = grams.diagonal(dim1=1, dim2=2)
    removed = diagonals.clone()
    diagonals.zero_()
    return grams, removed


def _gram_stats(layers: Sequence[torch.Tensor]) -> _GramStats:
    """Form each layer's Gram matrix once and keep what every HSIC term needs.

    The rows of a double-centred Gram matrix sum to 0, so once its diagonal is zeroed each row
    sums to minus the removed diagonal entry: K·1 and 1ᵀK1 come without a pass over K.
    """
    grams, diagonals = _centred_grams(layers)
    row_sums = -diagonals
    return _GramStats(
        flat=grams.reshape(grams.shape[0], -1),
        row_sums=row_sums,
        totals=row_sums.sum(dim=1),
        n=int(grams.shape[1]),
    )


def _unbiased_hsic(
    trace: torch.Tensor,
    total_k: torch.Tensor,
    total_l: torch.Tensor,
    row_dot: torch.Tensor,
    n: int,
) -> torch.Tensor:
    """HSIC_1 from tr(KL), 1ᵀK1, 1ᵀL1 and 1ᵀKL1 (broadcasting over layer pairs)."""
    numerator = trace + total_k * total_l / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * row_dot
    return numerator / (n * (n - 3))


def _hsic_cross(a: _GramStats, b: _GramStats) -> torch.Tensor:
    """HSIC_1 of every layer of ``a`` against every layer of ``b``: shape (La, Lb).

    tr(K_i L_j) = Σ K_i ∘ L_j (Gram matrices are symmetric), i.e. einsum('aij,bij->ab'), done as
    one matrix product of the flattened Gram matrices; 1ᵀK L1 = (K1)·(L1).
    """
    return _unbiased_hsic(
        a.flat @ b.flat.T,
        a.totals[:, None],
        b.totals[None, :],
        a.row_sums @ b.row_sums.T,
        a.n,
    )


def _hsic_self(a: _GramStats) -> torch.Tensor:
    """HSIC_1(K_i, K_i) for every layer i: the diagonal of ``_hsic_cross(a, a)``, shape (L,)."""
    return _unbiased_hsic(
        torch.einsum("ai,ai->a", a.flat, a.flat),  # no (L, b*b) temporary
        a.totals,
        a.totals,
        torch.einsum("ai,ai->a", a.row_sums, a.row_sums),
        a.n,
    )


def _cka_values(cross: torch.Tensor, self_a: torch.Tensor, self_b: torch.Tensor) -> np.ndarray:
    """Normalise summed cross HSIC by the self terms; NaN where the denominator is not > 0."""
    denominator = self_a[:, None] * self_b[None, :]
    defined = torch.isfinite(denominator) & (denominator > 0)
    safe = torch.where(defined, denominator, torch.ones_like(denominator))
    values = torch.where(defined, cross / safe.sqrt(), torch.full_like(cross, math.nan))
    return np.asarray(values.cpu().numpy(), dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Streaming accumulator


def _validate_layers(layers: object) -> dict[str, tuple[str, ...]]:
    """Check ``layers`` is a non-empty mapping model -> non-empty sequence of unique names."""
    if not isinstance(layers, Mapping) or not layers:
        raise ValidationError(
            describe("layers", "a non-empty mapping model name -> layer names", layers)
        )
    parsed: dict[str, tuple[str, ...]] = {}
    for model, names in layers.items():
        ok = isinstance(names, Sequence) and not isinstance(names, str) and len(names) > 0
        if not isinstance(model, str) or not ok or not all(isinstance(n, str) for n in names):
            raise ValidationError(
                describe(f"layers[{model!r}]", "a non-empty sequence of layer names", names)
            )
        if len(set(names)) != len(names):
            raise ValidationError(describe(f"layers[{model!r}]", "unique layer names", names))
        parsed[model] = tuple(names)
    return parsed


def _validate_pairs(pairs: object, models: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    """Check ``pairs`` is a non-empty sequence of (model, model) naming models in ``layers``."""
    if not isinstance(pairs, Sequence) or isinstance(pairs, str) or not pairs:
        raise ValidationError(
            describe("pairs", "a non-empty sequence of (model_a, model_b)", pairs)
        )
    parsed: list[tuple[str, str]] = []
    for pair in pairs:
        ok = isinstance(pair, Sequence) and not isinstance(pair, str) and len(pair) == 2
        if not ok or not all(isinstance(m, str) and m in models for m in pair):
            raise ValidationError(
                describe("pairs", f"(model_a, model_b) pairs of models in {list(models)}", pair)
            )
        key = (str(pair[0]), str(pair[1]))
        if key not in parsed:
            parsed.append(key)
    return tuple(parsed)


def _validate_activation(value: object, where: str, batch: int | None) -> torch.Tensor:
    """Check one activation tensor: real-valued and (batch, ...) shaped (finiteness: later)."""
    if not isinstance(value, torch.Tensor):
        raise ValidationError(describe(where, "a real-valued torch.Tensor", type(value).__name__))
    if value.is_complex() or value.dtype == torch.bool:
        raise ValidationError(describe(where, "a real-valued torch.Tensor", value.dtype, raw=True))
    if value.ndim < 2 or value.shape[0] == 0:
        raise ValidationError(
            describe(where, "shape (batch, features, ...)", tuple(value.shape), raw=True)
        )
    if batch is not None and value.shape[0] != batch:
        raise ValidationError(
            describe(
                where,
                f"{batch} samples (same batch for every model and layer)",
                f"{value.shape[0]} samples",
                raw=True,
            )
        )
    return value


def _non_finite_error(where: str) -> ValidationError:
    received = "NaN or infinite values (or values so large that the Gram matrix overflows)"
    return ValidationError(describe(where, "finite values", received, raw=True))


class CKAAccumulator:
    """Stream unbiased linear CKA for several models and all their layer pairs at once.

    The caller runs every model over the same batches in lockstep and passes each batch's
    activations to :meth:`update`. Per batch each (model, layer) Gram matrix is formed once; the
    HSIC sums of every requested model pair and every layer pair are accumulated in float64, so
    whole-dataset activations are never held. Batches of at most 3 samples are skipped.

    Args:
        layers: Model name -> its layer names (models may differ in layer count/architecture).
        pairs: (model_a, model_b) pairs to compare; each yields an La × Lb matrix. A model may be
            paired with itself. Duplicate pairs are computed once.
        device: Where Gram matrices and sums live (``"auto"``: CUDA if available, else CPU).

    Raises:
        ValidationError: Malformed ``layers`` / ``pairs`` or an unknown ``device``.

    Example:
        >>> gen = torch.Generator().manual_seed(0)
        >>> acc = CKAAccumulator({"A": ["h"], "B": ["h", "o"]}, [("A", "B")], device="cpu")
        >>> for _ in range(3):
        ...     x = torch.randn(32, 8, generator=gen)
        ...     acc.update({"A": {"h": x}, "B": {"h": 2 * x, "o": torch.randn(32, 4)}})
        >>> m = acc.result()[("A", "B")]
        >>> m.values.shape, round(float(m.values[0, 0]), 6), m.n_samples
        ((1, 2), 1.0, 96)
    """

    def __init__(
        self,
        layers: Mapping[str, Sequence[str]],
        pairs: Sequence[tuple[str, str]],
        *,
        device: str | torch.device = "auto",
    ) -> None:
        self._layers = _validate_layers(layers)
        self._pairs = _validate_pairs(pairs, self._layers)
        self._device = resolve_device(device)
        used = {model for pair in self._pairs for model in pair}
        self._models = tuple(m for m in self._layers if m in used)
        with torch.inference_mode(False):  # sums usable inside and outside inference mode
            self._self = {m: self._zeros(len(self._layers[m])) for m in self._models}
            self._cross = {
                (a, b): self._zeros(len(self._layers[a]), len(self._layers[b]))
                for a, b in self._pairs
            }
        self._n_samples = 0

    def _zeros(self, *shape: int) -> torch.Tensor:
        return torch.zeros(*shape, dtype=torch.float64, device=self._device)

    @property
    def n_samples(self) -> int:
        """Samples accumulated so far (skipped batches of at most 3 samples excluded)."""
        return self._n_samples

    def _collect(self, activations: object) -> tuple[dict[str, list[torch.Tensor]], int]:
        """Validate a batch and return model -> tensors in layer order, and the batch size."""
        if not isinstance(activations, Mapping):
            raise ValidationError(
                describe("activations", "a mapping model -> layer -> tensor", activations)
            )
        batch: int | None = None
        collected: dict[str, list[torch.Tensor]] = {}
        for model in self._models:
            per_layer = activations.get(model)
            if not isinstance(per_layer, Mapping):
                raise ValidationError(
                    describe(f"activations[{model!r}]", "a mapping layer -> tensor", per_layer)
                )
            tensors = []
            for layer in self._layers[model]:
                where = f"activations[{model!r}][{layer!r}]"
                if layer not in per_layer:
                    raise ValidationError(describe(where, "a tensor", "nothing", raw=True))
                tensor = _validate_activation(per_layer[layer], where, batch)
                batch = int(tensor.shape[0])
                tensors.append(tensor)
            collected[model] = tensors
        assert batch is not None  # every model has at least one layer
        return collected, batch

    def _check_finite_inputs(self, collected: Mapping[str, Sequence[torch.Tensor]]) -> None:
        """Elementwise finiteness check (used for skipped batches, which form no Gram matrix)."""
        for model, tensors in collected.items():
            for layer, tensor in zip(self._layers[model], tensors, strict=True):
                if not bool(torch.isfinite(tensor).all()):
                    raise _non_finite_error(f"activations[{model!r}][{layer!r}]")

    def _check_finite_grams(self, stats: Mapping[str, _GramStats]) -> None:
        """Reject a batch whose Gram matrices are not finite, before anything is accumulated.

        After batch-mean centring one NaN/inf activation makes every off-diagonal entry of its
        Gram matrix NaN/inf, so checking each Gram total (L numbers) replaces an elementwise
        pass over the activations (which cost ~2/3 of a 128 × 4096 Gram product). It also
        catches activations too large for a float32 Gram matrix. One device sync per batch;
        the offending layer is looked up only when something is not finite.
        """
        totals = torch.cat([model_stats.totals for model_stats in stats.values()])
        if bool(torch.isfinite(totals).all()):
            return
        for model, model_stats in stats.items():
            bad = ~torch.isfinite(model_stats.totals)
            if bool(bad.any()):
                layer = self._layers[model][int(bad.nonzero()[0, 0])]
                raise _non_finite_error(f"activations[{model!r}][{layer!r}]")

    def update(self, activations: Mapping[str, Mapping[str, torch.Tensor]]) -> None:
        """Add one batch: ``activations[model][layer]`` is a (b, ...) tensor, same b samples.

        Models or layers not named in the constructor are ignored. A batch of at most 3
        samples is validated, then skipped (HSIC_1 needs n > 3).

        Raises:
            ValidationError: A model or layer is missing, a tensor is not real-valued, is not
                at least 2-D, has a different batch size, or holds NaN/inf.
        """
        collected, batch = self._collect(activations)
        if batch < _MIN_BATCH:
            self._check_finite_inputs(collected)
            return
        with torch.no_grad():
            stats = {
                model: _gram_stats([t.detach().to(self._device) for t in tensors])
                for model, tensors in collected.items()
            }
            self._check_finite_grams(stats)
            for model, model_stats in stats.items():
                self._self[model] += _hsic_self(model_stats)
            for a, b in self._pairs:
                self._cross[(a, b)] += _hsic_cross(stats[a], stats[b])
        self._n_samples += batch

    def _matrices(self) -> tuple[dict[tuple[str, str], CKAMatrix], int]:
        """The CKA matrix of every pair, and how many entries are undefined (NaN)."""
        results: dict[tuple[str, str], CKAMatrix] = {}
        undefined = 0
        for a, b in self._pairs:
            values = _cka_values(self._cross[(a, b)], self._self[a], self._self[b])
            undefined += int(np.isnan(values).sum())
            results[(a, b)] = CKAMatrix(
                a, b, self._layers[a], self._layers[b], values, self._n_samples
            )
        return results, undefined

    def result(self) -> dict[tuple[str, str], CKAMatrix]:
        """Return the CKA matrix of every requested pair from the sums so far.

        Undefined entries (a layer with zero or negative accumulated self-HSIC, e.g. constant
        features, or no batch with more than 3 samples yet) are NaN, with one warning.
        """
        results, undefined = self._matrices()
        if undefined:
            warnings.warn(
                f"CKA is undefined for {undefined} layer pair(s) (zero self-similarity: constant "
                f"features, or no batch with more than {_MIN_BATCH - 1} samples; "
                f"{self._n_samples} samples accumulated); returning NaN there",
                RuntimeWarning,
                stacklevel=2,
            )
        return results


# --------------------------------------------------------------------------------------------
# One-shot functions


def _as_tensor(value: object, name: str) -> torch.Tensor:
    """Convert a numpy array / tensor / nested list to a real tensor of shape (n, features...)."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
    else:
        array = np.asarray(value)
        if array.dtype.kind not in "fiu":
            raise ValidationError(
                describe(name, "a real numeric array", f"dtype {array.dtype}", raw=True)
            )
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise ValidationError(
            describe(name, "a real numeric array", f"dtype {tensor.dtype}", raw=True)
        )
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float64)
    if tensor.ndim < 2 or tensor.shape[0] == 0:
        raise ValidationError(
            describe(
                name,
                "shape (n_samples, features, ...) with n_samples > 0",
                tuple(tensor.shape),
                raw=True,
            )
        )
    if not bool(torch.isfinite(tensor).all()):
        raise ValidationError(describe(name, "finite values", "NaN or infinite values", raw=True))
    return tensor


def _validate_pair(x: object, y: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Both inputs as tensors with the same number of samples."""
    xt, yt = _as_tensor(x, "x"), _as_tensor(y, "y")
    if xt.shape[0] != yt.shape[0]:
        raise ValidationError(
            describe(
                "y", f"{xt.shape[0]} samples (as many as x)", f"{yt.shape[0]} samples", raw=True
            )
        )
    return xt, yt


def _validate_batch_size(batch_size: object) -> None:
    ok = batch_size is None or (
        isinstance(batch_size, int | np.integer)
        and not isinstance(batch_size, bool)
        and batch_size > 0
    )
    if not ok:
        raise ValidationError(describe("batch_size", "a positive integer or None", batch_size))


def linear_cka(
    x: Any,
    y: Any,
    *,
    batch_size: int | None = None,
    device: str | torch.device = "auto",
) -> float:
    """Unbiased (minibatch) linear CKA between two representations of the same samples.

    Args:
        x: Array or tensor of shape (n, d1, ...); dimensions after the first are flattened.
        y: Array or tensor of shape (n, d2, ...), same samples in the same order.
        batch_size: Rows per batch (consecutive slices); None = one batch of all n. A final batch
            of at most 3 samples is skipped.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns:
        The CKA estimate (not clamped: it can be slightly negative), or NaN with a warning when
        undefined (constant features, or no batch with more than 3 samples).

    Raises:
        ValidationError: Non-numeric, non-finite or < 2-D input, different sample counts, or a
            batch size that is not a positive integer.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(500, 10))
        >>> q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
        >>> round(linear_cka(x, x @ q, batch_size=100), 6)
        1.0
    """
    xt, yt = _validate_pair(x, y)
    _validate_batch_size(batch_size)
    n = int(xt.shape[0])
    step = n if batch_size is None else int(batch_size)
    accumulator = CKAAccumulator({"x": ["x"], "y": ["y"]}, [("x", "y")], device=device)
    for start in range(0, n, step):
        accumulator.update(
            {"x": {"x": xt[start : start + step]}, "y": {"y": yt[start : start + step]}}
        )
    matrices, undefined = accumulator._matrices()
    if undefined:
        warnings.warn(
            f"linear CKA is undefined (constant features, or no batch with more than "
            f"{_MIN_BATCH - 1} samples among {n}); returning NaN",
            RuntimeWarning,
            stacklevel=2,
        )
    return float(matrices[("x", "y")].values[0, 0])


def _rbf_centred_kernel(x: torch.Tensor, sigma_frac: float) -> torch.Tensor | None:
    """Double-centred RBF kernel H K H with bandwidth sigma_frac × median pairwise distance.

    Returns None when the median distance is 0 (bandwidth undefined).
    """
    flat = x.reshape(x.shape[0], -1).to(torch.float64)
    flat = flat - flat.mean(dim=0, keepdim=True)
    kernel = flat @ flat.T
    norms = torch.diagonal(kernel).clone()
    kernel.mul_(-2.0).add_(norms[:, None]).add_(norms[None, :]).clamp_(min=0.0)
    kernel.fill_diagonal_(0.0)  # squared distances
    rows, cols = torch.triu_indices(x.shape[0], x.shape[0], offset=1, device=kernel.device)
    distances = kernel[rows, cols].sqrt_()
    m = distances.numel()
    median = 0.5 * (distances.kthvalue((m + 1) // 2).values + distances.kthvalue(m // 2 + 1).values)
    if float(median) <= 0.0:
        return None
    kernel.mul_(-1.0 / (2.0 * (sigma_frac * float(median)) ** 2)).exp_()
    kernel.sub_(kernel.mean(dim=0, keepdim=True)).sub_(kernel.mean(dim=1, keepdim=True))
    return kernel


def _validate_rbf(n: int, sigma_frac: object) -> float:
    if n > _RBF_MAX_SAMPLES:
        raise ValidationError(
            describe(
                "x",
                f"at most {_RBF_MAX_SAMPLES} samples (RBF CKA builds n×n matrices; "
                "use linear_cka for more)",
                f"{n} samples",
                raw=True,
            )
        )
    if isinstance(sigma_frac, int | float | np.floating) and not isinstance(sigma_frac, bool):
        value = float(sigma_frac)
        if math.isfinite(value) and value > 0:
            return value
    raise ValidationError(describe("sigma_frac", "a finite number > 0", sigma_frac))


def rbf_cka(
    x: Any,
    y: Any,
    *,
    sigma_frac: float = 0.8,
    device: str | torch.device = "auto",
) -> float:
    """Biased RBF-kernel CKA (Kornblith et al. 2019) for small sample counts.

    Each representation gets its own Gaussian kernel exp(-‖xi − xj‖² / (2σ²)) with
    σ = sigma_frac × the median Euclidean distance over distinct sample pairs (i < j). (Kornblith's
    reference code takes the median of the full squared-distance matrix, diagonal zeros
    included; the two differ slightly.) CKA = ⟨HKH, HLH⟩_F / (‖HKH‖_F ‖HLH‖_F), computed in
    float64. Memory and time grow as n², hence the limit of 5000 samples.

    Args:
        x: Array or tensor of shape (n, d1, ...); dimensions after the first are flattened.
        y: Array or tensor of shape (n, d2, ...), same samples in the same order.
        sigma_frac: Bandwidth as a fraction of the median pairwise distance.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns:
        CKA in [0, 1], or NaN with a warning when undefined (fewer than 2 samples, or a median
        pairwise distance of 0, e.g. mostly identical samples).

    Raises:
        ValidationError: Bad input as for :func:`linear_cka`, more than 5000 samples, or a
            ``sigma_frac`` that is not a finite positive number.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(100, 5))
        >>> round(rbf_cka(x, 10.0 * x + 1.0), 6)
        1.0
    """
    xt, yt = _validate_pair(x, y)
    frac = _validate_rbf(int(xt.shape[0]), sigma_frac)
    target = resolve_device(device)
    with torch.no_grad():
        k = _rbf_centred_kernel(xt.to(target), frac) if xt.shape[0] >= 2 else None
        l_ = _rbf_centred_kernel(yt.to(target), frac) if k is not None else None
        norm = float(k.norm() * l_.norm()) if k is not None and l_ is not None else 0.0
        if k is None or l_ is None or not norm > 0.0:
            warnings.warn(
                "RBF CKA is undefined (fewer than 2 samples or a median pairwise distance of 0); "
                "returning NaN",
                RuntimeWarning,
                stacklevel=2,
            )
            return math.nan
        return float((k * l_).sum()) / norm
