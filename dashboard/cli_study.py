"""The study commands: ``ulens study scalability|sustainability|worst-case|corrective|...``.

``scalability``, ``sustainability``, ``worst-case`` and ``corrective`` submit a study (its
scenarios and runs; see :mod:`analysis.studies`), execute its runs in the foreground with
progress bars (like ``ulens unlearn``; ``--executor ray`` and ``--workers N`` alike), then print
its results: one
row per method and forget size (or request) with mean ± std over seeds. ``--background`` hands
the runs to the workspace's detached pool instead and returns at once; ``ulens study status``
follows them and ``ulens study results`` prints the table later. ``--csv FILE`` writes the
printed table, ``--runs-csv FILE`` one row per run. ``groups`` prints per-group accuracy, PS
and gaps to the retrain model for ``--models`` of a scenario, or a study's worst-group gaps
(``--study``); it runs nothing. ``delete`` removes a study with its runs (records and weights)
and the scenarios only it uses (``--keep-runs``: only its record); it prints what goes and asks,
and without ``--yes`` and no terminal to ask on it deletes nothing and exits 2.

Exit codes: 0 when every run is done (or on success of list/status/cancel/results), 1 when a
run failed or was interrupted, 130 when cancelled, 2 on bad input (one line naming the option).

Example:
    $ ulens study scalability sample_data/digits --name grow --methods ga,ft \\
        --fractions 0.05,0.1,0.2 --seeds 0,1 --param ga:lr=0.01 --csv grow.csv
    $ ulens study sustainability sample_data/digits --name seq --methods ft --requests 3 \\
        --classes-per-request 1
    $ ulens study worst-case sample_data/digits --name hard --methods ga,ft --size 30 --within 8
    $ ulens study corrective sample_data/digits --name fix --methods ga --manipulation label_flip \\
        --poison-fraction 0.1 --known 0.5,1
    $ ulens study groups sample_data/digits --models ga_random --scenario random
    $ ulens study groups sample_data/digits --study grow
    $ ulens study status sample_data/digits grow
    $ ulens study delete sample_data/digits grow --yes
"""

from __future__ import annotations

import argparse
import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.errors import UlensError, ValidationError, describe

if TYPE_CHECKING:  # numpy/pandas load only when a study command runs (ulens starts fast)
    import pandas as pd

__all__ = ["COMMANDS", "add_parsers"]

TABLE_METRICS = ("UA", "RA", "TUA", "TRA", "PS", "mia_efficacy", "privleak", "RT")
"""Metrics printed by ``ulens study results`` (the CSV has every study metric)."""
_HEADS = {"mia_efficacy": "MIA-eff", "privleak": "PrivLeak"}


# --------------------------------------------------------------------------- arguments


def _study_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", help="workspace folder (or its experiment.toml)")
    parser.add_argument("--name", required=True, help="study name (prefixes its scenarios/runs)")
    parser.add_argument("--methods", required=True, help="comma-separated unlearning methods")
    parser.add_argument("--seeds", default="0", help="comma-separated run seeds (default 0)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="METHOD:KEY=VALUE",
        help="a method's hyperparameter (METHOD: may be left out with one method)",
    )
    parser.add_argument(
        "--recipe",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field of the retrain models' recipe (epochs, lr, ...)",
    )
    parser.add_argument("--base", default="original", help="model the runs start from")
    parser.add_argument(
        "--forget-seed", type=int, default=0, help="seed of the forget sets' draw (default 0)"
    )
    parser.add_argument(
        "--class-order",
        default=None,
        help="classes studies: comma-separated order classes are forgotten in",
    )
    parser.add_argument(
        "--eval-every", type=int, default=0, help="evaluate runs every N epochs (0: at the end)"
    )
    parser.add_argument("--executor", default="local", help="local (process pool) or ray")
    parser.add_argument("--workers", type=int, default=1, help="parallel runs (default 1)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads per worker (default 1)"
    )
    parser.add_argument(
        "--background",
        action="store_true",
        help="queue the runs for the background pool and return (see: ulens study status)",
    )
    _output_options(parser)


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--csv", default=None, metavar="FILE", help="write the results table")
    parser.add_argument(
        "--runs-csv", default=None, metavar="FILE", help="write one row per run with its metrics"
    )


