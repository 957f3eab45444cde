"""``compare(experiment, a, b)``: everything the dashboard draws for a pair of models, cached.

The work is split into components, each cached on disk under a key that hashes the weights, the
data, the forget set, the options and the code version:

* per model: logits on both splits and penultimate features of the embedding subset;
* layer similarity: CKA of every layer pair for A/B/original/retrain, forget and retain samples
  of both splits, from one lockstep pass; weight change between A and B;
* per model: the privacy audit (needs the retrain and reference models' logits);
* the embedding of A and B (UMAP aligned, or as the options say).

When nothing is cached, each model runs one batched forward pass per split that yields its
logits, features and layer activations together. Assembling the :class:`Comparison` from cached
components is cheap.

The embedding is the slow part of a cold comparison (a UMAP fit: seconds; the first in a process
also loads numba's compiled code), and only the instance maps need it. ``compare(...,
embedding=False)`` leaves it out (:attr:`Comparison.has_embedding` is False and the instance
table's ``__umap_x``/``__umap_y`` columns are NaN); :func:`pair_embedding` computes it on its
own (cached under the same key) and :meth:`Comparison.with_embedding` adds it afterwards, so
an application can show every other view first. ``compare(...)`` with the default
``embedding=True`` is exactly ``compare(..., embedding=False).with_embedding(pair_embedding(...))``.

Example:
    >>> import analysis
    >>> exp = analysis.load_experiment("sample_data/digits")
    >>> cmp = analysis.compare(exp, "retrain", "ga")  # doctest: +SKIP
    >>> cmp.models["ga"].accuracy.ua < 0.2  # doctest: +SKIP
    True
    >>> fast = analysis.compare(exp, "retrain", "ga", embedding=False)  # doctest: +SKIP
    >>> full = fast.with_embedding(analysis.pair_embedding(exp, "retrain", "ga"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch

from analysis.bootstrap import (
    DEFAULT_LEVEL,
    DEFAULT_N_BOOTSTRAP,
    validate_bootstrap,
)
from analysis.cka import CKAAccumulator, CKAMatrix
from analysis.embedding import embed_pair, stratified_subset
from analysis.errors import ValidationError, describe
from analysis.experiment import Experiment
from analysis.exposure import attack_columns
from analysis.inference import PassOutputs, forward_pass
from analysis.metrics import (
    ACCURACY_NAMES,
    AccuracyMetrics,
    ClassMetrics,
    accuracy_metrics,
    class_metrics,
)
from analysis.mia import signals_from_logits
from analysis.models import discover_layers
from analysis.privacy import (
    PAIRED_GAMES,
    REFERENCE_ATTACKS,
    AuditSets,
    PrivacyReport,
    ReferenceLogits,
    ShadowLogits,
    audit_sets,
    privacy_report,
)
from analysis.spec import AUXILIARY_ROLES
from analysis.store import ResultCache, cache_key, hash_arrays, hash_file
from analysis.weight_change import WeightChange, weight_change

__all__ = [
    "CompareOptions",
    "Comparison",
    "Embedding",
    "LayerSimilarity",
    "ModelOutputs",
    "ModelReport",
    "audit_table",
    "compare",
    "models_table",
    "pair_embedding",
    "pareto_mask",
    "summary_dict",
]

Progress = Callable[[str, float], None]
_SPLITS = ("train", "test")


@dataclass(frozen=True)
class CompareOptions:
    """Knobs of :func:`compare` (all part of the cache key).

    Attributes:
        batch_size: Rows per forward batch.
        max_layers: Layers compared per model when the model does not declare them.
        cka_max_samples: Cap per CKA group (forget/retain × train/test), seeded subsample.
        embedding_max_samples: Size cap of the stratified embedding subset (train).
        embedding_method: ``"umap"`` or ``"pca"``.
        embedding_align: ``"aligned"``, ``"procrustes"`` or ``"independent"``.
        seed: Seed of every subsample, split, bootstrap and projection.
        n_bootstrap: Bootstrap replicates of every interval (accuracies, PS, KS, PrivLeak,
            MIA-efficacy, every AUC and TPR); 0 turns intervals off. :func:`compare` computes
            them for Model A, Model B and the retrain model; :func:`models_table` for every
            model when asked (``intervals=True``).
        ci_level: Coverage of the intervals (percentile bootstrap; PS and KS centred on the
            estimate, see :mod:`analysis.bootstrap`).
        ps_grid: ``"exact"`` (every observed value) or ``"uniform51"``.
        svc_retain: Retain samples of SalUn's SVC: ``"salun"`` (its code) or ``"random"``.
        balance_references: Match test samples' OUT-reference counts to forget samples' in
            offline LiRA/RMIA (see :func:`analysis.privacy.privacy_report`).
        lira_centre: Centre of the LiRA/U-LiRA Gaussians: ``"median"`` or ``"mean"``.
    """

    batch_size: int = 256
    max_layers: int = 12
    cka_max_samples: int = 2000
    embedding_max_samples: int = 2000
    embedding_method: str = "umap"
    embedding_align: str = "aligned"
    seed: int = 0
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP
    ci_level: float = DEFAULT_LEVEL
    ps_grid: str = "exact"
    svc_retain: str = "salun"
    balance_references: bool = True
    lira_centre: str = "median"

    def __post_init__(self) -> None:
        validate_bootstrap(self.n_bootstrap, self.seed, self.ci_level)

    @classmethod
    def from_experiment(cls, experiment: Experiment, **overrides: Any) -> CompareOptions:
        """Defaults, then the workspace's ``[analysis]`` table, then ``overrides``.

        Example:
            >>> import analysis
            >>> CompareOptions.from_experiment(
            ...     analysis.load_experiment("sample_data/digits"), seed=3).seed
            3
        """
        known = {f.name: f.type for f in fields(cls)}
        table = {k: v for k, v in experiment.spec.analysis.items() if k in known}
        merged = {**table, **overrides}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ValidationError(describe("options", f"fields among {sorted(known)}", unknown))
        defaults = cls()
        for key, value in merged.items():
            if type(value) is not type(getattr(defaults, key)):
                raise ValidationError(
                    describe(f"analysis.{key}", type(getattr(defaults, key)).__name__, value)
                )
        return cls(**merged)


@dataclass(frozen=True)
class ModelOutputs:
    """One model's forward-pass outputs: logits of both splits, features of the embedding rows."""

    train: np.ndarray
    test: np.ndarray
    features: np.ndarray


