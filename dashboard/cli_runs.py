"""The experiment commands of ``ulens``: train, unlearn, references, shadows, runs, scenario.

Each command validates its input (one line and exit code 2 on bad input), queues its runs in
the workspace's registry, executes them with ``--executor local|ray`` and ``--workers N``, and
draws a progress bar per run and overall with an ETA on stderr. Ctrl-C cancels cleanly (runs
become ``cancelled``, no weights are left; a second Ctrl-C stops the workers at once). The exit
code is 0 when every run is done, 1 when one failed or was interrupted, 130 when cancelled.

Example:
    $ ulens unlearn sample_data/digits --method ga --grid lr=0.005,0.01 --seeds 0,1
    4 runs: ga on classwise from original, grid lr (2 values) × 2 seeds
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from analysis.errors import ValidationError, describe

__all__ = ["COMMANDS", "add_parsers"]


# --------------------------------------------------------------------------- arguments


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", help="workspace folder (or its experiment.toml)")
    parser.add_argument("--executor", default="local", help="local (process pool) or ray")
    parser.add_argument("--workers", type=int, default=1, help="parallel runs (default 1)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads per worker (default 1)"
    )
    parser.add_argument(
        "--eval-every",
        type=int,
        default=1,
        help="record UA/RA/TUA/TRA/PS every N epochs (0: only at the end)",
    )


def _recipe(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--recipe",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a training recipe field (epochs, lr, batch_size, optimizer, momentum, "
        "weight_decay, schedule, augmentation)",
    )


def _method_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", required=True, help="unlearning method (see README)")
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="a hyperparameter"
    )
    parser.add_argument(
        "--stop-at-ua",
        type=float,
        default=None,
        help="end a run once its forget accuracy is at most this value",
    )
    parser.add_argument("--scenario", default=None, help="forget scenario (default: the first)")


def add_parsers(sub: Any) -> None:
    """Add the experiment sub-commands to ``ulens``' sub-parser group."""
    train = sub.add_parser("train", help="train the original or a retrain model from its recipe")
    _common(train)
    train.add_argument("--role", required=True, choices=("original", "retrain"))
    train.add_argument("--scenario", default=None, help="forget scenario (retrain)")
    train.add_argument("--name", default=None, help="model name (default: chosen)")
    train.add_argument("--seed", type=int, default=None, help="default: the recipe's seed")
    _recipe(train)

    unl = sub.add_parser("unlearn", help="run an unlearning method (a grid × seeds)")
    _common(unl)
    _method_options(unl)
    unl.add_argument("--base", default="original", help="the model to unlearn from")
    unl.add_argument(
        "--grid", action="append", default=[], metavar="KEY=V1,V2", help="values to sweep"
    )
    unl.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")

    refs = sub.add_parser("references", help="train K reference models on random halves")
    _common(refs)
    refs.add_argument("--count", type=int, required=True, help="K")
    refs.add_argument("--seed", type=int, default=0, help="s0 of the random halves")
    _recipe(refs)

    shadows = sub.add_parser("shadows", help="train K shadow triples for U-LiRA")
    _common(shadows)
    _method_options(shadows)
    shadows.add_argument("--count", type=int, required=True, help="K")
    shadows.add_argument("--seed", type=int, default=0, help="s0 of the random halves")
    _recipe(shadows)

    runs = sub.add_parser("runs", help="list the workspace's runs; delete or cancel one")
    runs.add_argument("workspace")
    runs.add_argument("--delete", default=None, metavar="ID", help="run id or name to delete")
    runs.add_argument("--cancel", default=None, metavar="ID", help="run id, name or 'all'")
    runs.add_argument("--scenario", default=None, help="only this scenario's runs")

    scen = sub.add_parser("scenario", help="add or list forget scenarios")
    scen_sub = scen.add_subparsers(dest="scenario_command", required=True)
    add = scen_sub.add_parser("add", help="add a scenario (experiment.toml stays untouched)")
    add.add_argument("workspace")
    add.add_argument("name")
    kind = add.add_mutually_exclusive_group(required=True)
    kind.add_argument("--classes", default=None, help="comma-separated class ids")
    kind.add_argument("--random", type=float, default=None, help="share of training samples")
    kind.add_argument("--indices", default=None, help=".npy file of training indices")
    add.add_argument("--seed", type=int, default=0, help="seed of --random")
    lst = scen_sub.add_parser("list", help="list the scenarios")
    lst.add_argument("workspace")


def _ints(text: str, option: str) -> list[int]:
    try:
        values = [int(p) for p in text.split(",")]
    except ValueError:
        values = []
    if not values:
        raise ValidationError(describe(option, "comma-separated integers", text))
    return values


# --------------------------------------------------------------------------- progress


def _bar(fraction: float, width: int = 20) -> str:
    filled = round(width * min(max(fraction, 0.0), 1.0))
    return "#" * filled + "." * (width - filled)


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--"
    whole = round(seconds)
    if whole >= 3600:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


