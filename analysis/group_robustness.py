"""Group robustness: per-group accuracy and PS before and after unlearning, against the retrain.

A **group** is a class by default, or a user-given group id per sample:

* ``[dataset] groups = "groups.npz"`` in ``experiment.toml`` (any dataset kind): a
  workspace-relative ``.npz`` (loaded with ``allow_pickle=False``, confined to the workspace)
  with integer arrays ``groups_train`` (one id per training sample, in dataset order) and
  ``groups_test`` (one per test sample), and optionally ``group_names`` (strings, one per id);
* for an ``npz`` dataset, the same arrays inside the dataset's own archive (used when
  ``[dataset] groups`` is not set).

Per group g (rows of :attr:`GroupMetrics.table`; DESIGN §3 definitions restricted to g):
``UA`` = accuracy on g's forget samples, ``RA`` = accuracy on g's retain training samples,
``TA`` = accuracy on g's test samples, ``PS`` = the models table's privacy score
(:func:`analysis.mia.privacy_score`) of the model against the retrain model on g's forget
samples only; the same accuracies of the retrain model (``retrain_UA``...) and the signed gaps
``UA_gap``, ``RA_gap``, ``TA_gap`` = model − retrain. A group without forget samples has UA and
PS NaN (one warning lists such groups), likewise empty retain/test parts.

The headline: the **worst-group gap** ``max_g |TA_gap(g)|`` (which group it is) and the
worst-group test accuracy ``min_g TA(g)``.

Example:
    >>> import analysis, warnings
    >>> exp = analysis.load_experiment("sample_data/digits", scenario="random")
    >>> m = group_metrics(exp, "ga_random", device="cpu")
    >>> len(m.table), m.source, m.worst_gap >= 0
    (10, 'classes', True)
"""

from __future__ import annotations

import math
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from analysis.errors import ValidationError, describe

__all__ = [
    "GROUP_ARRAYS",
    "GroupLabels",
    "GroupMetrics",
    "group_metrics",
    "group_robustness_table",
    "load_groups",
]

GROUP_ARRAYS = ("groups_train", "groups_test", "group_names")
"""Array names of a groups archive (``group_names`` optional)."""
_COLUMNS = (
    "group",
    "name",
    "n_forget",
    "n_retain",
    "n_test",
    "UA",
    "RA",
    "TA",
    "PS",
    "retrain_UA",
    "retrain_RA",
    "retrain_TA",
    "UA_gap",
    "RA_gap",
    "TA_gap",
)


@dataclass(frozen=True)
class GroupLabels:
    """A group id per training and test sample.

    Attributes:
        train: Group id per training sample (int64, non-negative).
        test: Group id per test sample.
        names: Name per group id (index = id).
        source: ``classes`` or where the ids came from (``dataset.groups 'g.npz'``).
    """

    train: np.ndarray
    test: np.ndarray
    names: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class GroupMetrics:
    """Per-group metrics of one model (see the module docstring).

    Attributes:
        model: The model.
        retrain: The retrain model compared with (None: none, gaps and PS are NaN).
        source: Where the groups came from.
        table: One row per group present in the data: ``group``, ``name``, ``n_forget``,
            ``n_retain``, ``n_test``, ``UA``, ``RA``, ``TA``, ``PS``, ``retrain_UA``,
            ``retrain_RA``, ``retrain_TA``, ``UA_gap``, ``RA_gap``, ``TA_gap``.
        worst_group: Name of the group with the largest ``|TA_gap|`` ("" when all are NaN).
        worst_gap: That ``|TA_gap|`` (NaN without a retrain model).
        worst_acc_group: Name of the group with the lowest ``TA`` among the groups that keep
            training samples (a group forgotten whole, e.g. a forgotten class, is meant to
            fall to 0 and is left out).
        worst_acc: That test accuracy.
    """

    model: str
    retrain: str | None
    source: str
    table: pd.DataFrame
    worst_group: str
    worst_gap: float
    worst_acc_group: str
    worst_acc: float


# --------------------------------------------------------------------------- groups


