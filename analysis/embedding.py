"""Two-dimensional maps of penultimate-layer features: UMAP (aligned across models) and PCA.

The Instances view shows the same samples under Model A and Model B side by side, so the two maps
must be comparable: the same sample should sit in a comparable place when the models agree.

Pipeline (every path):

1. **Standardise** each model's features column-wise (z-score with the population standard
   deviation; a constant column, e.g. a dead ReLU unit, becomes 0). Penultimate units of
   different models have unrelated scales, and both PCA and UMAP's Euclidean neighbourhoods
   would otherwise be dominated by the few largest units.
2. **Initialise** with the first two principal components (sklearn PCA, seeded), scaled to a
   maximum absolute coordinate of 10 as umap-learn does for its own initialisations.
3. **Embed**, then **align** Model B's map onto Model A's:

   - ``align="aligned"`` (UMAP only): the layout of ``umap.AlignedUMAP`` with the identity
     relation between the two datasets: each model's fuzzy kNN graph, B's initialisation
     rotated onto A's, and umap-learn's aligned layout optimiser, whose regulariser (0.01,
     window 3, AlignedUMAP's defaults) pulls each sample's B position toward its A position.
     As in AlignedUMAP with two datasets, A is not pulled toward B, so Model A's map does not
     bend toward whichever Model B it is compared with.
   - ``align="procrustes"``: independent maps, then B rotated / reflected / uniformly scaled
     and translated onto A by least squares (A's map is left untouched).
   - ``align="independent"``: two separate fits, nothing ties them together (their PCA
     initialisations often make the orientations agree, but nothing guarantees it).

   With ``method="pca"`` the map is the PCA initialisation itself; ``"aligned"`` then means
   Procrustes (PCA has no joint fit) and the result records ``align="procrustes"``.

Why umap-learn's building blocks instead of ``umap.UMAP`` / ``umap.AlignedUMAP`` (measured with
umap-learn 0.5.12 on n=2,000 class-clustered samples, d=64):

- Reproducibility: AlignedUMAP always starts from a spectral layout; with more than four
  connected components in the kNN graph that layout embeds the components' centroids with
  sklearn's SpectralEmbedding (ARPACK), which returned different layouts for the same
  RandomState state within one process, so two AlignedUMAP fits with the same ``random_state``
  differed by up to 1.3 units. Here the initialisation is PCA, every random step is seeded and
  the layouts run single-threaded: the same seed gives the same coordinates, bit for bit.
- Speed: below 4,096 samples umap-learn finds exact neighbours through a Python-level pairwise
  loop (about 3 s per model); sklearn's brute-force search does it in a fraction of a second.
  AlignedUMAP also optimises two single-model layouts it then discards, and umap-learn's aligned
  optimiser recompiles its epoch function on every call (about 3 s); here it is compiled once
  per process.
- Cold start: umap-learn compiles its graph and layout kernels in every new process (about
  15 s of CPU on the first fit, most of a cold comparison). Here the same Python functions are
  compiled with numba's on-disk cache (``cache=True``; the aligned epoch also ``nogil=True``,
  so a fit in a background thread leaves the interpreter to the other threads): a later
  process loads them instead of compiling. The machine code is the same, so are the maps (tests
  pin the graph, the neighbourhood weights and the optimiser to umap-learn's bit for bit).
- Fidelity: AlignedUMAP ignores ``min_dist`` in the aligned layout; here it is honoured.

The parts used: ``fuzzy_simplicial_set`` (the graph), ``simplicial_set_embedding`` (a single
map), ``build_neighborhood_similarities`` and the aligned-layout epoch of ``umap.layouts``,
stepped exactly as ``optimize_layout_aligned_euclidean`` does (a test pins it bit for bit).

umap-learn is imported on first use, never at import time (its import alone JIT-compiles for
seconds). Nothing global is set; ``NUMBA_CACHE_DIR`` is left to the app and the Makefile (numba
falls back to a cache beside umap-learn's sources or in the user's cache folder, and to plain
compilation when no folder is writable).

:func:`embed_pair` reports progress as ``progress(stage, fraction)`` (neighbour graphs, then the
layout epochs), like :func:`analysis.compare` does.

Example:
    >>> import numpy as np
    >>> from analysis.embedding import embed_pair
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(50, 8))
    >>> pair = embed_pair(a, -a, method="pca", align="procrustes")
    >>> pair.coords_b.shape, bool(np.allclose(pair.coords_a, pair.coords_b))
    ((50, 2), True)
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import ArrayLike

from analysis.errors import ValidationError, describe

if TYPE_CHECKING:  # scipy and sklearn are imported on use: ~1 s less at the app's start
    import scipy.sparse

__all__ = [
    "ALIGNMENTS",
    "METHODS",
    "Embedding",
    "EmbeddingPair",
    "embed_pair",
    "embed_single",
    "stratified_subset",
]

METHODS = ("umap", "pca")
ALIGNMENTS = ("aligned", "procrustes", "independent")

_MIN_SAMPLES = 5
_INIT_SCALE = 10.0  # umap-learn scales every initialisation to this maximum |coordinate|
_ALIGN_LAMBDA = 0.01  # umap.AlignedUMAP's alignment_regularisation default
_ALIGN_WINDOW = 3  # umap.AlignedUMAP's alignment_window_size default
_INT32_LIMIT = np.iinfo(np.int32).max - 1
_EXACT_KNN_LIMIT = 4096  # umap-learn's own switch from exact to approximate neighbours
_CHUNK_FLOATS = 1 << 22  # elements of the largest temporary of the exact kNN distances
_GRAPH_SHARE = 0.1  # share of the progress bar per neighbour graph; the layout gets the rest
_PROGRESS_EPOCHS = 10  # the layout reports its progress every this many epochs

Progress = Callable[[str, float], None]


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Embedding:
    """A 2-D map of one model's features.

    Attributes:
        coords: float64 array ``(n, 2)``; NaN rows for samples UMAP could not place.
        method: ``"umap"`` or ``"pca"`` (the method actually used, after any fallback).
        random_state: The seed of the fit.

    Example:
        >>> Embedding(np.zeros((3, 2)), "pca", 0).coords.shape
        (3, 2)
    """

    coords: np.ndarray
    method: str
    random_state: int


@dataclass(frozen=True)
class EmbeddingPair:
    """Maps of the same ``n`` samples under Model A and Model B, B aligned onto A.

    Attributes:
        coords_a: float64 ``(n, 2)`` map of Model A's features.
        coords_b: float64 ``(n, 2)`` map of Model B's features, in A's frame unless
            ``align == "independent"``.
        method: ``"umap"`` or ``"pca"`` actually used (UMAP falls back to PCA on tiny inputs).
        align: ``"aligned"``, ``"procrustes"`` or ``"independent"`` actually used.
        random_state: The seed of the fit.
        displacement: float64 ``(n,)``: distance between each sample's A and B positions after
            each map is centred and scaled to unit root-mean-square radius; a "how much did this
            sample move" score (meaningless for ``"independent"`` maps, whose frames differ).
        mean_displacement: Mean of ``displacement`` over the samples placed in both maps.

    Example:
        >>> p = EmbeddingPair(np.zeros((2, 2)), np.ones((2, 2)), "pca", "procrustes", 0,
        ...                   np.zeros(2), 0.0)
        >>> p.align
        'procrustes'
    """

    coords_a: np.ndarray
    coords_b: np.ndarray
    method: str
    align: str
    random_state: int
    displacement: np.ndarray
    mean_displacement: float


@dataclass(frozen=True)
class _UmapParams:
    n_neighbors: int
    min_dist: float
    n_epochs: int
    random_state: int


# --------------------------------------------------------------------------------------------
# Stratified analysis subset


def stratified_subset(
    labels: ArrayLike,
    *,
    max_samples: int = 2000,
    always_include: ArrayLike | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Choose at most ``max_samples`` sample indices, stratified by class, seeded.

    Every index of ``always_include`` (e.g. the forget samples) is taken first; the remaining
    budget is shared among classes in proportion to their counts among the other samples
    (largest-remainder rounding), and each class's share is drawn uniformly at random. When
    ``always_include`` alone exceeds ``max_samples``, a stratified sample of it is returned
    instead, with a warning. With ``len(labels) <= max_samples`` every index is returned.

    Args:
        labels: Class label of every sample, shape ``(n,)`` (any sortable dtype).
        max_samples: Largest subset size (positive).
        always_include: Indices (or a boolean mask of length ``n``) that must be in the subset.
        seed: Seed of the draw.

    Returns:
        Sorted int64 indices into ``labels``.

    Raises:
        ValidationError: Bad ``labels``, ``max_samples``, ``always_include`` or ``seed``.

    Example:
        >>> labels = np.repeat([0, 1], [80, 20])
        >>> idx = stratified_subset(labels, max_samples=10)
        >>> len(idx), int(np.sum(labels[idx] == 1))
        (10, 2)
        >>> 99 in stratified_subset(labels, max_samples=10, always_include=[99])
        True
    """
    y = _validate_labels(labels)
    budget = _validate_positive_int("max_samples", max_samples)
    _validate_seed("seed", seed)
    forced = _validate_include(always_include, y.shape[0])
    if y.shape[0] <= budget:
        return np.arange(y.shape[0], dtype=np.int64)
    rng = np.random.default_rng(seed)
    if forced.size > budget:
        warnings.warn(
            f"always_include has {forced.size} samples, more than max_samples={budget}: "
            "a stratified sample of them is used",
            stacklevel=2,
        )
        return np.sort(forced[_stratified_draw(y[forced], budget, rng)])
    pool = np.setdiff1d(np.arange(y.shape[0]), forced, assume_unique=True)
    chosen = pool[_stratified_draw(y[pool], budget - forced.size, rng)]
    return np.sort(np.concatenate([forced, chosen])).astype(np.int64)