@dataclass(frozen=True)
class ModelReport:
    """Accuracy, class-wise metrics and the privacy audit of one model.

    Its bootstrap intervals (when computed: ``privacy.n_bootstrap > 0``) are read with
    :meth:`interval` / :meth:`intervals`, keyed like the models table's columns.
    """

    name: str
    role: str
    accuracy: AccuracyMetrics
    classes_train: ClassMetrics
    classes_test: ClassMetrics
    privacy: PrivacyReport

    def interval(self, metric: str) -> tuple[float, float]:
        """The interval of a headline number (``"UA"``, ``"PS"``, ``"forget_auc"``, ...);
        NaN when it was not computed or the number is N/A."""
        if metric in ACCURACY_NAMES:
            return self.accuracy.interval(metric)
        return self.privacy.interval(metric)

    def intervals(self) -> dict[str, tuple[float, float]]:
        """Every headline number's interval: UA, RA, TUA, TRA, then the privacy headline."""
        names = [*ACCURACY_NAMES, *self.privacy.headline()]
        return {name: self.interval(name) for name in names}


@dataclass(frozen=True)
class LayerSimilarity:
    """CKA matrices keyed ``"a|b|split|group"`` (group ``forget`` or ``retain``) + weight change."""

    layers: Mapping[str, tuple[str, ...]]
    matrices: Mapping[str, CKAMatrix]
    weight_change: WeightChange | None

    def get(self, a: str, b: str, split: str, group: str) -> CKAMatrix | None:
        """The matrix of ``a`` vs ``b`` (transposed if stored the other way), or None."""
        found = self.matrices.get(f"{a}|{b}|{split}|{group}")
        if found is not None:
            return found
        other = self.matrices.get(f"{b}|{a}|{split}|{group}")
        if other is None:
            return None
        return CKAMatrix(
            a, b, other.layers_b, other.layers_a, other.values.T.copy(), other.n_samples
        )


@dataclass(frozen=True)
class Embedding:
    """2-D maps of the analysis subset under A and B.

    Attributes:
        indices: Training indices of the subset.
        coords_a: (m, 2) coordinates under Model A.
        coords_b: (m, 2) coordinates under Model B (aligned to A unless ``align`` says not).
        method: ``"umap"`` or ``"pca"``.
        align: How B was aligned to A.
        seconds: Projection wall time.
    """

    indices: np.ndarray
    coords_a: np.ndarray
    coords_b: np.ndarray
    method: str
    align: str
    seconds: float


@dataclass(frozen=True)
class Comparison:
    """Everything every view needs for Model A vs Model B (and the original / retrain models).

    ``maps`` holds the embedding of A and B, or None for a comparison computed with
    ``embedding=False``; read it as :attr:`embedding` (which says how to get it when missing).
    """

    experiment: str
    scenario: str
    a: str
    b: str
    original: str | None
    retrain: str | None
    class_names: tuple[str, ...]
    forget_classes: tuple[int, ...] | None
    models: Mapping[str, ModelReport]
    layers: LayerSimilarity
    maps: Embedding | None
    instances: pd.DataFrame
    sets: AuditSets
    options: CompareOptions
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def has_embedding(self) -> bool:
        """Whether the embedding of A and B is part of this comparison."""
        return self.maps is not None

    @property
    def embedding(self) -> Embedding:
        """The 2-D maps of A and B.

        Raises:
            ValidationError: The comparison was computed with ``embedding=False`` (add the
                maps with :meth:`with_embedding` and :func:`pair_embedding`).
        """
        if self.maps is None:
            raise ValidationError(
                describe(
                    "embedding",
                    "a comparison computed with embedding=True, or "
                    "cmp.with_embedding(pair_embedding(experiment, a, b))",
                    f"the comparison of {self.a} and {self.b} without its embedding",
                    raw=True,
                )
            )
        return self.maps

    def with_embedding(self, embedding: Embedding) -> Comparison:
        """This comparison with ``embedding`` (from :func:`pair_embedding`) as its maps.

        The instance table gets A's and B's ``__umap_x``/``__umap_y`` columns filled in on the
        embedded training rows (the other rows stay NaN).

        Raises:
            ValidationError: ``embedding`` is not an :class:`Embedding` of this experiment's
                training rows.
        """
        table = self.instances.copy()
        position = _train_positions(table, embedding)
        for name, coords in ((self.a, embedding.coords_a), (self.b, embedding.coords_b)):
            for axis, column in enumerate((f"{name}__umap_x", f"{name}__umap_y")):
                values = np.full(len(table), np.nan)
                values[position] = coords[:, axis]
                table[column] = values
        timings = {**self.timings, "embedding": embedding.seconds}
        return replace(self, maps=embedding, instances=table, timings=timings)

    @property
    def names(self) -> list[str]:
        """A, B, then original and retrain when present and distinct."""
        return _unique([self.a, self.b, self.original, self.retrain])


