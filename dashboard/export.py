"""Export: every page's figures as PNG / SVG / PDF (kaleido + Chromium) and CSV, and the report.

Figures come from each page's figure module, ``dashboard.figures.<page>.page_figures(cmp, *,
presentation, ...)``; modules are imported lazily and a page whose module (or its
``page_figures``) does not exist yet is skipped. Extra context a page may use (``experiment``,
``table``, ``histories``) is passed only to the functions that accept it.

:func:`build_report` returns a one-file, offline, interactive HTML report: plotly.js embedded
once, a header with experiment / scenario / pair / date, the summary numbers, then each page's
figures. Nothing in it loads from the network.

Image export uses kaleido 1.x with a Chromium-based browser (Debian: ``apt-get install -y
chromium``). One kaleido server is started per process and renders are serialised (the server
answers requests in order, so concurrent sessions must not interleave them).

Example:
    >>> file_name("digits", "classwise", "retrain", "ga", "privacy_ps", "svg")
    'digits_classwise_retrain_vs_ga_privacy_ps.svg'
"""

from __future__ import annotations

import datetime as dt
import html
import importlib
import inspect
import io
import os
import re
import threading
import uuid
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from analysis.compare import Comparison, summary_dict
from analysis.errors import UlensError, ValidationError, describe
from dashboard.figures import FigureSpec

__all__ = [
    "FORMATS",
    "OPTIONAL_PAGES",
    "PAGES",
    "ExportError",
    "available_pages",
    "browser_path",
    "build_report",
    "collect_figures",
    "csv_bytes",
    "default_context",
    "figure_bytes",
    "file_name",
    "group_input",
    "page_figures",
    "renderer_problem",
    "stop_renderer",
    "study_groups_of",
    "study_results_of",
    "validate_pages",
    "write_report",
    "zip_bytes",
]

#: Page key (module name under ``dashboard.figures``) -> title, in navigation order.
PAGES: dict[str, str] = {
    "models": "Models",
    "classes": "Classes",
    "layers": "Layers",
    "instances": "Instances",
    "privacy": "Privacy",
    "studies": "Studies",
}
#: Pages left out of the report (and the Export page's figures) when they have no figures:
#: a workspace without studies has no "Studies" section.
OPTIONAL_PAGES = ("studies",)
#: Image formats -> MIME type.
FORMATS: dict[str, str] = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}
INSTALL_HINT = (
    "Image export (PNG, SVG, PDF) needs a Chromium-based browser for kaleido: on Debian/Ubuntu "
    "run `apt-get install -y chromium` (or `plotly_get_chrome` / `kaleido_get_chrome` to "
    "download one), then restart the dashboard. CSV downloads and the HTML report work without it."
)
DEFAULT_SIZE = (1000, 600)
_RENDER_TIMEOUT = 120.0
_SUMMARY_COLUMNS = {
    "role": "role",
    "UA": "UA",
    "RA": "RA",
    "TUA": "TUA",
    "TRA": "TRA",
    "PS": "PS (min form)",
    "PS_max_form": "PS (max form)",
    "mia_efficacy": "MIA-efficacy",
    "forget_auc": "forget AUC",
    "privleak": "PrivLeak (%)",
    "ks_d": "KS D",
    "population_auc": "population AUC",
    "lira_offline_auc": "LiRA AUC",
    "rmia_offline_auc": "RMIA AUC",
}


class ExportError(UlensError):
    """A figure could not be rendered (no browser, or the renderer failed)."""


# ------------------------------------------------------------------------------ page modules


def page_module(page: str) -> ModuleType | None:
    """``dashboard.figures.<page>`` when it exists and offers ``page_figures``, else None."""
    try:
        module = importlib.import_module(f"dashboard.figures.{page}")
    except ImportError:
        return None
    return module if callable(getattr(module, "page_figures", None)) else None


def available_pages() -> list[str]:
    """The pages of :data:`PAGES` whose figure module offers ``page_figures``."""
    return [p for p in PAGES if page_module(p) is not None]


