"""Run Streamlit with the heavy modules (torch, sklearn, plotly, the pages) already imported.

``ulens dashboard`` starts ``python -m dashboard.serve run dashboard/app.py ...``: the imports
happen before the server answers its health check, so the first page a browser opens only runs
the page script and reads the precomputed results (no multi-second import on first paint).

Shutting down is bounded. On SIGTERM / SIGINT Streamlit stops its server and returns; then this
module stops the kaleido image server and its Chromium, kills any other child left, and exits
with ``os._exit``. Without that, interpreter exit runs kaleido's ``atexit`` hook, which joins
kaleido's render thread and never returns when a render hung: the process then ignored every
further SIGTERM (Streamlit's handler only asks the already stopped server to stop) and kept its
Chromium. A watchdog thread also forces the exit if Streamlit's own shutdown (which waits for
running download callbacks, e.g. a ZIP of every figure) takes longer than
:data:`SHUTDOWN_GRACE_SECONDS`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback

import analysis  # noqa: F401  (preload: torch, numpy, sklearn, the analysis library)
import dashboard.app_pages  # noqa: F401  (preload: plotly and every page module)
from dashboard import export, procs

SHUTDOWN_GRACE_SECONDS = 10.0


def release_children(timeout: float = 5.0) -> None:
    """Stop the kaleido server, then any child process still running (bounded by ``timeout``)."""
    export.stop_renderer(timeout)
    procs.stop_processes(procs.descendants(os.getpid()), grace=2.0)


def _exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _watchdog(grace: float) -> None:
    """Once the runtime is stopping, give it ``grace`` seconds, then force the exit."""
    from streamlit.runtime import Runtime, RuntimeState

    stopping = (RuntimeState.STOPPING, RuntimeState.STOPPED)
    while not (Runtime.exists() and Runtime.instance().state in stopping):
        time.sleep(0.2)
    time.sleep(grace)
    print("dashboard.serve: shutdown is taking too long; forcing the exit", file=sys.stderr)
    release_children(timeout=2.0)
    _exit(1)


def _exit_code(exc: SystemExit) -> int:
    return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)


def main() -> int:
    """Hand the command line to Streamlit's own CLI; exit (bounded) when it returns."""
    from streamlit.web import cli

    sys.argv = ["streamlit", *sys.argv[1:]]
    threading.Thread(
        target=_watchdog, args=(SHUTDOWN_GRACE_SECONDS,), name="ulens-watchdog", daemon=True
    ).start()
    code = 1
    try:
        code = int(cli.main() or 0)
    except SystemExit as exc:  # click's standalone mode ends with sys.exit
        code = _exit_code(exc)
    except BaseException:  # shown before the bounded exit below
        traceback.print_exc()
    finally:
        release_children()
        _exit(code)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