def _train_positions(table: pd.DataFrame, embedding: Any) -> np.ndarray:
    """Row positions in ``table`` of the embedding's training indices (validated)."""
    if not isinstance(embedding, Embedding):
        raise ValidationError(
            describe(
                "embedding", "an Embedding (pair_embedding)", type(embedding).__name__, raw=True
            )
        )
    train = np.flatnonzero((table["split"] == "train").to_numpy())
    rows = np.full(int(table["index"].iloc[train].max()) + 1 if len(train) else 0, -1)
    rows[table["index"].to_numpy()[train]] = train
    idx = np.asarray(embedding.indices)
    shapes_ok = embedding.coords_a.shape == embedding.coords_b.shape == (len(idx), 2)
    if not shapes_ok or (len(idx) and (idx.min() < 0 or idx.max() >= len(rows))):
        raise ValidationError(
            describe(
                "embedding",
                f"maps of this experiment's training rows (indices below {len(rows)})",
                f"{len(idx)} indices with maps of shapes {embedding.coords_a.shape} and "
                f"{embedding.coords_b.shape}",
                raw=True,
            )
        )
    return np.asarray(rows[idx])


def _unique(names: Sequence[str | None]) -> list[str]:
    out: list[str] = []
    for n in names:
        if n is not None and n not in out:
            out.append(n)
    return out


# --------------------------------------------------------------------------- keys and plans


@dataclass(frozen=True)
class _Plan:
    names: list[str]
    references: list[str]
    shadows: list[str]
    sets: AuditSets
    embed_rows: np.ndarray
    cka_groups: Mapping[str, Mapping[str, np.ndarray]]
    hashes: Mapping[str, str]
    data: str
    masks: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, compare=False)

    def members(self, exp: Experiment, name: str) -> np.ndarray:
        """``exp.members_mask(name)``, read once per plan."""
        if ("members", name) not in self.masks:
            self.masks[("members", name)] = exp.members_mask(name)
        return self.masks[("members", name)]

    def shadow_forget(self, exp: Experiment, name: str) -> np.ndarray:
        """``exp.shadow_forget_mask(name)``, read once per plan."""
        if ("forget", name) not in self.masks:
            self.masks[("forget", name)] = exp.shadow_forget_mask(name)
        return self.masks[("forget", name)]


_DATA_HASHES: dict[tuple[str, str], str] = {}


def _data_hash(exp: Experiment) -> str:
    key = (str(exp.root), repr(sorted(exp.spec.dataset.items())))
    if key not in _DATA_HASHES:
        tr, te = exp.dataset("train"), exp.dataset("test")
        _DATA_HASHES[key] = hash_arrays(tr.x.numpy(), tr.y.numpy(), te.x.numpy(), te.y.numpy())
    return _DATA_HASHES[key]


def _model_hash(exp: Experiment, name: str) -> str:
    return _entry_hash(exp.entry(name))


def _entry_hash(entry: Any) -> str:
    """Digest of a model entry: its weights' content, architecture and parameters."""
    return cache_key(
        file=hash_file(entry.file),
        arch=entry.architecture.name,
        params=dict(entry.architecture.params),
    )


def _subsample(rows: np.ndarray, cap: int, seed: int) -> np.ndarray:
    if len(rows) <= cap:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, size=cap, replace=False))


def _cka_groups(
    exp: Experiment, sets: AuditSets, opts: CompareOptions
) -> dict[str, dict[str, np.ndarray]]:
    cap, seed = opts.cka_max_samples, opts.seed
    groups = {
        "train": {
            "forget": _subsample(sets.forget, cap, seed),
            "retain": _subsample(sets.retain, cap, seed),
        },
        "test": {"retain": _subsample(sets.nonmembers, cap, seed)},
    }
    if exp.forget_classes is not None:
        groups["test"]["forget"] = _subsample(sets.holdout, cap, seed)
    return groups


def _plan(exp: Experiment, names: list[str], opts: CompareOptions) -> _Plan:
    refs, shadows = exp.names_with_role("reference"), exp.names_with_role("shadow")
    sets = audit_sets(exp, seed=opts.seed)
    embed_rows = stratified_subset(
        exp.dataset("train").targets,
        max_samples=opts.embedding_max_samples,
        always_include=exp.forget_indices,
        seed=opts.seed,
    )
    hashes = {n: _model_hash(exp, n) for n in [*names, *refs, *shadows]}
    return _Plan(
        names,
        refs,
        shadows,
        sets,
        embed_rows,
        _cka_groups(exp, sets, opts),
        hashes,
        _data_hash(exp),
    )


def _outputs_key(plan: _Plan, name: str, opts: CompareOptions) -> str:
    return cache_key(
        kind="outputs", model=plan.hashes[name], data=plan.data, rows=hash_arrays(plan.embed_rows)
    )


def _cka_key(exp: Experiment, plan: _Plan, opts: CompareOptions) -> str:
    groups = {
        f"{s}/{g}": hash_arrays(r) for s, gs in plan.cka_groups.items() for g, r in gs.items()
    }
    return cache_key(
        kind="cka",
        models=[plan.hashes[n] for n in plan.names],
        names=plan.names,
        data=plan.data,
        groups=groups,
        max_layers=opts.max_layers,
    )


# --------------------------------------------------------------------------- forward passes


def _cka_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    return [(x, y) for i, x in enumerate(names) for y in names[i + 1 :]]


def _run_passes(
    exp: Experiment,
    plan: _Plan,
    missing: list[str],
    need_cka: bool,
    opts: CompareOptions,
    device: str | torch.device,
    progress: Progress | None,
) -> tuple[dict[str, ModelOutputs], LayerSimilarity | None]:
    """Forward passes for the models without cached outputs, and the CKA when it is missing."""
    _emit(progress, "loading models", 0.0)
    cka_names = list(plan.names) if need_cka else []
    loaded = {n: exp.load_model(n, device=device) for n in _unique([*missing, *cka_names])}
    layers = {n: tuple(discover_layers(loaded[n], max_layers=opts.max_layers)) for n in cka_names}
    accs = {
        (s, g): CKAAccumulator(layers, _cka_pairs(cka_names), device=device)
        for s in _SPLITS
        for g in (plan.cka_groups[s] if need_cka else {})
    }
    passes: dict[str, dict[str, PassOutputs]] = {}
    for step, split in enumerate(_SPLITS):
        passes[split] = _split_pass(
            exp,
            plan,
            split,
            {n: loaded[n] for n in missing},
            {n: loaded[n] for n in cka_names},
            layers,
            partial(_feed, accs, split),
            opts,
            device,
            _stage_progress(
                progress,
                f"forward pass ({split})" if missing else f"layer similarity ({split})",
                step,
                len(_SPLITS),
            ),
        )
    outputs = {n: _model_outputs(passes["train"][n], passes["test"][n]) for n in missing}
    return outputs, (_layer_similarity(plan, layers, accs, loaded) if need_cka else None)


