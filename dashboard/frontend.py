"""Warm the browser's code for the page's first charts while the server still imports torch.

Streamlit's frontend loads the code of an element kind the first time one arrives: the Plotly
chunk is 4.7 MB of JavaScript, the data grid's about 1.2 MB. On the first page of a session
those arrive only with the page's results, and fetching and compiling them then delayed the
first chart by 1–2 s on a 2-core machine. :func:`preload_chunks` has the browser load them as
the very first thing the app sends, before the app waits for its heavy imports (see
:mod:`dashboard.serve`): a ``<link rel="modulepreload">`` (fetched and compiled) and an
``import()`` of the same URL, so the module is also evaluated then — evaluating the Plotly
chunk is a ~0.75 s task of the page's main thread, which otherwise ran after the page's
elements arrived. Streamlit's own lazy import of the chunk later finds it in the module map.

Streamlit and the standard library only: :mod:`dashboard.serve` imports this module before its
background preload, and the app imports it without waiting for that preload.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import streamlit as st

CHUNKS = ("PlotlyChart", "DataFrame", "arrowFormatUtils")
"""Frontend chunks the dashboard's pages need first (Streamlit's file names, without hash)."""
_SCRIPT = """
<span id="ulens-frontend-preload"></span>
<style>
[data-testid="stElementContainer"]:has(#ulens-frontend-preload) { display: none; }
</style>
<script>
(() => {
  const doc = (window.parent || window).document;
  const entry = [...doc.querySelectorAll('script[type="module"][src]')]
    .find((s) => /\\/index\\.[^/]*\\.js($|\\?)/.test(s.src));
  if (!entry) return;
  for (const file of FILES) {
    const href = new URL("./" + file, entry.src).href;
    if (doc.head.querySelector(`link[rel="modulepreload"][href="${href}"]`)) continue;
    const link = doc.createElement("link");
    link.rel = "modulepreload";
    link.href = href;
    doc.head.appendChild(link);
    import(href).catch(() => {});  // a failure here is Streamlit's own to report later
  }
})();
</script>
"""


@functools.lru_cache(maxsize=1)
def chunk_files(static: Path | None = None) -> tuple[str, ...]:
    """The hashed file names of :data:`CHUNKS` in Streamlit's build (those found)."""
    folder = static or Path(st.__file__).parent / "static" / "static" / "js"
    found = []
    for chunk in CHUNKS:
        matches = sorted(p.name for p in folder.glob(f"{chunk}.*.js"))
        if len(matches) == 1:  # several or none: a build this code does not know
            found.append(matches[0])
    return tuple(found)


def preload_script(files: tuple[str, ...]) -> str:
    """The HTML that adds one ``modulepreload`` link per file (relative to Streamlit's entry
    module, like its own lazy imports) and imports it, once per page; its element takes no
    room."""
    return _SCRIPT.replace("FILES", json.dumps(list(files)))


def preload_chunks() -> None:
    """Send :func:`preload_script` for Streamlit's chart and table code (every run: the
    element then keeps its place, and the browser adds its links once)."""
    files = chunk_files()
    if files:
        st.html(preload_script(files), unsafe_allow_javascript=True)