def add_parsers(sub: Any) -> None:
    """Add ``study`` and its sub-commands to ``ulens``' sub-parser group."""
    study = sub.add_parser(
        "study", help="studies: scalability, sustainability, worst-case, corrective, groups"
    )
    kinds = study.add_subparsers(dest="study_command", required=True)
    scal = kinds.add_parser("scalability", help="forget sets of growing size, each retrained")
    _study_options(scal)
    sizes = scal.add_mutually_exclusive_group(required=True)
    sizes.add_argument("--fractions", default=None, help="comma-separated random fractions")
    sizes.add_argument("--classes", default=None, help="comma-separated numbers of classes")
    sust = kinds.add_parser("sustainability", help="successive deletion requests")
    _study_options(sust)
    sust.add_argument("--requests", type=int, required=True, help="number of requests k")
    size = sust.add_mutually_exclusive_group(required=True)
    size.add_argument("--fraction", type=float, default=None, help="random share per request")
    size.add_argument(
        "--classes-per-request", type=int, default=None, help="classes forgotten per request"
    )
    worst = kinds.add_parser("worst-case", help="the hardest forget set of a size vs a random one")
    _study_options(worst)
    worst.add_argument("--size", type=int, required=True, help="samples in each forget set")
    worst.add_argument(
        "--within", type=int, default=None, help="a class id (default: all training samples)"
    )
    worst.add_argument(
        "--score",
        default="memorization",
        help="difficulty score ranking the samples (memorization: needs reference models)",
    )
    _corrective_parser(kinds)
    _groups_parser(kinds)
    lst = kinds.add_parser("list", help="list the workspace's studies")
    lst.add_argument("workspace")
    for name, text in (("status", "runs per state"), ("cancel", "cancel queued/running runs")):
        cmd = kinds.add_parser(name, help=f"a study's {text}" if name == "status" else text)
        cmd.add_argument("workspace")
        cmd.add_argument("study", help="study name")
    _delete_parser(kinds)
    res = kinds.add_parser("results", help="a study's results table")
    res.add_argument("workspace")
    res.add_argument("study", help="study name")
    res.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    _output_options(res)


def _delete_parser(kinds: Any) -> None:
    rm = kinds.add_parser(
        "delete", help="delete a study, its runs' records and weights, and its own scenarios"
    )
    rm.add_argument("workspace")
    rm.add_argument("study", help="study name")
    rm.add_argument(
        "--keep-runs", action="store_true", help="delete only the study's record; keep its runs"
    )
    rm.add_argument("--force", action="store_true", help="cancel its running runs first")
    rm.add_argument("--yes", action="store_true", help="delete without asking")


def _corrective_parser(kinds: Any) -> None:
    fix = kinds.add_parser(
        "corrective", help="manipulated training data; methods get a known part of it"
    )
    _study_options(fix)
    fix.add_argument(
        "--manipulation", required=True, help="label_flip or trigger (a corner patch + target)"
    )
    fix.add_argument(
        "--poison-fraction", type=float, required=True, help="share of training samples manipulated"
    )
    fix.add_argument(
        "--target",
        type=int,
        default=None,
        help="target label (trigger: required; flip: default random)",
    )
    fix.add_argument("--patch", type=int, default=3, help="trigger patch side in pixels (3)")
    fix.add_argument(
        "--value", type=float, default=None, help="trigger value (default: max training input)"
    )
    fix.add_argument("--manipulation-seed", type=int, default=0, help="seed of the manipulation")
    fix.add_argument(
        "--known", default="0.1,0.5,1", help="known fractions of the manipulated samples"
    )


def _groups_parser(kinds: Any) -> None:
    grp = kinds.add_parser("groups", help="per-group accuracy and PS vs the retrain model")
    grp.add_argument("workspace")
    which = grp.add_mutually_exclusive_group(required=True)
    which.add_argument("--models", default=None, help="comma-separated models of --scenario")
    which.add_argument("--study", default=None, help="a study: worst-group gaps per method and x")
    grp.add_argument("--scenario", default=None, help="forget scenario (default: the first)")
    grp.add_argument(
        "--groups", default=None, help="classes, or a workspace .npz with groups_train/groups_test"
    )
    grp.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    grp.add_argument("--csv", default=None, metavar="FILE", help="write the printed table")