def _feed(
    accs: Mapping[tuple[str, str], CKAAccumulator],
    split: str,
    group: str,
    acts: Mapping[str, Mapping[str, torch.Tensor]],
) -> None:
    accs[(split, group)].update(acts)


def _model_outputs(train: PassOutputs, test: PassOutputs) -> ModelOutputs:
    features = train.features if train.features is not None else np.empty((0, 0), np.float32)
    return ModelOutputs(train.logits, test.logits, features)


def _split_pass(
    exp: Experiment,
    plan: _Plan,
    split: str,
    full: Mapping[str, torch.nn.Module],
    cka_models: Mapping[str, torch.nn.Module],
    layers: Mapping[str, Sequence[str]],
    feed: Callable[..., None],
    opts: CompareOptions,
    device: str | torch.device,
    report: Callable[[int, int], None] | None,
) -> dict[str, PassOutputs]:
    """One split: a full pass for ``full``; CKA activations of ``cka_models`` on their groups.

    When every CKA model also needs its full outputs, one lockstep pass does both; otherwise the
    CKA models only run over the CKA groups' rows (their outputs are cached already).
    """
    rows = plan.embed_rows if split == "train" else None
    groups = plan.cka_groups[split] if cka_models else {}
    common: dict[str, Any] = {
        "batch_size": opts.batch_size,
        "device": device,
        "feature_rows": rows,
        "progress": report,
    }
    if full and set(cka_models) <= set(full):
        return forward_pass(
            full,
            exp.dataset(split),
            activation_groups=groups,
            layers=layers,
            on_activations=feed if groups else None,
            **common,
        )
    out = forward_pass(full, exp.dataset(split), **common) if full else {}
    if cka_models:  # reports its progress when it is the split's only pass
        cka_report = None if full else report
        _cka_only_pass(cka_models, exp, split, groups, layers, feed, opts, device, cka_report)
    return out


def _cka_only_pass(
    models: Mapping[str, torch.nn.Module],
    exp: Experiment,
    split: str,
    groups: Mapping[str, np.ndarray],
    layers: Mapping[str, Sequence[str]],
    feed: Callable[..., None],
    opts: CompareOptions,
    device: str | torch.device,
    report: Callable[[int, int], None] | None = None,
) -> None:
    rows = np.concatenate(list(groups.values()))
    offsets = np.cumsum([0, *[len(r) for r in groups.values()]])
    local = {g: np.arange(offsets[i], offsets[i + 1]) for i, g in enumerate(groups)}
    forward_pass(
        models,
        exp.dataset(split).subset(rows),
        batch_size=opts.batch_size,
        device=device,
        activation_groups=local,
        layers=layers,
        on_activations=feed,
        progress=report,
    )


def _layer_similarity(
    plan: _Plan,
    layers: Mapping[str, tuple[str, ...]],
    accs: Mapping[tuple[str, str], CKAAccumulator],
    loaded: Mapping[str, torch.nn.Module],
) -> LayerSimilarity:
    matrices = {
        f"{a}|{b}|{s}|{g}": m for (s, g), acc in accs.items() for (a, b), m in acc.result().items()
    }
    a, b = plan.names[0], plan.names[1]
    try:
        wc: WeightChange | None = weight_change(loaded[a], loaded[b], layers=layers[a])
    except ValidationError:
        wc = None  # different architectures: no weight change
    return LayerSimilarity(dict(layers), matrices, wc)


def _stage_progress(
    progress: Progress | None, stage: str, step: int, total: int
) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, n: progress(stage, (step + done / max(n, 1)) / total)


# --------------------------------------------------------------------------- components


def models_table(
    experiment: Experiment,
    *,
    device: str | torch.device = "auto",
    options: CompareOptions | None = None,
    progress: Progress | None = None,
    cache: ResultCache | None = None,
    intervals: bool = False,
) -> pd.DataFrame:
    """One row per model of the scenario: role, method, hyperparameters, accuracies, privacy.

    Columns: name, role, method, base, params (JSON text), epochs, lr, batch_size, UA, RA, TUA,
    TRA, RT, every :meth:`PrivacyReport.headline` number, ``acc_gap`` (mean absolute gap of
    UA/RA/TUA/TRA to the retrain model) and ``pareto`` (an unlearned model that no other
    unlearned model beats on accuracy gap, PS and RT at once). With ``intervals=True`` (on
    demand: it bootstraps every model, ``options.n_bootstrap`` replicates), also
    ``<metric>_ci_low`` and ``<metric>_ci_high`` for UA, RA, TUA, TRA and every headline
    number (NaN where N/A); the reports are cached, so :func:`compare` reuses them.
    """
    opts = options or CompareOptions.from_experiment(experiment)
    if not isinstance(intervals, bool):
        raise ValidationError(describe("intervals", "True or False", intervals))
    store = cache or experiment.cache
    names = [n for n in experiment.models if experiment.models[n].role not in AUXILIARY_ROLES]
    plan = _plan(experiment, names, opts)
    passes = _phase(progress, 0.0, 0.5)
    outputs, _ = _collect(experiment, plan, opts, device, passes, store, with_cka=False)
    used = opts if intervals else replace(opts, n_bootstrap=0)
    rows = []
    for step, name in enumerate(names):
        _emit(progress, f"privacy audit ({name})", 0.5 + 0.5 * step / len(names))
        report = _model_report(experiment, plan, name, outputs, used, store)
        extra = _ci_columns(report) if intervals else {}
        rows.append({**_table_row(experiment, report), **extra})
    _emit(progress, "done", 1.0)
    return _with_tradeoff(pd.DataFrame(rows), experiment.retrain_name)