def load_groups(exp: Any, groups: Any = None) -> GroupLabels:
    """The group labels of an experiment.

    Args:
        exp: The :class:`~analysis.Experiment`.
        groups: None (``[dataset] groups``, else the npz dataset's own ``groups_train`` /
            ``groups_test``, else the classes), ``"classes"``, a workspace-relative ``.npz``
            path, or a :class:`GroupLabels` (checked against the splits).

    Raises:
        ValidationError: Missing or malformed arrays, wrong lengths, negative ids, a file
            outside the workspace (OutsideWorkspaceError), or a bad ``groups`` argument.

    Example:
        >>> import analysis
        >>> g = load_groups(analysis.load_experiment("sample_data/digits"))
        >>> g.source, g.names[:2], len(g.train)
        ('classes', ('0', '1'), 1437)
    """
    if isinstance(groups, GroupLabels):
        return _checked(groups, exp)
    if groups is None:
        declared = exp.spec.dataset.get("groups")
        if isinstance(declared, str):
            return _from_file(exp, declared, "dataset.groups")
        if exp.spec.dataset.get("kind") == "npz" and _has_groups(exp):
            return _from_file(exp, str(exp.spec.dataset["path"]), "dataset.path")
        groups = "classes"
    if groups == "classes":
        return GroupLabels(
            exp.dataset("train").targets.astype(np.int64),
            exp.dataset("test").targets.astype(np.int64),
            tuple(exp.class_names),
            "classes",
        )
    if isinstance(groups, str | Path) and str(groups):
        return _from_file(exp, str(groups), "groups")
    raise ValidationError(
        describe("groups", "None, 'classes', an .npz path or GroupLabels", groups)
    )


def _has_groups(exp: Any) -> bool:
    from analysis.trust import confine

    path = confine(str(exp.spec.dataset["path"]), exp.root, argument="dataset.path")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return "groups_train" in archive.files and "groups_test" in archive.files
    except (ValueError, OSError, zipfile.BadZipFile):
        return False


def _from_file(exp: Any, raw: str, argument: str) -> GroupLabels:
    from analysis.trust import confine

    path = confine(raw, exp.root, argument=argument)
    shown = f"{argument} {raw!r}"
    if not path.is_file():
        raise ValidationError(describe(argument, "an existing .npz file", raw))
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in GROUP_ARRAYS[:2] if k not in archive.files]
            if missing:
                raise ValidationError(
                    describe(shown, f"arrays {list(GROUP_ARRAYS[:2])}", archive.files)
                )
            arrays = {k: archive[k] for k in GROUP_ARRAYS if k in archive.files}
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ValidationError(
            describe(shown, "a readable .npz archive", str(exc), raw=True)
        ) from exc
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(
            describe(shown, "plain arrays (object arrays are refused)", str(exc), raw=True)
        ) from exc
    train = _ids(arrays["groups_train"], f"{shown} groups_train")
    test = _ids(arrays["groups_test"], f"{shown} groups_test")
    top = int(max(train.max(initial=0), test.max(initial=0)))
    names = tuple(str(i) for i in range(top + 1))
    if "group_names" in arrays:
        given = arrays["group_names"]
        if given.ndim != 1 or len(given) <= top or given.dtype.kind not in "US":
            raise ValidationError(
                describe(
                    f"{shown} group_names",
                    f"a 1-D string array of at least {top + 1} names",
                    f"{given.dtype} array of shape {given.shape}",
                    raw=True,
                )
            )
        names = tuple(str(v) for v in given.tolist())
    return _checked(GroupLabels(train, test, names, shown), exp)


def _ids(values: np.ndarray, shown: str) -> np.ndarray:
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer) or (values < 0).any():
        raise ValidationError(
            describe(
                shown,
                "a 1-D array of non-negative integer group ids",
                f"{values.dtype} array of shape {values.shape}",
                raw=True,
            )
        )
    return values.astype(np.int64)


def _checked(groups: GroupLabels, exp: Any) -> GroupLabels:
    for split, ids in (("train", groups.train), ("test", groups.test)):
        n = len(exp.dataset(split))
        ids = np.asarray(ids)
        if ids.shape != (n,) or not np.issubdtype(ids.dtype, np.integer) or (ids < 0).any():
            raise ValidationError(
                describe(
                    f"groups ({groups.source}) {split}",
                    f"{n} non-negative integer ids (one per {split} sample)",
                    f"{ids.dtype} array of shape {ids.shape}",
                    raw=True,
                )
            )
        if len(ids) and int(ids.max()) >= len(groups.names):
            raise ValidationError(
                describe(
                    f"groups ({groups.source}) names",
                    f"a name per group id up to {int(ids.max())}",
                    len(groups.names),
                )
            )
    return groups


