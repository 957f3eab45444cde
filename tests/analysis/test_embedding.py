"""Tests of analysis/embedding.py: stratified subsets, PCA/Procrustes maps, aligned UMAP."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.spatial
import torch
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from analysis.embedding import (
    EmbeddingPair,
    _identity_relations,
    embed_pair,
    embed_single,
    stratified_subset,
)
from analysis.errors import ValidationError

# --------------------------------------------------------------------------------------------
# helpers


def _clustered(n: int, d: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    centres = rng.normal(size=(k, d)) * 3.0
    return centres[labels] + rng.normal(size=(n, d)), labels


def _normalised(coords: np.ndarray) -> np.ndarray:
    centred = coords - coords.mean(axis=0)
    return centred / np.sqrt((centred**2).sum(axis=1).mean())


def _mean_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance between the same sample in two maps, each centred and unit-RMS scaled."""
    return float(np.linalg.norm(_normalised(a) - _normalised(b), axis=1).mean())


# --------------------------------------------------------------------------------------------
# stratified_subset


def test_stratified_subset_is_proportional_sorted_and_seeded() -> None:
    labels = np.repeat([0, 1, 2], [600, 300, 100])
    idx = stratified_subset(labels, max_samples=100, seed=3)
    assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(np.bincount(labels[idx]), [60, 30, 10])
    np.testing.assert_array_equal(idx, stratified_subset(labels, max_samples=100, seed=3))
    assert not np.array_equal(idx, stratified_subset(labels, max_samples=100, seed=4))


def test_stratified_subset_rounding_sums_to_budget() -> None:
    labels = np.repeat([0, 1, 2], [7, 7, 7])  # 10 / 3 per class is not an integer
    counts = np.bincount(labels[stratified_subset(labels, max_samples=10)], minlength=3)
    assert counts.sum() == 10 and np.all(np.abs(counts - 10 / 3) < 1)


def test_stratified_subset_always_include_then_proportional_rest() -> None:
    labels = np.repeat([0, 1, 2, 3], [400, 400, 100, 100])
    forget = np.flatnonzero(labels == 3)[:50]  # half of class 3 must be kept
    idx = stratified_subset(labels, max_samples=150, always_include=forget, seed=0)
    assert len(idx) == 150 and np.isin(forget, idx).all()
    rest = np.setdiff1d(idx, forget)
    # the other 100 follow the pool's proportions: 400, 400, 100, 50 of 950
    expected = 100 * np.array([400, 400, 100, 50]) / 950
    assert np.all(np.abs(np.bincount(labels[rest], minlength=4) - expected) < 1)
    mask = np.zeros(len(labels), dtype=bool)
    mask[forget] = True
    np.testing.assert_array_equal(
        idx, stratified_subset(labels, max_samples=150, always_include=mask, seed=0)
    )


def test_stratified_subset_too_many_forced_warns_and_stratifies_them() -> None:
    labels = np.repeat([0, 1], [500, 500])
    forced = np.concatenate([np.arange(0, 300), np.arange(500, 600)])  # 300 of 0, 100 of 1
    with pytest.warns(UserWarning, match="always_include"):
        idx = stratified_subset(labels, max_samples=40, always_include=forced)
    assert len(idx) == 40 and np.isin(idx, forced).all()
    np.testing.assert_array_equal(np.bincount(labels[idx]), [30, 10])


def test_stratified_subset_small_input_returns_everything() -> None:
    np.testing.assert_array_equal(stratified_subset(["a", "b", "a"], max_samples=5), [0, 1, 2])


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"labels": np.zeros((3, 2), int)}, "labels"),
        ({"labels": np.zeros(10, int), "max_samples": 0}, "max_samples"),
        ({"labels": np.zeros(10, int), "always_include": [10]}, "always_include"),
        ({"labels": np.zeros(10, int), "always_include": [1.5]}, "always_include"),
        ({"labels": np.zeros(10, int), "always_include": np.ones(3, bool)}, "always_include"),
        ({"labels": np.zeros(10, int), "seed": -1}, "seed"),
    ],
)
def test_stratified_subset_bad_input(kwargs: dict, argument: str) -> None:
    with pytest.raises(ValidationError, match=f"^{argument}:"):
        stratified_subset(**kwargs)


