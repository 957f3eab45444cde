"""The ``ulens`` command: trust opt-ins reach every command, the server is local and stops cleanly,
outputs are never overwritten by accident. (Bad arguments: tests/dashboard/test_hostile_inputs.py.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from analysis.trust import ALLOW_CODE_ENV, ALLOW_OUTSIDE_ENV, current_policy
from dashboard import cli, procs
from tests.dashboard.servers import free_port, port_is_free, wait_healthy

ROOT = Path(__file__).resolve().parents[2]


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli._parser()
    cli._add_global_options(parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_every_subcommand_offers_the_trust_opt_ins() -> None:
    for name, command in _subcommands().items():
        options = {s for a in command._actions for s in a.option_strings}
        assert {"--allow-code", "--allow-outside"} <= options, name


_MINIMAL = {
    "dashboard": [],
    "build-samples": [],
    "precompute": [],
    "analyze": ["ws", "--a", "x", "--b", "y", "--out", "o"],
    "report": ["ws", "--a", "x", "--b", "y", "--out", "r.html"],
}


@pytest.mark.parametrize("command", sorted(_MINIMAL))
def test_opt_ins_reach_the_command_and_its_children_then_are_restored(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_CODE_ENV, raising=False)
    monkeypatch.delenv(ALLOW_OUTSIDE_ENV, raising=False)
    monkeypatch.setenv("ULENS_CONFIG", str(tmp_path / "no-config.toml"))
    seen: dict[str, Any] = {}

    def record(args: argparse.Namespace) -> int:
        seen["env"] = dict(os.environ)
        seen["policy"] = current_policy()
        child = [sys.executable, "-c", f"import os; print(os.environ['{ALLOW_CODE_ENV}'])"]
        seen["child"] = subprocess.run(child, capture_output=True, text=True).stdout.strip()
        return 0

    monkeypatch.setitem(cli._COMMANDS, command, record)
    argv = [command, *_MINIMAL[command], "--allow-code", "mylab", "--allow-outside", str(tmp_path)]
    assert cli.main(argv) == 0
    assert seen["policy"].allow_code == ("mylab",)
    assert seen["policy"].allow_outside == (tmp_path.resolve(),)
    assert seen["child"] == "mylab"
    assert ALLOW_CODE_ENV not in os.environ and ALLOW_OUTSIDE_ENV not in os.environ


def test_numba_caches_in_the_users_cache_never_in_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_workspace: Path
) -> None:
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    seen: list[str] = []
    monkeypatch.setitem(
        cli._COMMANDS, "precompute", lambda args: seen.append(os.environ["NUMBA_CACHE_DIR"]) or 0
    )
    assert cli.main(["precompute", str(tiny_workspace)]) == 0
    assert seen == [str(tmp_path / "xdg" / "unlearning-lens" / "numba")]
    assert "NUMBA_CACHE_DIR" not in os.environ  # restored after the command
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert cli.main(["precompute", str(tiny_workspace)]) == 0
    assert seen[-1] == str(tmp_path / "mine")  # an explicit setting wins


def _dashboard_call(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def fake_run(cmd: list[str], env: dict[str, str], **kwargs: Any) -> int:
        seen["options"] = dict(zip(cmd[5::2], cmd[6::2], strict=True))
        seen["env"] = env
        seen["tick"] = kwargs.get("tick")
        return 0

    monkeypatch.setattr(cli, "_run_server", fake_run)
    assert cli.main(["dashboard", *argv]) == 0
    return seen


def test_the_server_listens_locally_fetches_nothing_and_caps_uploads(
    monkeypatch: pytest.MonkeyPatch, tiny_workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = _dashboard_call(monkeypatch, [str(tiny_workspace)])
    options = seen["options"]
    assert options["--server.address"] == "127.0.0.1"
    assert options["--browser.gatherUsageStats"] == "false"
    assert options["--server.maxUploadSize"] == "200" == seen["env"]["ULENS_MAX_UPLOAD_MB"]
    assert options["--client.showErrorDetails"] == "type"  # tracebacks carry server paths
    assert options["--client.toolbarMode"] in ("minimal", "viewer")  # no "Deploy" button
    assert seen["env"]["ULENS_WORKSPACE"] == str(tiny_workspace.resolve())
    assert seen["env"]["ULENS_WORKSPACES"] == ""
    assert "warning" not in capsys.readouterr().err


def test_listed_workspaces_and_upload_limit_reach_the_server(
    monkeypatch: pytest.MonkeyPatch, tiny_workspace: Path
) -> None:
    sample = ROOT / "sample_data" / "digits"
    seen = _dashboard_call(
        monkeypatch,
        [str(tiny_workspace), "--workspaces", str(sample), "--max-upload-mb", "64"],
    )
    assert seen["env"]["ULENS_WORKSPACES"] == str(sample.resolve())
    assert seen["options"]["--server.maxUploadSize"] == "64" == seen["env"]["ULENS_MAX_UPLOAD_MB"]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::"])
def test_a_non_local_address_is_explicit_and_warned_about(
    host: str,
    monkeypatch: pytest.MonkeyPatch,
    tiny_workspace: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen = _dashboard_call(monkeypatch, [str(tiny_workspace), "--host", host])
    assert seen["options"]["--server.address"] == host
    err = capsys.readouterr().err
    assert f"warning: listening on {host}" in err and err.count("\n") == 1


@pytest.mark.parametrize("host", ["localhost", "127.0.0.2", "::1"])
def test_loopback_addresses_need_no_warning(
    host: str,
    monkeypatch: pytest.MonkeyPatch,
    tiny_workspace: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _dashboard_call(monkeypatch, [str(tiny_workspace), "--host", host])
    assert "warning" not in capsys.readouterr().err


# ------------------------------------------------------------------- outputs are not clobbered


def test_report_overwrites_only_with_force(
    tiny_workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    out.write_text("an earlier report", encoding="utf-8")
    argv = ["report", str(tiny_workspace), "--a", "finetune_classwise"]
    argv += ["--b", "gradascent_classwise", "--out", str(out), "--pages", "classes"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "--force" in err and str(out) in err and err.count("\n") == 0
    assert out.read_text(encoding="utf-8") == "an earlier report"
    assert cli.main([*argv, "--force"]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_analyze_keeps_earlier_results_unless_forced(
    tiny_workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "summary.json").write_text("{}", encoding="utf-8")
    argv = ["analyze", str(tiny_workspace), "--a", "finetune_classwise"]
    argv += ["--b", "gradascent_classwise", "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    assert "summary.json" in capsys.readouterr().err
    assert (tmp_path / "summary.json").read_text(encoding="utf-8") == "{}"
    assert cli.main([*argv, "--force"]) == 0
    assert (tmp_path / "summary.json").stat().st_size > 2


# ------------------------------------------------------------------------ stopping the server


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_stopping_ulens_dashboard_frees_the_port_and_leaves_no_child(
    sig: signal.Signals, tiny_workspace: Path, tmp_path: Path
) -> None:
    ws = Path(shutil.copytree(tiny_workspace, tmp_path / "ws"))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    cmd = [sys.executable, "-m", "dashboard.cli", "dashboard", str(ws), "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--headless"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_healthy(port, proc)
        family = procs.descendants(proc.pid)
        assert family, "the server runs as a child process"
        assert not port_is_free(port)
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
        assert not [p for p in family if procs.is_running(p)]
        assert port_is_free(port)
    finally:
        procs.stop_processes([proc.pid, *procs.descendants(proc.pid)], grace=2.0)
        proc.wait()


def test_ulens_dashboard_starts_the_server_without_importing_the_heavy_libraries(
    tiny_workspace: Path,
) -> None:
    # The server process imports torch & co. in the background while it already answers; the
    # CLI process in front of it must not spend seconds importing them first.
    code = (
        "import sys\nfrom dashboard import cli\n"
        "cli._run_server = lambda cmd, env, **kw: print(cmd[2]) or 0\n"
        f"assert cli.main(['dashboard', {str(tiny_workspace)!r}]) == 0\n"
        "print([m for m in ('torch', 'numpy', 'sklearn', 'pandas', 'streamlit') "
        "if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split("\n")[:2] == ["dashboard.serve", "[]"]


# --------------------------------------------------------------------------- precompute


@pytest.mark.slow
def test_precompute_shows_progress_parts_and_each_distinct_warning_once(
    tiny_workspace_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = tiny_workspace_factory()
    assert cli.main(["precompute", str(ws), "--device", "cpu"]) == 0
    lines = capsys.readouterr().err.splitlines()
    prefix = "ulens precompute: "
    assert all(line.startswith(prefix) for line in lines)
    events = [line[len(prefix) :] for line in lines]
    for scenario in ("classwise", "random"):
        for part in ("models table", "comparison", "embedding"):
            assert sum(f"{scenario} (" in e and f": {part} ready (" in e for e in events) == 1
    warned = [e for e in events if e.startswith("warning: ")]
    assert warned and len(warned) == len(set(warned))  # each distinct warning once
    (summary,) = [e for e in events if e.endswith("distinct (each shown once)")]
    total, distinct = int(summary.split()[0]), int(summary.split()[2])
    assert distinct == len(warned) < total  # the repeats were counted, not printed


def test_dashboard_precomputes_in_the_background_unless_turned_off(
    monkeypatch: pytest.MonkeyPatch, tiny_workspace: Path
) -> None:
    monkeypatch.delenv("ULENS_PRECOMPUTE", raising=False)
    seen = _dashboard_call(monkeypatch, [str(tiny_workspace)])
    assert seen["env"]["ULENS_PRECOMPUTE"] == "1"
    assert isinstance(seen["tick"], cli._PrecomputeWatcher)
    assert seen["tick"].task is None  # nothing is queued before the server runs
    assert seen["env"]["ULENS_READY_FILE"] == str(seen["tick"].ready)  # the app's signal
    monkeypatch.setenv("ULENS_PRECOMPUTE", "0")
    seen = _dashboard_call(monkeypatch, [str(tiny_workspace)])
    assert seen["env"]["ULENS_PRECOMPUTE"] == "0" and seen["tick"] is None


@pytest.mark.slow
def test_the_dashboard_terminal_follows_the_precompute_task(
    tiny_workspace_factory: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from analysis.runs import submit_precompute
    from analysis.runs.precompute import precompute_queue
    from analysis.runs.worker import work

    ws = tiny_workspace_factory()
    watcher = cli._PrecomputeWatcher(ws)
    watcher.ready.touch()  # the app drew its first page...
    queued = submit_precompute(ws)  # ...and queued the precompute (cached.start_precompute)
    watcher()  # first tick: finds the app's task
    assert watcher.task is not None and watcher.task.id == queued.id
    assert work(ws, device="cpu") == 1  # the pool's worker, here in-process
    watcher._next = 0.0
    watcher()
    lines = capsys.readouterr().err.splitlines()
    from analysis.experiment import load_experiment

    a, b = load_experiment(ws, scenario="classwise").default_pair()
    label = f"ulens: precompute of classwise ({a} vs {b})"
    assert lines[0] == f"{label} runs in the background (task {watcher.task.id})"
    for part in ("models table", "comparison", "embedding"):
        assert f"{label}: {part} ready" in lines
    warned = [line for line in lines if line.startswith("ulens: warning: ")]
    assert (
        len(warned) == len(set(warned)) == len(precompute_queue(ws).get(watcher.task.id).warnings)
    )
    assert lines[-1].startswith(f"{label}: done in ") and watcher.done


def test_stopping_the_dashboard_cancels_an_unfinished_precompute(
    tiny_workspace_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analysis.runs.precompute import precompute_queue

    ws = tiny_workspace_factory()
    monkeypatch.setattr("analysis.runs.ensure_workers", lambda w, **k: None)
    watcher = cli._PrecomputeWatcher(ws)
    watcher._launched -= cli._PrecomputeWatcher.START_AFTER  # no browser: it queues the task
    watcher()
    watcher.stop()
    assert precompute_queue(ws).get(watcher.task.id).state == "cancelled"
    assert not watcher.ready.parent.exists()  # its signal folder is removed


def test_the_precompute_waits_for_the_first_page_then_starts_niced(
    tiny_workspace_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analysis.runs import submit_precompute

    ws = tiny_workspace_factory()
    started: list[dict[str, Any]] = []
    monkeypatch.setattr("analysis.runs.ensure_workers", lambda w, **k: started.append(k))
    watcher = cli._PrecomputeWatcher(ws)
    watcher()
    assert watcher.task is None and not started  # the first page has the cores to itself
    watcher.ready.touch()  # the page is drawn; the app queues its task a moment later
    watcher._next = 0.0
    watcher()
    assert watcher.task is None
    queued = submit_precompute(ws)
    watcher._next = 0.0
    watcher()
    assert watcher.task.id == queued.id and not started  # followed, nothing started here
    watcher.stop()
    late = cli._PrecomputeWatcher(ws)  # no browser ever connects: it starts one, niced
    late._launched -= cli._PrecomputeWatcher.START_AFTER
    late()
    assert late.task is not None and started[0]["nice"] == cli._PrecomputeWatcher.NICE > 0
    late.stop()


def test_following_the_apps_precompute_imports_nothing_heavy(tiny_workspace_factory: Any) -> None:
    # Queuing the task resolves its job (torch, pandas: ~1.7 s of CPU); the CLI only reads.
    import subprocess
    import sys

    from analysis.runs import submit_precompute

    ws = tiny_workspace_factory()
    queued = submit_precompute(ws)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from dashboard import cli\n"
        f"w = cli._PrecomputeWatcher(Path({str(ws)!r}))\n"
        "w.ready.touch()\n"
        "w()\n"
        "w.stop()\n"
        "print(w.task.id, [m for m in ('torch', 'pandas') if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(cli.__file__).resolve().parents[1])},
        check=True,
    )
    assert out.stdout.split("\n")[-2] == f"{queued.id} []"