def _split(text: str, option: str, parse: Callable[[str], Any]) -> list[Any]:
    try:
        values = [parse(p.strip()) for p in text.split(",")]
    except ValueError:
        values = []
    if not values:
        raise ValidationError(describe(option, "comma-separated numbers", text))
    return values


def _method_params(
    items: Sequence[str], methods: Sequence[str], root: Path
) -> dict[str, dict[str, Any]]:
    """``--param ga:lr=0.01`` (or ``lr=0.01`` with one method) -> ``{"ga": {"lr": 0.01}}``."""
    from analysis.runs import parse_params

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        head, sep, value = item.partition("=")
        method, colon, key = head.rpartition(":")
        if not colon:
            if len(methods) != 1:
                raise ValidationError(describe("--param", "METHOD:KEY=VALUE", item))
            method, key = methods[0], head
        if method not in methods:
            raise ValidationError(describe("--param", f"a method among {list(methods)}", method))
        out.setdefault(method, {}).update(
            parse_params(method, [f"{key}{sep}{value}"], workspace=root)
        )
    return out


def _common_fields(args: argparse.Namespace) -> dict[str, Any]:
    from analysis.runs import parse_recipe
    from analysis.runs.plan import workspace_root

    root = workspace_root(args.workspace)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise ValidationError(describe("--methods", "comma-separated method names", args.methods))
    order = _split(args.class_order, "--class-order", int) if args.class_order else None
    return {
        "name": args.name,
        "methods": tuple(methods),
        "params": _method_params(args.param, methods, root),
        "seeds": tuple(_split(args.seeds, "--seeds", int)),
        "forget_seed": args.forget_seed,
        "classes": None if order is None else tuple(order),
        "base": args.base,
        "recipe": parse_recipe(args.recipe),
        "eval_every": args.eval_every,
    }


# --------------------------------------------------------------------------- commands


_OPTIONS = {
    "name": "--name",
    "methods": "--methods",
    "params": "--param",
    "seeds": "--seeds",
    "forget_seed": "--forget-seed",
    "classes": "--class-order",
    "base": "--base",
    "eval_every": "--eval-every",
    "requests": "--requests",
}


def _options(study: Any) -> dict[str, str]:
    """Study field -> the command-line option that sets it."""
    random = study.forget == "random"
    return {
        **_OPTIONS,
        "method": "--methods",
        "sizes": "--fractions" if random else "--classes",
        "size": "--size"
        if study.kind == "worst_case"
        else "--fraction"
        if random
        else "--classes-per-request",
        "within": "--within",
        "score": "--score",
        "known": "--known",
        **_MANIPULATION_OPTIONS,
    }


_MANIPULATION_OPTIONS = {
    "manipulation": "--manipulation",
    "manipulation.kind": "--manipulation",
    "manipulation.fraction": "--poison-fraction",
    "manipulation.seed": "--manipulation-seed",
    "manipulation.target": "--target",
    "manipulation.patch": "--patch",
    "manipulation.value": "--value",
}


@contextlib.contextmanager
def _option_names(options: dict[str, str]) -> Iterator[None]:
    """Validation errors of a study name the command-line option instead of the field."""
    try:
        yield
    except UlensError as exc:
        field, sep, rest = str(exc).partition(":")
        if sep and field in options:
            raise type(exc)(f"{options[field]}:{rest}") from exc
        raise


def _build(cls: Any, args: argparse.Namespace, **fields: Any) -> Any:
    probe = argparse.Namespace(forget=fields.get("forget", "random"), kind=cls.kind)
    with _option_names(_options(probe)):
        return cls(**_common_fields(args), **fields)


def _scalability(args: argparse.Namespace) -> int:
    from analysis.studies import ScalabilityStudy

    if args.fractions is not None:
        sizes, forget = _split(args.fractions, "--fractions", float), "random"
    else:
        sizes, forget = _split(args.classes, "--classes", int), "classes"
    return _launch(args, _build(ScalabilityStudy, args, forget=forget, sizes=tuple(sizes)))


def _sustainability(args: argparse.Namespace) -> int:
    from analysis.studies import SustainabilityStudy

    if args.fraction is not None:
        size, forget = args.fraction, "random"
    else:
        size, forget = args.classes_per_request, "classes"
    fields = {"forget": forget, "requests": args.requests, "size": size}
    return _launch(args, _build(SustainabilityStudy, args, **fields))