# --------------------------------------------------------------------------------------------
# PCA path (fast, no UMAP)


def test_pca_independent_matches_sklearn_on_standardised_features() -> None:
    a, _ = _clustered(120, 9, 3, seed=0)
    b = np.random.default_rng(1).normal(size=(120, 4)) * [1.0, 10.0, 100.0, 0.1]
    pair = embed_pair(a, b, method="pca", align="independent", random_state=0)
    for coords, x in ((pair.coords_a, a), (pair.coords_b, b)):
        ref = PCA(n_components=2).fit_transform(StandardScaler().fit_transform(x))
        np.testing.assert_allclose(coords, ref * (10.0 / np.abs(ref).max()), atol=1e-10)
    assert (pair.method, pair.align) == ("pca", "independent")


def test_pca_procrustes_matches_scipy_procrustes() -> None:
    a, _ = _clustered(100, 6, 3, seed=2)
    b = a @ np.random.default_rng(3).normal(size=(6, 8)) + 0.5
    indep = embed_pair(a, b, method="pca", align="independent")
    pair = embed_pair(a, b, method="pca", align="procrustes")
    np.testing.assert_array_equal(pair.coords_a, indep.coords_a)  # A is never moved
    mtx1, mtx2, _ = scipy.spatial.procrustes(indep.coords_a, indep.coords_b)
    centred = pair.coords_a - pair.coords_a.mean(axis=0)
    scale = np.linalg.norm(centred)
    np.testing.assert_allclose(centred / scale, mtx1, atol=1e-12)
    np.testing.assert_allclose(
        (pair.coords_b - pair.coords_a.mean(axis=0)) / scale, mtx2, atol=1e-10
    )


def test_pca_aligned_means_procrustes_and_displacement_formula() -> None:
    a, _ = _clustered(80, 5, 2, seed=4)
    b = -a + 0.05 * np.random.default_rng(5).normal(size=a.shape)
    pair = embed_pair(a, b, method="pca", align="aligned")
    assert isinstance(pair, EmbeddingPair) and pair.align == "procrustes"
    expected = np.linalg.norm(_normalised(pair.coords_a) - _normalised(pair.coords_b), axis=1)
    np.testing.assert_allclose(pair.displacement, expected, atol=1e-12)
    assert pair.mean_displacement == pytest.approx(expected.mean())
    assert pair.mean_displacement < 0.1  # B is A reflected plus small noise
    flipped = embed_pair(a, b, method="pca", align="independent")
    assert flipped.mean_displacement > 1.0  # without alignment B's map is rotated by 180°


def test_torch_input_and_single_pca() -> None:
    a, _ = _clustered(30, 4, 2, seed=6)
    single = embed_single(torch.from_numpy(a).float(), method="pca")
    assert single.coords.shape == (30, 2) and single.method == "pca"
    np.testing.assert_allclose(single.coords, embed_single(a, method="pca").coords, atol=1e-4)


def test_umap_falls_back_to_pca_when_too_few_samples() -> None:
    a, _ = _clustered(10, 4, 2, seed=7)
    with pytest.warns(UserWarning, match="n_neighbors=15"):
        pair = embed_pair(a, a, method="umap", align="aligned")
    assert (pair.method, pair.align) == ("pca", "procrustes")
    with pytest.warns(UserWarning, match="using PCA"):
        assert embed_single(a, n_neighbors=15).method == "pca"


def test_constant_features_give_nan_map_with_warning() -> None:
    a, _ = _clustered(20, 4, 2, seed=8)
    with pytest.warns(UserWarning, match="features_b: every sample has the same features"):
        pair = embed_pair(a, np.ones((20, 3)), method="pca", align="procrustes")
    assert np.isfinite(pair.coords_a).all() and np.isnan(pair.coords_b).all()
    assert np.isnan(pair.mean_displacement)