def validate_pages(pages: str | Sequence[str], *, argument: str = "pages") -> list[str]:
    """The requested pages (comma-separated text or a list), checked against the known ones.

    Raises:
        ValidationError: No page, or a page that is not one of :func:`available_pages` (the
            message lists the valid ones).

    Example:
        >>> validate_pages("privacy, models,privacy")
        ['privacy', 'models']
    """
    items = pages.split(",") if isinstance(pages, str) else list(pages)
    wanted = list(dict.fromkeys(p.strip() for p in items if isinstance(p, str) and p.strip()))
    valid = available_pages()
    unknown = [p for p in wanted if p not in valid]
    if not wanted or unknown:
        raise ValidationError(
            describe(argument, f"one or more of {', '.join(valid)} (comma-separated)", pages)
        )
    return wanted


def _accepted(function: Callable[..., Any], context: Mapping[str, Any]) -> dict[str, Any]:
    params = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(context)
    return {k: v for k, v in context.items() if k in params}


def page_figures(
    cmp: Comparison,
    page: str,
    *,
    presentation: bool = False,
    context: Mapping[str, Any] | None = None,
) -> list[FigureSpec]:
    """One page's figures at default settings ([] when the page has no ``page_figures``).

    Args:
        cmp: The comparison.
        page: A key of :data:`PAGES`.
        presentation: Larger type.
        context: Extra keyword arguments (``experiment``, ``table``, ``histories``), passed to
            the page's ``page_figures`` only when it accepts them.
    """
    module = page_module(page)
    if module is None:
        return []
    function = module.page_figures
    specs: list[FigureSpec] = function(
        cmp, presentation=presentation, **_accepted(function, context or {})
    )
    return specs


def collect_figures(
    cmp: Comparison,
    pages: Sequence[str],
    *,
    presentation: bool = False,
    context: Mapping[str, Any] | None = None,
) -> dict[str, list[FigureSpec] | str]:
    """Each page's figures, or the error text of a page whose figures could not be built."""
    out: dict[str, list[FigureSpec] | str] = {}
    for page in pages:
        try:
            out[page] = page_figures(cmp, page, presentation=presentation, context=context)
        except Exception as exc:  # one broken page must not sink the export
            out[page] = f"{type(exc).__name__}: {exc}"
    return out


def default_context(
    experiment: Any,
    cmp: Comparison,
    table: pd.DataFrame | None = None,
    *,
    studies: Mapping[str, Any] | None = None,
    groups: Any = None,
    study_groups: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The extra page context: the experiment, the models table, A/B training histories, the
    workspace's study results (``studies``; computed with :func:`study_results_of` when not
    given), the pair's per-group metrics (``groups``, a
    :class:`dashboard.figures.groups.GroupInput`; :func:`group_input` when None, left out when
    False) and each
    study's per-group metrics (``study_groups``; :func:`study_groups_of` when not given)."""
    context: dict[str, Any] = {"experiment": experiment}
    if table is not None:
        context["table"] = table
    root = getattr(experiment, "root", None)
    if studies is None and root is not None:
        studies = study_results_of(root)
    if studies:
        context["studies"] = dict(studies)
        if study_groups is None and root is not None:
            study_groups = study_groups_of(root, list(studies))
        context["study_groups"] = dict(study_groups or {})
    groups = groups if groups is not None else group_input(experiment, cmp.a, cmp.b)
    if groups:  # False: the caller could not compute them (not computed again here)
        context["groups"] = groups
    histories = _histories(experiment, (cmp.a, cmp.b))
    if histories:
        context["histories"] = histories
    return context


def study_results_of(workspace: str | Path) -> dict[str, Any]:
    """Name -> :class:`~analysis.studies.StudyResult` of every study of the workspace with at
    least one done run, oldest first ({} without studies or registry). Notes about runs not
    done yet are silenced (the report shows each cell's done/total runs); a study that cannot
    be evaluated (its scenario was removed, ...) is left out with a warning."""
    from analysis.studies import list_studies, study_results, study_status

    out: dict[str, Any] = {}
    try:
        records = list_studies(workspace)
    except UlensError:
        return out
    for record in records:
        if study_status(workspace, record.name).counts["done"] == 0:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out[record.name] = study_results(workspace, record.name)
        except UlensError as exc:  # one broken study must not sink the report
            warnings.warn(
                f"study {record.name!r} left out of the export: {exc}", UserWarning, stacklevel=2
            )
    return out


