"""AppTest of the Models page's Run panel and queue on a copy of the digits sample.

Most tests replace :func:`analysis.runs.ensure_workers` by a recorder and execute the queued
runs in this process with the real worker functions (:func:`analysis.runs.worker.execute_run`
and :func:`~analysis.runs.worker.work`), which is fast and deterministic; one test lets the Start
button launch the real detached pool and waits for its run to finish.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

import analysis
import analysis.runs as runs_api
from analysis.runs import RunRegistry, list_runs
from analysis.runs.worker import execute_run, pool_running, work
from dashboard.views import run_form as form
from dashboard.views import runs_panel
from tests.dashboard.views.apptest_pages import APP
from tests.dashboard.views.run_workspaces import (
    copy_workspace,
    runnable_tiny,
    stop_pool,
    wait_for,
    warm_sample,
)

SCOPE = "unlearn_ga"


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return warm_sample(tmp_path_factory.mktemp("warm") / "digits")


@pytest.fixture
def ws(warm: Path, tmp_path: Path) -> Path:
    return copy_workspace(warm, tmp_path / "digits")


@pytest.fixture
def launches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Calls of ensure_workers (no pool is started)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(workspace: str, **options: Any) -> bool:
        calls.append((str(workspace), options))
        return True

    monkeypatch.setattr(runs_api, "ensure_workers", record)
    return calls


def _app(ws: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("ULENS_WORKSPACE", str(ws))
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception, at.exception
    return at


def _grid(at: AppTest, *, lrs: str, seeds: str, epochs: str = "1") -> AppTest:
    at.toggle(key="run_grid").set_value(True).run()
    at.text_input(key=f"run_g_{SCOPE}_epochs").set_value(epochs)
    at.text_input(key=f"run_g_{SCOPE}_lr").set_value(lrs)
    at.text_input(key=f"run_seeds_{SCOPE}").set_value(seeds)
    return at.run()


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [p.proto.text for p in at.get("progress")]
    return "\n".join(parts)


def _names(at: AppTest) -> list[str]:
    return at.dataframe[0].value["name"].tolist()


# --------------------------------------------------------------------------- the form


def test_form_fields_come_from_the_methods_params(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(ws, monkeypatch)
    assert at.selectbox(key="run_method").options == analysis.available_methods()
    fields = {f.name: f for f in analysis.runs.method_fields("ga")}
    assert at.number_input(key=f"run_f_{SCOPE}_lr").value == fields["lr"].default
    assert at.number_input(key=f"run_f_{SCOPE}_epochs").value == fields["epochs"].default
    at.selectbox(key="run_method").set_value("salun").run()
    mask = at.selectbox(key="run_f_unlearn_salun_mask_scope")  # a Literal field: a selectbox
    assert mask.options == ["global", "per_tensor"] and mask.value == "global"
    at.radio(key="run_kind").set_value("train").run()
    assert at.radio(key="run_role").value == "retrain"
    recipe = at.number_input(key="run_f_train_retrain_epochs")
    assert recipe.value == 15  # the sample's retrain recipe
    assert at.selectbox(key="run_f_train_retrain_optimizer").options == ["sgd", "adam"]
    assert "1 run: retrain for classwise, 1 seed" in at.info[0].value


def test_bad_values_show_the_field_and_disable_start(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _grid(_app(ws, monkeypatch), lrs="0.01, -1", seeds="0")
    assert any("lr" in e.value and "-1" in e.value for e in at.error), at.error
    assert at.button(key="run_start").disabled
    at = _grid(at, lrs="1, 2, 3, 4, 5, 6", seeds="0")
    assert any("at most 5 values" in e.value for e in at.error)
    at = _grid(at, lrs="0.01", seeds="0, 0")
    assert any("distinct seeds" in e.value for e in at.error)
    assert not at.exception
    assert list_runs(ws) == []  # nothing queued


# --------------------------------------------------------------------------- the main flow


def test_grid_runs_progress_cancel_results_and_model_b(
    ws: Path, monkeypatch: pytest.MonkeyPatch, launches: list[Any]
) -> None:
    at = _grid(_app(ws, monkeypatch), lrs="0.005, 0.01", seeds="0, 1")
    assert "4 runs: ga on classwise from original, lr (2 values) × 2 seeds" in at.info[0].value
    at.button(key="run_start").click().run()
    assert not at.exception
    assert any("Queued 4 run(s)" in s.value for s in at.success)
    assert launches == [(str(ws), {"executor": "local", "workers": 1})]
    records = list_runs(ws)
    assert [r.state for r in records] == ["queued"] * 4
    assert sorted((r.params["lr"], r.seed) for r in records) == [
        (0.005, 0),
        (0.005, 1),
        (0.01, 0),
        (0.01, 1),
    ]
    # a worker takes the first run and reports progress: the queue shows it live
    registry = RunRegistry(ws / "runs.sqlite")
    claimed = registry.claim(pid=os.getpid())
    assert claimed is not None
    registry.report(
        claimed.id,
        stage="unlearning",
        step=3,
        steps=6,
        epoch=1,
        epochs=1,
        current={"UA": 0.25, "RA": 0.9},
    )
    at.run()
    text = _texts(at)
    assert "unlearning · epoch 1/1 · step 3/6" in text
    assert "UA 0.250 · RA 0.900" in text and "ETA" in text
    # cancel one queued run from its row
    victim = records[-1]
    at.button(key=f"run_cancel_{victim.id}").click().run()
    assert registry.get_id(victim.id).state == "cancelled"
    # the runs finish (the real worker functions, in this process)
    execute_run(registry, claimed, device="cpu")
    work(ws, device="cpu")
    states = {r.name: r.state for r in list_runs(ws)}
    assert sorted(states.values()) == ["cancelled", "done", "done", "done"]
    at.run()
    assert not at.exception
    done = [n for n, s in states.items() if s == "done"]
    assert set(done) <= set(_names(at))  # finished runs joined the models table
    assert victim.name not in _names(at)
    # make one Model B from the queue
    target = next(r for r in list_runs(ws) if r.state == "done")
    at.button(key=f"run_b_{target.id}").click().run()
    assert not at.exception
    assert at.session_state["b"] == target.name
    assert at.sidebar.selectbox(key="b").value == target.name
    # its per-epoch curves come from the run (shared metric with Model A: loss)
    history = next(e for e in at.get("plotly_chart") if e.proto.id.endswith("mdl_history"))
    names = {t["name"] for t in json.loads(history.proto.spec)["data"]}
    assert f"Objective (loss) · B: {target.name}" in names
    a = at.session_state["a"]  # the default Model A (the first unlearned model)
    assert at.multiselect(key=f"mdl_hist_metrics_{a}_{target.name}").value == ["loss"]


def test_seed_groups_mean_std_error_bars_and_welch(
    ws: Path, monkeypatch: pytest.MonkeyPatch, launches: list[Any]
) -> None:
    at = _grid(_app(ws, monkeypatch), lrs="0.005, 0.02", seeds="0, 1, 2")
    at.button(key="run_start").click().run()
    work(ws, device="cpu")
    at.run()
    at.toggle(key="mdl_groups").set_value(True).run()
    assert not at.exception
    groups = at.dataframe[0].value
    ga = groups.loc[groups["n"] == 3]
    assert len(ga) == 2 and set(ga["seeds"]) == {"0, 1, 2"}
    assert all("±" in v for v in ga["UA"])
    scatter = next(e for e in at.get("plotly_chart") if e.proto.id.endswith("mdl_scatter"))
    bars = [t for t in json.loads(scatter.proto.spec)["data"] if t["name"].startswith("Seed")]
    assert len(bars) == 1 and "error_y" in bars[0]
    welch = at.dataframe[-1].value
    assert list(welch["metric"]) == ["PS", "UA"]
    assert all("(n=3)" in v for v in welch.iloc[:, 1])
    assert any("Welch" in c.value for c in at.caption)
    # a one-seed group: cannot be tested
    second = at.selectbox(key="grp_second")
    assert second.options[0].startswith("ga from original (lr=0.02) — 3 seed(s)")
    second.select_index(next(i for i, o in enumerate(second.options) if "— 1 seed(s)" in o))
    at.run()
    verdicts = at.dataframe[-1].value["verdict"]
    assert all("cannot be tested" in v for v in verdicts)


def test_failed_run_shows_its_error_and_the_app_keeps_running(
    ws: Path, monkeypatch: pytest.MonkeyPatch, launches: list[Any]
) -> None:
    at = _app(ws, monkeypatch)
    at.selectbox(key="run_base_classwise").set_value("ga").run()
    at.number_input(key=f"run_f_{SCOPE}_epochs").set_value(1).run()
    at.button(key="run_start").click().run()
    (ws / "models" / "ga.safetensors").write_bytes(b"not weights")  # the base breaks
    work(ws, device="cpu")
    record = list_runs(ws)[0]
    assert record.state == "failed" and record.error
    at.run()
    assert not at.exception
    assert any(record.name in e.value and "failed" in e.value for e in at.error)


def test_delete_asks_for_confirmation_and_removes_files(
    ws: Path, monkeypatch: pytest.MonkeyPatch, launches: list[Any]
) -> None:
    at = _app(ws, monkeypatch)
    at.number_input(key=f"run_f_{SCOPE}_epochs").set_value(1).run()
    at.button(key="run_start").click().run()
    work(ws, device="cpu")
    record = list_runs(ws)[0]
    assert record.file.is_file()
    at.run()
    at.button(key=f"run_del_{record.id}").click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    at.button(key=f"run_del_{record.id}_no").click().run()  # keep it
    assert list_runs(ws) and record.name in _names(at)
    at.button(key=f"run_del_{record.id}").click().run()
    at.button(key=f"run_del_{record.id}_yes").click().run()
    assert not at.exception
    assert list_runs(ws) == [] and not record.file.exists()
    assert record.name not in _names(at)


def test_a_registry_rows_actions_in_the_models_table(
    ws: Path, monkeypatch: pytest.MonkeyPatch, launches: list[Any]
) -> None:
    at = _app(ws, monkeypatch)
    at.number_input(key=f"run_f_{SCOPE}_epochs").set_value(1).run()
    at.button(key="run_start").click().run()
    work(ws, device="cpu")
    record = list_runs(ws)[0]
    at.run()
    row = _names(at).index(record.name)
    at.session_state["mdl_table"] = {"selection": {"rows": [row], "columns": []}}
    at.run()
    downloads = {e.proto.label: e.proto for e in at.get("download_button")}
    assert {"Weights (.safetensors)", "Metrics (.json)"} <= set(downloads)
    assert at.button(key=f"mdl_run_del_{record.id}").label == "Delete…"
    # a TOML model has no run actions
    at.session_state["mdl_table"] = {"selection": {"rows": [_names(at).index("ga")], "columns": []}}
    at.run()
    assert any("declared in experiment.toml" in c.value for c in at.caption)


# --------------------------------------------------------------------------- concurrency, pool


def test_two_sessions_starting_runs_at_once_lose_nothing(
    ws: Path, monkeypatch: pytest.MonkeyPatch, launches: list[Any]
) -> None:
    first, second = _app(ws, monkeypatch), _app(ws, monkeypatch)
    for at in (first, second):
        _grid(at, lrs="0.005, 0.01", seeds="0")
    first.button(key="run_start").click()
    second.button(key="run_start").click()
    threads = [threading.Thread(target=at.run) for at in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = list_runs(ws)
    assert len(records) == 4 and len({r.name for r in records}) == 4
    assert sorted(r.params["lr"] for r in records) == [0.005, 0.005, 0.01, 0.01]


def test_concurrent_start_calls_queue_every_run(ws: Path, launches: list[Any]) -> None:
    jobs = form.build_jobs(
        form.RunRequest("unlearn", method="ga", values={"epochs": [1]}, seeds=[0, 1, 2])
    )
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            runs_panel.start(str(ws), jobs)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    names = [r.name for r in list_runs(ws)]
    assert len(names) == 9 == len(set(names))


def test_start_launches_the_background_pool_and_the_run_finishes(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(ws, monkeypatch)
    at.number_input(key=f"run_f_{SCOPE}_epochs").set_value(1).run()
    try:
        at.button(key="run_start").click().run()
        assert any("started the background workers" in s.value for s in at.success)
        deadline = time.monotonic() + 60
        while not pool_running(ws) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pool_running(ws)  # a detached process holds the workspace's pool lock
        (record,) = wait_for(ws, 1)
        assert record.state == "done", record.error
        at.run()
        assert not at.exception
        assert record.name in _names(at)
    finally:
        stop_pool(ws)
    assert not pool_running(ws)


def test_runs_on_an_npz_mlp_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, launches: list[Any]
) -> None:
    """A workspace the panel was not designed for: 20-d vectors, an mlp, 4 classes."""
    ws = runnable_tiny(tmp_path / "tiny")
    at = _app(ws, monkeypatch)
    at.radio(key="run_kind").set_value("train").run()
    at.number_input(key="run_f_train_retrain_epochs").set_value(1).run()
    at.button(key="run_start").click().run()
    at.radio(key="run_kind").set_value("unlearn").run()
    at.selectbox(key="run_method").set_value("rl").run()
    at.number_input(key="run_f_unlearn_rl_epochs").set_value(1)
    at.number_input(key="run_f_unlearn_rl_batch_size").set_value(8).run()
    at.button(key="run_start").click().run()
    work(ws, device="cpu")
    assert [r.state for r in list_runs(ws)] == ["done", "done"], list_runs(ws)
    at.run()
    assert not at.exception
    assert {r.name for r in list_runs(ws)} <= set(_names(at))


def test_references_and_shadows_are_queued_from_the_panel(
    ws: Path, monkeypatch: pytest.MonkeyPatch, launches: list[Any]
) -> None:
    at = _app(ws, monkeypatch)
    at.radio(key="run_kind").set_value("references").run()
    at.number_input(key="run_count_references").set_value(2)
    at.number_input(key="run_f_references_epochs").set_value(1).run()
    assert "2 runs: 2 reference model(s), seed 0" in at.info[0].value
    at.button(key="run_start").click().run()
    at.radio(key="run_kind").set_value("shadows").run()
    at.number_input(key="run_count_shadows").set_value(1)
    at.number_input(key="run_f_shadows_ga_epochs").set_value(1).run()
    assert "up to 3 runs: 1 shadow triple(s) of ga on classwise" in at.info[0].value
    at.button(key="run_start").click().run()
    assert not at.exception
    roles = sorted(r.role for r in list_runs(ws))
    assert roles == ["reference", "reference", "shadow", "shadow"]  # the base ref is reused
    fresh = AppTest.from_file(APP, default_timeout=180).run()  # another browser session
    assert {r.id for r in list_runs(ws)} == {
        int(b.key.rsplit("_", 1)[1])
        for b in fresh.button
        if b.key.startswith("run_cancel_") and b.key[-1].isdigit()
    }


def test_a_refused_submission_is_an_error_and_the_app_keeps_running(
    ws: Path, monkeypatch: pytest.MonkeyPatch, launches: list[Any]
) -> None:
    from analysis.runs import ReadOnlyWorkspaceError

    def refuse(*_: Any, **__: Any) -> list[int]:
        raise ReadOnlyWorkspaceError(
            "runs.sqlite: expected a writable workspace, received a read-only one"
        )

    monkeypatch.setattr(runs_api, "submit", refuse)
    at = _app(ws, monkeypatch)
    model_b = at.sidebar.selectbox(key="b").value
    at.button(key="run_start").click().run()
    assert not at.exception
    assert any("Nothing was started" in e.value and "read-only" in e.value for e in at.error)
    assert launches == [] and at.sidebar.selectbox(key="b").value == model_b