@pytest.mark.parametrize(
    ("args", "kwargs", "argument"),
    [
        ((np.full((10, 3), np.nan), np.ones((10, 3))), {}, "features_a"),
        ((np.ones((10, 3)), np.ones((9, 3))), {}, "features_b"),
        ((np.ones((4, 3)), np.ones((4, 3))), {}, "features_a"),
        ((np.ones(10), np.ones((10, 3))), {}, "features_a"),
        ((np.ones((10, 3)), np.array([["x"] * 3] * 10)), {}, "features_b"),
        ((np.ones((10, 3)), np.ones((10, 3))), {"method": "tsne"}, "method"),
        ((np.ones((10, 3)), np.ones((10, 3))), {"align": "rotate"}, "align"),
        ((np.ones((10, 3)), np.ones((10, 3))), {"n_neighbors": 1}, "n_neighbors"),
        ((np.ones((10, 3)), np.ones((10, 3))), {"min_dist": 2.0}, "min_dist"),
        ((np.ones((10, 3)), np.ones((10, 3))), {"random_state": -1}, "random_state"),
        ((np.ones((10, 3)), np.ones((10, 3))), {"n_epochs": 0}, "n_epochs"),
    ],
)
def test_embed_pair_bad_input(args: tuple, kwargs: dict, argument: str) -> None:
    with pytest.raises(ValidationError, match=f"^{argument}:"):
        embed_pair(*args, **kwargs)


def test_embed_single_bad_method() -> None:
    with pytest.raises(ValidationError, match=r"^method:"):
        embed_single(np.ones((10, 3)), method="umap2")


# --------------------------------------------------------------------------------------------
# UMAP (real fits: a few seconds each, the first one JIT-compiles)


@pytest.fixture(scope="module")
def umap_pairs() -> dict[str, EmbeddingPair]:
    """B = A's features plus small noise with every unit's sign flipped: the same information
    encoded differently, so an independent fit does not know the two maps correspond."""
    a, _ = _clustered(300, 32, 5, seed=0)
    b = -(a + 0.3 * np.random.default_rng(1).normal(size=a.shape))

    def fit(align: str) -> EmbeddingPair:
        return embed_pair(a, b, method="umap", align=align, random_state=7, n_epochs=100)

    return {
        "aligned": fit("aligned"),
        "aligned_again": fit("aligned"),
        "procrustes": fit("procrustes"),
        "independent": fit("independent"),
    }


@pytest.mark.slow
def test_umap_same_seed_gives_identical_coordinates(umap_pairs: dict[str, EmbeddingPair]) -> None:
    first, again = umap_pairs["aligned"], umap_pairs["aligned_again"]
    assert first.method == "umap" and first.coords_a.shape == (300, 2)
    np.testing.assert_array_equal(first.coords_a, again.coords_a)
    np.testing.assert_array_equal(first.coords_b, again.coords_b)
    # procrustes and independent share the same two single-model fits: same A map, bit for bit
    np.testing.assert_array_equal(
        umap_pairs["procrustes"].coords_a, umap_pairs["independent"].coords_a
    )


@pytest.mark.slow
def test_aligned_and_procrustes_keep_the_same_sample_close(
    umap_pairs: dict[str, EmbeddingPair],
) -> None:
    dist = {k: _mean_distance(p.coords_a, p.coords_b) for k, p in umap_pairs.items()}
    assert dist["independent"] > 1.0  # the flipped encoding lands B's map rotated
    assert dist["aligned"] < 0.25 * dist["independent"]
    assert dist["procrustes"] < 0.5 * dist["independent"]
    assert umap_pairs["aligned"].mean_displacement == pytest.approx(dist["aligned"])


@pytest.mark.slow
def test_identity_relations_match_umap_expand_relations() -> None:
    from umap.aligned_umap import expand_relations

    for n in (1, 7):
        np.testing.assert_array_equal(
            _identity_relations(n), expand_relations([{i: i for i in range(n)}], 3)
        )


