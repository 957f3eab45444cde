"""Display helpers of the Run panel and the seed groups: pure functions, no Streamlit.

* :func:`queue_rows` — one line of text per run of the queue (state, stage, epoch, current
  UA/RA, elapsed, ETA, error);
* :func:`run_metrics_json` — the metrics JSON a user downloads beside a run's weights;
* :func:`group_display` — the models table per seed group as "mean ± std" text;
* :func:`welch_display` — a two-group comparison (Welch's t-test) as a table.

Example:
    >>> format_duration(75), format_duration(None), format_duration(4000)
    ('1:15', '–', '1:06:40')
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.groups import WelchTest
from analysis.runs.registry import RunRecord

__all__ = [
    "STATE_ICONS",
    "QueueRow",
    "format_duration",
    "format_number",
    "group_display",
    "queue_rows",
    "run_metrics_json",
    "short_labels",
    "welch_display",
]

STATE_ICONS = {
    "queued": ":material/schedule:",
    "running": ":material/play_circle:",
    "done": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
    "interrupted": ":material/warning:",
}
"""Streamlit markdown icons of the run states (the Material Symbols font ships with Streamlit:
no emoji font needed, nothing fetched)."""
_GROUP_METRICS = ("UA", "RA", "TUA", "TRA", "PS", "RT", "acc_gap")


def format_duration(seconds: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``); an en dash when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_number(value: Any, digits: int = 3) -> str:
    """A metric for the queue: ``0.123``, or ``N/A`` when missing or not finite.

    Example:
        >>> format_number(0.12345), format_number(None), format_number(float("nan"))
        ('0.123', 'N/A', 'N/A')
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "N/A"
    return f"{number:.{digits}f}" if math.isfinite(number) else "N/A"


@dataclass(frozen=True)
class QueueRow:
    """What the queue shows for one run.

    Attributes:
        id: Run id.
        name: Model name.
        title: ``":material/check_circle: ga_classwise_1 · done"`` (icon, name, state).
        what: ``"unlearn · ga on classwise from original · seed 0"``.
        state: Run state.
        fraction: Share of steps done, for the progress bar.
        progress: ``"unlearning · epoch 1/2 · step 5/10"``.
        metrics: ``"UA 0.100 · RA 0.950"`` (current while running, final when done).
        timing: ``"elapsed 0:12 · ETA 0:30"``.
        error: Error text of a failed / interrupted run ("" otherwise).
        active: Queued or running (can be cancelled).
        cancelling: Cancel was requested and the worker has not stopped yet.
    """

    id: int
    name: str
    title: str
    what: str
    state: str
    fraction: float
    progress: str
    metrics: str
    timing: str
    error: str
    active: bool
    cancelling: bool


def _what(record: RunRecord) -> str:
    if record.method and record.role in ("unlearned", "shadow") and record.base:
        body = f"{record.method} on {record.forget} from {record.base}"
    elif record.role == "retrain":
        body = f"retrain for {record.forget}"
    else:
        body = record.role
    seed = f" · seed {record.seed}" if record.seed is not None else ""
    return f"{record.kind} · {body}{seed}"


def _progress(record: RunRecord) -> str:
    parts = [record.stage or record.state]
    if record.state == "running" and record.epochs:
        parts.append(f"epoch {record.epoch}/{record.epochs}")
    if record.state == "running" and record.steps:
        parts.append(f"step {record.step}/{record.steps}")
    if record.state == "queued" and record.depends_on:
        parts.append(f"waits for {record.depends_on}")
    if record.cancel_requested and record.state == "running":
        parts.append("cancelling…")
    return " · ".join(parts)


def _metrics(record: RunRecord) -> str:
    source = record.metrics if record.state == "done" else record.current
    shown = [f"{k} {format_number(source.get(k))}" for k in ("UA", "RA") if k in source]
    if record.state == "running" and "loss" in source:
        shown.append(f"loss {format_number(source.get('loss'))}")
    return " · ".join(shown)


def _timing(record: RunRecord, now: float) -> str:
    if record.state == "queued":
        return "waiting for a worker"
    text = f"elapsed {format_duration(record.elapsed(now))}"
    if record.state == "running":
        text += f" · ETA {format_duration(record.eta(now))}"
    return text


def queue_rows(records: Sequence[RunRecord], *, now: float | None = None) -> list[QueueRow]:
    """The queue's rows, newest first (runs from uploads are not jobs and are left out)."""
    moment = time.time() if now is None else now
    rows = []
    for record in sorted(records, key=lambda r: r.id, reverse=True):
        if record.kind == "upload":
            continue
        rows.append(
            QueueRow(
                id=record.id,
                name=record.name,
                title=f"{STATE_ICONS.get(record.state, '')} {record.name} · {record.state}".strip(),
                what=_what(record),
                state=record.state,
                fraction=record.fraction,
                progress=_progress(record),
                metrics=_metrics(record),
                timing=_timing(record, moment),
                error=record.error if record.state in ("failed", "interrupted") else "",
                active=record.state in ("queued", "running"),
                cancelling=record.cancel_requested and record.state == "running",
            )
        )
    return rows


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def run_metrics_json(record: RunRecord) -> str:
    """A run's description, final metrics and per-epoch history as JSON text (no server path:
    files are named relative to the workspace folder)."""
    data = {
        "name": record.name,
        "role": record.role,
        "kind": record.kind,
        "method": record.method,
        "base": record.base,
        "scenario": record.forget,
        "seed": record.seed,
        "params": dict(record.params),
        "train": dict(record.train),
        "state": record.state,
        "rt_seconds": record.rt,
        "metrics": dict(record.metrics),
        "history": [dict(r) for r in record.history_data],
        "weights_file": record.file.name,
        "device": record.device,
        "error": record.error,
    }
    return json.dumps(_plain(data), indent=1, sort_keys=False)


