"""Opening a page of the app in AppTest (shared by the view tests).

Pages are ``st.Page(callable)``: ``AppTest.switch_page`` only finds file pages in Streamlit
1.67, so :func:`open_page` selects the registered page whose URL path matches (after a first run).
"""

from __future__ import annotations

from pathlib import Path

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
