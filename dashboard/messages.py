"""What the browser is told when something fails: one scrubbing rule for every error text.

The dashboard may be shown on a shared network; its messages must not reveal where things live
on the server. :func:`scrub` rewrites a text so that a path inside one of the dashboard's
workspaces reads ``<workspace name>/relative/path`` and any other absolute path reads
:data:`PLACEHOLDER`. Every ``st.error`` / ``st.warning`` that carries library text goes through
:func:`error` / :func:`warning`; an unexpected exception is shown by :func:`show_exception`
(scrubbed, in the browser) and printed in full to the server's log.

Example:
    >>> scrub("cannot read /srv/ws/digits/models/a.pt (from /usr/lib/x.py)", ["/srv/ws/digits"])
    'cannot read digits/models/a.pt (from <server path>)'
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path

import streamlit as st

from dashboard import state

__all__ = ["PLACEHOLDER", "ServerError", "error", "md", "scrub", "show_exception", "warning"]

PLACEHOLDER = "<server path>"
_STOP = r"""\s'"`<>|,;()\[\]{}"""
_BOUNDARY = rf"(?=$|[/\\{_STOP}:])"
_FILE_URL = re.compile(rf"file://[^{_STOP}]*", re.I)
_POSIX = re.compile(rf"(?<![\w.~:/\\-])/[^{_STOP}/][^{_STOP}]*")
_WINDOWS = re.compile(rf"(?<![\w])[A-Za-z]:[\\/][^{_STOP}]*")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#!|~$:])")


def md(text: object) -> str:
    """``text`` (a model, class or file name from a workspace) shown literally in markdown.

    Markdown specials are escaped, so a name cannot become a link, an image fetched from
    another host (``![x](https://...)``), an icon or a formula.

    Example:
        >>> print(md("![x](https://evil.example/p.png)"))
        \\!\\[x\\]\\(https\\://evil.example/p.png\\)
    """
    return _MARKDOWN.sub(r"\\\1", str(text))


def _prefixes(workspaces: Iterable[str | Path]) -> list[tuple[str, str]]:
    """(absolute prefix, workspace name) pairs, longest prefix first (given and resolved forms)."""
    pairs = {}
    for ws in workspaces:
        path = Path(ws).expanduser()
        for form in {str(path.absolute()), str(path.resolve())}:
            pairs[form.rstrip("/\\") or form] = path.name or "workspace"
    return sorted(pairs.items(), key=lambda item: -len(item[0]))


def scrub(text: str, workspaces: Iterable[str | Path] | None = None) -> str:
    """``text`` with workspace prefixes shown as the workspace name, other absolute paths hidden.

    Args:
        text: A message (an exception text, a traceback).
        workspaces: The workspace folders whose paths may be named; default
            :func:`dashboard.state.allowed_workspaces`.
    """
    roots = state.allowed_workspaces() if workspaces is None else workspaces
    for prefix, name in _prefixes(roots):
        text = re.sub(re.escape(prefix) + _BOUNDARY, name.replace("\\", "\\\\"), text)
    text = _FILE_URL.sub(PLACEHOLDER, text)
    text = _POSIX.sub(PLACEHOLDER, text)
    text = _WINDOWS.sub(PLACEHOLDER, text)
    return text.replace("![", "!\\[")  # a message never embeds an image (no fetch)


def error(text: str, *, sidebar: bool = False) -> None:
    """``st.error`` of the scrubbed ``text`` (in the sidebar when asked)."""
    (st.sidebar if sidebar else st).error(scrub(text))


def warning(text: str) -> None:
    """``st.warning`` of the scrubbed ``text``."""
    st.warning(scrub(text))


class ServerError(Exception):
    """An unexpected exception as the browser sees it: same type name, scrubbed text."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(scrub(str(original)))
        self.alternate_name = type(original).__name__  # st.exception shows this name


def show_exception(exc: BaseException) -> None:
    """Show an unexpected exception in the page, scrubbed; print it in full to the server log.

    The page keeps running; the exception is not swallowed silently (it appears as an
    exception element, so tests and users see it) and its full traceback is on stderr.
    """
    traceback.print_exception(exc, file=sys.stderr)
    st.exception(ServerError(exc))
    with st.expander("Traceback (paths outside the workspace hidden)"):
        st.code(scrub("".join(traceback.format_exception(exc))), language=None)