def group_input(experiment: Any, a: str, b: str) -> Any:
    """The Classes page's group-robustness input of the pair (the original, A, B and the
    retrain model; :func:`analysis.group_robustness_table`), or None when it cannot be computed
    (bad groups: a warning says why)."""
    from analysis.group_robustness import group_robustness_table, load_groups
    from dashboard.figures.groups import GroupInput, group_models

    if getattr(experiment, "scenario", None) is None:
        return None
    retrain = experiment.retrain_name
    models = group_models(a, b, original=experiment.original_name, retrain=retrain)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # empty groups: NaN by design
            table = group_robustness_table(experiment, [m for m, _ in models])
        source = load_groups(experiment).source
    except UlensError as exc:
        warnings.warn(f"group robustness left out of the export: {exc}", UserWarning, stacklevel=2)
        return None
    return GroupInput(table, models, retrain, source)


def study_groups_of(workspace: str | Path, names: Sequence[str]) -> dict[str, Any]:
    """Name -> :func:`analysis.studies.study_groups` of each named study (a study that cannot
    be read per group is left out with a warning)."""
    from analysis.studies import study_groups

    out: dict[str, Any] = {}
    for name in names:
        try:
            out[name] = study_groups(workspace, name)
        except UlensError as exc:
            warnings.warn(
                f"study {name!r} per-group figure left out of the export: {exc}",
                UserWarning,
                stacklevel=2,
            )
    return out


def _histories(experiment: Any, names: Sequence[str]) -> dict[str, pd.DataFrame | None]:
    models = page_module("models")
    load = getattr(models, "load_history", None) if models is not None else None
    out: dict[str, pd.DataFrame | None] = {}
    for name in names:
        path = getattr(experiment.models.get(name), "history", None)
        if load is None or path is None:
            continue
        try:
            out[name] = load(path)
        except (OSError, ValueError):
            out[name] = None
    return out


# -------------------------------------------------------------------------------- rendering


def browser_path() -> str | None:
    """The Chromium-based browser kaleido would use, or None when there is none."""
    try:
        from choreographer.browsers.chromium import Chromium
    except ImportError:
        return None
    path = Chromium.find_browser(skip_local=False)
    return path if path and os.path.isfile(path) and os.access(path, os.X_OK) else None


class _Renderer:
    """The process's kaleido server; renders one figure at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = False
        self.broken: str | None = None

    def problem(self) -> str | None:
        try:
            import kaleido  # noqa: F401
        except ImportError:
            return "Image export needs kaleido >= 1: `pip install 'kaleido>=1'`. " + INSTALL_HINT
        if browser_path() is None:
            return INSTALL_HINT
        return self.broken

    def render(self, fig: go.Figure, fmt: str, width: int, height: int, scale: float) -> bytes:
        with self.lock:
            problem = self.problem()
            if problem:
                raise ExportError(problem)
            self._start()
            return self._run(fig, fmt, width, height, scale)

    def stop(self, timeout: float) -> bool:
        """Stop the kaleido server (and its Chromium); False when it did not stop in time."""
        if not self.started:
            return True
        import kaleido

        closer = threading.Thread(
            target=kaleido.stop_sync_server, kwargs={"silence_warnings": True}, daemon=True
        )
        closer.start()
        closer.join(timeout)
        self.started = closer.is_alive()
        return not self.started

    def _start(self) -> None:
        if not self.started:
            import kaleido

            kaleido.start_sync_server(silence_warnings=True)
            self.started = True

    def _run(self, fig: go.Figure, fmt: str, width: int, height: int, scale: float) -> bytes:
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # "kopts ignored with a server"
                    result["bytes"] = fig.to_image(
                        format=fmt, width=width, height=height, scale=scale
                    )
            except Exception as exc:  # reported to the caller below
                result["error"] = exc

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        worker.join(_RENDER_TIMEOUT)
        if worker.is_alive():
            self.broken = (
                f"The image renderer stopped answering (no result in "
                f"{_RENDER_TIMEOUT:.0f} s); restart the dashboard. " + INSTALL_HINT
            )
            raise ExportError(self.broken)
        if "error" in result:
            raise ExportError(
                f"Could not render the figure as {fmt.upper()}: {result['error']}"
            ) from result["error"]
        data: bytes = result["bytes"]
        return data


_RENDERER = _Renderer()


def renderer_problem() -> str | None:
    """None when PNG/SVG/PDF export works here, else what to install or do."""
    return _RENDERER.problem()


def stop_renderer(timeout: float = 10.0) -> bool:
    """Stop the process's kaleido server and its Chromium (a no-op when none was started).

    kaleido stops its server at interpreter exit by joining its thread, which never returns
    when a render hung; servers and test sessions call this, bounded by ``timeout`` seconds,
    and kill what is left when it returns False.

    Example:
        >>> stop_renderer()
        True
    """
    return _RENDERER.stop(timeout)


def figure_size(
    fig: go.Figure, width: int | None = None, height: int | None = None
) -> tuple[int, int]:
    """Export size: the arguments, else the figure's own layout size, else 1000 × 600."""
    w = width or fig.layout.width or DEFAULT_SIZE[0]
    h = height or fig.layout.height or DEFAULT_SIZE[1]
    return int(w), int(h)