# --------------------------------------------------------------------------- metrics


def _model_name(exp: Any, name: Any, argument: str) -> str:
    if not isinstance(name, str) or name not in exp.models:
        raise ValidationError(describe(argument, f"a model among {list(exp.models)}", name))
    return name


class _Logits:
    """Logits per model and split: computed once per call, and kept in the workspace's result
    cache (keyed by the weights' and the data's content), so another pair, page or process
    showing the same model does not run it again."""

    def __init__(self, exp: Any, device: str | torch.device) -> None:
        from analysis.device import resolve_device

        self.exp = exp
        self.device = resolve_device(device)
        self.cache: dict[tuple[str, str], np.ndarray] = {}

    def __call__(self, name: str, split: str) -> np.ndarray:
        from analysis.training import predict_logits

        key = (name, split)
        if key not in self.cache:
            stored, disk_key = self._stored(name)
            if stored is None:
                model = self.exp.load_model(name, device=self.device)
                stored = {
                    part: predict_logits(model, self.exp.dataset(part), device=self.device).numpy()
                    for part in ("train", "test")
                }
                self.exp.cache.put(disk_key, stored)
            for part in ("train", "test"):
                self.cache[(name, part)] = stored[part]
        return self.cache[key]

    def _stored(self, name: str) -> tuple[dict[str, np.ndarray] | None, str]:
        from analysis.compare import _data_hash, _model_hash
        from analysis.store import cache_key

        key = cache_key(kind="logits", model=_model_hash(self.exp, name), data=_data_hash(self.exp))
        value = self.exp.cache.get(key)
        if isinstance(value, dict) and set(value) == {"train", "test"}:
            return {part: np.asarray(value[part]) for part in ("train", "test")}, key
        return None, key


def _accuracy(correct: np.ndarray, mask: np.ndarray) -> float:
    return float(correct[mask].mean()) if mask.any() else math.nan


def _rows(
    exp: Any, groups: GroupLabels, logits: _Logits, model: str, retrain: str | None
) -> tuple[pd.DataFrame, list[str]]:
    from analysis.mia import privacy_score

    y_train, y_test = exp.dataset("train").targets, exp.dataset("test").targets
    forget = np.zeros(len(y_train), dtype=bool)
    forget[exp.forget_indices] = True
    ok = {
        n: (logits(n, "train").argmax(1) == y_train, logits(n, "test").argmax(1) == y_test)
        for n in ([model] if retrain is None else [model, retrain])
    }
    present = np.union1d(np.unique(groups.train), np.unique(groups.test))
    rows, empty = [], []
    for g in present.tolist():
        f, r, t = forget & (groups.train == g), ~forget & (groups.train == g), groups.test == g
        row: dict[str, Any] = {"group": g, "name": groups.names[g]}
        row.update(n_forget=int(f.sum()), n_retain=int(r.sum()), n_test=int(t.sum()))
        for prefix, name in (("", model), ("retrain_", retrain)):
            train_ok, test_ok = ok[name] if name is not None else (None, None)
            for key, correct, mask in (
                ("UA", train_ok, f),
                ("RA", train_ok, r),
                ("TA", test_ok, t),
            ):
                row[prefix + key] = _accuracy(correct, mask) if correct is not None else math.nan
        row["PS"] = math.nan
        if not f.any():
            empty.append(groups.names[g])
        elif retrain is not None:
            mine, theirs = logits(model, "train")[f], logits(retrain, "train")[f]
            row["PS"] = float(privacy_score(mine, theirs).ps)
        for key in ("UA", "RA", "TA"):
            row[f"{key}_gap"] = row[key] - row[f"retrain_{key}"]
        rows.append(row)
    return pd.DataFrame(rows, columns=list(_COLUMNS)), empty


