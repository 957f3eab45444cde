"""Tests of analysis.spec: parsing and validating experiment.toml."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from analysis.errors import SpecError
from analysis.spec import ROLES, ArchitectureSpec, find_spec_file, load_spec, parse_spec
from analysis.trust import OutsideWorkspaceError, trust_policy

FULL_TOML = """
[experiment]
name = "demo"

[dataset]
kind = "npz"
path = "data.npz"

[architecture]
name = "smallcnn"
params = { width = 8 }

[forget.cw]
classes = [3, 5]

[forget.rnd]
random = 0.1
seed = 4

[models.original]
role = "original"
file = "models/original.safetensors"
train = { epochs = 5, lr = 0.01, seed = 0 }
rt = 12.5
description = "trained on everything"

[models.retrain]
role = "retrain"
file = "models/retrain.safetensors"
forget = "cw"
history = "models/retrain_history.json"

[models.ft]
role = "unlearned"
file = "/abs/ft.safetensors"
forget = "cw"
method = "finetune"
base = "original"
params = { epochs = 2, lr = 0.1 }
rt = 3

[models.ga_rnd]
role = "unlearned"
file = "models/ga.pt"
forget = "rnd"
method = "gradient_ascent"
base = "original"
architecture = "mlp"

[models.shadow]
role = "reference"
file = "models/shadow.safetensors"
members = "models/shadow_members.npy"
architecture = { name = "mlp", params = { hidden = [32] } }