@pytest.mark.slow
def test_aligned_optimiser_matches_umap_public_function() -> None:
    """The compiled-once epoch loop takes exactly the steps of umap-learn's own function."""
    import numba
    from umap.aligned_umap import build_neighborhood_similarities
    from umap.layouts import optimize_layout_aligned_euclidean

    from analysis.embedding import (
        _optimize_aligned,
        _pca_init,
        _typed_graph_lists,
        _umap_graph,
        _UmapParams,
    )

    a, _ = _clustered(60, 6, 3, seed=9)
    b = a + 0.2 * np.random.default_rng(10).normal(size=a.shape)
    params = _UmapParams(n_neighbors=8, min_dist=0.1, n_epochs=30, random_state=0)
    lists = _typed_graph_lists([_umap_graph(z, params) for z in (a, b)], params.n_epochs)
    relations = _identity_relations(60)
    weights = build_neighborhood_similarities(lists["indptr"], lists["indices"], relations)

    def start() -> numba.typed.List:
        out = numba.typed.List.empty_list(numba.types.float32[:, ::1])
        for z in (a, b):
            out.append(np.ascontiguousarray(_pca_init(z, 0), dtype=np.float32))
        return out

    seeds = np.array([11, 22, 33], dtype=np.int64)
    ours = _optimize_aligned(start(), lists, weights, relations, seeds.copy(), 1.6, 0.9, 30)
    ref_start = start()
    theirs = optimize_layout_aligned_euclidean(
        ref_start,
        ref_start,
        lists["heads"],
        lists["tails"],
        30,
        lists["epochs_per_sample"],
        weights,
        relations,
        seeds.copy(),
        a=1.6,
        b=0.9,
        lambda_=0.01,
        move_other=True,
        parallel=False,
    )
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(mine, reference)


@pytest.mark.slow
def test_cached_kernels_give_umap_learns_graph_and_weights_bit_for_bit() -> None:
    """The disk-cached recompilation changes nothing: same fuzzy graph, same neighbourhood
    weights as umap-learn's own functions."""
    from umap.aligned_umap import build_neighborhood_similarities
    from umap.umap_ import fuzzy_simplicial_set

    from analysis.embedding import _kernels, _knn, _typed_graph_lists, _umap_graph, _UmapParams

    a, _ = _clustered(80, 6, 3, seed=4)
    b = a + 0.3 * np.random.default_rng(5).normal(size=a.shape)
    params = _UmapParams(n_neighbors=10, min_dist=0.1, n_epochs=20, random_state=0)
    graphs = []
    for z in (a, b):
        indices, distances = _knn(z, params)
        theirs, _, _ = fuzzy_simplicial_set(
            z, 10, np.random.RandomState(0), "euclidean", knn_indices=indices, knn_dists=distances
        )
        ours = _umap_graph(z, params)
        assert (ours != theirs.tocsr()).nnz == 0
        np.testing.assert_array_equal(ours.indices, theirs.tocsr().indices)
        graphs.append(ours)
    lists = _typed_graph_lists(graphs, 20)
    relations = _identity_relations(80)
    np.testing.assert_array_equal(
        _kernels().build_neighborhood_similarities(lists["indptr"], lists["indices"], relations),
        build_neighborhood_similarities(lists["indptr"], lists["indices"], relations),
    )


@pytest.mark.slow
def test_embed_pair_reports_monotonic_progress_to_done() -> None:
    a, _ = _clustered(60, 6, 3, seed=2)
    seen: list[tuple[str, float]] = []
    embed_pair(a, a[:, ::-1], n_neighbors=8, n_epochs=30, progress=lambda s, f: seen.append((s, f)))
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and seen[-1] == ("done", 1.0)
    stages = [s for s, _ in seen]
    assert stages[0].startswith("neighbour graph (A)") and "layout (epoch 30/30)" in stages