def _pm(mean: Any, std: Any, n: int) -> str:
    if not _finite(mean):
        return "N/A"
    if n < 2 or not _finite(std):
        return f"{float(mean):.3f}"
    return f"{float(mean):.3f} ± {float(std):.3f}"


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def short_labels(keys: Sequence[str]) -> list[str]:
    """Group labels naming only the hyperparameters that vary among groups of the same
    method and base (a model's own group keeps its name).

    Example:
        >>> from analysis.groups import group_key
        >>> keys = [group_key(role="unlearned", method="ga", base="o", params={"lr": lr, "e": 1})
        ...         for lr in (0.1, 0.2)]
        >>> short_labels([*keys, "model:ft"])
        ['ga from o (lr=0.1)', 'ga from o (lr=0.2)', 'ft']
    """
    parsed = {k: json.loads(k) for k in keys if not k.startswith("model:")}
    families: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for parts in parsed.values():
        families.setdefault((parts["role"], parts["method"], parts["base"]), []).append(
            parts["params"]
        )
    out = []
    for key in keys:
        if key not in parsed:
            out.append(key.removeprefix("model:"))
            continue
        parts = parsed[key]
        family = families[(parts["role"], parts["method"], parts["base"])]
        names = sorted({n for p in family for n in p})
        varying = [n for n in names if len({json.dumps(p.get(n)) for p in family}) > 1]
        head = (parts["method"] or parts["role"]) + (
            f" from {parts['base']}" if parts["base"] else ""
        )
        shown = ", ".join(f"{n}={parts['params'].get(n)}" for n in varying)
        out.append(f"{head} ({shown})" if shown else head)
    return out


def group_display(groups: pd.DataFrame) -> pd.DataFrame:
    """:func:`analysis.groups.group_table` as text: ``"0.512 ± 0.034"`` (mean ± sample std,
    one value without ±), with the group size and seeds.

    Example:
        >>> g = pd.DataFrame({"label": ["ga"], "role": ["unlearned"], "n": [2], "seeds": [[0, 1]],
        ...                   "members": [["a", "b"]], "UA_mean": [0.5], "UA_std": [0.1],
        ...                   "UA_n": [2]})
        >>> group_display(g).loc[0, ["group", "seeds", "UA"]].tolist()
        ['ga', '0, 1', '0.500 ± 0.100']
    """
    out = pd.DataFrame(
        {
            "group": short_labels(list(groups["group"])) if "group" in groups else groups["label"],
            "role": groups["role"],
            "n": groups["n"].astype(int),
            "seeds": [", ".join(str(s) for s in seeds) or "?" for seeds in groups["seeds"]],
            "members": [", ".join(m) for m in groups["members"]],
        }
    )
    for metric in _GROUP_METRICS:
        if f"{metric}_mean" in groups.columns:
            out[metric] = [
                _pm(m, s, int(n))
                for m, s, n in zip(
                    groups[f"{metric}_mean"],
                    groups[f"{metric}_std"],
                    groups[f"{metric}_n"],
                    strict=True,
                )
            ]
    return out


def welch_display(tests: Mapping[str, WelchTest], first: str, second: str) -> pd.DataFrame:
    """One row per metric: both groups' mean ± std (n) (columns ``1: first``, ``2: second``),
    the difference of the means (1 − 2, the sign of Welch's t), Welch's t, df, the two-sided
    p-value and a verdict at α = 0.05 ("cannot be tested" with < 2 seeds in a group)."""
    rows = []
    for metric, test in tests.items():
        if test.testable:
            verdict = (
                "significant (p < 0.05)" if test.significant() else "not significant (p ≥ 0.05)"
            )
        else:
            verdict = f"cannot be tested: {test.reason}"
        rows.append(
            {
                "metric": metric,
                f"1: {first}": f"{_pm(test.mean_a, test.std_a, test.n_a)} (n={test.n_a})",
                f"2: {second}": f"{_pm(test.mean_b, test.std_b, test.n_b)} (n={test.n_b})",
                "difference (1 − 2)": format_number(test.mean_a - test.mean_b)
                if _finite(test.mean_a) and _finite(test.mean_b)
                else "N/A",
                "Welch t": format_number(test.statistic),
                "df": format_number(test.df, 2),
                "p-value": f"{test.p_value:.3g}" if test.testable else "N/A",
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)
