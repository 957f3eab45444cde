"""Headless outputs of a comparison: ``summary.json``, ``instances.parquet``, ``cka.json``.

Every file is written atomically (temp file + rename), so a crash never leaves half a file.

Example:
    >>> import analysis, tempfile
    >>> exp = analysis.load_experiment("sample_data/digits")
    >>> cmp = analysis.compare(exp, "retrain", "ga")  # doctest: +SKIP
    >>> [p.name for p in write_analysis(cmp, tempfile.mkdtemp())]  # doctest: +SKIP
    ['summary.json', 'instances.parquet', 'cka.json']
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from analysis.compare import Comparison, summary_dict

__all__ = ["atomic_write", "cka_document", "write_analysis"]


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temp file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cka_document(cmp: Comparison) -> dict[str, Any]:
    """Layer names per model and every CKA matrix (``a|b|split|group`` keys) as nested lists."""
    wc = cmp.layers.weight_change
    return {
        "layers": {name: list(layers) for name, layers in cmp.layers.layers.items()},
        "matrices": {
            key: {
                "a": m.model_a,
                "b": m.model_b,
                "split": key.split("|")[2],
                "group": key.split("|")[3],
                "n_samples": m.n_samples,
                "values": [[_num(v) for v in row] for row in m.values],
            }
            for key, m in cmp.layers.matrices.items()
        },
        "weight_change": None
        if wc is None
        else {
            "a": cmp.a,
            "b": cmp.b,
            "layers": list(wc.layers),
            "relative": [_num(v) for v in wc.relative],
        },
    }


def _num(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def write_analysis(cmp: Comparison, out: str | Path) -> list[Path]:
    """Write ``summary.json``, ``instances.parquet`` and ``cka.json`` into ``out``."""
    folder = Path(out)
    summary, instances, cka = (
        folder / "summary.json",
        folder / "instances.parquet",
        folder / "cka.json",
    )
    atomic_write(summary, lambda p: p.write_text(json.dumps(summary_dict(cmp), indent=2)))
    atomic_write(instances, lambda p: cmp.instances.to_parquet(p, index=False))
    atomic_write(cka, lambda p: p.write_text(json.dumps(cka_document(cmp))))
    return [summary, instances, cka]
