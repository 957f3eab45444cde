"""Tests of analysis.trust: the policy, path confinement, code references and memory budgets.

Every code-execution vector of a workspace (dataset factory, architecture factory, unlearning
method) gets a marker-file test: a module whose import or call would create a file; the file
must never appear without the opt-in, and the opt-in (a workspace file or an allowed package)
must work.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import analysis
from analysis.data import load_dataset
from analysis.errors import DatasetError, MethodError, ValidationError
from analysis.models import build_model
from analysis.trust import (
    ALLOW_CODE_ENV,
    ALLOW_OUTSIDE_ENV,
    CONFIG_ENV,
    DEFAULT_MAX_BYTES,
    MAX_BYTES_ENV,
    OutsideWorkspaceError,
    ResourceLimitError,
    TrustNotice,
    TrustPolicy,
    UntrustedCodeError,
    check_budget,
    confine,
    current_policy,
    display_path,
    format_bytes,
    import_reference,
    parse_bytes,
    trust_policy,
)
from analysis.unlearn import get_method, make_method


@pytest.fixture(autouse=True)
def clean_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No policy from the developer's environment or config file leaks into these tests."""
    for key in (ALLOW_CODE_ENV, ALLOW_OUTSIDE_ENV, MAX_BYTES_ENV):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "no_config.toml"))


# --------------------------------------------------------------------------- the policy


def test_default_policy_allows_nothing_beyond_the_workspace() -> None:
    policy = current_policy()
    assert policy == TrustPolicy() and policy.max_bytes == DEFAULT_MAX_BYTES == 4 * 2**30
    assert not policy.allows_package("os") and not policy.allows_path(Path("/"))


def test_allowed_packages_match_whole_names_and_their_submodules() -> None:
    policy = TrustPolicy(allow_code=("mylab", "other.models"))
    assert policy.allows_package("mylab") and policy.allows_package("mylab.nets.cnn")
    assert not policy.allows_package("mylabx") and not policy.allows_package("other")
    assert policy.allows_package("other.models.x") and not policy.allows_package("other.data")


def test_policy_from_environment_and_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[trust]\nallow_code = ["mylab"]\nallow_outside = ["~/data"]\nmax_bytes = "1GiB"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv(CONFIG_ENV, str(config))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(ALLOW_CODE_ENV, "extra, mylab")
    monkeypatch.setenv(ALLOW_OUTSIDE_ENV, os.pathsep.join([str(tmp_path / "shared"), ""]))
    policy = current_policy()
    assert policy.allow_code == ("mylab", "extra")
    assert policy.allow_outside == ((tmp_path / "data").resolve(), (tmp_path / "shared").resolve())
    assert policy.max_bytes == 2**30
    monkeypatch.setenv(MAX_BYTES_ENV, "2000")  # the environment wins over the file
    assert current_policy().max_bytes == 2000


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("[trust\n", "a readable TOML config"),
        ("trust = 3\n", r"\[trust\]: expected a table"),
        ("[trust]\nallow_code = 'os'\n", r"\[trust\] allow_code: expected a list of strings"),
        ("[trust]\nallow_code = ['my-lab']\n", r"allow_code: expected package or dotted module"),
        ("[trust]\nalow_code = ['x']\n", r"expected keys allow_code, allow_outside, max_bytes"),
        ("[trust]\nmax_bytes = -1\n", r"\[trust\] max_bytes: expected a positive size"),
    ],
)
def test_broken_user_config_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, pattern: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    with pytest.raises(ValidationError, match=pattern):
        current_policy()


def test_bad_environment_values_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_CODE_ENV, "good,not valid")
    with pytest.raises(ValidationError, match=rf"{ALLOW_CODE_ENV}: expected package"):
        current_policy()
    monkeypatch.delenv(ALLOW_CODE_ENV)
    monkeypatch.setenv(MAX_BYTES_ENV, "lots")
    with pytest.raises(ValidationError, match=rf"{MAX_BYTES_ENV}: expected a positive size"):
        current_policy()