def _stratified_draw(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Positions (into ``y``) of ``k`` samples drawn per class in proportion to class counts."""
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    quota = _largest_remainder(counts, k)
    order = np.lexsort((rng.random(len(y)), inverse))  # shuffled within each class
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(y.shape[0], dtype=np.int64)
    rank[order] = np.arange(y.shape[0]) - np.repeat(starts, counts)
    return np.flatnonzero(rank < quota[inverse])


def _largest_remainder(counts: np.ndarray, k: int) -> np.ndarray:
    """Split ``k`` into integer quotas proportional to ``counts`` (Hamilton's method)."""
    exact = k * counts / counts.sum()
    quota = np.floor(exact).astype(np.int64)
    short = k - int(quota.sum())
    if short > 0:  # ties go to the earlier class (stable sort)
        quota[np.argsort(-(exact - quota), kind="stable")[:short]] += 1
    return np.minimum(quota, counts)


# --------------------------------------------------------------------------------------------
# Public embedding entry points


def embed_single(
    features: ArrayLike | torch.Tensor,
    *,
    method: str = "umap",
    random_state: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    n_epochs: int = 200,
) -> Embedding:
    """Map one model's features ``(n, d)`` to 2-D (standardised, PCA-initialised).

    Args:
        features: Penultimate features, shape ``(n, d)`` with ``n >= 5`` and ``d >= 2``.
        method: ``"umap"`` or ``"pca"``. UMAP falls back to PCA (with a warning) when
            ``n <= n_neighbors``.
        random_state: Seed (PCA solver, kNN search, layout optimisation).
        n_neighbors: UMAP neighbourhood size (``>= 2``).
        min_dist: UMAP minimum distance in ``[0, 1]``.
        n_epochs: UMAP layout epochs (``>= 1``).

    Returns:
        The :class:`Embedding`.

    Raises:
        ValidationError: Non-finite or badly shaped features, unknown method, bad options.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(40, 6))
        >>> embed_single(x, method="pca").coords.shape
        (40, 2)
    """
    x = _validate_features("features", features)
    _validate_choice("method", method, METHODS)
    params = _validate_umap_params(n_neighbors, min_dist, n_epochs, random_state)
    method = _effective_method(method, x.shape[0], n_neighbors)
    z = _standardise(x, "features")
    init = _pca_init(z, random_state)
    coords = init if method == "pca" else _umap_fit(z, init, params)
    coords = _warn_unplaced(coords, "features")
    return Embedding(coords=coords, method=method, random_state=random_state)


def embed_pair(
    features_a: ArrayLike | torch.Tensor,
    features_b: ArrayLike | torch.Tensor,
    *,
    method: str = "umap",
    align: str = "aligned",
    random_state: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    n_epochs: int = 200,
    progress: Progress | None = None,
) -> EmbeddingPair:
    """Map the same ``n`` samples under two models, Model B's map aligned onto Model A's.

    See the module docstring for what each ``align`` mode does. The feature dimensions of the
    two models may differ; the rows must be the same samples in the same order.

    Args:
        features_a: Model A's penultimate features, ``(n, d_a)``.
        features_b: Model B's penultimate features, ``(n, d_b)``.
        method: ``"umap"`` or ``"pca"`` (UMAP falls back to PCA with a warning when
            ``n <= n_neighbors``).
        align: ``"aligned"``, ``"procrustes"`` or ``"independent"``.
        random_state: Seed; the same seed gives identical coordinates.
        n_neighbors: UMAP neighbourhood size (``>= 2``).
        min_dist: UMAP minimum distance in ``[0, 1]``.
        n_epochs: UMAP layout epochs (``>= 1``).
        progress: Called with (stage, fraction done in [0, 1]): the neighbour graphs, then the
            layout every few epochs, then ``"done"``.

    Returns:
        The :class:`EmbeddingPair`.

    Raises:
        ValidationError: Non-finite or badly shaped features, different sample counts,
            unknown method or align, bad options.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> a = rng.normal(size=(60, 5))
        >>> pair = embed_pair(a, a @ rng.normal(size=(5, 7)), method="pca", align="independent")
        >>> pair.coords_a.shape, pair.coords_b.shape, pair.align
        ((60, 2), (60, 2), 'independent')
    """
    xa, xb = _validate_pair(features_a, features_b)
    _validate_choice("method", method, METHODS)
    _validate_choice("align", align, ALIGNMENTS)
    params = _validate_umap_params(n_neighbors, min_dist, n_epochs, random_state)
    method = _effective_method(method, xa.shape[0], n_neighbors)
    if method == "pca" and align == "aligned":
        align = "procrustes"  # PCA has no joint fit
    za, zb = _standardise(xa, "features_a"), _standardise(xb, "features_b")
    coords_a, coords_b = _embed_two(za, zb, method, align, params, _Reporter(progress))
    if align == "procrustes":
        coords_b = _procrustes(coords_a, coords_b)
    coords_a = _warn_unplaced(coords_a, "features_a")
    coords_b = _warn_unplaced(coords_b, "features_b")
    displacement = _displacement(coords_a, coords_b)
    if progress is not None:
        progress("done", 1.0)
    return EmbeddingPair(
        coords_a=coords_a,
        coords_b=coords_b,
        method=method,
        align=align,
        random_state=random_state,
        displacement=displacement,
        mean_displacement=_finite_mean(displacement),
    )


# --------------------------------------------------------------------------------------------
# Validation


def _validate_features(name: str, features: Any) -> np.ndarray:
    """Return ``features`` as a finite float64 ``(n, d)`` array with ``n >= 5``, ``d >= 2``."""
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    try:
        x = np.asarray(features)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            describe(name, "a numeric array (n, d)", type(features).__name__, raw=True)
        ) from exc
    if x.dtype.kind not in "fiub":
        raise ValidationError(describe(name, "a real numeric array", f"dtype {x.dtype}", raw=True))
    if x.ndim != 2 or x.shape[0] < _MIN_SAMPLES or x.shape[1] < 2:
        raise ValidationError(
            describe(
                name,
                f"shape (n, d) with n >= {_MIN_SAMPLES} samples and d >= 2 features",
                f"shape {x.shape}",
                raw=True,
            )
        )
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        bad = int(np.count_nonzero(~np.isfinite(x).all(axis=1)))
        raise ValidationError(
            describe(name, "finite values", f"NaN/inf in {bad} samples", raw=True)
        )
    return x


def _validate_pair(features_a: Any, features_b: Any) -> tuple[np.ndarray, np.ndarray]:
    xa = _validate_features("features_a", features_a)
    xb = _validate_features("features_b", features_b)
    if xa.shape[0] != xb.shape[0]:
        raise ValidationError(
            describe(
                "features_b",
                f"{xa.shape[0]} samples (the same samples as features_a)",
                f"{xb.shape[0]} samples",
                raw=True,
            )
        )
    return xa, xb


def _validate_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(describe(name, f"one of {list(choices)}", value))


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _validate_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if not _is_int(value) or value < minimum:
        raise ValidationError(describe(name, f"an integer >= {minimum}", value))
    return int(value)


def _validate_seed(name: str, value: Any) -> int:
    if not _is_int(value) or not 0 <= value <= _INT32_LIMIT:
        raise ValidationError(describe(name, f"an integer in [0, {_INT32_LIMIT}]", value))
    return int(value)


def _validate_umap_params(
    n_neighbors: Any, min_dist: Any, n_epochs: Any, random_state: Any
) -> _UmapParams:
    ok_dist = isinstance(min_dist, int | float | np.floating) and not isinstance(min_dist, bool)
    if not ok_dist or not 0.0 <= float(min_dist) <= 1.0:
        raise ValidationError(describe("min_dist", "a number in [0, 1]", min_dist))
    return _UmapParams(
        n_neighbors=_validate_positive_int("n_neighbors", n_neighbors, minimum=2),
        min_dist=float(min_dist),
        n_epochs=_validate_positive_int("n_epochs", n_epochs),
        random_state=_validate_seed("random_state", random_state),
    )


def _validate_labels(labels: Any) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] == 0 or y.dtype.kind not in "iubUS":
        raise ValidationError(
            describe(
                "labels",
                "a non-empty 1-D array of integer or string class labels",
                f"{y.dtype} array of shape {y.shape}",
                raw=True,
            )
        )
    return y