def _ci_columns(report: ModelReport) -> dict[str, float]:
    out = {}
    for metric, (lo, hi) in report.intervals().items():
        out[f"{metric}_ci_low"], out[f"{metric}_ci_high"] = lo, hi
    return out


def _table_row(exp: Experiment, report: ModelReport) -> dict[str, Any]:
    entry = exp.entry(report.name)
    hyper = {**entry.train, **entry.params}
    acc = report.accuracy
    return {
        "name": report.name,
        "role": entry.role,
        "method": entry.method or "",
        "base": entry.base or "",
        "params": json.dumps(hyper, sort_keys=True),
        "epochs": hyper.get("epochs"),
        "lr": hyper.get("lr"),
        "batch_size": hyper.get("batch_size"),
        "UA": acc.ua,
        "RA": acc.ra,
        "TUA": acc.tua,
        "TRA": acc.tra,
        "RT": entry.rt,
        **report.privacy.headline(),
    }


def _with_tradeoff(table: pd.DataFrame, retrain: str | None) -> pd.DataFrame:
    metrics = [c for c in ("UA", "RA", "TUA", "TRA") if table[c].notna().any()]
    if retrain is None or retrain not in set(table["name"]):
        table["acc_gap"] = np.nan
    else:
        target = table.loc[table["name"] == retrain, metrics].iloc[0]
        table["acc_gap"] = (table[metrics].astype(float) - target.astype(float)).abs().mean(axis=1)
    table["pareto"] = pareto_mask(
        table[["acc_gap", "PS", "RT"]].to_numpy(dtype=float), maximise=(False, True, False)
    ) & (table["role"] == "unlearned")
    return table


def pareto_mask(points: np.ndarray, *, maximise: Sequence[bool]) -> np.ndarray:
    """Rows not dominated by any other row (rows with NaN are never on the front).

    Example:
        >>> pareto_mask(np.array([[1.0, 3], [2, 2], [0, 1]]), maximise=(False, True)).tolist()
        [True, False, True]
    """
    signed = np.where(np.asarray(maximise), -points, points)  # now: lower is better
    ok = np.asarray(np.isfinite(signed).all(axis=1), dtype=bool)
    le = (signed[:, None, :] <= signed[None, :, :]).all(axis=2)  # le[i, j]: i no worse than j
    lt = (signed[:, None, :] < signed[None, :, :]).any(axis=2)
    dominated = ((le & lt) & ok[:, None]).any(axis=0)
    return np.asarray(ok & ~dominated)


def _labels(exp: Experiment) -> dict[str, np.ndarray]:
    return {s: exp.dataset(s).targets for s in _SPLITS}


def _references(
    exp: Experiment, plan: _Plan, outputs: Mapping[str, ModelOutputs]
) -> ReferenceLogits | None:
    refs = plan.references
    if not refs:
        return None
    return ReferenceLogits(
        np.stack([outputs[r].train for r in refs]),
        np.stack([outputs[r].test for r in refs]),
        np.stack([plan.members(exp, r) for r in refs]),
    )


def _shadow_names(exp: Experiment, plan: _Plan, name: str) -> tuple[list[str], list[str]]:
    """The shadows of ``name``'s unlearning method and the retrained shadows (U-LiRA)."""
    method = exp.entry(name).method
    if method is None or method == "retrain":
        return [], []
    unlearned = [s for s in plan.shadows if exp.entry(s).method == method]
    retrained = [s for s in plan.shadows if exp.entry(s).method == "retrain"]
    return unlearned, retrained


def _shadows(
    exp: Experiment, plan: _Plan, name: str, outputs: Mapping[str, ModelOutputs]
) -> ShadowLogits | None:
    unlearned, retrained = _shadow_names(exp, plan, name)
    if not unlearned and not retrained:
        return None
    n_train, n_classes = outputs[name].train.shape

    def logits(names: list[str]) -> np.ndarray:
        if not names:
            return np.empty((0, n_train, n_classes), np.float32)
        return np.stack([outputs[s].train for s in names])

    def masks(names: list[str], make: Callable[[str], np.ndarray]) -> np.ndarray:
        return np.stack([make(s) for s in names]) if names else np.empty((0, n_train), bool)

    return ShadowLogits(
        str(exp.entry(name).method),
        logits(unlearned),
        masks(unlearned, lambda s: plan.shadow_forget(exp, s)),
        logits(retrained),
        masks(retrained, lambda s: ~plan.members(exp, s)),
    )


def _masks_hash(exp: Experiment, plan: _Plan, names: Sequence[str]) -> str:
    parts = [plan.members(exp, n) for n in names]
    parts += [plan.shadow_forget(exp, n) for n in names if exp.entry(n).role == "shadow"]
    return hash_arrays(*parts) if parts else ""


