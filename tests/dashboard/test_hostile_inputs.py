"""Hostile and careless inputs on the dashboard / CLI side (issue 7).

Each input is refused with one clear error that names it — exit code 2 and one line for the
CLI, ``st.error`` (never an exception) for the app — and nothing outside the temporary
workspace is written (nothing inside it is lost either). Categories: CLI arguments, URL query
parameters (``?ws=`` can only pick a workspace named on the command line; random parameters
never crash the app, fuzzed with hypothesis), uploads (names, sizes, contents) and the HTML
report (hostile page keys, model names and class names stay inert text).
"""

from __future__ import annotations

import html.parser
import io
import json
import os
import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from streamlit.testing.v1 import AppTest

import analysis
from dashboard import cli
from tests.dashboard.views.apptest_pages import APP

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "digits"
PAIR = ["--a", "finetune_classwise", "--b", "gradascent_classwise"]
XSS = "<img src=x onerror=alert(1)>"

Snapshot = dict[str, tuple[int, int]]


def _tree(root: Path, *, skip: tuple[str, ...] = ()) -> Snapshot:
    """Every file under ``root`` with its size and modification time."""
    out: Snapshot = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(skip):
            stat = path.stat()
            out[rel] = (stat.st_size, stat.st_mtime_ns)
    return out


class Sandbox:
    """A temporary workspace plus a watch on everything around it."""

    def __init__(self, tmp: Path, ws: Path) -> None:
        self.tmp, self.ws = tmp, ws
        self.file = tmp / "notes.txt"
        self.file.write_text("keep me", encoding="utf-8")
        self.folder = tmp / "a_folder"
        self.folder.mkdir()
        self.report = tmp / "old_report.html"
        self.report.write_text("an earlier report", encoding="utf-8")
        self.before = self.snapshot()

    def snapshot(self) -> tuple[Snapshot, Snapshot, Snapshot]:
        # the workspace's own cache may fill; its other files, the folder around it and the
        # repository's sample workspace must not change
        outside = _tree(self.tmp, skip=("ws/",))
        inside = _tree(self.ws, skip=(".ulens_cache/",))
        return outside, inside, _tree(SAMPLE, skip=(".ulens_cache/",))

    def assert_untouched(self) -> None:
        assert self.snapshot() == self.before