def _validate_include(always_include: Any, n: int) -> np.ndarray:
    """Return the sorted unique indices of ``always_include`` (indices or a boolean mask)."""
    if always_include is None:
        return np.empty(0, dtype=np.int64)
    idx = np.asarray(always_include)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise ValidationError(
                describe(
                    "always_include",
                    f"a boolean mask of length {n}",
                    f"shape {idx.shape}",
                    raw=True,
                )
            )
        return np.flatnonzero(idx).astype(np.int64)
    if idx.size == 0:
        return np.empty(0, dtype=np.int64)
    if idx.ndim != 1 or idx.dtype.kind not in "iu":
        raise ValidationError(
            describe(
                "always_include",
                "1-D integer indices or a boolean mask",
                f"{idx.dtype} array of shape {idx.shape}",
                raw=True,
            )
        )
    if idx.min() < 0 or idx.max() >= n:
        raise ValidationError(
            describe(
                "always_include",
                f"indices in [0, {n})",
                f"values in [{idx.min()}, {idx.max()}]",
                raw=True,
            )
        )
    return np.unique(idx).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Computation


def _effective_method(method: str, n: int, n_neighbors: int) -> str:
    """UMAP needs more samples than neighbours; fall back to PCA (with a warning) otherwise."""
    if method == "umap" and n <= n_neighbors:
        warnings.warn(
            f"UMAP needs more samples than n_neighbors={n_neighbors}, got {n}: using PCA",
            stacklevel=3,
        )
        return "pca"
    return method


