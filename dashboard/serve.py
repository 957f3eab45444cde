"""Run Streamlit while the heavy modules (torch, sklearn, plotly, the pages) import alongside.

``ulens dashboard`` starts ``python -m dashboard.serve run dashboard/app.py ...``. The server
answers at once; a background thread imports :data:`PRELOAD` meanwhile, so the import overlaps
the browser loading the page. Until it is done, any other thread that imports from one of the
:data:`GATED` packages (the first script run) waits for it: two threads importing one package
tree at once can deadlock on Python's module locks, or see a half-initialised module.

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

import builtins
import contextlib
import gc
import importlib
import os
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dashboard import procs

SHUTDOWN_GRACE_SECONDS = 10.0
PRELOAD = ("analysis", "dashboard.app_pages")
"""Imported in the background at start: the analysis library (torch, numpy, sklearn), then
plotly and every page module."""
GATED = frozenset({"analysis", "dashboard"})
"""Top-level packages other threads import only after the preload."""
UNGATED = frozenset({"dashboard.frontend"})
"""Modules of :data:`GATED` packages imported before the preload starts (Streamlit and the
standard library only), which the app imports without waiting for it."""


class Preload:
    """The background import of ``modules`` and the import gate that waits for it.

    While it runs, ``builtins.__import__`` is wrapped: an absolute import of a ``gated``
    package (default :data:`GATED`) from another thread waits until the preload is over (the
    import statement waits before taking any module lock, so it cannot deadlock with the
    preload). A failed import is printed; the script's own import of that module then raises
    it again, on the page.

    The objects the imports created (~300,000: modules, functions, classes) live as long as
    the process: the collector is off while they are made (collections there found nothing to
    free and cost ~0.3 s of CPU) and they are then moved out of its sight (``gc.freeze``):
    Streamlit collects after every script run, which took ~0.17 s of CPU per interaction
    walking them, and now takes ~1 ms.
    """

    def __init__(self, modules: tuple[str, ...] = PRELOAD, gated: frozenset[str] = GATED) -> None:
        self.modules = modules
        self.gated = gated
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._work, name="ulens-preload", daemon=True)
        self._original = builtins.__import__

    def start(self) -> Preload:
        """Install the gate and start importing; returns ``self``."""
        builtins.__import__ = self._gated_import
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the preload is over; whether it is."""
        return self.done.wait(timeout)

    def _work(self) -> None:
        collecting = gc.isenabled()
        gc.disable()  # the imports only create objects that live on: ~18 % of their CPU
        try:
            for name in self.modules:
                try:
                    importlib.import_module(name)
                except Exception:  # shown in the server log; the page shows it again
                    traceback.print_exc()
            gc.freeze()  # see the class docstring
        finally:
            if collecting:
                gc.enable()
            if builtins.__import__ == self._gated_import:
                builtins.__import__ = self._original
            self.done.set()

    def _gated_import(
        self,
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> Any:
        if (
            level == 0
            and not self.done.is_set()
            and name.partition(".")[0] in self.gated
            and name not in UNGATED
            and threading.current_thread() is not self._thread
        ):
            self.done.wait()
        return self._original(name, globals, locals, fromlist, level)


def show_warnings_once() -> Callable[..., None]:
    """Print each distinct warning (category and text) once per server process.

    Computing a cold models table raises the same few warnings once per model (e.g. "3
    sample(s) have no OUT reference"), and Python's once-per-location registry is reset
    whenever a library changes the warning filters: the terminal of ``make demo`` showed the
    same lines dozens of times. Warnings recorded by ``catch_warnings(record=True)`` (which
    the pages show) are not affected. Returns the previous ``warnings.showwarning``.
    """
    previous = warnings.showwarning
    seen: set[tuple[str, str]] = set()
    lock = threading.Lock()

    def show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        key = (category.__name__, str(message))
        with lock:
            if key in seen:
                return
            seen.add(key)
        previous(message, category, *args, **kwargs)

    warnings.showwarning = show
    return previous


def release_children(timeout: float = 5.0) -> None:
    """Stop the kaleido server, then any child process still running (bounded by ``timeout``)."""
    export = sys.modules.get("dashboard.export")  # not imported: no renderer to stop
    if export is not None:
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
    """Hand the command line to Streamlit's own CLI; exit (bounded) when it returns.

    Streamlit is imported first (the preload imports parts of it too), then :data:`UNGATED`,
    then the preload starts, then the server.
    """
    from streamlit.web import cli

    for name in UNGATED:
        importlib.import_module(name)
    show_warnings_once()
    Preload().start()
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
