"""Multi-seed groups: models that differ only by their seed, summarised and compared.

Two models belong to one **group** when they have the same role, method, base model, scenario
and hyperparameters (training recipe included) once the seed is removed. A model whose seed is
unknown (a hand-written ``experiment.toml`` entry without ``seed``) is a group of its own: it is
never pooled with runs it may not be a replicate of.

* :func:`group_key` — the canonical key of one model;
* :func:`assign_groups` — a models table (:func:`analysis.models_table`) with ``group`` and
  ``seed`` columns;
* :func:`group_table` — one row per group: size, seeds, mean and sample standard deviation
  (``ddof=1``; NaN with one member) of each metric;
* :func:`welch_test` / :func:`compare_groups` — whether two groups differ in a metric:
  Welch's two-sided t-test (``scipy.stats.ttest_ind(equal_var=False)``), only with at least
  two finite values per group;
* :func:`model_seeds` — each model's seed, from the run registry or its recipe.

Example:
    >>> import pandas as pd
    >>> t = pd.DataFrame({"name": ["g0", "g1", "g2"], "role": ["unlearned"] * 3,
    ...                   "method": ["ga"] * 3, "base": ["original"] * 3,
    ...                   "params": ['{"lr": 0.01}'] * 3, "PS": [0.5, 0.7, 0.6]})
    >>> g = group_table(assign_groups(t, {"g0": 0, "g1": 1, "g2": 2}), metrics=("PS",))
    >>> row = g.iloc[0]
    >>> int(row["n"]), round(float(row["PS_mean"]), 3), round(float(row["PS_std"]), 3)
    (3, 0.6, 0.1)
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import ValidationError, describe

__all__ = [
    "GROUP_METRICS",
    "SEED_KEYS",
    "WelchTest",
    "assign_groups",
    "compare_groups",
    "group_key",
    "group_label",
    "group_table",
    "model_seeds",
    "welch_test",
]

SEED_KEYS = ("seed",)
"""Hyperparameter keys that hold the seed (removed from the group key)."""
GROUP_METRICS = ("UA", "RA", "TUA", "TRA", "PS", "RT", "acc_gap")
"""Metrics :func:`group_table` summarises by default (those present in the table)."""
_REQUIRED = ("name", "role", "method", "base", "params")


def _params_dict(params: str | Mapping[str, Any] | None) -> dict[str, Any]:
    if params is None or (isinstance(params, float) and math.isnan(params)):
        return {}
    if isinstance(params, str):
        loaded = json.loads(params) if params.strip() else {}
        if not isinstance(loaded, dict):
            raise ValidationError(describe("params", "a JSON object", params))
        return loaded
    return dict(params)


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def group_key(
    *,
    role: str,
    method: str | None,
    base: str | None,
    params: str | Mapping[str, Any] | None,
    scenario: str | None = None,
) -> str:
    """The canonical key of a model's group: everything but the seed, as sorted JSON.

    Args:
        role: The model's role.
        method: Unlearning method ("" or None for trained models).
        base: The model the method started from.
        params: Hyperparameters and recipe (a mapping or JSON text); ``seed`` is dropped.
        scenario: The forget scenario (None when the caller's table is one scenario's).

    Example:
        >>> group_key(role="unlearned", method="ga", base="original",
        ...           params={"lr": 0.1, "seed": 3}) == group_key(
        ...     role="unlearned", method="ga", base="original", params='{"seed": 4, "lr": 0.1}')
        True
    """
    hyper = {k: v for k, v in _params_dict(params).items() if k not in SEED_KEYS}
    parts = {
        "role": _text(role),
        "method": _text(method),
        "base": _text(base),
        "scenario": _text(scenario),
        "params": hyper,
    }
    return json.dumps(parts, sort_keys=True, default=str)


def group_label(key: str) -> str:
    """A short readable label of a group key: ``"ga from original (epochs=1, lr=0.01)"``.

    Example:
        >>> group_label(group_key(role="unlearned", method="ga", base="original",
        ...                       params={"lr": 0.01}))
        'ga from original (lr=0.01)'
    """
    if key.startswith("model:"):
        return key[len("model:") :]
    parts = json.loads(key)
    head = parts["method"] or parts["role"]
    if parts["base"]:
        head += f" from {parts['base']}"
    if parts["scenario"]:
        head += f" on {parts['scenario']}"
    hyper = ", ".join(f"{k}={v}" for k, v in sorted(parts["params"].items()))
    return f"{head} ({hyper})" if hyper else head


def _validate_table(table: pd.DataFrame) -> None:
    if not isinstance(table, pd.DataFrame):
        raise ValidationError(describe("table", "a pandas DataFrame", type(table).__name__))
    missing = [c for c in _REQUIRED if c not in table.columns]
    if missing:
        raise ValidationError(
            describe("table", f"a models table with columns {list(_REQUIRED)}", missing)
        )


def assign_groups(
    table: pd.DataFrame,
    seeds: Mapping[str, int | None],
    *,
    scenario: str | None = None,
) -> pd.DataFrame:
    """``table`` plus a ``seed`` column and a ``group`` key per row.

    Args:
        table: A models table (columns ``name, role, method, base, params`` at least).
        seeds: Model name -> seed (missing or None: unknown, the model is its own group).
        scenario: Included in every key (for tables mixing scenarios, pass None and a
            ``scenario`` column instead).

    Raises:
        ValidationError: ``table`` lacks a required column.
    """
    _validate_table(table)
    out = table.copy()
    out["seed"] = [seeds.get(str(n)) for n in out["name"]]
    keys = []
    for _, row in out.iterrows():
        if row["seed"] is None or (isinstance(row["seed"], float) and math.isnan(row["seed"])):
            keys.append(f"model:{row['name']}")
            continue
        keys.append(
            group_key(
                role=row["role"],
                method=row["method"],
                base=row["base"],
                params=row["params"],
                scenario=row["scenario"] if "scenario" in out.columns else scenario,
            )
        )
    out["group"] = keys
    return out


def group_table(grouped: pd.DataFrame, *, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per group of :func:`assign_groups`' output, in order of first appearance.

    Columns: ``group`` (key), ``label``, ``role``, ``method``, ``base``, ``n`` (members),
    ``seeds`` (sorted, as a list), ``members`` (model names) and per metric ``<m>_mean`` and
    ``<m>_std`` (sample standard deviation, ``ddof=1``, over the finite values; NaN with fewer
    than two) and ``<m>_n`` (finite values).

    Raises:
        ValidationError: No ``group`` column (call :func:`assign_groups` first).
    """
    if not isinstance(grouped, pd.DataFrame) or "group" not in grouped.columns:
        raise ValidationError(
            describe("grouped", "the output of assign_groups (a 'group' column)", "no groups")
        )
    chosen = [m for m in (metrics or GROUP_METRICS) if m in grouped.columns]
    rows = []
    for key, members in grouped.groupby("group", sort=False):
        first = members.iloc[0]
        row: dict[str, Any] = {
            "group": key,
            "label": group_label(str(key)),
            "role": first["role"],
            "method": first["method"],
            "base": first["base"],
            "n": len(members),
            "seeds": sorted(int(s) for s in members["seed"] if _finite(s)),
            "members": [str(n) for n in members["name"]],
        }
        for metric in chosen:
            values = _finite_values(members[metric])
            row[f"{metric}_mean"] = float(values.mean()) if len(values) else math.nan
            row[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            row[f"{metric}_n"] = len(values)
        rows.append(row)
    return pd.DataFrame(rows)


def _finite(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _finite_values(values: Iterable[Any]) -> np.ndarray:
    array = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(float)
    return array[np.isfinite(array)]


@dataclass(frozen=True)
class WelchTest:
    """Welch's two-sided t-test of one metric between two groups.

    Attributes:
        metric: The metric compared.
        n_a, n_b: Finite values in each group.
        mean_a, mean_b: Group means (NaN when empty).
        std_a, std_b: Sample standard deviations (``ddof=1``; NaN with fewer than two).
        statistic: Welch's t (NaN when not testable).
        df: Welch–Satterthwaite degrees of freedom (NaN when not testable).
        p_value: Two-sided p-value (NaN when not testable).
        testable: Whether the test could be computed.
        reason: Why not, when it could not ("" otherwise).
    """

    metric: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    std_a: float
    std_b: float
    statistic: float
    df: float
    p_value: float
    testable: bool
    reason: str = ""

    def significant(self, alpha: float = 0.05) -> bool:
        """Whether the difference is significant at level ``alpha`` (False if untestable)."""
        return self.testable and self.p_value < alpha


def _stats(values: np.ndarray) -> tuple[float, float]:
    mean = float(values.mean()) if len(values) else math.nan
    std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
    return mean, std


def welch_test(a: Iterable[Any], b: Iterable[Any], *, metric: str = "value") -> WelchTest:
    """Welch's two-sided t-test of ``a`` against ``b`` (non-finite values dropped).

    Not testable (``testable=False``, NaN statistic and p-value, ``reason`` said) when a group
    has fewer than two finite values, or when neither group varies (the statistic is 0/0).

    Example:
        >>> r = welch_test([1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0])
        >>> round(r.statistic, 4), round(r.df, 3), r.testable
        (-4.0415, 4.959, True)
        >>> welch_test([1.0], [2.0, 3.0]).reason
        'fewer than 2 seeds in the first group (1): cannot be tested'
    """
    from scipy.stats import ttest_ind

    xa, xb = _finite_values(a), _finite_values(b)
    (mean_a, std_a), (mean_b, std_b) = _stats(xa), _stats(xb)
    reason = _untestable(len(xa), len(xb), std_a, std_b)
    statistic = df = p_value = math.nan
    if not reason:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = ttest_ind(xa, xb, equal_var=False)
        statistic, df, p_value = float(result.statistic), float(result.df), float(result.pvalue)
    return WelchTest(
        metric=metric,
        n_a=len(xa),
        n_b=len(xb),
        mean_a=mean_a,
        mean_b=mean_b,
        std_a=std_a,
        std_b=std_b,
        statistic=statistic,
        df=df,
        p_value=p_value,
        testable=not reason,
        reason=reason,
    )


def _untestable(n_a: int, n_b: int, std_a: float, std_b: float) -> str:
    """Why Welch's test cannot be computed ("" when it can)."""
    for which, n in (("first", n_a), ("second", n_b)):
        if n < 2:
            return f"fewer than 2 seeds in the {which} group ({n}): cannot be tested"
    if std_a == 0 and std_b == 0:
        return "no variation within either group: the t statistic is undefined"
    return ""


def compare_groups(
    grouped: pd.DataFrame,
    first: str,
    second: str,
    *,
    metrics: Sequence[str] = ("PS", "UA"),
) -> dict[str, WelchTest]:
    """Welch's t-test of each metric between two groups of :func:`assign_groups`' output.

    Raises:
        ValidationError: An unknown group key, the same group twice, or a missing metric.

    Example:
        >>> import pandas as pd
        >>> t = pd.DataFrame({"group": ["x", "x", "y", "y"], "PS": [0.1, 0.2, 0.8, 0.9]})
        >>> compare_groups(t, "x", "y", metrics=("PS",))["PS"].p_value < 0.05
        True
    """
    if not isinstance(grouped, pd.DataFrame) or "group" not in grouped.columns:
        raise ValidationError(
            describe("grouped", "the output of assign_groups (a 'group' column)", "no groups")
        )
    known = list(dict.fromkeys(grouped["group"]))
    for argument, key in (("first", first), ("second", second)):
        if key not in known:
            raise ValidationError(describe(argument, "a group key of the table", key))
    if first == second:
        raise ValidationError(describe("second", "a group other than the first", second))
    missing = [m for m in metrics if m not in grouped.columns]
    if missing:
        raise ValidationError(describe("metrics", "columns of the table", missing))
    a = grouped.loc[grouped["group"] == first]
    b = grouped.loc[grouped["group"] == second]
    return {m: welch_test(a[m], b[m], metric=m) for m in metrics}


def model_seeds(
    models: Mapping[str, Any], run_seeds: Mapping[str, int | None] | None = None
) -> dict[str, int | None]:
    """Each model's seed: the run registry's seed, else ``seed`` in its recipe or parameters.

    Args:
        models: Model name -> :class:`~analysis.spec.ModelEntry` (``experiment.models``).
        run_seeds: Model name -> seed of registry runs (:attr:`RunRecord.seed`).

    Example:
        >>> from pathlib import Path
        >>> from analysis.spec import ArchitectureSpec, ModelEntry
        >>> e = ModelEntry("o", "original", Path("o.safetensors"), ArchitectureSpec("mlp"),
        ...                train={"seed": 7})
        >>> model_seeds({"o": e}, {}), model_seeds({"o": e}, {"o": 3})
        ({'o': 7}, {'o': 3})
    """
    runs = dict(run_seeds or {})
    out: dict[str, int | None] = {}
    for name, entry in models.items():
        seed = runs.get(name)
        if seed is None:
            for table in (getattr(entry, "train", {}) or {}, getattr(entry, "params", {}) or {}):
                if isinstance(table.get("seed"), int) and not isinstance(table["seed"], bool):
                    seed = int(table["seed"])
                    break
        out[name] = seed
    return out