def _standardise(x: np.ndarray, name: str) -> np.ndarray:
    """Z-score every column (population std); constant columns become 0."""
    std = x.std(axis=0)
    if not np.any(std > 0):
        warnings.warn(
            f"{name}: every sample has the same features; its map is all NaN", stacklevel=3
        )
    return (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)


def _pca_init(z: np.ndarray, random_state: int) -> np.ndarray:
    """First two principal components, scaled to max |coordinate| 10 (NaN if no variance)."""
    if not np.any(z):
        return np.full((z.shape[0], 2), np.nan)
    from sklearn.decomposition import PCA

    coords = PCA(n_components=2, random_state=random_state).fit_transform(z)
    return coords * (_INIT_SCALE / np.abs(coords).max())


class _Reporter:
    """``progress(stage, fraction)`` or nothing; says when umap's kernels load the first time."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress

    def __call__(self, stage: str, fraction: float) -> None:
        if self.progress is not None:
            self.progress(stage, min(max(fraction, 0.0), 1.0))

    def graph(self, which: str, fraction: float) -> None:
        cold = _kernels.cache_info().currsize == 0
        suffix = " (first map in this process: preparing UMAP)" if cold else ""
        self(f"neighbour graph ({which}){suffix}", fraction)

    def epochs(self, done: int, total: int) -> None:
        if done % _PROGRESS_EPOCHS == 0 or done == total:
            share = 1.0 - 2 * _GRAPH_SHARE
            self(f"layout (epoch {done}/{total})", 2 * _GRAPH_SHARE + share * done / total)


def _embed_two(
    za: np.ndarray,
    zb: np.ndarray,
    method: str,
    align: str,
    params: _UmapParams,
    report: _Reporter | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Both maps before any Procrustes step; NaN maps for featureless inputs."""
    report = report or _Reporter(None)
    init_a, init_b = _pca_init(za, params.random_state), _pca_init(zb, params.random_state)
    if method == "pca":
        return init_a, init_b
    degenerate = not (np.isfinite(init_a).all() and np.isfinite(init_b).all())
    if align == "aligned" and not degenerate:
        init_b = _procrustes(init_a, init_b, scale=False)
        return _aligned_umap(za, zb, init_a, init_b, params, report)
    report.graph("A", 0.0)
    coords_a = _umap_or_nan(za, init_a, params)
    report("layout (B)", 0.5)
    return coords_a, _umap_or_nan(zb, init_b, params)


