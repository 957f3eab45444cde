"""dashboard.export: page discovery, image/CSV export and the one-file offline HTML report."""

from __future__ import annotations

import html
import io
import os
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pandas as pd
import plotly.graph_objects as go
import pytest

import analysis
from analysis.compare import Comparison
from analysis.experiment import Experiment
from dashboard import export
from dashboard.figures import FigureSpec

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
needs_browser = pytest.mark.skipif(
    export.renderer_problem() is not None, reason="no Chromium for kaleido"
)


@pytest.fixture(scope="module", autouse=True)
def renderer_stopped_after_module() -> Iterator[None]:
    """The kaleido server (and its Chromium) started by these tests ends with the module."""
    yield
    assert export.stop_renderer(timeout=30.0), "kaleido's server did not stop"


@pytest.fixture(scope="module")
def experiment(tiny_workspace: Path) -> Experiment:
    return analysis.load_experiment(tiny_workspace)


@pytest.fixture(scope="module")
def cmp(experiment: Experiment) -> Comparison:
    return analysis.compare(experiment, "finetune_classwise", "gradascent_classwise")


def _fake_page(monkeypatch: pytest.MonkeyPatch, name: str, **attrs: object) -> None:
    module = ModuleType(f"dashboard.figures.{name}")
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, module.__name__, module)


def _spec(key: str = "demo", title: str = "A demo") -> FigureSpec:
    fig = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))
    return FigureSpec(key, title, fig, pd.DataFrame({"x": ["a", "b"], "y": [1, 2]}))


# ------------------------------------------------------------------------- page discovery


def test_pages_without_page_figures_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_page(monkeypatch, "zz_empty")
    assert export.page_module("zz_empty") is None
    assert export.page_module("does_not_exist") is None
    assert export.page_figures(None, "does_not_exist") == []  # type: ignore[arg-type]
    assert "privacy" in export.available_pages()


def test_context_goes_only_to_pages_that_accept_it(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def plain(cmp: object, *, presentation: bool = False) -> list[FigureSpec]:
        return [_spec("plain")]

    def wants(cmp: object, *, presentation: bool = False, table: object = None) -> list[FigureSpec]:
        seen["table"], seen["presentation"] = table, presentation
        return [_spec("wants")]

    _fake_page(monkeypatch, "zz_plain", page_figures=plain)
    _fake_page(monkeypatch, "zz_wants", page_figures=wants)
    context = {"table": "T", "experiment": "E"}
    assert export.page_figures(None, "zz_plain", context=context)[0].key == "plain"  # type: ignore[arg-type]
    export.page_figures(None, "zz_wants", presentation=True, context=context)  # type: ignore[arg-type]
    assert seen == {"table": "T", "presentation": True}


def test_a_failing_page_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(cmp: object, *, presentation: bool = False) -> list[FigureSpec]:
        raise KeyError("no such column")

    _fake_page(monkeypatch, "zz_broken", page_figures=broken)
    got = export.collect_figures(None, ["zz_broken"])  # type: ignore[arg-type]
    assert isinstance(got["zz_broken"], str) and "no such column" in got["zz_broken"]


def test_default_context_has_experiment_and_table(experiment: Experiment, cmp: Comparison) -> None:
    table = pd.DataFrame({"name": ["x"]})
    context = export.default_context(experiment, cmp, table=table)
    assert context["experiment"] is experiment and context["table"] is table
    groups = context["groups"]  # the pair's per-group metrics, for the Classes figures
    assert groups.models[0][0] == experiment.retrain_name
    assert {cmp.a, cmp.b} <= set(groups.table["model"]) and groups.source == "classes"
    keys = [s.key for s in export.page_figures(cmp, "classes", context=context)]
    assert keys[-1] == "classes_groups"


# -------------------------------------------------------------------------------- files


def test_csv_and_file_names() -> None:
    spec = _spec()
    assert pd.read_csv(io.BytesIO(export.csv_bytes(spec.data))).equals(spec.data)
    name = export.file_name("my exp", "class/wise", "a b", "c", "k", "svg")
    assert name == "my-exp_class-wise_a-b_vs_c_k.svg" and "/" not in name


def test_unknown_format_is_refused() -> None:
    with pytest.raises(export.ExportError, match="format"):
        export.figure_bytes(go.Figure(), "gif")


def test_missing_browser_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "browser_path", lambda: None)
    problem = export.renderer_problem()
    assert problem is not None and "apt-get install -y chromium" in problem
    with pytest.raises(export.ExportError, match="chromium"):
        export.figure_bytes(go.Figure(), "svg")


