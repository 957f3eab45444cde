"""The ``ulens`` command: dashboard, build-samples, precompute, analyze, report, the experiment
commands (train, unlearn, references, shadows, runs, scenario: :mod:`dashboard.cli_runs`) and
the studies (``ulens study ...``: :mod:`dashboard.cli_study`).

Bad input exits with code 2 and one line naming the argument, what was expected and what was
received; unknown exceptions keep their traceback. Every subcommand accepts the trust opt-ins
``--allow-code PKG`` and ``--allow-outside PATH`` (repeatable); they reach the command and its
child processes (the dashboard's server) through ``ULENS_ALLOW_CODE`` / ``ULENS_ALLOW_OUTSIDE``.

Example:
    $ ulens build-samples sample_data/digits
    $ ulens dashboard sample_data/digits --port 8501
    $ ulens analyze ws --a retrain --b salun --out results --allow-outside /data/shared
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from analysis.errors import UlensError, ValidationError, describe
from analysis.trust import patched_environ, trust_policy
from dashboard import procs
from dashboard.cli_runs import COMMANDS as RUN_COMMANDS
from dashboard.cli_study import COMMANDS as STUDY_COMMANDS

DEFAULT_WORKSPACE = Path(__file__).resolve().parent.parent / "sample_data" / "digits"
DEFAULT_MAX_UPLOAD_MB = 200
MAX_UPLOAD_MB_LIMIT = 4096
STOP_GRACE_SECONDS = 15.0
_LOOPBACK = ("localhost",)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``ulens CMD: error: ...``) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    value = int(text) if text.strip().lstrip("-").isdigit() else 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected an integer from 1 to 65535, received {text!r}")
    return value


def _upload_mb(text: str) -> int:
    value = int(text) if text.strip().isdigit() else 0
    if not 1 <= value <= MAX_UPLOAD_MB_LIMIT:
        raise argparse.ArgumentTypeError(
            f"expected an integer from 1 to {MAX_UPLOAD_MB_LIMIT} (MiB), received {text!r}"
        )
    return value


def _package(text: str) -> str:
    if not text.isidentifier():
        raise argparse.ArgumentTypeError(
            f"expected a top-level package name (e.g. mylab_models), received {text!r}"
        )
    return text


def _folder(text: str) -> str:
    path = Path(text).expanduser()
    if not text or not path.is_dir():
        raise argparse.ArgumentTypeError(f"expected an existing folder, received {text!r}")
    return str(path.resolve())


def _host(text: str) -> str:
    if not text or any(c.isspace() or c in "/@#?" for c in text):
        raise argparse.ArgumentTypeError(
            f"expected a host name or IP address to listen on, received {text!r}"
        )
    return text


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ulens", description="Unlearning Lens")
    sub = parser.add_subparsers(dest="command", required=True)
    dash = sub.add_parser("dashboard", help="open the Streamlit dashboard")
    dash.add_argument("workspace", nargs="?", default=str(DEFAULT_WORKSPACE))
    dash.add_argument("--port", type=_port, default=8501)
    dash.add_argument("--headless", action="store_true", help="do not open a browser")
    dash.add_argument(
        "--workspaces",
        nargs="+",
        default=[],
        metavar="DIR",
        help="further workspaces the switcher may open (nothing else can be opened)",
    )
    dash.add_argument(
        "--host",
        type=_host,
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 exposes it to the network)",
    )
    dash.add_argument(
        "--max-upload-mb",
        type=_upload_mb,
        default=DEFAULT_MAX_UPLOAD_MB,
        metavar="N",
        help=f"largest weights upload in MiB (default {DEFAULT_MAX_UPLOAD_MB})",
    )
    build = sub.add_parser("build-samples", help="retrain the embedded sample models")
    build.add_argument("workspace", nargs="?", default=str(DEFAULT_WORKSPACE))
    build.add_argument("--references", type=int, default=8, help="number of reference models")
    pre = sub.add_parser("precompute", help="compute and cache the workspace's default views")
    pre.add_argument("workspace", nargs="?", default=str(DEFAULT_WORKSPACE))
    pre.add_argument("--device", default="auto")
    ana = sub.add_parser("analyze", help="compare two models headlessly and write the results")
    _pair_arguments(ana)
    ana.add_argument("--out", required=True, help="output folder")
    ana.add_argument("--force", action="store_true", help="overwrite earlier results in --out")
    rep = sub.add_parser("report", help="write a one-file offline HTML report of a pair")
    _pair_arguments(rep)
    rep.add_argument("--out", required=True, help="output .html file")
    rep.add_argument("--force", action="store_true", help="overwrite an existing report")
    rep.add_argument(
        "--pages",
        default="models,classes,layers,instances,privacy,studies",
        help="comma-separated pages to include (studies: only when the workspace has some)",
    )
    from dashboard.cli_runs import add_parsers
    from dashboard.cli_study import add_parsers as add_study_parsers

    add_parsers(sub)
    add_study_parsers(sub)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, *, nested: bool = False) -> None:
    """Give every subcommand the trust opt-ins (``--allow-code``, ``--allow-outside``), and
    the sub-subcommands too (``ulens study scalability ... --allow-code PKG``; their default
    is suppressed so that options given before the sub-subcommand are kept)."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for command in action.choices.values():
            default: Any = argparse.SUPPRESS if nested else []
            group = command.add_argument_group("trust opt-ins (see README: Security)")
            group.add_argument(
                "--allow-code",
                action="append",
                default=default,
                type=_package,
                metavar="PKG",
                help="allow code references (module:function) into this installed package",
            )
            group.add_argument(
                "--allow-outside",
                action="append",
                default=default,
                type=_folder,
                metavar="PATH",
                help="allow workspace paths under this folder (e.g. a shared data set)",
            )
            _add_global_options(command, nested=True)