def _umap_or_nan(z: np.ndarray, init: np.ndarray, params: _UmapParams) -> np.ndarray:
    return init if not np.isfinite(init).all() else _umap_fit(z, init, params)


def _umap_fit(z: np.ndarray, init: np.ndarray, params: _UmapParams) -> np.ndarray:
    """One seeded, single-threaded UMAP layout from the given initialisation.

    The steps of ``umap.UMAP.fit_transform`` (fuzzy graph, then ``simplicial_set_embedding``)
    with the faster exact kNN of :func:`_knn`.
    """
    from umap.umap_ import find_ab_params, simplicial_set_embedding

    graph = _umap_graph(z, params)
    a, b = find_ab_params(1.0, params.min_dist)
    coords, _ = simplicial_set_embedding(
        z,
        graph,
        2,
        1.0,
        a,
        b,
        1.0,
        5,
        params.n_epochs,
        init.astype(np.float32),
        np.random.RandomState(params.random_state),
        "euclidean",
        {},
        False,
        {},
        False,
        parallel=False,
    )
    return np.asarray(coords, dtype=np.float64)


def _umap_graph(z: np.ndarray, params: _UmapParams) -> scipy.sparse.csr_matrix:
    """UMAP's fuzzy simplicial set (kNN graph) of ``z``, seeded.

    ``umap.umap_.fuzzy_simplicial_set`` with its defaults (local connectivity 1, fuzzy union),
    step for step, through the disk-cached kernels (a test pins it to umap-learn's).
    """
    import scipy.sparse

    kernels = _kernels()
    indices, distances = _knn(z, params)
    distances = distances.astype(np.float32)
    sigmas, rhos = kernels.smooth_knn_dist(
        distances, float(params.n_neighbors), local_connectivity=1.0
    )
    rows, cols, vals, _ = kernels.compute_membership_strengths(
        indices, distances, sigmas, rhos, None
    )
    n = z.shape[0]
    result = scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(n, n))
    result.eliminate_zeros()
    transpose = result.transpose()
    product = result.multiply(transpose)
    union = 1.0 * (result + transpose - product) + 0.0 * product  # set_op_mix_ratio = 1
    union.eliminate_zeros()
    return scipy.sparse.csr_matrix(union)


