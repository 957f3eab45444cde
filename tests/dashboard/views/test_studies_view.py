"""AppTest of the Studies page (dashboard/views/studies.py) on a tiny npz + mlp workspace:
form validation, submission (queued runs listed with their counts, workers started, cancel),
and the results of a study whose runs were executed here with ``run_study``; plus the form
logic without Streamlit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

import analysis.runs as runs_api
from analysis.errors import UlensError
from analysis.studies import (
    CorrectiveStudy,
    ScalabilityStudy,
    SustainabilityStudy,
    WorstCaseStudy,
    list_studies,
    run_study,
    study_groups,
    study_results,
    study_status,
    submit_study,
)
from dashboard.views import studies as page
from tests.dashboard.views.apptest_pages import APP, charts, decode, open_page
from tests.dashboard.views.run_workspaces import copy_workspace, runnable_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return runnable_tiny(tmp_path_factory.mktemp("tiny") / "ws")


@pytest.fixture
def ws(tiny: Path, tmp_path: Path) -> Path:
    return copy_workspace(tiny, tmp_path / "ws")


@pytest.fixture
def launches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Calls of ensure_workers (no pool is started)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(workspace: str, **options: Any) -> bool:
        calls.append((str(workspace), options))
        return True

    monkeypatch.setattr(runs_api, "ensure_workers", record)
    return calls


def _page(ws: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("ULENS_WORKSPACE", str(ws))
    at = open_page(AppTest.from_file(APP, default_timeout=240), "studies")
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [p.proto.text for p in at.get("progress")] + [s.value for s in at.success]
    return "\n".join(parts)


def test_a_bad_field_is_named_and_nothing_is_queued(
    ws: Path, monkeypatch: pytest.MonkeyPatch, launches: list[Any]
) -> None:
    at = _page(ws, monkeypatch)
    at.button(key="stu_submit").click().run()
    assert any("name" in e.value and "not submitted" in e.value for e in at.error)
    at.text_input(key="stu_name").set_value("grow")
    at.text_input(key="stu_sizes_random").set_value("0.2, 0.1").run()
    at.button(key="stu_submit").click().run()
    assert any("sizes" in e.value and "increasing" in e.value for e in at.error), at.error
    assert not at.exception
    assert list_studies(ws) == [] and runs_api.list_runs(ws) == [] and launches == []


def test_submit_queues_the_study_lists_its_counts_and_cancel_stops_it(
    ws: Path, monkeypatch: pytest.MonkeyPatch, launches: list[Any]
) -> None:
    at = _page(ws, monkeypatch)
    at.text_input(key="stu_name").set_value("grow")
    at.text_input(key="stu_sizes_random").set_value("0.1, 0.2")
    at.text_input(key="stu_seeds").set_value("0, 1").run()
    at.button(key="stu_submit").click().run()
    assert not at.exception and not at.error, at.error
    assert [s.name for s in list_studies(ws)] == ["grow"]
    assert [w for w, _ in launches] == [str(ws)]  # the background workers were started
    texts = _texts(at)
    assert "Study grow: queued 6 runs" in texts  # per size: a retrain + ga with 2 seeds
    assert "0 of 6 runs finished · 6 queued · 0 running · 0 done · 0 failed" in texts
    at.button(key="stu_cancel_grow").click().run()
    assert study_status(ws, "grow").counts["cancelled"] == 6
    assert "6 of 6 runs finished · 0 queued · 0 running · 0 done · 0 failed · 6 cancelled" in (
        _texts(at)
    )
    assert at.button(key="stu_cancel_grow").disabled


def test_the_form_submits_a_corrective_study(
    ws: Path, monkeypatch: pytest.MonkeyPatch, launches: list[Any]
) -> None:
    at = _page(ws, monkeypatch)
    at.radio(key="stu_kind").set_value("corrective").run()
    at.text_input(key="stu_name").set_value("fix")
    at.radio(key="stu_manip").set_value("label_flip").run()
    at.selectbox(key="stu_target_label_flip").set_value(0)
    at.text_input(key="stu_known").set_value("0.5, 1").run()
    at.button(key="stu_submit").click().run()
    assert not at.exception and not at.error, at.error
    (study,) = list_studies(ws)
    assert (study.name, study.kind) == ("fix", "corrective")
    assert "Study fix: queued" in _texts(at)


def test_results_of_a_finished_study_are_plotted_with_the_summary(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = ScalabilityStudy(
        name="grow",
        methods=("ga",),
        sizes=(0.1, 0.2),
        params={"ga": {"epochs": 1}},
        recipe={"epochs": 1},
    )
    submit_study(ws, study)
    records = run_study(ws, "grow", device="cpu", threads=1)
    assert {r.state for r in records} == {"done"}, [r.error for r in records]
    at = _page(ws, monkeypatch)
    assert "4 of 4 runs finished · 0 queued · 0 running · 4 done · 0 failed" in _texts(at)
    spec = charts(at)["stu_fig_study_grow_scalability"]
    ua = {t["legendgroup"]: t for t in spec["data"] if t.get("xaxis") == "x"}
    assert set(ua) == {"retrain", "ga"}
    assert decode(ua["ga"]["x"]).tolist() == pytest.approx([0.1, 0.2], abs=0.002)
    assert all(0.0 <= v <= 1.0 for v in decode(ua["ga"]["y"]))
    (table,) = [d for d in at.dataframe if "runs done" in d.value.columns]
    frame = table.value
    assert frame["method"].tolist() == ["retrain", "retrain", "ga", "ga"]
    assert frame["forget samples"].tolist() == ["12", "24"] * 2  # 10 % and 20 % of 120
    assert frame["runs done"].tolist() == ["1/1"] * 4
    assert {b.label for b in at.get("download_button")} >= {"PNG", "SVG", "PDF", "CSV"}
    groups = charts(at)["stu_fig_study_grow_groups"]  # the study read per class
    gap = [t for t in groups["data"] if t.get("xaxis") == "x" and t["legendgroup"] == "ga"]
    assert len(gap) == 1 and len(decode(gap[0]["y"])) == 2  # one point per forget size
    assert not at.exception


def test_build_study_turns_the_form_into_each_kind() -> None:
    scal = page.build_study(
        page.StudyRequest(
            "scalability",
            " grow ",
            ("ga", "ft"),
            seeds="0, 1",
            forget="classes",
            sizes="1, 2",
            params="epochs=1, ga:lr=0.02",
            recipe="epochs=3",
        )
    )
    assert isinstance(scal, ScalabilityStudy) and scal.name == "grow"
    assert (scal.sizes, scal.seeds, scal.forget) == ((1, 2), (0, 1), "classes")
    assert dict(scal.params["ga"]) == {"epochs": 1, "lr": 0.02}
    assert dict(scal.params["ft"]) == {"epochs": 1} and dict(scal.recipe) == {"epochs": 3}
    seq = page.build_study(
        page.StudyRequest("sustainability", "s", ("ft",), requests=3, size="0.1")
    )
    assert isinstance(seq, SustainabilityStudy) and (seq.requests, seq.size) == (3, 0.1)
    hard = page.build_study(page.StudyRequest("worst_case", "h", ("ga",), size="30", within=8))
    assert isinstance(hard, WorstCaseStudy) and (hard.size, hard.within) == (30, 8)
    extra = {"manipulation": "trigger", "target": 0, "poison": "0.1", "patch": 2}
    fix = page.build_study(
        page.StudyRequest("corrective", "fix", ("ga",), sizes="0.5, 1", extra=extra)
    )
    assert fix.kind == "corrective" and tuple(fix.known) == (0.5, 1.0)
    assert (fix.manipulation.kind, fix.manipulation.fraction) == ("trigger", 0.1)
    assert (fix.manipulation.target, fix.manipulation.patch) == (0, 2)


@pytest.mark.parametrize(
    ("request_", "named"),
    [
        (page.StudyRequest("scalability", "", ("ga",), sizes="0.1"), "name"),
        (page.StudyRequest("scalability", "g", (), sizes="0.1"), "methods"),
        (page.StudyRequest("scalability", "g", ("ga",), sizes="a lot"), "sizes"),
        (page.StudyRequest("scalability", "g", ("ga",), sizes="0.1", seeds="x"), "seeds"),
        (page.StudyRequest("sustainability", "g", ("ga",), size="0.1, 0.2"), "size"),
        (page.StudyRequest("scalability", "g", ("ga",), sizes="0.1", params="ft:lr=1"), "hyper"),
        (page.StudyRequest("scalability", "g", ("ga",), sizes="0.1", params="nope=1"), "nope"),
        (page.StudyRequest("scalability", "g", ("ga",), sizes="0.1", recipe="lr=x"), "lr"),
        (
            page.StudyRequest("corrective", "g", ("ga",), sizes="1", extra={"poison": "0.1, 0.2"}),
            "poison fraction",
        ),
        (
            page.StudyRequest("corrective", "g", ("ga",), sizes="1", extra={"poison": "0.1"}),
            "target",  # a trigger needs a target label
        ),
    ],
)
def test_build_study_errors_name_the_field(request_: page.StudyRequest, named: str) -> None:
    with pytest.raises(UlensError, match=named):
        page.build_study(request_)


def test_corrective_and_group_figures_of_a_finished_corrective_study(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = CorrectiveStudy(
        name="fix",
        methods=("ga",),
        known=(0.5, 1.0),
        manipulation={"kind": "label_flip", "fraction": 0.2},
        params={"ga": {"epochs": 1}},
        recipe={"epochs": 1},
    )
    submit_study(ws, study)
    records = run_study(ws, "fix", device="cpu", threads=1)
    assert {r.state for r in records} == {"done"}, [r.error for r in records]
    at = _page(ws, monkeypatch)
    found = charts(at)
    spec = found["stu_fig_study_fix_corrective"]
    attack = {t["legendgroup"]: t for t in spec["data"] if t.get("xaxis") == "x2"}
    assert set(attack) == {"original", "retrain", "ga"}
    assert attack["original"]["name"] == "before (poisoned original)"
    result = study_results(ws, "fix", device="cpu").summary.set_index("method")
    assert decode(attack["ga"]["y"]).tolist() == pytest.approx(
        result.loc["ga", "attack_mean"].tolist()
    )
    assert decode(attack["retrain"]["y"]).tolist() == pytest.approx(
        result.loc["retrain", "attack_mean"].tolist()
    )
    groups = found["stu_fig_study_fix_groups"]
    bars = [t for t in groups["data"] if t.get("type") == "bar" and t["legendgroup"] == "ga"]
    assert bars and list(bars[0]["x"]) == ["class_0", "class_1", "class_2", "class_3"]
    per_group = study_groups(ws, "fix", device="cpu").per_group
    last = per_group[(per_group["method"] == "ga") & (per_group["x"] == 1.0)]
    assert decode(bars[0]["y"]).tolist() == pytest.approx(last["TA_mean"].tolist())
    keys = {b.proto.id for b in at.get("download_button")}
    assert any("study_fix_groups_csv" in k for k in keys), keys
    assert not at.exception