def _pair_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace")
    parser.add_argument("--a", required=True, help="Model A")
    parser.add_argument("--b", required=True, help="Model B")
    parser.add_argument("--scenario", default=None, help="forget scenario (default: the first)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ulens`` console script."""
    parser = _parser()
    _add_global_options(parser)
    args = parser.parse_args(argv)
    try:
        with _command_environment(args):
            return int(_COMMANDS[args.command](args))
    except UlensError as exc:
        print(f"ulens {args.command}: error: {exc}", file=sys.stderr)
        return 2


@contextlib.contextmanager
def _command_environment(args: argparse.Namespace) -> Iterator[None]:
    """The trust opt-ins and numba's cache folder, for the command and its children."""
    allow_code = list(getattr(args, "allow_code", []) or [])
    allow_outside = list(getattr(args, "allow_outside", []) or [])
    for package in allow_code:
        print(f"ulens: allowing code from package {package!r}", file=sys.stderr)
    for folder in allow_outside:
        print(f"ulens: allowing workspace paths under {folder}", file=sys.stderr)
    with (
        trust_policy(allow_code=allow_code, allow_outside=allow_outside),
        patched_environ(
            {"NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR") or str(numba_cache_dir())}
        ),
    ):
        yield


def numba_cache_dir() -> Path:
    """Where numba (used by umap) caches compiled code: the user's cache, never a workspace.

    numba's cache index files are pickles that numba loads on import of a cached function, so
    a cache folder inside a downloaded workspace would run the workspace author's code. The
    folder is ``$XDG_CACHE_HOME/unlearning-lens/numba`` (default ``~/.cache/...``); an explicit
    ``NUMBA_CACHE_DIR`` in the environment wins.

    Example:
        >>> numba_cache_dir().parts[-2:]
        ('unlearning-lens', 'numba')
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "unlearning-lens" / "numba"


def _dashboard(args: argparse.Namespace) -> int:
    from analysis.spec import find_spec_file
    from dashboard.settings import (
        MAX_UPLOAD_ENV,
        PRECOMPUTE_ENV,
        READY_ENV,
        WORKSPACE_ENV,
        WORKSPACES_ENV,
    )

    workspace = find_spec_file(args.workspace).parent
    listed = [str(_listed_workspace(w)) for w in args.workspaces]
    if not _is_loopback(args.host):
        print(
            f"ulens dashboard: warning: listening on {args.host}: anyone who can reach this "
            f"machine on port {args.port} can open the dashboard and add models to its "
            "workspaces. Use the default (127.0.0.1) unless you mean it.",
            file=sys.stderr,
        )
    env = {
        # glibc keeps freed blocks below a threshold it raises up to 32 MiB: a few uploads of
        # a model would stay in the server's memory. Blocks of 16 MiB and more go back at once.
        "MALLOC_MMAP_THRESHOLD_": str(16 * 2**20),
        **os.environ,
        WORKSPACE_ENV: str(workspace),
        WORKSPACES_ENV: os.pathsep.join(listed),
        MAX_UPLOAD_ENV: str(args.max_upload_mb),
    }
    env.setdefault(PRECOMPUTE_ENV, "1")  # ULENS_PRECOMPUTE=0 turns the background precompute off
    watcher = _PrecomputeWatcher(workspace) if env[PRECOMPUTE_ENV] == "1" else None
    if watcher is not None:
        env[READY_ENV] = str(watcher.ready)
    app = Path(__file__).resolve().parent / "app.py"
    cmd = [sys.executable, "-m", "dashboard.serve", "run", str(app)]
    cmd += _streamlit_options(args)
    try:
        return _run_server(cmd, env, tick=watcher)
    finally:
        if watcher is not None:
            watcher.stop()


def _listed_workspace(text: str) -> Path:
    from analysis.spec import find_spec_file

    try:
        return find_spec_file(text).parent
    except UlensError:
        raise ValidationError(
            describe("--workspaces", "folders containing experiment.toml", text)
        ) from None


def _check_device(device: str) -> None:
    """Refuse a device this machine lacks before any work (cached results would hide it)."""
    from analysis.device import resolve_device

    try:
        resolve_device(device)
    except UlensError as exc:
        raise ValidationError(str(exc).replace("device:", "--device:", 1)) from None


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _streamlit_options(args: argparse.Namespace) -> list[str]:
    """The server's settings: local address, upload limit, no telemetry, no file watching."""
    options = {
        "server.address": args.host,
        "server.port": str(args.port),
        "server.maxUploadSize": str(args.max_upload_mb),
        "server.enableXsrfProtection": "true",
        "server.fileWatcherType": "none",
        "server.runOnSave": "false",
        "browser.gatherUsageStats": "false",
        "client.showErrorDetails": "type",
        "client.toolbarMode": "minimal",
        "global.developmentMode": "false",
    }
    if args.headless or os.environ.get("CI"):
        options["server.headless"] = "true"
    return [part for key, value in options.items() for part in (f"--{key}", value)]