def _privacy(
    exp: Experiment,
    plan: _Plan,
    name: str,
    outputs: Mapping[str, ModelOutputs],
    opts: CompareOptions,
    store: ResultCache,
) -> PrivacyReport:
    retrain = exp.retrain_name
    shadow_names = [s for group in _shadow_names(exp, plan, name) for s in group]
    key = cache_key(
        kind="privacy",
        model=plan.hashes[name],
        data=plan.data,
        retrain=plan.hashes.get(retrain or "", ""),
        refs=[plan.hashes[r] for r in plan.references],
        shadows=[plan.hashes[s] for s in shadow_names],
        masks=_masks_hash(exp, plan, [*plan.references, *shadow_names]),
        forget=hash_arrays(exp.forget_indices),
        opts=asdict(opts),
    )
    cached = store.get(key)
    if isinstance(cached, PrivacyReport):
        return cached
    out = outputs[name]
    report = privacy_report(
        {"train": out.train, "test": out.test},
        _labels(exp),
        plan.sets,
        retrain={"train": outputs[retrain].train, "test": outputs[retrain].test}
        if retrain
        else None,
        references=_references(exp, plan, outputs),
        shadows=_shadows(exp, plan, name, outputs),
        seed=opts.seed,
        n_bootstrap=opts.n_bootstrap,
        ci_level=opts.ci_level,
        ps_grid=opts.ps_grid,
        svc_retain=opts.svc_retain,
        balance_references=opts.balance_references,
        lira_centre=opts.lira_centre,
    )
    store.put(key, report)
    return report


def _model_report(
    exp: Experiment,
    plan: _Plan,
    name: str,
    outputs: Mapping[str, ModelOutputs],
    opts: CompareOptions,
    store: ResultCache,
) -> ModelReport:
    """Accuracies, class metrics and the privacy audit of ``name``, with intervals when
    ``opts.n_bootstrap`` > 0 (pass ``replace(opts, n_bootstrap=0)`` to skip them)."""
    labels, out = _labels(exp), outputs[name]
    acc = accuracy_metrics(
        out.train.argmax(1),
        labels["train"],
        out.test.argmax(1),
        labels["test"],
        forget_indices=exp.forget_indices,
        forget_classes=exp.forget_classes,
        num_classes=exp.num_classes,
        n_bootstrap=opts.n_bootstrap,
        seed=opts.seed,
        level=opts.ci_level,
    )
    return ModelReport(
        name,
        exp.entry(name).role,
        acc,
        class_metrics(out.train, labels["train"], num_classes=exp.num_classes),
        class_metrics(out.test, labels["test"], num_classes=exp.num_classes),
        _privacy(exp, plan, name, outputs, opts, store),
    )


def _bootstrapped(opts: CompareOptions, name: str, chosen: Sequence[str | None]) -> CompareOptions:
    """``opts`` for a model among ``chosen`` (intervals computed), else without bootstrap."""
    return opts if name in chosen else replace(opts, n_bootstrap=0)


def _embedding_key(plan: _Plan, a: str, b: str, opts: CompareOptions) -> str:
    return cache_key(
        kind="embedding",
        a=plan.hashes[a],
        b=plan.hashes[b],
        data=plan.data,
        rows=hash_arrays(plan.embed_rows),
        method=opts.embedding_method,
        align=opts.embedding_align,
        seed=opts.seed,
    )


def _embedding(
    plan: _Plan,
    a: str,
    b: str,
    outputs: Mapping[str, ModelOutputs],
    opts: CompareOptions,
    store: ResultCache,
    progress: Progress | None = None,
) -> Embedding:
    key = _embedding_key(plan, a, b, opts)
    cached = store.get(key)
    if isinstance(cached, Embedding):
        return cached
    start = time.perf_counter()
    pair = embed_pair(
        outputs[a].features,
        outputs[b].features,
        method=opts.embedding_method,
        align=opts.embedding_align,
        random_state=opts.seed,
        progress=progress,
    )
    emb = Embedding(
        plan.embed_rows,
        pair.coords_a,
        pair.coords_b,
        pair.method,
        pair.align,
        time.perf_counter() - start,
    )
    store.put(key, emb)
    return emb


def pair_embedding(
    experiment: Experiment,
    a: str,
    b: str,
    *,
    device: str | torch.device = "auto",
    options: CompareOptions | None = None,
    progress: Progress | None = None,
    cache: ResultCache | None = None,
) -> Embedding:
    """The embedding of Model A and Model B alone (the maps :func:`compare` includes).

    Cached on disk under the key :func:`compare` uses; the forward passes it needs are the
    comparison's (cached too), so after ``compare(..., embedding=False)`` only the projection
    runs. Add it to that comparison with :meth:`Comparison.with_embedding`.

    Args:
        experiment: The loaded experiment.
        a: Name of Model A.
        b: Name of Model B (different from A).
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:N]"`` (for any forward pass still missing).
        options: Computation options (``embedding_*`` and ``seed`` shape the maps).
        progress: Called with (stage, fraction done in [0, 1]).
        cache: Result cache; default the workspace's ``.ulens_cache``.

    Returns:
        The :class:`Embedding`.

    Raises:
        ValidationError: Unknown model names or A == B.

    Example:
        >>> import analysis
        >>> exp = analysis.load_experiment("sample_data/digits")
        >>> emb = analysis.pair_embedding(exp, "retrain", "ga")  # doctest: +SKIP
        >>> emb.coords_a.shape == (len(emb.indices), 2)  # doctest: +SKIP
        True
    """
    _validate_pair(experiment, a, b)
    opts = options or CompareOptions.from_experiment(experiment)
    store = cache or experiment.cache
    plan = _plan(experiment, [a, b], opts)
    cached = store.get(_embedding_key(plan, a, b, opts))
    if isinstance(cached, Embedding):
        _emit(progress, "done", 1.0)
        return cached
    passes = _phase(progress, 0.0, 0.1)
    outputs, _ = _collect(experiment, plan, opts, device, passes, store, with_cka=False)
    emb = _embedding(plan, a, b, outputs, opts, store, _phase(progress, 0.1, 1.0))
    _emit(progress, "done", 1.0)
    return emb


# --------------------------------------------------------------------------- compare


def _validate_pair(exp: Experiment, a: str, b: str) -> None:
    for arg, name in (("a", a), ("b", b)):
        if name not in exp.models:
            raise ValidationError(
                describe(arg, f"a model of scenario {exp.scenario!r}: {list(exp.models)}", name)
            )
    if a == b:
        raise ValidationError(describe("b", "a model different from Model A", b))


