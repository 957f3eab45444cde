"""Run Streamlit with the heavy modules (torch, sklearn, plotly, the pages) already imported.

``ulens dashboard`` starts ``python -m dashboard.serve run dashboard/app.py ...``: the imports
happen before the server answers its health check, so the first page a browser opens only runs
the page script and reads the precomputed results (no multi-second import on first paint).
"""

from __future__ import annotations

import sys

import analysis  # noqa: F401  (preload: torch, numpy, sklearn, the analysis library)
import dashboard.app_pages  # noqa: F401  (preload: plotly and every page module)


def main() -> int:
    """Hand the command line to Streamlit's own CLI."""
    from streamlit.web import cli

    sys.argv = ["streamlit", *sys.argv[1:]]
    return int(cli.main() or 0)


if __name__ == "__main__":
    raise SystemExit(main())