def _number(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return "N/A"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "N/A"
    return f"{number:.3f}" if math.isfinite(number) else "N/A"


class Progress:
    """Progress bars on a terminal (redrawn in place) or state-change lines elsewhere."""

    def __init__(self, stream: TextIO | None = None, *, max_lines: int = 12) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.time()
        self.max_lines = max_lines
        self.drawn = 0
        self.states: dict[int, str] = {}
        self.last_plain = 0.0

    def line(self, record: Any, now: float) -> str:
        live = record.current if record.state == "running" else record.metrics
        epoch = f"epoch {record.epoch}/{record.epochs}" if record.epochs else ""
        values = " ".join(f"{k} {_number(live.get(k))}" for k in ("UA", "RA") if k in live)
        eta = f"ETA {_duration(record.eta(now))}" if record.state == "running" else ""
        return (
            f"{record.name[:34]:<34} [{_bar(record.fraction)}] {record.fraction:4.0%} "
            f"{record.state:<11} {epoch:<11} {values} {eta}".rstrip()
        )

    def overall(self, records: Sequence[Any], now: float) -> str:
        n = len(records) or 1
        fraction = sum(r.fraction for r in records) / n
        finished = sum(r.finished for r in records)
        failed = sum(r.state in ("failed", "interrupted") for r in records)
        elapsed = now - self.start
        eta = elapsed * (1 - fraction) / fraction if 0 < fraction < 1 else None
        extra = f", {failed} failed" if failed else ""
        return (
            f"overall [{_bar(fraction, 30)}] {fraction:4.0%} {finished}/{len(records)} "
            f"finished{extra}  elapsed {_duration(elapsed)}  ETA {_duration(eta)}"
        )

    def __call__(self, records: list[Any]) -> None:
        now = time.time()
        if self.tty:
            self._redraw(records, now)
        else:
            self._plain(records, now)

    def _redraw(self, records: list[Any], now: float) -> None:
        active = [r for r in records if r.state == "running"]
        shown = (active + [r for r in records if r.state != "running"])[: self.max_lines]
        lines = [self.line(r, now) for r in shown] + [self.overall(records, now)]
        out = f"\x1b[{self.drawn}F" if self.drawn else ""
        out += "".join(f"\x1b[2K{text}\n" for text in lines)
        self.stream.write(out)
        self.stream.flush()
        self.drawn = len(lines)

    def _plain(self, records: list[Any], now: float) -> None:
        changed = [r for r in records if self.states.get(r.id) != r.state]
        for record in changed:
            self.states[record.id] = record.state
            if record.state != "queued":
                self.stream.write(self.line(record, now) + "\n")
        if changed or now - self.last_plain >= 10:
            self.stream.write(self.overall(records, now) + "\n")
            self.last_plain = now
        self.stream.flush()


# --------------------------------------------------------------------------- execution


def _execute(args: argparse.Namespace, jobs: Sequence[Any], announce: str) -> int:
    from analysis.runs import list_runs, make_executor, submit

    runner = make_executor(
        args.executor, workers=args.workers, device=args.device, threads=args.threads
    )
    print(announce, flush=True)
    ids = submit(args.workspace, jobs)
    if not ids:
        print("nothing to run: every run exists already", flush=True)
        return 0
    progress = Progress()
    try:
        records = runner.run(_root(args.workspace), ids, on_update=progress)
    except KeyboardInterrupt:
        records = list_runs(args.workspace, ids=ids)
    return _summary(records)


def _root(workspace: str) -> Any:
    from analysis.runs.plan import workspace_root

    return workspace_root(workspace)


def _summary(records: Sequence[Any]) -> int:
    heads = " ".join(f"{k:>6}" for k in ("UA", "RA", "TUA", "TRA", "PS"))
    print(f"{'id':>4}  {'name':<34} {'state':<11} {heads} {'RT':>7}")
    for r in records:
        m = r.metrics
        rt = f"{r.rt:.2f}s" if r.rt is not None else "--"
        print(
            f"{r.id:>4}  {r.name:<34} {r.state:<11} "
            + " ".join(f"{_number(m.get(k)):>6}" for k in ("UA", "RA", "TUA", "TRA", "PS"))
            + f" {rt:>7}"
        )
    for r in records:
        if r.state in ("failed", "interrupted") and r.error:
            print(
                f"ulens: run {r.id} ({r.name}) {r.state}: {r.error.splitlines()[0]}",
                file=sys.stderr,
            )
    states = {r.state for r in records}
    if "cancelled" in states:
        return 130
    return 1 if states & {"failed", "interrupted"} else 0


def _check_count(count: int) -> None:
    if count < 1:
        raise ValidationError(describe("--count", "a positive integer (K >= 1)", count))


def _train(args: argparse.Namespace) -> int:
    from analysis.runs import TrainJob, parse_recipe

    job = TrainJob(
        role=args.role,
        scenario=args.scenario,
        name=args.name,
        recipe=parse_recipe(args.recipe),
        seed=args.seed,
        eval_every=args.eval_every,
    )
    where = f" for scenario {args.scenario}" if args.scenario else ""
    return _execute(args, [job], f"1 run: train the {args.role} model{where}")


def _workspace_root(workspace: str) -> Path:
    """The workspace folder (so plug-in methods in its .py files resolve)."""
    from analysis.spec import find_spec_file

    return find_spec_file(workspace).parent


def _unlearn(args: argparse.Namespace) -> int:
    from analysis.runs import grid_jobs, parse_grid, parse_params

    root = _workspace_root(args.workspace)
    params = parse_params(args.method, args.param, workspace=root)
    grid = parse_grid(args.method, args.grid, workspace=root)
    seeds = _ints(args.seeds, "--seeds")
    jobs = grid_jobs(
        args.method,
        base=args.base,
        scenario=args.scenario,
        params=params,
        grid=grid,
        seeds=seeds,
        stop_at_ua=args.stop_at_ua,
        eval_every=args.eval_every,
        workspace=root,
    )
    axes = " × ".join(f"{k} ({len(v)} values)" for k, v in grid.items())
    shape = f"grid {axes} × {len(seeds)} seeds" if grid else f"{len(seeds)} seed(s)"
    scenario = args.scenario or "the first scenario"
    return _execute(
        args, jobs, f"{len(jobs)} runs: {args.method} on {scenario} from {args.base}, {shape}"
    )


def _references(args: argparse.Namespace) -> int:
    from analysis.runs import ReferencesJob, parse_recipe

    _check_count(args.count)
    job = ReferencesJob(
        args.count, seed=args.seed, recipe=parse_recipe(args.recipe), eval_every=args.eval_every
    )
    return _execute(
        args, [job], f"{args.count} runs: reference models on random halves (seed {args.seed})"
    )


def _shadows(args: argparse.Namespace) -> int:
    from analysis.runs import ShadowsJob, parse_params, parse_recipe

    _check_count(args.count)
    params = parse_params(args.method, args.param, workspace=_workspace_root(args.workspace))
    stop = params.pop("stop_at_ua", args.stop_at_ua)
    job = ShadowsJob(
        args.count,
        args.method,
        params=params,
        scenario=args.scenario,
        seed=args.seed,
        recipe=parse_recipe(args.recipe),
        stop_at_ua=stop,
        eval_every=args.eval_every,
    )
    return _execute(
        args,
        [job],
        f"up to {3 * args.count} runs: {args.count} shadow bases, {args.method} shadows and "
        "retrain shadows (existing ones are reused)",
    )


def _find(records: Sequence[Any], key: str) -> Any:
    for record in records:
        if str(record.id) == key or record.name == key:
            return record
    raise ValidationError(describe("run", f"a run id or name among {[r.id for r in records]}", key))


def _runs(args: argparse.Namespace) -> int:
    from analysis.runs import cancel, delete_run, list_runs

    records = list_runs(args.workspace, scenario=args.scenario)
    if args.delete is not None:
        record = delete_run(args.workspace, _find(records, args.delete).id)
        print(f"deleted run {record.id} ({record.name}) and its files")
        return 0
    if args.cancel is not None:
        target = None if args.cancel == "all" else _find(records, args.cancel).id
        hit = cancel(args.workspace, target)
        print(f"cancel requested for {len(hit)} run(s)")
        return 0
    if not records:
        print("no runs")
        return 0
    now = time.time()
    print(
        f"{'id':>4}  {'name':<34} {'kind':<10} {'role':<9} {'method':<8} {'scenario':<10} "
        f"{'seed':>4}  {'state':<11} {'progress':<16} {'UA':>6} {'RA':>6} {'PS':>6}  error"
    )
    for r in records:
        values = r.current if r.state == "running" else r.metrics
        progress = (
            f"{r.fraction:4.0%} e{r.epoch}/{r.epochs}"
            if r.state == "running"
            else _duration(r.elapsed(now))
        )
        error = r.error.splitlines()[0] if r.error and r.state != "cancelled" else ""
        seed = "" if r.seed is None else r.seed
        numbers = " ".join(f"{_number(values.get(k)):>6}" for k in ("UA", "RA", "PS"))
        line = (
            f"{r.id:>4}  {r.name:<34} {r.kind:<10} {r.role:<9} {r.method or ''!s:<8} "
            f"{r.forget or ''!s:<10} {seed:>4}  {r.state:<11} {progress:<16} {numbers}  {error}"
        )
        print(line.rstrip())
    return 0


def _scenario(args: argparse.Namespace) -> int:
    from analysis.experiment import load_experiment
    from analysis.runs import add_scenario

    if args.scenario_command == "list":
        exp = load_experiment(args.workspace)
        for name, table in exp.spec.scenarios.items():
            print(f"{name}: {table}")
        return 0
    classes = _ints(args.classes, "--classes") if args.classes is not None else None
    spec = add_scenario(
        args.workspace,
        args.name,
        classes=classes,
        random=args.random,
        seed=args.seed,
        indices=args.indices,
    )
    print(
        f"added scenario {args.name}: {spec} (train its retrain model with: "
        f"ulens train {args.workspace} --role retrain --scenario {args.name})"
    )
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": _train,
    "unlearn": _unlearn,
    "references": _references,
    "shadows": _shadows,
    "runs": _runs,
    "scenario": _scenario,
}
"""Command name -> function, merged into ``dashboard.cli``'s table."""