def figure_bytes(
    fig: go.Figure,
    fmt: str,
    *,
    width: int | None = None,
    height: int | None = None,
    scale: float = 2.0,
) -> bytes:
    """The figure as PNG, SVG or PDF bytes.

    Raises:
        ExportError: Unknown format, no browser for kaleido, or the render failed.
    """
    if fmt not in FORMATS:
        raise ExportError(f"format: expected one of {list(FORMATS)}, received {fmt!r}")
    w, h = figure_size(fig, width, height)
    return _RENDERER.render(fig, fmt, w, h, scale if fmt == "png" else 1.0)


def csv_bytes(data: pd.DataFrame) -> bytes:
    """The data behind a figure as UTF-8 CSV (no index).

    Example:
        >>> csv_bytes(pd.DataFrame({"x": [1, 2]}))
        b'x\\n1\\n2\\n'
    """
    return data.to_csv(index=False).encode("utf-8")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def file_name(experiment: str, scenario: str, a: str, b: str, key: str, ext: str) -> str:
    """A safe download name: ``<experiment>_<scenario>_<a>_vs_<b>_<key>.<ext>``."""
    stem = "_".join(_slug(p) for p in (experiment, scenario, a, "vs", b, key))
    return f"{stem}.{ext}"


def spec_file_name(cmp: Comparison, spec: FigureSpec, ext: str) -> str:
    """:func:`file_name` for a figure of ``cmp``."""
    return file_name(cmp.experiment, cmp.scenario, cmp.a, cmp.b, spec.key, ext)