def _worst_case(args: argparse.Namespace) -> int:
    from analysis.studies import WorstCaseStudy

    fields = {"forget": "random", "size": args.size, "within": args.within, "score": args.score}
    return _launch(args, _build(WorstCaseStudy, args, **fields))


def _corrective(args: argparse.Namespace) -> int:
    from analysis.studies import CorrectiveStudy

    manipulation = {
        "kind": args.manipulation,
        "fraction": args.poison_fraction,
        "seed": args.manipulation_seed,
        "target": args.target,
        "patch": args.patch,
        "value": args.value,
    }
    known = tuple(_split(args.known, "--known", float))
    fields = {"forget": "random", "manipulation": manipulation, "known": known}
    return _launch(args, _build(CorrectiveStudy, args, **fields))


def _groups(args: argparse.Namespace) -> int:
    from analysis.experiment import load_experiment
    from analysis.group_robustness import group_robustness_table

    groups = None if args.groups is None else args.groups
    if args.study is not None:
        from analysis.studies import study_groups

        result = study_groups(args.workspace, args.study, groups=groups, device=args.device)
        print(f"study {args.study}: groups from {result.source}")
        print(format_table(result.worst, result.x_label, metrics=("worst_gap", "worst_acc")))
        if args.csv:
            _write_csv(result.runs, args.csv, "--csv")
        return 0
    models = [m.strip() for m in str(args.models).split(",") if m.strip()]
    if not models:
        raise ValidationError(describe("--models", "comma-separated model names", args.models))
    exp = load_experiment(args.workspace, scenario=args.scenario)
    retrain = exp.retrain_name
    wanted = [m for m in dict.fromkeys([*models, retrain]) if m is not None]
    with _option_names({"model": "--models", "groups": "--groups", "scenario": "--scenario"}):
        table = group_robustness_table(exp, wanted, groups=groups, device=args.device)
    print(format_groups(table, retrain))
    if args.csv:
        _write_csv(table, args.csv, "--csv")
    return 0


def format_groups(table: pd.DataFrame, retrain: str | None) -> str:
    """The per-group table of :func:`analysis.group_robustness_table` (accuracies, PS, gaps)
    and each model's worst-group gap to the retrain model.

    Example:
        >>> import pandas as pd
        >>> t = pd.DataFrame({"model": ["ga"], "name": ["0"], "n_forget": [3], "n_test": [9],
        ...     "UA": [0.5], "RA": [1.0], "TA": [0.9], "PS": [0.7], "TA_gap": [-0.1],
        ...     "worst_gap": [0.1]})
        >>> print(format_groups(t, "retrain").splitlines()[1].split())
        ['ga', '0', '3', '9', '0.500', '1.000', '0.900', '0.700', '-0.100']
    """
    import numpy as np

    cols = ("UA", "RA", "TA", "PS", "TA_gap")
    head = f"{'model':<18} {'group':<12} {'n_forget':>8} {'n_test':>6}"
    lines = [head + "".join(f" {c:>7}" for c in cols)]
    for _, row in table.iterrows():
        cells = [f"{str(row['model'])[:18]:<18}", f"{str(row['name'])[:12]:<12}"]
        cells += [f"{int(row['n_forget']):>8}", f"{int(row['n_test']):>6}"]
        cells += [_number(row[c]) for c in cols]
        lines.append(" ".join(cells))
    for model, rows in table.groupby("model", sort=False):
        if model == retrain:
            continue
        gap = float(rows["worst_gap"].iloc[0])
        if math.isfinite(gap):
            worst = rows["name"].iloc[int(np.nanargmax(rows["TA_gap"].abs().to_numpy()))]
            lines.append(
                f"{model}: worst-group test-accuracy gap to {retrain}: {gap:.3f} ({worst})"
            )
        else:
            lines.append(f"{model}: worst-group gap N/A (no retrain model)")
    return "\n".join(lines)


def _number(value: Any) -> str:
    number = float(value)
    return f"{number:>7.3f}" if math.isfinite(number) else f"{'N/A':>7}"