def test_trust_policy_extends_and_restores_the_environment(tmp_path: Path) -> None:
    with trust_policy(allow_code=["a"], allow_outside=[tmp_path], max_bytes="2MiB"):
        with trust_policy(allow_code=["b.c"]):
            inner = current_policy()
        outer = current_policy()
    assert inner.allow_code == ("a", "b.c") and outer.allow_code == ("a",)
    assert outer.allow_outside == (tmp_path.resolve(),) and outer.max_bytes == 2 * 2**20
    assert current_policy() == TrustPolicy()
    assert ALLOW_CODE_ENV not in os.environ and MAX_BYTES_ENV not in os.environ
    with (
        pytest.raises(ValidationError, match="allow_code / allow_outside"),
        trust_policy(
            allow_code="os"  # type: ignore[arg-type]  # a string is not a list of names
        ),
    ):
        pass


def test_child_processes_inherit_the_policy(tmp_path: Path) -> None:
    code = "from analysis.trust import current_policy; print(current_policy().allow_code)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with trust_policy(allow_code=["mylab"]):
        env[ALLOW_CODE_ENV] = os.environ[ALLOW_CODE_ENV]
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
        )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "('mylab',)"


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1), ("512", 512), ("4GiB", 4 * 2**30), ("1.5 kB", 1500), ("2 mib", 2 * 2**20)],
)
def test_parse_bytes(value: Any, expected: int) -> None:
    assert parse_bytes(value) == expected


@pytest.mark.parametrize("value", [0, -5, True, "4 GB extra", "", 1.5, None, "0.1"])
def test_parse_bytes_refuses(value: Any) -> None:
    with pytest.raises(ValidationError, match="max_bytes: expected a positive size"):
        parse_bytes(value)


def test_check_budget_names_the_input_the_size_and_the_knob() -> None:
    check_budget(2**20, argument="x", what="a MiB", policy=TrustPolicy(max_bytes=2**20))
    with pytest.raises(ResourceLimitError) as info:
        check_budget(5 * 2**30, argument="dataset.path 'a.npz'", what="arrays")
    message = str(info.value)
    assert message.startswith("dataset.path 'a.npz': expected at most 4.0 GiB of memory")
    assert MAX_BYTES_ENV in message and message.endswith("received arrays: 5.0 GiB")
    assert format_bytes(1536) == "1.5 KiB"


# --------------------------------------------------------------------------- paths


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "models").mkdir(parents=True)
    (root / "models" / "a.safetensors").write_bytes(b"x")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.npz").write_bytes(b"s")
    return root


def test_confine_accepts_paths_inside_the_workspace(ws: Path) -> None:
    inside = (ws / "models" / "a.safetensors").resolve()
    assert confine("models/a.safetensors", ws, argument="f") == inside
    assert confine(str(inside), ws, argument="f") == inside
    assert confine("models/../models/a.safetensors", ws, argument="f") == inside
    assert confine("models/not_yet.pt", ws, argument="f") == inside.parent / "not_yet.pt"
    (ws / "alias").symlink_to(ws / "models")  # a link that stays inside is fine
    assert confine("alias/a.safetensors", ws, argument="f") == inside


@pytest.mark.parametrize(
    "written",
    ["../outside/secret.npz", "models/../../outside/secret.npz", "/etc/passwd", "~/x.npz"],
)
def test_confine_refuses_escapes_naming_the_field_and_the_path_as_written(
    ws: Path, written: str
) -> None:
    with pytest.raises(OutsideWorkspaceError) as info:
        confine(written, ws, argument="dataset.path")
    message = str(info.value)
    assert message.startswith("dataset.path: expected a path inside the workspace")
    assert "--allow-outside PATH" in message and message.endswith(f"received {written!r}")
    assert str(ws.parent.resolve()) not in message  # no server path beyond what was written


def test_confine_resolves_symlinks_before_deciding(ws: Path) -> None:
    (ws / "data.npz").symlink_to(ws.parent / "outside" / "secret.npz")
    (ws / "shared").symlink_to(ws.parent / "outside")
    for written in ("data.npz", "shared/secret.npz", "shared/new.npz"):
        with pytest.raises(OutsideWorkspaceError, match=f"received '{written}'"):
            confine(written, ws, argument="dataset.path")