def compare(
    experiment: Experiment,
    a: str,
    b: str,
    *,
    device: str | torch.device = "auto",
    options: CompareOptions | None = None,
    progress: Progress | None = None,
    cache: ResultCache | None = None,
    embedding: bool = True,
) -> Comparison:
    """Compare Model A and Model B of ``experiment`` (plus its original and retrain models).

    Args:
        experiment: The loaded experiment (its scenario fixes the forget set).
        a: Name of Model A.
        b: Name of Model B (different from A).
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:N]"``.
        options: Computation options (part of the cache key).
        progress: Called with (stage, fraction done in [0, 1]); the fraction only grows.
        cache: Result cache; default the workspace's ``.ulens_cache``.
        embedding: Include the embedding of A and B (a UMAP fit when not cached). False
            leaves it out (see the module docstring): every other result is the same.

    Returns:
        The comparison.

    Raises:
        ValidationError: Unknown model names, A == B, or ``embedding`` not a bool.
    """
    _validate_pair(experiment, a, b)
    if not isinstance(embedding, bool):
        raise ValidationError(describe("embedding", "True or False", embedding))
    opts = options or CompareOptions.from_experiment(experiment)
    store = cache or experiment.cache
    timings: dict[str, float] = {}
    start = time.perf_counter()
    plan = _plan(
        experiment, _unique([a, b, experiment.original_name, experiment.retrain_name]), opts
    )
    split = (0.15, 0.25) if embedding else (0.6, 0.95)  # share of the bar per phase
    passes = _phase(progress, 0.0, split[0])
    outputs, layers = _collect(experiment, plan, opts, device, passes, store)
    timings["passes"] = time.perf_counter() - start
    reports = _reports(experiment, plan, a, b, outputs, opts, store, progress, split)
    timings["privacy"] = time.perf_counter() - start - timings["passes"]
    emb = None
    if embedding:
        emb = _embedding(plan, a, b, outputs, opts, store, _phase(progress, split[1], 0.95))
        timings["embedding"] = emb.seconds
    _emit(progress, "instance table", 0.95)
    instances = instance_table(
        experiment, {n: outputs[n] for n in plan.names}, emb, a, b, reports=reports
    )
    _emit(progress, "done", 1.0)
    return Comparison(
        experiment.spec.name,
        experiment.scenario,
        a,
        b,
        experiment.original_name,
        experiment.retrain_name,
        experiment.class_names,
        experiment.forget_classes,
        reports,
        layers,
        emb,
        instances,
        plan.sets,
        opts,
        timings,
    )


def _reports(
    exp: Experiment,
    plan: _Plan,
    a: str,
    b: str,
    outputs: Mapping[str, ModelOutputs],
    opts: CompareOptions,
    store: ResultCache,
    progress: Progress | None,
    span: tuple[float, float],
) -> dict[str, ModelReport]:
    """Every model's report (intervals for A, B and retrain), progress over ``span``."""
    with_intervals = (a, b, exp.retrain_name)
    reports = {}
    for step, name in enumerate(plan.names):
        share = span[0] + (span[1] - span[0]) * step / len(plan.names)
        _emit(progress, f"privacy audit ({name})", share)
        chosen = _bootstrapped(opts, name, with_intervals)
        reports[name] = _model_report(exp, plan, name, outputs, chosen, store)
    return reports


def _phase(progress: Progress | None, start: float, end: float) -> Progress | None:
    """``progress`` with its fraction mapped onto ``[start, end]`` of the whole bar."""
    if progress is None:
        return None

    def report(stage: str, fraction: float) -> None:
        progress(stage, start + (end - start) * min(max(fraction, 0.0), 1.0))

    return report


def _emit(progress: Progress | None, stage: str, fraction: float) -> None:
    if progress is not None:
        progress(stage, fraction)


def _collect(
    exp: Experiment,
    plan: _Plan,
    opts: CompareOptions,
    device: str | torch.device,
    progress: Progress | None,
    store: ResultCache,
    *,
    with_cka: bool = True,
) -> tuple[dict[str, ModelOutputs], LayerSimilarity]:
    everyone = [*plan.names, *plan.references, *plan.shadows]
    outputs = {n: store.get(_outputs_key(plan, n, opts)) for n in everyone}
    missing = [n for n, v in outputs.items() if not isinstance(v, ModelOutputs)]
    ckey = _cka_key(exp, plan, opts)
    layers = store.get(ckey) if with_cka else None
    need_cka = with_cka and not isinstance(layers, LayerSimilarity)
    if missing or need_cka:
        fresh, computed = _run_passes(exp, plan, missing, need_cka, opts, device, progress)
        for n, out in fresh.items():
            store.put(_outputs_key(plan, n, opts), out)
            outputs[n] = out
        if computed is not None:
            store.put(ckey, computed)
            layers = computed
    return outputs, layers  # type: ignore[return-value]


# --------------------------------------------------------------------------- tables


_SIGNAL_COLUMNS = (
    "true_prob",
    "max_prob",
    "entropy",
    "modified_entropy",
    "loss",
    "entropy_t2",
    "logit_conf",
)


