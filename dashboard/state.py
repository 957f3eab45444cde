"""Session state mirrored in the URL query string, so a view can be shared or reopened.

Every key registered with :func:`bind` is read from ``st.query_params`` on the first run of a
session and written back after every run (:func:`sync`). Lists are stored comma-separated.

Example:
    >>> encode([3, 5]), decode("3,5", [0])
    ('3,5', [3, 5])
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from analysis.experiment import Experiment

_REGISTRY_KEY = "_ulens_bound_keys"
_LOADED_KEY = "_ulens_query_loaded"

WORKSPACE_ENV = "ULENS_WORKSPACE"
"""Environment variable: the workspace ``ulens dashboard`` was started on."""
WORKSPACES_ENV = "ULENS_WORKSPACES"
"""Environment variable: further workspaces listed with ``--workspaces`` (``os.pathsep``)."""
MAX_UPLOAD_ENV = "ULENS_MAX_UPLOAD_MB"
"""Environment variable: the upload limit in MiB (``ulens dashboard --max-upload-mb``)."""
PRECOMPUTE_ENV = "ULENS_PRECOMPUTE"
"""Environment variable: ``1`` makes opening a workspace scenario queue its background
precompute (``ulens dashboard`` sets it unless it is already set, e.g. to ``0``)."""
DEFAULT_WORKSPACE = str(Path(__file__).resolve().parent.parent / "sample_data" / "digits")


def allowed_workspaces() -> list[str]:
    """The workspaces this server may open: the launch workspace first, then the listed ones.

    Nothing else: a URL (``?ws=``) or the switcher can only pick one of these folders.

    Example:
        >>> allowed_workspaces()[0] == str(Path(os.environ.get(WORKSPACE_ENV,
        ...     DEFAULT_WORKSPACE)).resolve())
        True
    """
    launch = os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE
    listed = [p for p in os.environ.get(WORKSPACES_ENV, "").split(os.pathsep) if p.strip()]
    return list(dict.fromkeys(str(Path(p).expanduser().resolve()) for p in [launch, *listed]))


def workspace_labels(paths: list[str]) -> dict[str, str]:
    """A short, unique label per workspace (its folder name; ``name~2`` for a repeat).

    Labels, not server paths, go into the URL and the switcher.

    Example:
        >>> workspace_labels(["/a/digits", "/b/digits", "/c/cifar"])
        {'digits': '/a/digits', 'digits~2': '/b/digits', 'cifar': '/c/cifar'}
    """
    labels: dict[str, str] = {}
    for path in paths:
        name = Path(path).name or "workspace"
        label, n = name, 1
        while label in labels:
            n += 1
            label = f"{name}~{n}"
        labels[label] = path
    return labels


def encode(value: Any) -> str:
    """Query-string text of a state value."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def decode(text: str, default: Any) -> Any:
    """Parse query-string text back to the type of ``default`` (falls back to it on error)."""
    try:
        if isinstance(default, bool):
            return text in ("1", "true", "True")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, (list, tuple)):
            return [int(v) for v in text.split(",") if v != ""]
    except ValueError:
        return default
    return text


def bind(key: str, default: Any) -> Any:
    """Register ``key`` for URL mirroring and return its current value (seeded from the URL)."""
    bound: dict[str, Any] = st.session_state.setdefault(_REGISTRY_KEY, {})
    bound[key] = default
    if key not in st.session_state:
        raw = st.query_params.get(key)
        st.session_state[key] = decode(raw, default) if raw is not None else default
    return st.session_state[key]


def set_value(key: str, value: Any) -> None:
    """Set a bound key (e.g. from a chart selection)."""
    st.session_state[key] = value


def sync() -> None:
    """Write every bound key that differs from its default into the URL; drop the others."""
    bound: dict[str, Any] = st.session_state.get(_REGISTRY_KEY, {})
    for key, default in bound.items():
        value = st.session_state.get(key, default)
        text = encode(value)
        if value == default or text == "":
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != text:
            st.query_params[key] = text


@dataclass(frozen=True)
class Context:
    """What every page needs: the workspace, the experiment and the chosen pair."""

    workspace: str
    experiment: Experiment
    a: str
    b: str
    presentation: bool

    @property
    def scenario(self) -> str:
        """The selected forget scenario."""
        return self.experiment.scenario


def set_context(ctx: Context) -> None:
    """Store the context built by the sidebar for the pages."""
    st.session_state["_ulens_context"] = ctx


def context() -> Context:
    """The context built by the sidebar this run."""
    ctx: Context = st.session_state["_ulens_context"]
    return ctx