def _run_server(
    cmd: list[str], env: dict[str, str], *, tick: Callable[[], None] | None = None
) -> int:
    """Run the server in its own process group; Ctrl-C / SIGTERM / SIGHUP stop all of it.

    ``tick`` is called while waiting (every 0.2 s), e.g. to print the precompute's progress.
    """
    child = subprocess.Popen(cmd, env=env, start_new_session=True)
    received: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        received.append(signum)

    handled = [signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", signal.SIGTERM)]
    previous = {sig: signal.signal(sig, on_signal) for sig in handled}
    try:
        while not received:
            with contextlib.suppress(subprocess.TimeoutExpired):
                return child.wait(timeout=0.2)
            if tick is not None:
                tick()
        _stop_server(child)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:
            _stop_server(child)


def _stop_server(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server, wait, then kill its group and anything it left behind."""
    family = procs.descendants(child.pid)
    with contextlib.suppress(OSError):
        child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    procs.stop_processes(family, grace=2.0)


def _build_samples(args: argparse.Namespace) -> int:
    from analysis.samples import build_digits_sample, results_markdown

    build_digits_sample(args.workspace, n_reference=args.references)
    table = results_markdown(args.workspace)
    (Path(args.workspace) / "RESULTS.md").write_text(table + "\n", encoding="utf-8")
    print(table)
    return 0


class _Bar:
    """A one-line terminal progress bar for ``compare``'s (stage, fraction) callback."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __call__(self, stage: str, fraction: float) -> None:
        filled = int(30 * min(max(fraction, 0.0), 1.0))
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {stage:<28}")
        sys.stderr.flush()
        if fraction >= 1.0 and stage == "done":
            sys.stderr.write("\n")


_PART_DONE = {
    "table": "models table ready",
    "comparison": "comparison ready",
    "embedding": "embedding ready",
}


def _precompute(args: argparse.Namespace) -> int:
    """Every scenario's models table, default pair and its embedding, into the result cache.

    The terminal shows one progress line (redrawn in place) and one line per part computed;
    each distinct warning is printed once, with a count of all of them at the end.
    """
    from analysis.experiment import load_experiment
    from analysis.runs.precompute import PrecomputeJob, WarningTally, run_precompute
    from dashboard.progress import Console

    _check_device(args.device)
    base = load_experiment(args.workspace)
    console = Console(prefix="ulens precompute: ")
    with WarningTally(on_new=lambda text: console.event(f"warning: {text}")) as tally:
        for scenario in base.scenarios:
            job = PrecomputeJob(scenario=scenario).resolve(args.workspace)
            progress, on_part = _console_callbacks(console, f"{scenario} ({job.a} vs {job.b})")
            run_precompute(
                args.workspace, job, device=args.device, progress=progress, on_part=on_part
            )
    if tally.summary():
        console.event(tally.summary())
    return 0


def _console_callbacks(
    console: Any, label: str
) -> tuple[Callable[[str, float], None], Callable[[str, float], None]]:
    """``run_precompute``'s progress and on_part callbacks printing to ``console``."""
    start = time.monotonic()

    def progress(stage: str, fraction: float) -> None:
        console.progress(label, stage, fraction, time.monotonic() - start)

    def on_part(part: str, seconds: float) -> None:
        console.event(f"{label}: {_PART_DONE[part]} ({seconds:.1f} s)")

    return progress, on_part


class _PrecomputeWatcher:
    """``ulens dashboard``'s view of the background precompute, called while the server runs.

    Once the app has drawn its first page (it then creates the file :attr:`ready` and queues the
    scenario's precompute task itself, :func:`dashboard.cached.start_precompute`), a call
    finds that task in the registry (a read: nothing heavy is imported here) and follows it.
    When no browser came within :data:`START_AFTER` seconds, a call queues the launch
    workspace's task and starts its background pool, niced
    (:func:`analysis.runs.submit_precompute`, :func:`analysis.runs.ensure_workers`; resolving
    the job imports torch, ~1.7 s of CPU that would otherwise compete with the user's first
    clicks). Following, calls print its progress every few seconds and one line per part
    done, per distinct warning and at the end. :meth:`stop` cancels it if it is still running
    when the server stops. Never raises: without a writable registry the pages compute what
    they need themselves.
    """

    START_AFTER = 20.0
    NICE = 10

    def __init__(self, workspace: Path) -> None:
        import tempfile

        from dashboard.progress import Console

        self.ready = Path(tempfile.mkdtemp(prefix="ulens-")) / "first-page-drawn"
        self._launched = time.monotonic()
        self.workspace = workspace
        self.console = Console(live=False, every=5.0, prefix="ulens: ")
        self.queue: Any = None
        self.task: Any = None
        self.label = "precompute"
        self.parts: set[str] = set()
        self.warnings: set[str] = set()
        self.done = False
        self.started_pool = False
        self._next = 0.0

    def __call__(self) -> None:
        if self.done or time.monotonic() < self._next:
            return
        self._next = time.monotonic() + 0.5
        try:
            if self.task is None:
                if self.ready.exists():
                    self._find()
                elif time.monotonic() - self._launched >= self.START_AFTER:
                    self._start()
            else:
                self._show(self.queue.get(self.task.id))
        except Exception as exc:  # a read-only workspace, a locked registry...
            self.done = True
            self.console.event(f"no background precompute ({exc})")

    def _find(self) -> None:
        """The newest precompute task queued since launch (the app's), once it exists."""
        from analysis.runs.precompute import precompute_queue

        self.queue = self.queue or precompute_queue(self.workspace)
        since = time.time() - (time.monotonic() - self._launched)
        mine = [
            t
            for t in self.queue.list(kind="precompute")
            if (t.queued_at or 0) >= since or not t.finished  # the app may get an older one
        ]
        if mine:
            self._follow(mine[-1])

    def _start(self) -> None:
        from analysis.runs import ensure_workers, submit_precompute
        from analysis.runs.precompute import precompute_queue

        self.queue = precompute_queue(self.workspace)
        task = submit_precompute(self.workspace)
        self.started_pool = bool(ensure_workers(self.workspace, idle=20.0, nice=self.NICE))
        self._follow(task)

    def _follow(self, task: Any) -> None:
        self.task = task
        job = task.job
        self.label = f"precompute of {job['scenario']} ({job['a']} vs {job['b']})"
        self.console.event(f"{self.label} runs in the background (task {task.id})")

    def _show(self, task: Any) -> None:
        if task is None:
            return
        for part in task.parts:
            if part not in self.parts:
                self.parts.add(part)
                self.console.event(f"{self.label}: {_PART_DONE.get(part, part)}")
        for text in task.warnings:
            if text not in self.warnings:
                self.warnings.add(text)
                self.console.event(f"warning: {text}")
        if task.state == "running":
            self.console.progress(self.label, task.stage, task.fraction, task.elapsed() or 0.0)
        if task.finished:
            self.done = True
            took = task.elapsed()
            error = task.error.splitlines()[0] if task.error else ""
            self.console.event(
                f"{self.label}: {task.state}"
                + (f" in {took:.1f} s" if took is not None else "")
                + (f" ({error})" if error else "")
            )

    def stop(self) -> None:
        """The server stopped: cancel the task if it is unfinished, and stop the background
        pool this command started (like the server's own children, nothing outlives it)."""
        if self.task is not None and not self.done:
            with contextlib.suppress(Exception):
                self.queue.cancel(self.task.id)
        if self.started_pool:
            procs.stop_processes(procs.descendants(os.getpid()), grace=5.0)
        shutil.rmtree(self.ready.parent, ignore_errors=True)


def _analyze(args: argparse.Namespace) -> int:
    from analysis.compare import compare
    from analysis.experiment import load_experiment
    from analysis.outputs import write_analysis

    out = _analysis_folder(args.out, force=args.force)
    _check_device(args.device)
    exp = load_experiment(args.workspace, scenario=args.scenario)
    cmp = compare(exp, args.a, args.b, device=args.device, progress=_Bar(f"{args.a} vs {args.b}"))
    for path in write_analysis(cmp, out):
        print(path)
    return 0


_ANALYSIS_FILES = ("summary.json", "instances.parquet", "cka.json")


def _analysis_folder(text: str, *, force: bool) -> Path:
    """``analyze --out``: a folder (new or existing), never a file; no overwrite without force."""
    out = Path(text).expanduser()
    if out.exists() and not out.is_dir():
        raise ValidationError(
            describe("--out", "a folder for the results", f"{text!r} (a file)", raw=True)
        )
    earlier = [name for name in _ANALYSIS_FILES if (out / name).exists()]
    if earlier and not force:
        raise ValidationError(
            describe(
                "--out",
                "a folder without earlier results (pass --force to overwrite them)",
                f"{text!r} (holds {', '.join(earlier)})",
                raw=True,
            )
        )
    return out


def _report_file(text: str, *, force: bool) -> Path:
    """``report --out``: a file path, not a folder; an existing report only with force."""
    out = Path(text).expanduser()
    if out.is_dir():
        raise ValidationError(
            describe("--out", "a file path such as report.html", f"{text!r} (a folder)", raw=True)
        )
    if out.exists() and not force:
        raise ValidationError(
            describe(
                "--out",
                "a new file (pass --force to overwrite it)",
                f"{text!r} (exists)",
                raw=True,
            )
        )
    return out


def _report(args: argparse.Namespace) -> int:
    from analysis.compare import compare, models_table
    from analysis.experiment import load_experiment
    from dashboard.export import default_context, validate_pages, write_report

    out = _report_file(args.out, force=args.force)
    pages = validate_pages(args.pages, argument="--pages")
    _check_device(args.device)
    exp = load_experiment(args.workspace, scenario=args.scenario)
    cmp = compare(exp, args.a, args.b, device=args.device, progress=_Bar(f"{args.a} vs {args.b}"))
    context = default_context(exp, cmp, table=models_table(exp, device=args.device))
    write_report(out, cmp, pages, context=context)
    print(out)
    return 0


_COMMANDS = {
    "dashboard": _dashboard,
    "build-samples": _build_samples,
    "precompute": _precompute,
    "analyze": _analyze,
    "report": _report,
}
_COMMANDS.update(RUN_COMMANDS)
_COMMANDS.update(STUDY_COMMANDS)

if __name__ == "__main__":
    raise SystemExit(main())
