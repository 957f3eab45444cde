"""dashboard.export with studies: the workspace's study plots in the figures list, their CSV,
an SVG (when kaleido has a browser), and a "Studies" section of the HTML report only when the
workspace has studies. A tiny scalability study is executed here on the npz + mlp workspace."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import analysis
from analysis.compare import Comparison
from analysis.experiment import Experiment
from analysis.studies import ScalabilityStudy, run_study, submit_study
from dashboard import export
from dashboard.cli import main
from tests.dashboard.views.run_workspaces import runnable_tiny

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
PAIR = ("finetune_classwise", "gradascent_classwise")


@pytest.fixture(scope="module", autouse=True)
def renderer_stopped_after_module() -> Iterator[None]:
    yield
    assert export.stop_renderer(timeout=30.0), "kaleido's server did not stop"


@pytest.fixture(scope="module")
def studied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny workspace with one finished scalability study ``grow`` (2 sizes, ga + retrain)."""
    ws = runnable_tiny(tmp_path_factory.mktemp("studied") / "ws")
    study = ScalabilityStudy(
        name="grow",
        methods=("ga",),
        sizes=(0.1, 0.2),
        params={"ga": {"epochs": 1}},
        recipe={"epochs": 1},
    )
    submit_study(ws, study)
    assert {r.state for r in run_study(ws, "grow", device="cpu", threads=1)} == {"done"}
    return ws


@pytest.fixture(scope="module")
def experiment(studied: Path) -> Experiment:
    return analysis.load_experiment(studied)


@pytest.fixture(scope="module")
def cmp(experiment: Experiment) -> Comparison:
    return analysis.compare(experiment, *PAIR)


def test_the_studies_page_exports_each_study_plot_with_its_data(
    experiment: Experiment, cmp: Comparison
) -> None:
    assert "studies" in export.available_pages()
    context = export.default_context(experiment, cmp)
    assert list(context["studies"]) == ["grow"] and list(context["study_groups"]) == ["grow"]
    spec, groups = export.page_figures(cmp, "studies", context=context)
    assert spec.key == "study_grow_scalability" and groups.key == "study_grow_groups"
    per_group = pd.read_csv(io.BytesIO(export.csv_bytes(groups.data)))
    worst = per_group[per_group["part"] == "worst"]
    assert worst[["method", "x"]].values.tolist() == [
        ["retrain", 0.1],
        ["ga", 0.1],
        ["before", 0.1],  # the base model the methods start from, against the step's retrain
        ["retrain", 0.2],
        ["ga", 0.2],
        ["before", 0.2],
    ]
    assert set(per_group.loc[per_group["part"] == "group", "group_name"]) == {
        f"class_{i}" for i in range(4)
    }
    frame = pd.read_csv(io.BytesIO(export.csv_bytes(spec.data)))
    assert list(frame.columns[:6]) == ["method", "x", "point", "n_forget", "runs", "done"]
    assert {"UA_mean", "UA_std", "PS_mean", "mia_efficacy_mean", "RT_mean"} <= set(frame.columns)
    assert frame[["method", "x", "n_forget"]].values.tolist() == [
        ["retrain", 0.1, 12],
        ["retrain", 0.2, 24],
        ["ga", 0.1, 12],
        ["ga", 0.2, 24],
    ]
    assert frame["UA_mean"].between(0, 1).all() and (frame["RT_mean"] > 0).all()


@pytest.mark.skipif(export.renderer_problem() is not None, reason="no Chromium for kaleido")
def test_a_study_plot_renders_as_svg(experiment: Experiment, cmp: Comparison) -> None:
    spec, _ = export.page_figures(cmp, "studies", context=export.default_context(experiment, cmp))
    svg = export.figure_bytes(spec.figure, "svg")
    assert svg.lstrip().startswith(b"<svg") and b"forget fraction" in svg


def test_the_report_has_a_studies_section_only_when_the_workspace_has_studies(
    studied: Path, experiment: Experiment, cmp: Comparison, tiny_workspace: Path
) -> None:
    report = export.build_report(cmp, ["classes", "studies"], experiment=experiment)
    assert "<h2 id='page-studies'>Studies</h2>" in report and "Study grow" in report
    assert "Group robustness: per-group accuracy, PS and gap to retrain" in report
    assert "href='#page-studies'" in report
    plain = analysis.load_experiment(tiny_workspace)
    other = analysis.compare(plain, *PAIR)
    without = export.build_report(other, ["models", "studies"], experiment=plain)
    assert "page-studies" not in without and "<h2 id='page-models'>" in without


def test_ulens_report_includes_the_studies_by_default(studied: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    args = ["report", str(studied), "--a", PAIR[0], "--b", PAIR[1], "--out", str(out)]
    assert main([*args, "--device", "cpu"]) == 0
    text = out.read_text(encoding="utf-8")
    assert "<h2 id='page-studies'>Studies</h2>" in text and "study_grow_scalability" in text
    assert "Study grow: group robustness" in text  # the study read per class


def test_a_study_that_cannot_be_evaluated_is_left_out_with_a_warning(
    studied: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import analysis.studies as studies_api
    from analysis.errors import ValidationError

    def broken(workspace: object, name: str, **_: object) -> None:
        raise ValidationError(f"study: scenario of {name} is gone")

    monkeypatch.setattr(studies_api, "study_results", broken)
    with pytest.warns(UserWarning, match="study 'grow' left out of the export: study: scenario"):
        assert export.study_results_of(studied) == {}
