"""The ``ulens`` command: dashboard, build-samples, precompute, analyze, report and the experiment
commands (train, unlearn, references, shadows, runs, scenario: :mod:`dashboard.cli_runs`).

Bad input exits non-zero with a one-line message; unknown exceptions keep their traceback.

Example:
    $ ulens build-samples sample_data/digits
    $ ulens dashboard sample_data/digits --port 8501
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from analysis.errors import UlensError
from analysis.workspace import MAX_UPLOAD_BYTES
from dashboard.cli_runs import COMMANDS as RUN_COMMANDS

DEFAULT_WORKSPACE = Path(__file__).resolve().parent.parent / "sample_data" / "digits"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ulens", description="Unlearning Lens")
    sub = parser.add_subparsers(dest="command", required=True)
    dash = sub.add_parser("dashboard", help="open the Streamlit dashboard")
    dash.add_argument("workspace", nargs="?", default=str(DEFAULT_WORKSPACE))
    dash.add_argument("--port", type=int, default=8501)
    dash.add_argument("--headless", action="store_true", help="do not open a browser")
    build = sub.add_parser("build-samples", help="retrain the embedded sample models")
    build.add_argument("workspace", nargs="?", default=str(DEFAULT_WORKSPACE))
    build.add_argument("--references", type=int, default=8, help="number of reference models")
    pre = sub.add_parser("precompute", help="compute and cache the workspace's default views")
    pre.add_argument("workspace", nargs="?", default=str(DEFAULT_WORKSPACE))
    pre.add_argument("--device", default="auto")
    ana = sub.add_parser("analyze", help="compare two models headlessly and write the results")
    _pair_arguments(ana)
    ana.add_argument("--out", required=True, help="output folder")
    rep = sub.add_parser("report", help="write a one-file offline HTML report of a pair")
    _pair_arguments(rep)
    rep.add_argument("--out", required=True, help="output .html file")
    rep.add_argument(
        "--pages",
        default="models,classes,layers,instances,privacy",
        help="comma-separated pages to include",
    )
    from dashboard.cli_runs import add_parsers

    add_parsers(sub)
    return parser


def _pair_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace")
    parser.add_argument("--a", required=True, help="Model A")
    parser.add_argument("--b", required=True, help="Model B")
    parser.add_argument("--scenario", default=None, help="forget scenario (default: the first)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ulens`` console script."""
    args = _parser().parse_args(argv)
    try:
        return int(_COMMANDS[args.command](args))
    except UlensError as exc:
        print(f"ulens {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _dashboard(args: argparse.Namespace) -> int:
    from analysis.spec import find_spec_file

    workspace = find_spec_file(args.workspace).parent
    app = Path(__file__).resolve().parent / "app.py"
    env = {**os.environ, "ULENS_WORKSPACE": str(workspace)}
    env.setdefault("NUMBA_CACHE_DIR", str(workspace / ".ulens_cache" / "numba"))
    cmd = [
        sys.executable,
        "-m",
        "dashboard.serve",
        "run",
        str(app),
        "--server.port",
        str(args.port),
        "--browser.gatherUsageStats",
        "false",
        "--server.maxUploadSize",
        str(MAX_UPLOAD_BYTES // 2**20),
    ]
    if args.headless or os.environ.get("CI"):
        cmd += ["--server.headless", "true"]
    return subprocess.call(cmd, env=env)


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


def _precompute(args: argparse.Namespace) -> int:
    from analysis.compare import compare, models_table
    from analysis.experiment import load_experiment

    base = load_experiment(args.workspace)
    for scenario in base.scenarios:
        exp = base.with_scenario(scenario)
        models_table(exp, device=args.device, progress=_Bar(f"{scenario}: models table"))
        sys.stderr.write("\n")
        a, b = exp.default_pair()
        compare(exp, a, b, device=args.device, progress=_Bar(f"{scenario}: {a} vs {b}"))
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from analysis.compare import compare
    from analysis.experiment import load_experiment
    from analysis.outputs import write_analysis

    exp = load_experiment(args.workspace, scenario=args.scenario)
    cmp = compare(exp, args.a, args.b, device=args.device, progress=_Bar(f"{args.a} vs {args.b}"))
    for path in write_analysis(cmp, Path(args.out)):
        print(path)
    return 0


def _report(args: argparse.Namespace) -> int:
    from analysis.compare import compare, models_table
    from analysis.experiment import load_experiment
    from dashboard.export import default_context, write_report

    exp = load_experiment(args.workspace, scenario=args.scenario)
    cmp = compare(exp, args.a, args.b, device=args.device, progress=_Bar(f"{args.a} vs {args.b}"))
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    out = Path(args.out)
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

if __name__ == "__main__":
    raise SystemExit(main())