def group_metrics(
    exp: Any,
    model: str,
    *,
    groups: Any = None,
    retrain: str | None = None,
    device: str | torch.device = "auto",
    _logits: _Logits | None = None,
) -> GroupMetrics:
    """Per-group accuracy, PS and gaps to the retrain model of one model.

    Args:
        exp: The experiment (its scenario's forget set is used).
        model: A model of the scenario.
        groups: See :func:`load_groups` (default: ``[dataset] groups``, else the classes).
        retrain: The retrain model (default: the scenario's; None when it has none: gaps and
            PS are NaN, with a warning).
        device: ``"auto"``, ``"cpu"``, ``"cuda[:N]"``.

    Returns:
        The :class:`GroupMetrics`.

    Raises:
        ValidationError: Unknown model or retrain model, bad groups.
    """
    model = _model_name(exp, model, "model")
    retrain = retrain if retrain is not None else exp.retrain_name
    if retrain is not None:
        retrain = _model_name(exp, retrain, "retrain")
    else:
        warnings.warn(
            f"scenario {exp.scenario!r} has no retrain model: gaps and PS are NaN",
            RuntimeWarning,
            stacklevel=2,
        )
    labels = load_groups(exp, groups)
    table, empty = _rows(exp, labels, _logits or _Logits(exp, device), model, retrain)
    if empty:
        warnings.warn(
            f"groups without forget samples (UA and PS are NaN): {', '.join(empty)}",
            RuntimeWarning,
            stacklevel=2,
        )
    return _summarise(model, retrain, labels.source, table)


def _summarise(model: str, retrain: str | None, source: str, table: pd.DataFrame) -> GroupMetrics:
    gaps = table["TA_gap"].abs()
    acc = table["TA"].where(table["n_retain"] > 0)  # a group forgotten whole is meant to fail
    worst = int(np.nanargmax(gaps.to_numpy())) if gaps.notna().any() else None
    low = int(np.nanargmin(acc.to_numpy())) if acc.notna().any() else None
    return GroupMetrics(
        model=model,
        retrain=retrain,
        source=source,
        table=table,
        worst_group="" if worst is None else str(table["name"].iloc[worst]),
        worst_gap=math.nan if worst is None else float(gaps.iloc[worst]),
        worst_acc_group="" if low is None else str(table["name"].iloc[low]),
        worst_acc=math.nan if low is None else float(acc.iloc[low]),
    )


def group_robustness_table(
    exp: Any,
    models: Sequence[str] | None = None,
    *,
    groups: Any = None,
    device: str | torch.device = "auto",
) -> pd.DataFrame:
    """Per-group metrics of several models in one long table (what the Classes page shows).

    Args:
        exp: The experiment.
        models: Models to include (default: the original — "before" —, every unlearned model
            of the scenario, and the retrain model), in that order.
        groups: See :func:`load_groups`.
        device: ``"auto"``, ``"cpu"``, ``"cuda[:N]"``.

    Returns:
        One row per (model, group): ``model`` then the :attr:`GroupMetrics.table` columns, plus
        ``worst_gap`` (the model's worst-group gap, repeated on its rows).

    Raises:
        ValidationError: Unknown model, bad groups, no model.

    Example:
        >>> import analysis
        >>> exp = analysis.load_experiment("sample_data/digits", scenario="random")
        >>> t = group_robustness_table(exp, ["original", "ga_random"], device="cpu")
        >>> t["model"].unique().tolist(), len(t)
        (['original', 'ga_random'], 20)
    """
    if models is None:
        models = [
            n
            for n in (exp.original_name, *exp.names_with_role("unlearned"), exp.retrain_name)
            if n is not None
        ]
    models = list(models)
    if not models:
        raise ValidationError(describe("models", "at least one model", models))
    logits = _Logits(exp, device)
    labels = load_groups(exp, groups)
    frames = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name in models:
            result = group_metrics(exp, name, groups=labels, device=device, _logits=logits)
            frames.append(result.table.assign(model=name, worst_gap=result.worst_gap))
    for message in dict.fromkeys(str(w.message) for w in caught):
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    table = pd.concat(frames, ignore_index=True)
    return table[["model", *_COLUMNS, "worst_gap"]]
