"""The ``ulens`` command: dashboard, build-samples, precompute (and, as they land, analyze/report).

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
    return parser


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
        "streamlit",
        "run",
        str(app),
        "--server.port",
        str(args.port),
        "--browser.gatherUsageStats",
        "false",
        "--server.maxUploadSize",
        "200",
    ]
    if args.headless or os.environ.get("CI"):
        cmd += ["--server.headless", "true"]
    return subprocess.call(cmd, env=env)


def _build_samples(args: argparse.Namespace) -> int:
    from analysis.samples import build_digits_sample

    build_digits_sample(args.workspace, n_reference=args.references)
    return 0


def _precompute(args: argparse.Namespace) -> int:
    from analysis.experiment import load_experiment
    from analysis.overview import model_overview

    exp = load_experiment(args.workspace)
    for scenario in exp.scenarios:
        model_overview(exp.with_scenario(scenario))
        print(f"precomputed overview of scenario {scenario!r}")
    return 0


_COMMANDS = {"dashboard": _dashboard, "build-samples": _build_samples, "precompute": _precompute}

if __name__ == "__main__":
    raise SystemExit(main())
