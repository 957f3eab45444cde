"""AppTest helpers shared by the view tests: open a page, read its plotly charts.

Pages are ``st.Page(callable)``: ``AppTest.switch_page`` only finds file pages in Streamlit
1.67, so :func:`open_page` selects the registered page whose URL path matches (after a first run).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import plotly.io as pio
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[3] / "dashboard" / "app.py")


def open_page(at: AppTest, url_path: str) -> AppTest:
    """Run the page registered under ``url_path`` (private AppTest state: no public way)."""
    if not at._registered_pages:  # the first run registers the pages
        at.run()
    pages = at._registered_pages
    matches = [h for h, info in pages.items() if info.get("url_pathname") == url_path]
    assert matches, f"no page {url_path!r} among {[p.get('url_pathname') for p in pages.values()]}"
    at._page_hash = matches[0]
    return at.run()


def decode(value: Any) -> np.ndarray:
    """Plotly's typed-array JSON ({dtype, bdata, shape}) or a list, as a numpy array."""
    if isinstance(value, dict) and "bdata" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = [int(s) for s in str(value.get("shape", len(arr))).split(",")]
        return arr.reshape(shape)
    return np.asarray(value)


def charts(at: AppTest) -> dict[str, Any]:
    """The page's plotly charts by widget key suffix, as parsed JSON specs."""
    out = {}
    for element in at.get("plotly_chart"):
        key = element.proto.id.rsplit("-", 1)[-1]
        out[key] = pio.from_json(element.proto.spec, skip_invalid=True).to_plotly_json()
    return out