def _knn(z: np.ndarray, params: _UmapParams) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``n_neighbors`` nearest rows (itself first), by ascending Euclidean distance.

    Below 4,096 rows (where umap-learn itself computes exact neighbours, through a Python-level
    callable metric: ~3 s for 2,000 rows) the neighbours are exact: candidates from sklearn's
    brute-force search, distances recomputed as ``‖x_i − x_j‖`` so that a sample's distance to
    itself or to a duplicate is exactly 0, as umap-learn's smoothing expects. Above, umap-learn's
    seeded single-threaded NN-descent, as ``umap.UMAP`` would use.
    """
    k = params.n_neighbors
    if z.shape[0] >= _EXACT_KNN_LIMIT:
        from umap.umap_ import nearest_neighbors

        seed = np.random.RandomState(params.random_state)
        indices, distances, _ = nearest_neighbors(z, k, "euclidean", {}, False, seed, n_jobs=1)
        return indices, distances
    from sklearn.neighbors import NearestNeighbors

    search = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(z)
    indices = search.kneighbors(z, return_distance=False)
    distances = np.empty(indices.shape, dtype=np.float32)
    step = max(1, _CHUNK_FLOATS // (k * z.shape[1]))
    for start in range(0, z.shape[0], step):  # row blocks keep the (rows, k, d) temporary small
        block = slice(start, start + step)
        distances[block] = np.linalg.norm(z[block, None, :] - z[indices[block]], axis=2)
    order = np.argsort(distances, axis=1, kind="stable")
    return np.take_along_axis(indices, order, 1), np.take_along_axis(distances, order, 1)


def _identity_relations(n: int) -> np.ndarray:
    """``umap.aligned_umap.expand_relations([{i: i for i in range(n)}], 3)``, vectorised.

    Shape ``(2, 2·window + 1, n)``, all -1 except dataset 1's "previous dataset" slot, which maps
    every sample to itself. umap-learn's expansion leaves dataset 0's "next" slot empty for two
    datasets, so B is pulled toward A and A is not pulled toward B; this keeps that behaviour
    (A's map does not bend toward whichever Model B it is compared with).
    """
    relations = np.full((2, 2 * _ALIGN_WINDOW + 1, n), -1, dtype=np.int32)
    relations[1, _ALIGN_WINDOW - 1] = np.arange(n, dtype=np.int32)
    return relations


def _aligned_umap(
    za: np.ndarray,
    zb: np.ndarray,
    init_a: np.ndarray,
    init_b: np.ndarray,
    params: _UmapParams,
    report: _Reporter | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The umap.AlignedUMAP layout of two datasets related by the identity, PCA-initialised."""
    import numba

    report = report or _Reporter(None)
    graphs = []
    for step, (which, z) in enumerate((("A", za), ("B", zb))):
        report.graph(which, step * _GRAPH_SHARE)
        graphs.append(_umap_graph(z, params))
    relations = _identity_relations(za.shape[0])
    lists = _typed_graph_lists(graphs, params.n_epochs)
    weights = _kernels().build_neighborhood_similarities(
        lists["indptr"], lists["indices"], relations
    )
    embeddings = numba.typed.List.empty_list(numba.types.float32[:, ::1])
    for init in (init_a, init_b):
        embeddings.append(np.ascontiguousarray(init, dtype=np.float32))
    from umap.umap_ import find_ab_params  # imported (seconds) after the first report

    a, b = find_ab_params(1.0, params.min_dist)
    seeds = (
        np.random.RandomState(params.random_state)
        .randint(-_INT32_LIMIT, _INT32_LIMIT, 3)
        .astype(np.int64)
    )
    out = _optimize_aligned(
        embeddings, lists, weights, relations, seeds, a, b, params.n_epochs, on_epoch=report.epochs
    )
    return np.asarray(out[0], dtype=np.float64), np.asarray(out[1], dtype=np.float64)


@dataclass(frozen=True)
class _Kernels:
    smooth_knn_dist: Any
    compute_membership_strengths: Any
    build_neighborhood_similarities: Any
    aligned_epoch: Any


@functools.cache
def _kernels() -> _Kernels:
    """umap-learn's numba kernels of the aligned map, compiled with numba's disk cache.

    The same Python functions with the same compile options as umap-learn's own dispatchers,
    plus ``cache=True`` (a new process loads the machine code instead of compiling it for
    seconds). The aligned-layout epoch, which ``umap.layouts.optimize_layout_aligned_euclidean``
    wraps in ``numba.njit`` on every call (about 3 s each), is compiled once, single-threaded
    and ``nogil`` (the GIL is released while an epoch runs).
    """
    from umap import aligned_umap, layouts, umap_

    return _Kernels(
        _cached(umap_.smooth_knn_dist),
        _cached(umap_.compute_membership_strengths),
        _cached(aligned_umap.build_neighborhood_similarities),
        _cached_function(
            layouts._optimize_layout_aligned_euclidean_single_epoch,
            fastmath=True,
            parallel=False,
            nogil=True,
        ),
    )


def _cached(dispatcher: Any) -> Any:
    """``dispatcher``'s Python function recompiled with its options and numba's disk cache."""
    options = {k: v for k, v in dispatcher.targetoptions.items() if k != "nopython"}
    return _cached_function(dispatcher.py_func, locals=dict(dispatcher.locals), **options)


def _cached_function(function: Any, **options: Any) -> Any:
    import numba

    try:
        return numba.njit(function, cache=True, **options)
    except RuntimeError:  # no writable cache folder anywhere: compile in memory
        return numba.njit(function, **options)


def _aligned_epoch() -> Any:
    """umap-learn's aligned-layout epoch, compiled once (see :func:`_kernels`)."""
    return _kernels().aligned_epoch


def _optimize_aligned(
    embeddings: Any,
    lists: dict[str, Any],
    weights: np.ndarray,
    relations: np.ndarray,
    seeds: np.ndarray,
    a: float,
    b: float,
    n_epochs: int,
    negative_sample_rate: float = 5.0,
    on_epoch: Callable[[int, int], None] | None = None,
) -> Any:
    """``optimize_layout_aligned_euclidean(..., move_other=True, parallel=False)``, same steps.

    A test pins it bit for bit to umap-learn's function. ``on_epoch(done, n_epochs)`` is
    called after every epoch.
    """
    import numba

    epoch = _aligned_epoch()
    per_sample = lists["epochs_per_sample"]
    lists32 = {key: numba.typed.List.empty_list(numba.types.float32[::1]) for key in "nms"}
    for eps in per_sample:
        lists32["n"].append(eps.astype(np.float32) / negative_sample_rate)  # per negative sample
        lists32["m"].append(lists32["n"][-1].astype(np.float32))  # next negative sample
        lists32["s"].append(eps.astype(np.float32))  # next sample
    dim = embeddings[0].shape[1]
    alpha = 1.0  # initial learning rate, decayed linearly after every epoch as umap-learn does
    for n in range(n_epochs):
        epoch(
            embeddings,
            embeddings,
            lists["heads"],
            lists["tails"],
            per_sample,
            a,
            b,
            weights,
            relations,
            seeds,
            1.0,
            _ALIGN_LAMBDA,
            dim,
            True,
            alpha,
            lists32["n"],
            lists32["m"],
            lists32["s"],
            n,
        )
        alpha = 1.0 - n / n_epochs
        if on_epoch is not None:
            on_epoch(n + 1, n_epochs)
    return embeddings


def _typed_graph_lists(graphs: list[scipy.sparse.csr_matrix], n_epochs: int) -> dict[str, Any]:
    """The numba typed lists the aligned layout optimiser takes, built as AlignedUMAP does."""
    import numba
    from umap.umap_ import make_epochs_per_sample

    int_list = numba.types.int32[::1]
    lists: dict[str, Any] = {
        key: numba.typed.List.empty_list(int_list)
        for key in ("indptr", "indices", "heads", "tails")
    }
    lists["epochs_per_sample"] = numba.typed.List.empty_list(numba.types.float64[::1])
    for graph in graphs:
        coo = graph.tocoo()
        lists["indptr"].append(graph.indptr.astype(np.int32))
        lists["indices"].append(graph.indices.astype(np.int32))
        lists["heads"].append(coo.row.astype(np.int32))
        lists["tails"].append(coo.col.astype(np.int32))
        lists["epochs_per_sample"].append(make_epochs_per_sample(coo.data, n_epochs))
    return lists


def _procrustes(target: np.ndarray, source: np.ndarray, *, scale: bool = True) -> np.ndarray:
    """Map ``source`` onto ``target`` by the least-squares rotation/reflection (+ scale), shift.

    Rows that are not finite in both maps are ignored in the fit and stay NaN.
    """
    ok = np.isfinite(target).all(axis=1) & np.isfinite(source).all(axis=1)
    if ok.sum() < 2:
        return source.copy()
    mu_t, mu_s = target[ok].mean(axis=0), source[ok].mean(axis=0)
    t, s = target[ok] - mu_t, source[ok] - mu_s
    u, sigma, vt = np.linalg.svd(s.T @ t)
    norm = float(np.sum(s**2))
    factor = float(sigma.sum()) / norm if scale and norm > 0 else 1.0
    return factor * (source - mu_s) @ (u @ vt) + mu_t


def _normalised(coords: np.ndarray) -> np.ndarray:
    """Centre a map and scale it to unit root-mean-square radius (over finite rows)."""
    ok = np.isfinite(coords).all(axis=1)
    if not ok.any():
        return coords
    centred = coords - coords[ok].mean(axis=0)
    radius = float(np.sqrt(np.mean(np.sum(centred[ok] ** 2, axis=1))))
    return centred / radius if radius > 0 else centred


def _displacement(coords_a: np.ndarray, coords_b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(_normalised(coords_a) - _normalised(coords_b), axis=1)


def _finite_mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _warn_unplaced(coords: np.ndarray, name: str) -> np.ndarray:
    bad = int(np.count_nonzero(~np.isfinite(coords).all(axis=1)))
    if 0 < bad < coords.shape[0]:
        warnings.warn(
            f"{name}: {bad} samples could not be placed in the map (NaN coordinates)", stacklevel=3
        )
    return coords