def test_allowed_outside_locations(ws: Path) -> None:
    (ws / "data.npz").symlink_to(ws.parent / "outside" / "secret.npz")
    target = (ws.parent / "outside" / "secret.npz").resolve()
    with trust_policy(allow_outside=[ws.parent / "outside"]):
        assert confine("data.npz", ws, argument="dataset.path") == target
        assert confine(str(target), ws, argument="dataset.path") == target
        with pytest.raises(OutsideWorkspaceError):
            confine("/etc/passwd", ws, argument="dataset.path")
    policy = TrustPolicy(allow_outside=(target.parent,))
    assert confine("../outside/secret.npz", ws, argument="p", policy=policy) == target


@pytest.mark.parametrize("written", ["", "a\x00b", None, 3])
def test_confine_refuses_empty_or_nul_paths(ws: Path, written: Any) -> None:
    with pytest.raises(ValidationError, match=r"models\.x\.file: expected a non-empty file path"):
        confine(written, ws, argument="models.x.file")


def test_confine_refuses_unresolvable_paths(ws: Path) -> None:
    (ws / "loop").symlink_to(ws / "loop")
    for written in ("loop/x.npz", "~no_such_user_ulens/x.npz"):
        with pytest.raises(ValidationError, match="expected a path that resolves"):
            confine(written, ws, argument="dataset.path")


def test_display_path_never_shows_an_absolute_path_outside(ws: Path) -> None:
    assert display_path(ws / "models" / "a.safetensors", ws) == "models/a.safetensors"
    assert display_path(ws.parent / "outside" / "secret.npz", ws) == ".../secret.npz"
    assert display_path("rel/x.pt", None) == "rel/x.pt"


# --------------------------------------------------------------------------- code references