def instance_table(
    exp: Experiment,
    outputs: Mapping[str, ModelOutputs],
    emb: Embedding | None,
    a: str,
    b: str,
    *,
    reports: Mapping[str, ModelReport] | None = None,
) -> pd.DataFrame:
    """One row per sample of both splits: identity, per-model outputs and signals, A-vs-B change.

    Per model ``m``: ``m__pred``, the signals ``m__true_prob``, ``m__max_prob``, ``m__entropy``,
    ``m__modified_entropy``, ``m__loss``, ``m__entropy_t2``, ``m__logit_conf``, the map
    coordinates ``m__umap_x``/``m__umap_y`` (NaN without ``emb``) and, with ``reports``, the
    reference attacks' per-sample scores (:func:`analysis.exposure.attack_columns`; NaN where
    not computed).
    """
    frames = []
    forget_mask = np.zeros(len(exp.dataset("train")), bool)
    forget_mask[exp.forget_indices] = True
    for split in _SPLITS:
        labels = exp.dataset(split).targets
        n = len(labels)
        cols: dict[str, Any] = {
            "index": np.arange(n),
            "split": np.full(n, split, dtype=object),
            "label": labels,
            "is_forget": forget_mask if split == "train" else np.zeros(n, bool),
            "forget_class": np.isin(labels, exp.forget_classes or ()),
        }
        probs = {}
        for name, out in outputs.items():
            logits = out.train if split == "train" else out.test
            sig = signals_from_logits(logits, labels)
            cols[f"{name}__pred"] = sig.pred
            for col in _SIGNAL_COLUMNS:
                cols[f"{name}__{col}"] = getattr(sig, col)
            probs[name] = _softmax(logits)
            cols.update(_umap_columns(name, split, n, emb, a, b))
            if reports is not None and name in reports:
                cols.update(attack_columns(name, reports[name].privacy.sample_scores, split, n))
        cols["kl_a_b"] = np.sum(
            probs[a]
            * (np.log(np.clip(probs[a], 1e-30, None)) - np.log(np.clip(probs[b], 1e-30, None))),
            axis=1,
        )
        cols["changed_pred"] = cols[f"{a}__pred"] != cols[f"{b}__pred"]
        frames.append(pd.DataFrame(cols))
    table = pd.concat(frames, ignore_index=True)
    table["split"] = table["split"].astype("string")
    return table


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _umap_columns(
    name: str, split: str, n: int, emb: Embedding | None, a: str, b: str
) -> dict[str, np.ndarray]:
    x, y = np.full(n, np.nan), np.full(n, np.nan)
    if emb is None:
        return {f"{name}__umap_x": x, f"{name}__umap_y": y}
    coords = emb.coords_a if name == a else emb.coords_b if name == b else None
    if split == "train" and coords is not None:
        x[emb.indices], y[emb.indices] = coords[:, 0], coords[:, 1]
    return {f"{name}__umap_x": x, f"{name}__umap_y": y}


def summary_dict(cmp: Comparison) -> dict[str, Any]:
    """The ``summary.json`` document: headline numbers of A, B, original and retrain.

    Per model: role, UA/RA/TUA/TRA, every :meth:`PrivacyReport.headline` number, ``ci``
    (each of those numbers' bootstrap interval ``[low, high]``, null where not computed or
    N/A), the PS max form's saturation flag and note, and ``attacks``: per attack
    (forget-vs-holdout loss, population logistic, offline LiRA/RMIA, online LiRA, U-LiRA) its
    AUC with interval, the TPR at 1 % and 0.1 % FPR each with ``below_floor`` and the
    ``floor`` 1/#negatives, the sample counts, and why it is N/A when it is. ``bootstrap``
    says how the intervals were computed (replicates, level, seed, method, which models).
    """
    models: dict[str, Any] = {}
    for name, rep in cmp.models.items():
        acc, privacy = rep.accuracy, rep.privacy
        models[name] = {
            "role": rep.role,
            "UA": acc.ua,
            "RA": acc.ra,
            "TUA": acc.tua,
            "TRA": acc.tra,
            **privacy.headline(),
            "ci": {metric: list(ci) for metric, ci in rep.intervals().items()},
            "PS_max_form_saturated": privacy.ps.max_form_saturated if privacy.ps else None,
            "PS_max_form_note": privacy.ps_max_form_note(),
            "attacks": privacy.attacks_document(),
        }
    return {
        "experiment": cmp.experiment,
        "scenario": cmp.scenario,
        "a": cmp.a,
        "b": cmp.b,
        "original": cmp.original,
        "retrain": cmp.retrain,
        "bootstrap": _bootstrap_document(cmp),
        "models": _finite(models),
    }


def _bootstrap_document(cmp: Comparison) -> dict[str, Any]:
    return {
        "n_bootstrap": cmp.options.n_bootstrap,
        "level": cmp.options.ci_level,
        "seed": cmp.options.seed,
        "method": "percentile (PS and KS: percentile spread centred on the estimate)",
        "models": [n for n, rep in cmp.models.items() if rep.privacy.n_bootstrap > 0],
    }


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


_PAIRED_AUCS = {REFERENCE_ATTACKS[k] for k in PAIRED_GAMES}


def audit_table(cmp: Comparison) -> pd.DataFrame:
    """Every privacy number of every model beside the retrain model's and the gap.

    Columns: model, metric, value, retrain, gap, ci_low, ci_high (bootstrap interval of the
    value), below_floor and fpr_floor (TPR rows), note (model counts, dropped samples, why a
    number is N/A, the PS max form's saturation). Metrics: the headline numbers, then each
    attack's TPR at 1 % and 0.1 % FPR. For the online-LiRA and U-LiRA AUCs, whose negatives are
    the retrain model's own scores, the target is 0.5 (the retrain model scores exactly that).
    """
    retrain = (
        {r["metric"]: r["value"] for r in cmp.models[cmp.retrain].privacy.audit_rows()}
        if cmp.retrain
        else {}
    )
    rows = []
    for name, rep in cmp.models.items():
        for row in rep.privacy.audit_rows():
            metric, value = row["metric"], row["value"]
            target = 0.5 if metric in _PAIRED_AUCS and cmp.retrain else retrain.get(metric)
            gap = (
                float(value) - float(target)
                if isinstance(value, float | int) and isinstance(target, float | int)
                else None
            )
            rows.append({"model": name, **row, "retrain": target, "gap": gap})
    columns = ["model", "metric", "value", "retrain", "gap", "ci_low", "ci_high"]
    columns += ["below_floor", "fpr_floor", "note"]
    return pd.DataFrame(rows, columns=columns)