[analysis]
max_layers = 6
"""


@pytest.fixture
def spec_root(tmp_path: Path) -> Iterator[Path]:
    """A workspace whose ``ft`` model lies in ``/abs``, a location the user allowed."""
    (tmp_path / "experiment.toml").write_text(FULL_TOML, encoding="utf-8")
    with trust_policy(allow_outside=["/abs"]):
        yield tmp_path


def test_absolute_path_outside_the_workspace_needs_the_opt_in(tmp_path: Path) -> None:
    (tmp_path / "experiment.toml").write_text(FULL_TOML, encoding="utf-8")
    with pytest.raises(OutsideWorkspaceError) as info:
        load_spec(tmp_path)
    assert str(info.value).startswith("models.ft.file: expected a path inside the workspace")
    assert str(info.value).endswith("received '/abs/ft.safetensors'")


def test_full_spec_parsed(spec_root: Path) -> None:
    spec = load_spec(spec_root)
    root = spec_root.resolve()
    assert spec.root == root and spec.name == "demo"
    assert spec.dataset == {"kind": "npz", "path": "data.npz"}
    assert spec.architecture == ArchitectureSpec("smallcnn", {"width": 8})
    assert spec.scenarios == {"cw": {"classes": [3, 5]}, "rnd": {"random": 0.1, "seed": 4}}
    assert list(spec.models) == ["original", "retrain", "ft", "ga_rnd", "shadow"]
    assert [m.role for m in spec.models.values()] == [
        "original",
        "retrain",
        "unlearned",
        "unlearned",
        "reference",
    ]
    assert spec.analysis == {"max_layers": 6}


def test_full_spec_model_fields(spec_root: Path) -> None:
    models = load_spec(spec_root / "experiment.toml").models
    root = spec_root.resolve()
    original, retrain, ft = models["original"], models["retrain"], models["ft"]
    assert original.file == root / "models" / "original.safetensors" and original.file.is_absolute()
    assert original.forget is None and original.rt == 12.5 and isinstance(original.rt, float)
    assert original.train == {"epochs": 5, "lr": 0.01, "seed": 0}
    assert original.description == "trained on everything"
    assert original.architecture == ArchitectureSpec("smallcnn", {"width": 8})
    assert retrain.forget == "cw" and retrain.history == root / "models/retrain_history.json"
    assert retrain.rt is None and retrain.members is None and retrain.method is None
    assert ft.file == Path("/abs/ft.safetensors") and ft.method == "finetune"
    assert ft.base == "original" and ft.params == {"epochs": 2, "lr": 0.1} and ft.rt == 3.0
    assert models["ga_rnd"].forget == "rnd"
    assert models["ga_rnd"].architecture == ArchitectureSpec("mlp", {})
    shadow = models["shadow"]
    assert shadow.forget is None and shadow.members == root / "models/shadow_members.npy"
    assert shadow.architecture == ArchitectureSpec("mlp", {"hidden": [32]})


def test_experiment_name_defaults_to_folder(tmp_path: Path) -> None:
    raw = _base()
    del raw["experiment"]
    assert parse_spec(raw, root=tmp_path / "my_ws").name == "my_ws"


def test_find_spec_file(spec_root: Path) -> None:
    assert find_spec_file(spec_root) == (spec_root / "experiment.toml").resolve()
    assert (
        find_spec_file(spec_root / "experiment.toml") == (spec_root / "experiment.toml").resolve()
    )
    with pytest.raises(SpecError, match=r"workspace: expected a folder containing experiment\.t"):
        find_spec_file(spec_root / "elsewhere")
    with pytest.raises(SpecError, match="workspace"):
        load_spec(spec_root.parent / "no_such_ws")


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "experiment.toml").write_text('[dataset]\nkind = "npz\n', encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path)
    message = str(info.value)
    assert "experiment.toml: expected valid TOML, received a parse error" in message
    assert "line 2" in message


def test_single_unnamed_forget_table(tmp_path: Path) -> None:
    raw = _base()
    raw["forget"] = {"classes": [2]}
    _drop_forget(raw)
    spec = parse_spec(raw, root=tmp_path)
    assert spec.scenarios == {"default": {"classes": [2]}}
    assert spec.models["r"].forget == "default" and spec.models["u"].forget == "default"


def test_unnamed_random_forget_vs_scenario_named_random(tmp_path: Path) -> None:
    raw = _base()
    raw["forget"] = {"random": 0.2, "seed": 1}
    _drop_forget(raw)
    assert parse_spec(raw, root=tmp_path).scenarios == {"default": {"random": 0.2, "seed": 1}}
    raw = _base()
    raw["forget"] = {"classes": {"classes": [1]}, "random": {"random": 0.1, "seed": 0}}
    raw["models"]["r"]["forget"] = "random"
    raw["models"]["u"]["forget"] = "classes"
    raw["models"]["sh"]["forget"] = "classes"
    spec = parse_spec(raw, root=tmp_path)
    assert list(spec.scenarios) == ["classes", "random"]
    assert spec.models["r"].forget == "random" and spec.models["u"].forget == "classes"


def test_single_scenario_lets_models_omit_forget(tmp_path: Path) -> None:
    raw = _base()
    raw["forget"] = {"only": {"indices": "f.npy"}}
    _drop_forget(raw)
    assert parse_spec(raw, root=tmp_path).models["r"].forget == "only"


# --------------------------------------------------------------------------- invalid fields


def _base() -> dict[str, Any]:
    """A small valid spec as parsed TOML (tests mutate a fresh copy)."""
    return copy.deepcopy(
        {
            "experiment": {"name": "t"},
            "dataset": {"kind": "digits"},
            "architecture": {"name": "mlp"},
            "forget": {"cw": {"classes": [1]}, "rnd": {"random": 0.1}},
            "models": {
                "o": {"role": "original", "file": "o.safetensors"},
                "r": {"role": "retrain", "file": "r.safetensors", "forget": "cw"},
                "u": {
                    "role": "unlearned",
                    "file": "u.safetensors",
                    "forget": "cw",
                    "method": "finetune",
                    "base": "o",
                },
                "ref": {"role": "reference", "file": "ref.safetensors", "members": "m.npy"},
                "sh": {
                    "role": "shadow",
                    "file": "sh.safetensors",
                    "forget": "cw",
                    "method": "finetune",
                    "base": "ref",
                    "members": "m.npy",
                    "forget_mask": "f.npy",
                },
            },
        }
    )


def _drop_forget(raw: dict[str, Any]) -> None:
    for name in ("r", "u", "sh"):
        del raw["models"][name]["forget"]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Edit that sets (or, for ``...``, deletes) the dotted ``path`` of the raw spec."""

    def edit(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        table = raw
        for key in parents:
            table = table[key]
        if value is ...:
            del table[last]
        else:
            table[last] = value

    return edit


INVALID: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("bad role", _set("models.o.role", "teacher"),
     r"^models\.o\.role: expected one of "
     r"\['original', 'retrain', 'unlearned', 'reference', 'shadow'\], "
     r"received 'teacher'$"),
    ("missing role", _set("models.o.role", ...), r"^models\.o\.role: expected one of"),
    ("missing file", _set("models.r.file", ...),
     r"^models\.r\.file: expected a weights path \(string\), received None$"),
    ("file not a string", _set("models.r.file", 3), r"^models\.r\.file: .*received 3$"),
    ("unknown key", _set("models.o.fiel", "x"),
     r"^\[models\.o\]: expected keys among \[.*'file'.*\], "
     r"received unknown key 'fiel' \(did you mean 'file'\?\)$"),
    ("unlearned without base", _set("models.u.base", ...),
     r"^models\.u: expected method = '<name>' and base = '<model>' for an unlearned model, "
     r"received \{'method': 'finetune', 'base': None\}$"),
    ("unlearned without method", _set("models.u.method", ...),
     r"^models\.u: expected method = .*'method': None"),
    ("base naming an unknown model", _set("models.u.base", "ghost"),
     r"^models\.u\.base: expected a model among \['o', 'r', 'ref', 'sh', 'u'\], received 'ghost'$"),
    ("reference without members", _set("models.ref.members", ...),
     r"^models\.ref\.members: expected a \.npy membership mask path .*received None$"),
    ("members not a string", _set("models.ref.members", 1), r"^models\.ref\.members: expected"),
    ("forget naming an unknown scenario", _set("models.r.forget", "other"),
     r"^models\.r\.forget: expected one of the scenarios \['cw', 'rnd'\], received 'other'$"),
    ("forget omitted with two scenarios", _set("models.u.forget", ...),
     r"^models\.u\.forget: expected one of the scenarios .*received None$"),
    ("negative rt", _set("models.o.rt", -1), r"^models\.o\.rt: expected a non-negative number"),
    ("rt not a number", _set("models.o.rt", "1s"), r"^models\.o\.rt: expected"),
    ("params not a table", _set("models.u.params", 3), r"^models\.u\.params: expected a table"),
    ("train not a table", _set("models.o.train", "fast"), r"^models\.o\.train: expected a table"),
    ("history not a string", _set("models.r.history", 2), r"^models\.r\.history: expected a file"),
    ("model not a table", _set("models.o", "o.safetensors"), r"^models\.o: expected a table"),
    ("bad model architecture", _set("models.o.architecture", {"params": {}}),
     r"^models\.o\.architecture: expected a table with name = "),
    ("missing dataset", _set("dataset", ...), r"^\[dataset\]: expected a non-empty table"),
    ("dataset without kind", _set("dataset", {"path": "d.npz"}), r"^dataset\.kind: expected a str"),
    ("missing architecture", _set("architecture", ...), r"^architecture: expected a table with"),
    ("architecture params", _set("architecture.params", [1]), r"^architecture\.params: expected"),
    ("missing forget", _set("forget", ...), r"^\[forget\]: expected a non-empty table"),
    ("empty forget", _set("forget", {}), r"^\[forget\]: expected a non-empty table"),
    ("forget scenario with two kinds", _set("forget.cw", {"classes": [1], "random": 0.1}),
     r"^forget\.cw: expected a table with exactly one of classes, random, indices"),
    ("forget scenario not a table", _set("forget.cw", [1]), r"^forget\.cw: expected a table"),
    ("missing models", _set("models", ...), r"^\[models\]: expected a non-empty table"),
    ("misspelt top-level table", _set("anaylsis", {"max_layers": 4}),
     r"^experiment\.toml: expected tables among \[.*\], "
     r"received \[anaylsis\] \(did you mean 'analysis'\?\)$"),
    ("trust table in the workspace", _set("trust", {"allow_code": ["os"]}),
     r"received \[trust\] \(trust settings are read only from your user config"),
    ("misspelt architecture params", _set("architecture.parms", {"hidden": [4]}),
     r"^\[architecture\]: .*unknown key 'parms' \(did you mean 'params'\?\)$"),
    ("misspelt model architecture params",
     _set("models.o.architecture", {"name": "mlp", "parm": {}}),
     r"^\[models\.o\.architecture\]: .*unknown key 'parm' \(did you mean 'params'\?\)$"),
    ("misspelt analysis key", _set("analysis", {"max_layer": 4}),
     r"^\[analysis\]: .*unknown key 'max_layer' \(did you mean 'max_layers'\?\)$"),
    ("misspelt experiment key", _set("experiment.nmae", "x"),
     r"^\[experiment\]: .*unknown key 'nmae' \(did you mean 'name'\?\)$"),
    ("experiment name not a string", _set("experiment.name", 3),
     r"^experiment\.name: expected a str"),
    ("misspelt dataset option", _set("dataset.sed", 1),
     r"^\[dataset\] of kind 'digits': .*unknown key 'sed' \(did you mean 'seed'\?\)$"),
    ("npz option on digits", _set("dataset.path", "d.npz"), r"unknown key 'path'"),
    ("unknown dataset kind", _set("dataset.kind", "npzz"),
     r"^dataset\.kind: expected one of .*received 'npzz' \(did you mean 'npz'\?\)$"),
    ("misspelt scenario key", _set("forget.rnd.sed", 3),
     r"^\[forget\.rnd\]: .*unknown key 'sed' \(did you mean 'seed'\?\)$"),
    ("bool as a class id", _set("forget.cw.classes", [True]),
     r"^forget\.cw\.classes: expected a non-empty list of class ids .*received \[True\]$"),
    ("negative class id", _set("forget.cw.classes", [-1]), r"^forget\.cw\.classes: expected"),
    ("random fraction 1", _set("forget.rnd.random", 1.0), r"^forget\.rnd\.random: expected a fr"),
    ("random fraction a bool", _set("forget.rnd.random", True), r"^forget\.rnd\.random: expected"),
    ("scenario seed a string", _set("forget.rnd.seed", "abc"),
     r"^forget\.rnd\.seed: expected a non-negative integer, received 'abc'$"),
    ("indices not a string", _set("forget.cw", {"indices": 5}), r"^forget\.cw\.indices: expected"),
    ("rt a bool", _set("models.o.rt", True), r"^models\.o\.rt: expected a non-negative number"),
    ("rt infinite", _set("models.o.rt", float("inf")), r"^models\.o\.rt: expected"),
    ("misspelt role", _set("models.o.role", "orignal"),
     r"^models\.o\.role: expected one of .*received 'orignal' \(did you mean 'original'\?\)$"),
    ("method not a string", _set("models.u.method", 3), r"^models\.u\.method: expected a string"),
    ("path with a NUL byte", _set("models.o.file", "o\x00.safetensors"),
     r"^models\.o\.file: expected a non-empty file path"),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "pattern"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_field_named(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], pattern: str
) -> None:
    raw = _base()
    edit(raw)
    with pytest.raises(SpecError, match=pattern):
        parse_spec(raw, root=tmp_path)


def test_base_spec_is_valid(tmp_path: Path) -> None:
    spec = parse_spec(_base(), root=tmp_path)
    assert {m.role for m in spec.models.values()} == set(ROLES)