def _module(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_workspace_module_imports_without_pythonpath_with_one_notice(ws: Path) -> None:
    name = f"helpers_{uuid.uuid4().hex[:6]}"
    _module(ws, name, "VALUE = 41\n")
    _module(ws, "factories", f"from . import {name}\n\ndef make():\n    return {name}.VALUE + 1\n")
    with pytest.warns(TrustNotice) as record:
        assert import_reference("factories:make", argument="dataset.kind", workspace=ws)() == 42
        assert import_reference("factories:make", argument="dataset.kind", workspace=ws)() == 42
    notices = [str(w.message) for w in record if issubclass(w.category, TrustNotice)]
    assert notices == ["dataset.kind: importing code from the workspace file factories.py"]
    assert "factories" not in sys.modules and name not in sys.modules  # private names only
    assert str(ws) not in sys.path and str(ws.resolve()) not in sys.path


def test_workspace_packages_and_dotted_attributes(ws: Path) -> None:
    _module(ws / "lab", "__init__", "")
    _module(
        ws / "lab", "nets", "class Zoo:\n    @staticmethod\n    def tiny():\n        return 7\n"
    )
    with pytest.warns(TrustNotice, match=r"lab/nets\.py"):
        assert import_reference("lab.nets:Zoo.tiny", argument="a", workspace=ws)() == 7


def test_a_workspace_module_cannot_shadow_an_installed_one(ws: Path) -> None:
    import json

    _module(ws, "json", "def dumps(obj):\n    return 'shadowed'\n")
    with pytest.warns(TrustNotice):
        dumps = import_reference("json:dumps", argument="a", workspace=ws)
    assert dumps({}) == "shadowed" and sys.modules["json"] is json and json.dumps({}) == "{}"


def test_a_workspace_file_linking_outside_is_refused(ws: Path) -> None:
    _module(ws.parent / "outside", "evil", "raise SystemExit('ran')\n")
    (ws / "evil.py").symlink_to(ws.parent / "outside" / "evil.py")
    with pytest.raises(UntrustedCodeError, match=r"evil\.py \(a link to a file outside it\)"):
        import_reference("evil:run", argument="dataset.kind", workspace=ws)


@pytest.mark.parametrize("body", ["raise KeyError('boom')\n", "import sys\nsys.exit(3)\n"])
def test_a_workspace_module_failing_on_import_is_one_clear_error(ws: Path, body: str) -> None:
    name = f"broken_{uuid.uuid4().hex[:6]}"
    _module(ws, name, body)
    with pytest.warns(TrustNotice), pytest.raises(ValidationError) as info:
        import_reference(f"{name}:f", argument="dataset.kind", workspace=ws)
    message = str(info.value)
    assert message.startswith("dataset.kind: expected a workspace module that imports cleanly")
    assert f"{name}.py raised" in message


@pytest.mark.parametrize(
    "target", ["os:system", "subprocess:run", "builtins:eval", "shutil:rmtree", "pty:spawn"]
)
def test_dangerous_references_are_refused_with_how_to_allow(ws: Path, target: str) -> None:
    with pytest.raises(UntrustedCodeError) as info:
        import_reference(target, argument="dataset.kind", workspace=ws)
    message = str(info.value)
    top = target.split(":")[0]
    assert message.startswith("dataset.kind: expected a module inside the workspace folder")
    assert f"--allow-code {top}" in message and f"{ALLOW_CODE_ENV}={top}" in message
    assert message.endswith(f"received {target!r} (refused; nothing was imported)")
    assert "\n" not in message


@pytest.mark.parametrize("target", ["os", ":system", "os:", "os:sys tem", "../x:y", "a..b:c", 5])
def test_malformed_references(ws: Path, target: Any) -> None:
    with pytest.raises(ValidationError, match="method: expected 'module:attribute'"):
        import_reference(target, argument="method", workspace=ws)


def test_allowed_package_and_missing_attribute(ws: Path) -> None:
    with trust_policy(allow_code=["math"]):
        assert import_reference("math:sqrt", argument="fn", workspace=ws)(16.0) == 4.0
        with pytest.raises(ValidationError, match=r"fn: expected an attribute 'nope' in math"):
            import_reference("math:nope", argument="fn", workspace=ws)


# --------------------------------------------------------------------------- marker files

MARKER_MODULE = """
from pathlib import Path

Path({marker!r}).write_text("imported")


def make(**options):
    Path({marker!r} + ".called").write_text("called")
    import numpy as np
    x = np.zeros((8, 2), dtype=np.float32)
    y = np.arange(8) % 2
    return (x, y), (x[:4], y[:4]), ["a", "b"]


def model(num_classes, input_shape):
    from torch import nn
    Path({marker!r} + ".called").write_text("called")
    return nn.Sequential(nn.Flatten(), nn.Linear(2, num_classes))


from analysis.unlearn.ft import FineTune


class Method(FineTune):
    name, display_name = "marker_ft_{tag}", "Marker FT"
"""


Vector = Callable[[str, Path | None], object]
VECTORS: dict[str, tuple[str, Vector]] = {
    "dataset factory": (
        "make",
        lambda ref, ws: load_dataset({"kind": ref, "command": "touch /tmp/x"}, root=ws),
    ),
    "architecture factory": (
        "model",
        lambda ref, ws: build_model(ref, num_classes=2, input_shape=(2,), workspace=ws),
    ),
    "unlearning method": ("Method", lambda ref, ws: make_method(ref, {}, workspace=ws)),
}


@pytest.fixture
def marker_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """An installed-looking package on sys.path whose import writes a marker file."""
    tag = uuid.uuid4().hex[:8]
    name = f"ulens_marker_{tag}"
    marker = tmp_path / f"marker_{tag}"
    site = tmp_path / "site"
    _module(site, name, MARKER_MODULE.format(marker=str(marker), tag=tag))
    monkeypatch.syspath_prepend(str(site))
    yield name, marker
    sys.modules.pop(name, None)


@pytest.mark.parametrize("vector", list(VECTORS))
def test_marker_never_created_without_the_opt_in(
    vector: str, marker_env: tuple[str, Path], ws: Path
) -> None:
    name, marker = marker_env
    attr, run = VECTORS[vector]
    for workspace in (ws, None):
        with pytest.raises(UntrustedCodeError):
            run(f"{name}:{attr}", workspace)
    with pytest.raises(UntrustedCodeError):
        run("os:system", ws)
    assert not marker.exists() and not Path(f"{marker}.called").exists()
    assert name not in sys.modules


@pytest.mark.parametrize("vector", list(VECTORS))
def test_allowed_package_opt_in_runs_the_code(
    vector: str, marker_env: tuple[str, Path], ws: Path
) -> None:
    name, marker = marker_env
    attr, run = VECTORS[vector]
    with trust_policy(allow_code=[name]):
        run(f"{name}:{attr}", ws)
    assert marker.read_text() == "imported"


@pytest.mark.parametrize("vector", list(VECTORS))
def test_workspace_file_opt_in_runs_the_code_with_a_notice(
    vector: str, tmp_path: Path, ws: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    marker = tmp_path / f"ws_marker_{tag}"
    _module(ws, "plugin", MARKER_MODULE.format(marker=str(marker), tag=tag))
    attr, run = VECTORS[vector]
    with pytest.warns(TrustNotice, match=r"plugin\.py"):
        run(f"plugin:{attr}", ws)
    assert marker.read_text() == "imported"


def test_experiment_toml_cannot_run_a_shell_command(tmp_path: Path) -> None:
    """The original report: ``kind = "os:system"`` with ``command = "..."`` ran the command."""
    ws = tmp_path / "ws"
    ws.mkdir()
    marker = tmp_path / "pwned"
    (ws / "experiment.toml").write_text(
        f'[dataset]\nkind = "os:system"\ncommand = "touch {marker}"\n\n'
        '[architecture]\nname = "subprocess:run"\n\n'
        "[forget]\nclasses = [1]\n\n"
        '[models.o]\nrole = "original"\nfile = "o.safetensors"\n'
        '[models.u]\nrole = "unlearned"\nmethod = "builtins:eval"\nbase = "o"\n'
        'file = "u.safetensors"\n',
        encoding="utf-8",
    )
    exp = analysis.load_experiment(ws)
    with pytest.raises(UntrustedCodeError, match=r"dataset\.kind: .*'os:system'"):
        _ = exp.data
    with pytest.raises(UntrustedCodeError, match=r"architecture: .*'subprocess:run'"):
        build_model("subprocess:run", num_classes=2, input_shape=(2,), workspace=ws)
    with pytest.raises(UntrustedCodeError, match=r"method: .*'builtins:eval'"):
        get_method(exp.spec.models["u"].method or "", workspace=ws)
    assert not marker.exists()


def test_builtin_method_modules_stay_available() -> None:
    assert get_method("analysis.unlearn.ga:GradientAscent").name == "ga"
    with pytest.raises(UntrustedCodeError):
        get_method("analysis.models:save_weights")  # the rest of the library is not a method
    with pytest.raises(MethodError, match="subclass of UnlearningMethod"):
        get_method("analysis.unlearn.base:require")


def test_dataset_factory_import_errors_become_dataset_errors(ws: Path) -> None:
    _module(ws, "syntax", "def make(:\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrustNotice)
        with pytest.raises(DatasetError, match=r"syntax\.py raised SyntaxError"):
            load_dataset({"kind": "syntax:make"}, root=ws)


def test_dataset_factory_arrays_obey_the_budget(ws: Path) -> None:
    _module(
        ws,
        "bigdata",
        "import numpy as np\n\ndef make():\n"
        "    x = np.zeros((64, 1024), dtype=np.uint8)\n"
        "    return (x, np.zeros(64, dtype=np.int64)), (x, np.zeros(64, dtype=np.int64)), ['a']\n",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrustNotice)
        assert len(load_dataset({"kind": "bigdata:make"}, root=ws).train) == 64
        with trust_policy(max_bytes="100KiB"), pytest.raises(ResourceLimitError):
            load_dataset({"kind": "bigdata:make"}, root=ws)


def test_no_workspace_files_are_left_importable_by_plain_name(ws: Path) -> None:
    _module(ws, "plainname_ulens", "X = 1\n")
    with pytest.raises(UntrustedCodeError):
        import_reference("plainname_ulens:X", argument="a", workspace=None)
    np.testing.assert_equal("plainname_ulens" in sys.modules, False)