def zip_bytes(
    cmp: Comparison,
    specs: Sequence[FigureSpec],
    *,
    formats: Sequence[str] = ("png", "svg", "pdf"),
    width: int | None = None,
    height: int | None = None,
    scale: float = 2.0,
) -> bytes:
    """A ZIP of every figure in ``formats`` plus each figure's CSV."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for spec in specs:
            archive.writestr(spec_file_name(cmp, spec, "csv"), csv_bytes(spec.data))
            for fmt in formats:
                data = figure_bytes(spec.figure, fmt, width=width, height=height, scale=scale)
                archive.writestr(spec_file_name(cmp, spec, fmt), data)
    return buffer.getvalue()


# -------------------------------------------------------------------------------- the report


_CSS = """
body { font-family: Inter, 'Helvetica Neue', Helvetica, Arial, sans-serif; color: #222;
       margin: 0 auto; max-width: 1200px; padding: 24px 32px; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { margin-top: 2em; border-bottom: 2px solid #ddd; }
h3 { font-size: 1.05em; margin: 1.6em 0 0.3em; }
table.meta td { padding: 2px 14px 2px 0; } table.meta td:first-child { color: #666; }
table.numbers { border-collapse: collapse; font-size: 0.9em; margin-top: 0.5em; }
table.numbers th, table.numbers td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
table.numbers th:first-child, table.numbers td:first-child { text-align: left; }
table.numbers thead th { background: #f2f2f2; }
.note { color: #8a4b00; background: #fff6e5; padding: 8px 12px; border-radius: 4px; }
.figure { margin-bottom: 1.2em; } nav a { margin-right: 1em; }
footer { color: #888; margin-top: 3em; }
"""


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "N/A"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-3 and value != 0 else f"{value:.3f}"
    return html.escape(str(value))


def _summary_table(cmp: Comparison) -> str:
    models = summary_dict(cmp)["models"]
    head = "".join(f"<th>{html.escape(t)}</th>" for t in ["model", *_SUMMARY_COLUMNS.values()])
    rows = []
    for name, numbers in models.items():
        tag = {cmp.a: " (A)", cmp.b: " (B)"}.get(name, "")
        cells = "".join(f"<td>{_cell(numbers.get(k))}</td>" for k in _SUMMARY_COLUMNS)
        rows.append(f"<tr><td>{html.escape(name + tag)}</td>{cells}</tr>")
    return (
        f'<table class="numbers"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _header(cmp: Comparison, title: str, generated: str) -> str:
    forget = (
        f"classes {', '.join(cmp.class_names[c] for c in cmp.forget_classes)}"
        if cmp.forget_classes
        else "random / listed samples"
    )
    meta = [
        ("Experiment", cmp.experiment),
        ("Scenario", f"{cmp.scenario} (forget {forget})"),
        ("Model A", cmp.a),
        ("Model B", cmp.b),
        ("Retrain model", cmp.retrain or "none"),
        ("Original model", cmp.original or "none"),
        ("Generated", generated),
    ]
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in meta
    )
    return f"<h1>{html.escape(title)}</h1><table class='meta'>{rows}</table>"


def _figure_html(spec: FigureSpec, include_plotlyjs: bool) -> str:
    height = int(spec.figure.layout.height or DEFAULT_SIZE[1])
    div = spec.figure.to_html(
        full_html=False,
        include_plotlyjs=include_plotlyjs,
        include_mathjax=False,
        default_width="100%",
        default_height=f"{height}px",
        config={
            "displaylogo": False,
            "responsive": True,
            "toImageButtonOptions": {"format": "svg", "filename": spec.key},
        },
    )
    return f"<div class='figure'><h3>{html.escape(spec.title)}</h3>{div}</div>"


def build_report(
    cmp: Comparison,
    pages: Sequence[str],
    *,
    title: str | None = None,
    presentation: bool = False,
    context: Mapping[str, Any] | None = None,
    experiment: Any = None,
) -> str:
    """A one-file, offline, interactive HTML report of ``pages`` for the pair of ``cmp``.

    Args:
        cmp: The comparison.
        pages: Keys of :data:`PAGES`, in the order to show them.
        title: Report title (default: experiment, scenario and pair).
        presentation: Larger type in the figures.
        context: Extra page context (see :func:`page_figures`), e.g. :func:`default_context`.
        experiment: The experiment; shorthand for ``context=default_context(experiment, cmp)``
            (merged under ``context``). Pages needing it (the Privacy thumbnails) skip those
            figures without it.

    Returns:
        The HTML document (plotly.js embedded once; no network references).
    """
    title = title or f"Unlearning Lens: {cmp.experiment} / {cmp.scenario}: {cmp.a} vs {cmp.b}"
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if experiment is not None:
        context = {**default_context(experiment, cmp), **(context or {})}
    collected = collect_figures(cmp, pages, presentation=presentation, context=context)
    collected = {p: r for p, r in collected.items() if r != [] or p not in OPTIONAL_PAGES}
    nav = " ".join(
        f"<a href='#page-{html.escape(p, quote=True)}'>{html.escape(PAGES.get(p, p))}</a>"
        for p in collected
    )
    body = [
        _header(cmp, title, generated),
        f"<nav>{nav}</nav>",
        "<h2>Summary numbers</h2>",
        _summary_table(cmp),
    ]
    plotly_pending = True
    for page, result in collected.items():
        anchor = html.escape(page, quote=True)
        body.append(f"<h2 id='page-{anchor}'>{html.escape(PAGES.get(page, page))}</h2>")
        if isinstance(result, str):
            body.append(
                f"<p class='note'>This page could not be exported: {html.escape(result)}</p>"
            )
            continue
        if not result:
            body.append("<p class='note'>This page has no exportable figures yet.</p>")
        for spec in result:
            body.append(_figure_html(spec, include_plotlyjs=plotly_pending))
            plotly_pending = False
    body.append(
        f"<footer>Unlearning Lens report · {html.escape(generated)} · figures are "
        "interactive (hover, zoom; the camera icon saves an SVG).</footer>"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )


def write_report(
    path: str | os.PathLike[str],
    cmp: Comparison,
    pages: Sequence[str],
    *,
    title: str | None = None,
    presentation: bool = False,
    context: Mapping[str, Any] | None = None,
    experiment: Any = None,
) -> Path:
    """Write :func:`build_report` to ``path`` atomically (temporary file, then rename)."""
    target = Path(path)
    text = build_report(
        cmp, pages, title=title, presentation=presentation, context=context, experiment=experiment
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    # a fresh name opened with "x": the usual permissions (umask), unlike mkstemp's 0600
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("x", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
