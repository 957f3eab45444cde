"""Session state mirrored in the URL query string, so a view can be shared or reopened.

Every key registered with :func:`bind` is read from ``st.query_params`` on the first run of a
session and written back after every run (:func:`sync`). Lists are stored comma-separated.

A link value the app cannot use — text that does not parse (``?inst_card=abc``) or a value the
page replaces (``?a=nope``: no such model) — is reported once, in a toast naming the key, the
value and what was used instead (:func:`ignored_message`); nothing falls back silently.

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
from dashboard.settings import MAX_UPLOAD_ENV as MAX_UPLOAD_ENV  # re-exported for the app
from dashboard.settings import PRECOMPUTE_ENV as PRECOMPUTE_ENV  # re-exported for the app
from dashboard.settings import READY_ENV as READY_ENV  # re-exported for the app
from dashboard.settings import WORKSPACE_ENV, WORKSPACES_ENV

_REGISTRY_KEY = "_ulens_bound_keys"
_LOADED_KEY = "_ulens_query_loaded"
_PENDING_KEY = "_ulens_url_pending"
_UNPARSED = object()
MAX_SHOWN_CHARS = 40

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


def parse(text: str, default: Any) -> Any:
    """Parse query-string text to the type of ``default``.

    Raises:
        ValueError: The text is not a value of that type (e.g. ``"abc"`` for an int).

    Example:
        >>> parse("true", False), parse("7", 0), parse("1,2", [])
        (True, 7, [1, 2])
    """
    if isinstance(default, bool):
        if text not in ("1", "0", "true", "false", "True", "False"):
            raise ValueError(f"expected 1 or 0, received {text!r}")
        return text in ("1", "true", "True")
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    if isinstance(default, (list, tuple)):
        return [int(v) for v in text.split(",") if v != ""]
    return text


def decode(text: str, default: Any) -> Any:
    """Parse query-string text back to the type of ``default`` (falls back to it on error)."""
    try:
        return parse(text, default)
    except ValueError:
        return default


def bind(key: str, default: Any, *, echo: bool = True, reason: str | None = None) -> Any:
    """Register ``key`` for URL mirroring and return its current value (seeded from the URL).

    A value seeded from the URL is checked at the end of the run (:func:`sync`): if it did not
    parse, or the page replaced it, a toast says so once. ``echo=False`` keeps the link's text
    out of that message (e.g. a folder path in ``?ws=``); ``reason`` says why a value that
    parsed is refused (default: "not available here").
    """
    bound: dict[str, Any] = st.session_state.setdefault(_REGISTRY_KEY, {})
    bound[key] = default
    if key not in st.session_state:
        raw = st.query_params.get(key)
        if raw is None:
            st.session_state[key] = default
        else:
            try:
                value = parse(raw, default)
            except ValueError:
                value = _UNPARSED
            st.session_state[key] = default if value is _UNPARSED else value
            pending = st.session_state.setdefault(_PENDING_KEY, {})
            pending[key] = (raw, value, echo, reason)
    return st.session_state[key]


def ignored_message(
    key: str, raw: str, used: Any, *, parsed: bool, echo: bool = True, reason: str | None = None
) -> str:
    """The toast text for a link value that was not used (markdown-safe, value shortened).

    Example:
        >>> ignored_message("a", "nope", "retrain", parsed=True)
        "Ignored `a=nope` from the link (not available here); showing 'retrain' instead."
        >>> ignored_message("inst_card", "x", -1, parsed=False)
        "Ignored `inst_card=x` from the link (not a valid value); showing '-1' instead."
    """
    shown = raw if len(raw) <= MAX_SHOWN_CHARS else raw[: MAX_SHOWN_CHARS - 1] + "…"
    shown = shown.replace("`", "'")
    what = f"`{key}={shown}`" if echo else f"the `{key}` value"
    why = (reason or "not available here") if parsed else "not a valid value"
    text = encode(used)
    instead = f"showing {text!r} instead" if text else "using the default instead"
    return f"Ignored {what} from the link ({why}); {instead}."


def _report_ignored() -> None:
    """Toast, once, every URL value seeded this session that the run did not keep."""
    pending: dict[str, tuple[str, Any, bool, str | None]] = st.session_state.get(_PENDING_KEY, {})
    for key, (raw, value, echo, reason) in list(pending.items()):
        used = st.session_state.get(key)
        if value is _UNPARSED or used != value:
            parsed = value is not _UNPARSED
            text = ignored_message(key, raw, used, parsed=parsed, echo=echo, reason=reason)
            st.toast(text, icon=":material/link_off:", duration="long")
        del pending[key]


def set_value(key: str, value: Any) -> None:
    """Set a bound key (e.g. from a chart selection)."""
    st.session_state[key] = value


def sync() -> None:
    """Report link values the run did not use, then write every bound key that differs from
    its default into the URL and drop the others."""
    _report_ignored()
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