@needs_browser
def test_images_in_every_format() -> None:
    fig = _spec().figure
    assert export.figure_bytes(fig, "png", width=300, height=200).startswith(b"\x89PNG")
    assert b"<svg" in export.figure_bytes(fig, "svg")[:200]
    assert export.figure_bytes(fig, "pdf").startswith(b"%PDF")


@needs_browser
def test_zip_holds_each_figure_and_its_data(cmp: Comparison) -> None:
    specs = [_spec("one"), _spec("two")]
    archive = zipfile.ZipFile(io.BytesIO(export.zip_bytes(cmp, specs, formats=("svg",))))
    names = sorted(archive.namelist())
    assert len(names) == 4 and all(re.search(r"_(one|two)\.(svg|csv)$", n) for n in names)


# ------------------------------------------------------------------------------- report


@pytest.fixture(scope="module")
def report(cmp: Comparison, experiment: Experiment) -> str:
    return export.build_report(
        cmp, ["privacy", "classes"], context=export.default_context(experiment, cmp)
    )


def test_report_embeds_plotly_once_and_loads_nothing(report: str) -> None:
    assert report.count("plotly.js v") == 1  # the bundle's licence header
    for tag in re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", report, flags=re.I):
        assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", tag, flags=re.I), tag
    assert "<link" not in report


def test_report_has_header_summary_and_figures(report: str, cmp: Comparison) -> None:
    for text in ("tiny", "classwise", cmp.a, cmp.b, "Generated", "Summary numbers"):
        assert text in report
    assert report.count("<tr><td>") >= len(cmp.models)  # one summary row per model
    privacy = export.page_figures(cmp, "privacy")
    for spec in privacy:
        assert f"<h3>{spec.title.replace('&', '&amp;')}</h3>" in report.replace("&#x27;", "'")
    assert report.count('class="plotly-graph-div"') >= len(privacy)
    assert report.index("id='page-privacy'") < report.index("id='page-classes'")


def test_report_notes_broken_pages_and_escapes_the_title(
    cmp: Comparison, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(cmp: object, *, presentation: bool = False) -> list[FigureSpec]:
        raise RuntimeError("boom")

    _fake_page(monkeypatch, "zz_broken", page_figures=broken)
    text = export.build_report(cmp, ["zz_broken"], title="<script>x</script>")
    assert "could not be exported: RuntimeError: boom" in text
    assert "&lt;script&gt;x&lt;/script&gt;" in text and "plotly.js v" not in text


def test_write_report_is_atomic(
    cmp: Comparison, tmp_path: Path, experiment: Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = export.write_report(
        tmp_path / "sub" / "report.html", cmp, ["privacy"], experiment=experiment
    )  # as `ulens report` calls it
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "attack succeeded" in text
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # a normal file, not mkstemp's 0600
    before = out.read_bytes()

    def fail(*args: object, **kwargs: object) -> str:
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "build_report", fail)
    with pytest.raises(RuntimeError):
        export.write_report(out, cmp, ["privacy"])
    assert out.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temporary left


@needs_browser
def test_stopping_the_renderer_ends_its_chromium_and_it_restarts_on_demand() -> None:
    from dashboard import procs

    export.figure_bytes(_spec().figure, "svg")
    assert any("chrom" in procs.command_line(p) for p in procs.descendants(os.getpid()))
    assert export.stop_renderer(timeout=30.0)
    assert not [p for p in procs.descendants(os.getpid()) if "chrom" in procs.command_line(p)]
    assert b"<svg" in export.figure_bytes(_spec().figure, "svg")[:200]  # starts again


@pytest.mark.parametrize(
    "page", ["x' onmouseover='alert(1)", '"><script>alert(1)</script>', "a b&c"]
)
def test_report_escapes_page_keys_in_links_and_anchors(cmp: Comparison, page: str) -> None:
    text = export.build_report(cmp, [page])
    assert "onmouseover='" not in text and "<script>alert" not in text
    assert f"href='#page-{html.escape(page, quote=True)}'" in text


def test_validate_pages_names_the_valid_pages() -> None:
    assert export.validate_pages(" privacy ,models,privacy") == ["privacy", "models"]
    for bad in ("", " , ", "models,nope", ["<b>"]):
        with pytest.raises(analysis.errors.ValidationError, match="models, classes"):
            export.validate_pages(bad)