def _launch(args: argparse.Namespace, study: Any) -> int:
    from analysis.runs import ensure_workers, make_executor
    from analysis.studies import run_study, study_status, submit_study
    from dashboard.cli_runs import Progress

    if not args.background:
        make_executor(args.executor, workers=args.workers, device=args.device)  # fail early
    with _option_names(_options(study)):
        submit_study(args.workspace, study)
    status = study_status(args.workspace, study.name)
    steps = ", ".join(s.scenario for s in study.steps())
    print(f"study {study.name}: {status.total} runs on {steps}", flush=True)
    if args.background:
        ensure_workers(
            args.workspace,
            executor=args.executor,
            workers=args.workers,
            device=args.device,
            threads=args.threads,
        )
        print(f"queued; follow with: ulens study status {args.workspace} {study.name}")
        return 0
    try:
        records = run_study(
            args.workspace,
            study.name,
            executor=args.executor,
            workers=args.workers,
            device=args.device,
            threads=args.threads,
            on_update=Progress(),
        )
    except KeyboardInterrupt:
        records = []
    states = {r.state for r in records} or {"cancelled"}
    if states != {"cancelled"}:
        _print_results(args.workspace, study.name, args.device, args.csv, args.runs_csv)
    if "cancelled" in states:
        return 130
    return 1 if states & {"failed", "interrupted"} else 0


def _list(args: argparse.Namespace) -> int:
    from analysis.studies import list_studies, study_status

    studies = list_studies(args.workspace)
    if not studies:
        print("no studies")
        return 0
    print(f"{'name':<24} {'kind':<15} {'created':<20} {'done':>9}  states")
    for record in studies:
        status = study_status(args.workspace, record.name)
        done = f"{status.counts['done']}/{status.total}"
        states = ", ".join(f"{n} {s}" for s, n in status.counts.items() if n)
        print(
            f"{record.name:<24} {record.kind:<15} {record.created_at[:19]:<20} {done:>9}  {states}"
        )
    return 0


def _status(args: argparse.Namespace) -> int:
    from analysis.studies import study_runs, study_status

    status = study_status(args.workspace, args.study)
    counts = ", ".join(f"{n} {s}" for s, n in status.counts.items() if n) or "no runs"
    head = f"study {status.name} ({status.kind}): {status.fraction:.0%} of {status.total} runs"
    print(f"{head}; {counts}")
    for record in study_runs(args.workspace, args.study):
        note = record.error.splitlines()[0] if record.error and record.state != "cancelled" else ""
        line = f"  {record.name:<40} {record.state:<11} {record.fraction:4.0%} {note}"
        print(line.rstrip())
    return 0