@pytest.fixture
def sandbox(
    tmp_path: Path, tiny_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Sandbox]:
    ws = Path(shutil.copytree(tiny_workspace, tmp_path / "ws"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    box = Sandbox(tmp_path, ws)
    yield box
    box.assert_untouched()


# ----------------------------------------------------------------------------- CLI arguments


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's errors
        code = int(exc.code or 0)
    return code, capsys.readouterr().err.strip()


_NO_CUDA = not torch.cuda.is_available()
# (argv template, the text the message must contain); {ws} {file} {folder} {report} {missing}
CLI_CASES: list[tuple[str, list[str], str]] = [
    ("port-too-big", ["dashboard", "{ws}", "--port", "99999"], "'99999'"),
    ("port-zero", ["dashboard", "{ws}", "--port", "0"], "'0'"),
    ("port-negative", ["dashboard", "{ws}", "--port", "-1"], "'-1'"),
    ("port-float", ["dashboard", "{ws}", "--port", "8501.5"], "'8501.5'"),
    ("port-empty", ["dashboard", "{ws}", "--port", ""], "''"),
    ("port-text", ["dashboard", "{ws}", "--port", "80; rm -rf /"], "80; rm -rf /"),
    ("upload-zero", ["dashboard", "{ws}", "--max-upload-mb", "0"], "'0'"),
    ("upload-huge", ["dashboard", "{ws}", "--max-upload-mb", "1000000"], "'1000000'"),
    ("host-spaces", ["dashboard", "{ws}", "--host", "0.0.0.0 --x"], "0.0.0.0 --x"),
    ("host-empty", ["dashboard", "{ws}", "--host", ""], "''"),
    ("host-url", ["dashboard", "{ws}", "--host", "evil.example/x"], "evil.example/x"),
    ("workspaces-plain-folder", ["dashboard", "{ws}", "--workspaces", "{folder}"], "{folder}"),
    ("workspaces-missing", ["dashboard", "{ws}", "--workspaces", "{missing}"], "{missing}"),
    ("workspace-etc", ["dashboard", "/etc"], "/etc"),
    ("analyze-out-file", ["analyze", "{ws}", *PAIR, "--out", "{file}"], "{file}"),
    ("report-out-folder", ["report", "{ws}", *PAIR, "--out", "{folder}"], "{folder}"),
    ("report-out-exists", ["report", "{ws}", *PAIR, "--out", "{report}"], "--force"),
    ("pages-empty", ["report", "{ws}", *PAIR, "--out", "r.html", "--pages", ""], "privacy"),
    ("pages-commas", ["report", "{ws}", *PAIR, "--out", "r.html", "--pages", ", ,"], "', ,'"),
    ("pages-unknown", ["report", "{ws}", *PAIR, "--out", "r.html", "--pages", "nope"], "nope"),
    ("pages-xss", ["report", "{ws}", *PAIR, "--out", "r.html", "--pages", f"models,{XSS}"], XSS),
    ("device-tpu", ["analyze", "{ws}", *PAIR, "--out", "o", "--device", "tpu"], "'tpu'"),
    ("device-index", ["analyze", "{ws}", *PAIR, "--out", "o", "--device", "cuda:99"], "cuda:99"),
    ("allow-code-reference", ["precompute", "{ws}", "--allow-code", "os:system"], "os:system"),
    ("allow-code-path", ["precompute", "{ws}", "--allow-code", "../evil"], "../evil"),
    ("allow-outside-missing", ["precompute", "{ws}", "--allow-outside", "{missing}"], "{missing}"),
    ("unknown-model", ["analyze", "{ws}", "--a", "nope", "--b", "original", "--out", "o"], "nope"),
    ("bad-scenario", ["analyze", "{ws}", *PAIR, "--out", "o", "--scenario", "../x"], "../x"),
]
if _NO_CUDA:
    CLI_CASES.append(
        ("device-cuda", ["analyze", "{ws}", *PAIR, "--out", "o", "--device", "cuda"], "cuda")
    )


@pytest.mark.parametrize(
    ("argv", "named"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES]
)
def test_a_bad_cli_argument_is_one_line_exit_2_and_writes_nothing(
    argv: list[str],
    named: str,
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli, "_run_server", lambda *args: pytest.fail("a server was started"))
    values = {
        "ws": str(sandbox.ws),
        "file": str(sandbox.file),
        "folder": str(sandbox.folder),
        "report": str(sandbox.report),
        "missing": str(sandbox.tmp / "missing"),
    }
    code, err = _run([a.format(**values) for a in argv], capsys)
    assert code == 2, err
    assert "\n" not in err and "Traceback" not in err
    assert "error:" in err and named.format(**values) in err


# ------------------------------------------------------------------------------ URL parameters

_EVIL_MODULE = """
from pathlib import Path
Path(__file__).with_name("MARKER").write_text("workspace code ran")

def make(**kwargs):
    raise RuntimeError("never reached")
"""


@pytest.fixture(scope="module")
def foreign_workspace(tmp_path_factory: pytest.TempPathFactory, tiny_workspace: Path) -> Path:
    """A workspace nobody listed, whose dataset is code that leaves a marker when imported."""
    ws = Path(shutil.copytree(tiny_workspace, tmp_path_factory.mktemp("foreign") / "foreign"))
    (ws / "evil.py").write_text(_EVIL_MODULE, encoding="utf-8")
    spec = (ws / "experiment.toml").read_text(encoding="utf-8")
    (ws / "experiment.toml").write_text(
        spec.replace('kind = "npz"', 'kind = "evil:make"'), encoding="utf-8"
    )
    return ws


def _app(ws: Path, params: dict[str, str], *, listed: list[Path] = ()) -> AppTest:  # type: ignore[assignment]
    os.environ["ULENS_WORKSPACE"] = str(ws)
    os.environ["ULENS_WORKSPACES"] = os.pathsep.join(str(p) for p in listed)
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULENS_WORKSPACE", "")
    monkeypatch.setenv("ULENS_WORKSPACES", "")


def _texts(at: AppTest) -> list[str]:
    kinds = ("markdown", "caption", "error", "warning", "info", "success", "title", "text", "toast")
    return [str(e.value) for kind in kinds for e in at.get(kind)]


WS_VALUES = {
    "etc": "/etc",
    "traversal": "../../../../etc",
    "sample": str(SAMPLE),
    "sample-name": "digits",
    "second-label": "ws~2",
    "nul": "ws\x00",
    "script": "<script>alert(1)</script>",
    "url": "https://evil.example/ws",
}


@pytest.mark.parametrize("value", list(WS_VALUES.values()), ids=list(WS_VALUES))
def test_a_link_naming_another_folder_opens_the_default_workspace(
    value: str, sandbox: Sandbox, app_env: None
) -> None:
    at = _app(sandbox.ws, {"ws": value})
    assert not at.exception
    assert at.sidebar.selectbox(key="ws").value == "ws"
    notices = [e.value for e in at.toast]  # one toast, like every link value not used
    assert len(notices) == 1 and "not one this dashboard was started with" in notices[0]
    assert not at.sidebar.error
    assert all(value not in text for text in _texts(at))  # the URL's text is not echoed


def test_a_link_to_an_unlisted_workspace_never_runs_its_code(
    sandbox: Sandbox, foreign_workspace: Path, app_env: None
) -> None:
    at = _app(sandbox.ws, {"ws": str(foreign_workspace)})
    assert not at.exception and at.sidebar.selectbox(key="ws").value == "ws"
    at = _app(sandbox.ws, {"ws": "foreign"})
    assert not at.exception and at.sidebar.selectbox(key="ws").value == "ws"
    assert not (foreign_workspace / "MARKER").exists()


def test_a_listed_workspace_is_the_only_other_one_a_link_can_open(
    sandbox: Sandbox, app_env: None
) -> None:
    at = _app(sandbox.ws, {"ws": "digits"}, listed=[SAMPLE])
    assert not at.exception and not at.sidebar.error
    assert at.sidebar.selectbox(key="ws").value == "digits"
    assert at.sidebar.selectbox(key="ws").options == ["ws", "digits"]


PIXEL = "![pixel](https://evil.example/p.png)"


def test_a_model_named_like_a_markdown_image_is_shown_as_text(
    sandbox: Sandbox, app_env: None
) -> None:
    spec = (sandbox.ws / "experiment.toml").read_text(encoding="utf-8")
    spec = spec.replace("[models.finetune_classwise]", f"[models.{json.dumps(PIXEL)}]")
    (sandbox.ws / "experiment.toml").write_text(spec, encoding="utf-8")
    sandbox.before = sandbox.snapshot()
    at = _app(sandbox.ws, {"a": PIXEL})
    assert not at.exception
    assert at.sidebar.selectbox(key="a").value == PIXEL
    shown = [t for t in _texts(at) if "pixel" in t]
    assert shown and not [t for t in shown if "![" in t or "](" in t]


OTHER_PARAMS = {
    "model-a-xss": {"a": XSS},
    "model-b-path": {"b": "../../etc/passwd"},
    "same-a-b": {"a": "original", "b": "original"},
    "scenario": {"scenario": "nope"},
    "present": {"present": "1' or '1"},
    "pages": {"exp_pages": "<script>"},
}


@pytest.mark.parametrize("params", list(OTHER_PARAMS.values()), ids=list(OTHER_PARAMS))
def test_bad_query_parameters_fall_back_to_valid_choices(
    params: dict[str, str], sandbox: Sandbox, app_env: None
) -> None:
    at = _app(sandbox.ws, params)
    assert not at.exception
    a, b = at.sidebar.selectbox(key="a"), at.sidebar.selectbox(key="b")
    names = analysis.load_experiment(sandbox.ws).models
    assert a.value in names and b.value in names and a.value != b.value
    assert at.sidebar.selectbox(key="scenario").value in ("classwise", "random")


_KEYS = ["ws", "a", "b", "scenario", "present", "exp_pages", "sel", "inst_mode", "zzz"]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(params=hs.dictionaries(hs.sampled_from(_KEYS), hs.text(max_size=30), max_size=4))
def test_random_query_parameters_never_crash_the_app(
    params: dict[str, str], sandbox: Sandbox, app_env: None
) -> None:
    at = _app(sandbox.ws, params)
    assert not at.exception, (params, at.exception)
    assert at.sidebar.selectbox(key="ws").value == "ws"


# ------------------------------------------------------------------------------------ uploads


def _weights(ws: Path) -> bytes:
    return analysis.load_experiment(ws).entry("finetune_classwise").file.read_bytes()


def _pickle_bytes() -> bytes:
    buffer = io.BytesIO()
    pickle.dump({"weight": np.zeros(3)}, buffer)
    return buffer.getvalue()


UPLOADS: dict[str, tuple[str, Any, str]] = {
    # case: (model name, bytes or "weights", text the error must contain); the file is
    # uploaded as "weights.safetensors" (Streamlit itself refuses a file name with a NUL byte)
    "name-too-long": ("a" * 300, "weights", "300 bytes"),
    "name-traversal": ("../escape", "weights", "../escape"),
    "name-slash": ("a/b", "weights", "a/b"),
    "name-hidden": (".hidden", "weights", ".hidden"),
    "name-nul": ("x\x00y", "weights", "x\\x00y"),
    "name-xss": (XSS, "weights", XSS),
    "name-taken": ("original", "weights", "original"),
    "random-bytes": ("random", os.urandom(4096), "random"),
    "pickle": ("pickled", _pickle_bytes(), "pickled"),
    "empty-file": ("empty", b"", "empty"),
}


def _upload(at: AppTest, name: str, data: bytes, file: str = "weights.safetensors") -> AppTest:
    at.file_uploader(key="upload_file_0").set_value((file, data, "application/octet-stream"))
    at.text_input(key="upload_name").set_value(name)
    at.run()
    return at.button(key="upload_add").click().run()


@pytest.mark.parametrize(("name", "data", "named"), list(UPLOADS.values()), ids=list(UPLOADS))
def test_a_bad_upload_shows_one_error_saves_nothing_and_clears_the_uploader(
    name: str, data: Any, named: str, sandbox: Sandbox, app_env: None
) -> None:
    payload = _weights(sandbox.ws) if data == "weights" else data
    at = _upload(_app(sandbox.ws, {}), name, payload)
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("Not added") and named in errors[0], errors
    assert at.file_uploader(key="upload_file_1").value is None  # the bytes were let go


@pytest.mark.parametrize("file", ["../../../etc/x.safetensors", "%s.safetensors" % ("f" * 300)])
def test_the_uploaded_file_name_never_becomes_a_path(
    file: str, sandbox: Sandbox, app_env: None
) -> None:
    at = _upload(_app(sandbox.ws, {}), "renamed", os.urandom(64), file=file)
    assert not at.exception
    assert "Not added" in at.error[0].value and "'renamed'" in at.error[0].value


def test_an_upload_over_the_limit_is_refused_before_it_is_read(
    sandbox: Sandbox, app_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ULENS_MAX_UPLOAD_MB", "1")
    at = _upload(_app(sandbox.ws, {}), "big", b"\0" * (3 * 2**19))
    assert not at.exception
    assert "at most 1 MiB" in at.error[0].value and "1.5 MiB" in at.error[0].value
    assert any("at most 1 MiB" in c.value for c in at.caption)  # the uploader says so too


# ------------------------------------------------------------------------------------- report

PAYLOADS = [
    XSS,
    '"><svg onload=alert(2)>',
    "</script><script>alert(3)</script>",
    "' onmouseover='alert(4)",
    "javascript:alert(5)",
    "<a href=javascript:alert(6)>x</a>",
]


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory, tiny_workspace: Path) -> str:
    """`ulens report` of a workspace whose model names and class names are script payloads."""
    ws = Path(shutil.copytree(tiny_workspace, tmp_path_factory.mktemp("hostile") / "ws"))
    with np.load(ws / "data.npz", allow_pickle=False) as data:
        arrays = dict(data)
    arrays["class_names"] = np.asarray(PAYLOADS[:4])
    np.savez(ws / "data.npz", **arrays)
    spec = (ws / "experiment.toml").read_text(encoding="utf-8")
    spec = spec.replace("[models.finetune_classwise]", f"[models.{json.dumps(PAYLOADS[4])}]")
    spec = spec.replace("[models.gradascent_classwise]", f"[models.{json.dumps(PAYLOADS[5])}]")
    (ws / "experiment.toml").write_text(spec, encoding="utf-8")
    out = ws.parent / "report.html"
    argv = ["report", str(ws), "--a", PAYLOADS[4], "--b", PAYLOADS[5], "--out", str(out)]
    assert cli.main(argv) == 0
    return out.read_text(encoding="utf-8")


def _in_plotly_json(text: str) -> str:
    """``text`` as plotly writes it inside the report's <script> data (<, >, / escaped)."""
    body = json.dumps(text)[1:-1]
    return body.replace("<", "\\u003c").replace(">", "\\u003e").replace("/", "\\u002f")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_names_stay_text_in_the_report(hostile_report: str, payload: str) -> None:
    shown = html.escape(payload) in hostile_report or _in_plotly_json(payload) in hostile_report
    assert shown  # the name is in the report, as text or as escaped figure data
    parser = _Tags()
    parser.feed(hostile_report)
    allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "table"}
    allowed |= {"thead", "tbody", "tr", "th", "td", "nav", "a", "div", "p", "footer", "script"}
    assert {tag for tag, _ in parser.tags} <= allowed
    for tag, attrs in parser.tags:
        assert not [name for name, _ in attrs if name.startswith("on")], (tag, attrs)
        if tag == "a":
            assert all((value or "").startswith("#page-") for _, value in attrs)
        if tag == "script":
            assert not [name for name, _ in attrs if name == "src"]