def _cancel(args: argparse.Namespace) -> int:
    from analysis.studies import cancel_study

    hit = cancel_study(args.workspace, args.study)
    print(f"cancel requested for {len(hit)} run(s) of study {args.study}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    """Show what goes, ask (or require ``--yes`` when nobody can answer), then delete."""
    import sys

    from analysis.studies import delete_study

    plan = delete_study(args.workspace, args.study, runs=not args.keep_runs, dry_run=True)
    print(_deletion_text(plan, keep_runs=args.keep_runs, done=False))
    if not args.yes:
        if not sys.stdin.isatty():
            raise ValidationError(
                describe(
                    "--yes",
                    "--yes to delete without a terminal to confirm (nothing was deleted)",
                    "no --yes",
                    raw=True,
                )
            )
        if input("delete? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    gone = delete_study(
        args.workspace, args.study, runs=not args.keep_runs, force=args.force, timeout=60.0
    )
    print(_deletion_text(gone, keep_runs=args.keep_runs, done=True))
    return 0


def _deletion_text(plan: Any, *, keep_runs: bool, done: bool) -> str:
    verb = "deleted" if done else "would delete"
    lines = [f"{verb} study {plan.name}" + (" (its runs are kept)" if keep_runs else "")]
    if plan.cancelled:
        lines.append(f"  cancelled {len(plan.cancelled)} run(s) first")
    if plan.runs:
        lines.append(f"  {len(plan.runs)} run(s): {', '.join(plan.runs)}")
    if plan.scenarios:
        lines.append(f"  {len(plan.scenarios)} scenario(s): {', '.join(plan.scenarios)}")
    if plan.files:
        lines.append(f"  {len(plan.files)} file(s) in the workspace")
    if plan.kept:
        lines.append(f"  kept scenario(s) other runs use: {', '.join(plan.kept)}")
    return "\n".join(lines)


def _results(args: argparse.Namespace) -> int:
    _print_results(args.workspace, args.study, args.device, args.csv, args.runs_csv)
    return 0


def _print_results(
    workspace: str, name: str, device: str, csv: str | None, runs_csv: str | None
) -> None:
    from analysis.studies import study_results

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = study_results(workspace, name, device=device)
    _report_warnings(caught, name)
    metrics = result.metrics if result.kind == "corrective" else TABLE_METRICS
    table = format_table(result.summary, result.x_label, metrics=metrics)
    print(table)
    if csv:
        _write_csv(result.summary, csv, "--csv")
    if runs_csv:
        _write_csv(result.runs, runs_csv, "--runs-csv")


def _report_warnings(caught: list[warnings.WarningMessage], name: str) -> None:
    """One line per study note; every other distinct warning once, with how many times it
    was raised (the aggregation of a study repeats the same few per run), re-issued under the
    caller's filters (``-W ignore``...)."""
    counts: dict[tuple[type[Warning], str], list[Any]] = {}
    for warning in caught:
        text = str(warning.message)
        if text.startswith(f"study {name!r}"):
            print(f"ulens study: note: {text}")
            continue
        counts.setdefault((warning.category, text), [warning, 0])[1] += 1
    for (category, text), (first, count) in counts.items():
        shown = text if count == 1 else f"{text} (raised {count} times)"
        warnings.warn_explicit(category(shown), category, first.filename, first.lineno)


def _write_csv(frame: pd.DataFrame, path: str, option: str) -> None:
    target = Path(path).expanduser()
    if target.is_dir():
        raise ValidationError(describe(option, "a file path", f"{path!r} (a folder)", raw=True))
    frame.to_csv(target, index=False)
    print(f"wrote {target}")


def _cell(mean: Any, std: Any) -> str:
    if mean is None or not math.isfinite(float(mean)):
        return "N/A"
    if std is None or not math.isfinite(float(std)):
        return f"{float(mean):.3f}"
    return f"{float(mean):.3f}±{float(std):.3f}"


def format_table(
    summary: pd.DataFrame, x_label: str, *, metrics: Sequence[str] = TABLE_METRICS
) -> str:
    """The results table: one line per (method, x) — x shown by its point's label when it has
    one (``worst``) — with ``mean±std`` per metric (N/A: undefined; a metric N/A for every row
    is left out).

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"method": ["ga"], "x": [0.1], "n_forget": [144], "runs": [2],
        ...     "done": [2], "UA_mean": [0.25], "UA_std": [0.05]})
        >>> print(format_table(frame, "forget fraction").splitlines()[1].split())
        ['ga', '0.1', '144', '2/2', '0.250±0.050']
    """
    import pandas as pd

    shown = [
        m
        for m in metrics
        if f"{m}_mean" in summary and pd.to_numeric(summary[f"{m}_mean"]).notna().any()
    ]
    heads = [f"{'method':<14}", f"{x_label:>16}", f"{'n_forget':>8}", f"{'done':>6}"]
    heads += [f"{_HEADS.get(m, m):>15}" for m in shown]
    lines = [" ".join(heads)]
    for _, row in summary.iterrows():
        n_forget = row.get("n_forget")
        size = "" if n_forget is None or pd.isna(n_forget) else str(int(n_forget))
        point = row.get("point")
        where = point if isinstance(point, str) and point else f"{float(row['x']):g}"
        cells = [
            f"{str(row['method'])[:14]:<14}",
            f"{where:>16}",
            f"{size:>8}",
            f"{int(row['done'])}/{int(row['runs'])}".rjust(6),
        ]
        cells += [f"{_cell(row[f'{m}_mean'], row.get(f'{m}_std')):>15}" for m in shown]
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines)


def _study(args: argparse.Namespace) -> int:
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "scalability": _scalability,
        "sustainability": _sustainability,
        "worst-case": _worst_case,
        "corrective": _corrective,
        "groups": _groups,
        "list": _list,
        "status": _status,
        "cancel": _cancel,
        "delete": _delete,
        "results": _results,
    }
    started = time.time()
    code = handlers[args.study_command](args)
    if args.study_command in _STUDIES and not args.background:
        print(f"study took {time.time() - started:.1f} s")
    return code


_STUDIES = ("scalability", "sustainability", "worst-case", "corrective")
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"study": _study}
"""Command name -> function, merged into ``dashboard.cli``'s table."""
