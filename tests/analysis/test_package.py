"""The ``analysis`` package imports its public names on first use (``analysis/__init__.py``).

What a user relies on: every name of ``__all__`` is there and is the object its module
defines (as with eager imports), ``analysis.compare`` stays the function even after the
submodule of the same name is imported, and the light modules a command line needs to check
its arguments (errors, trust, spec) do not load torch, scikit-learn or pandas.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import analysis

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "numpy", "sklearn", "scipy", "pandas", "pyarrow", "umap", "streamlit")


def _fresh(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_the_light_modules_load_no_heavy_library() -> None:
    loaded = _fresh(
        "import sys, analysis, analysis.errors, analysis.trust, analysis.spec\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    assert loaded == ""
    # and the library still works from a fresh interpreter through the package alone
    assert _fresh("import analysis; print(analysis.load_spec('sample_data/digits').name)") == (
        "digits"
    )


def test_every_public_name_is_the_object_its_module_defines() -> None:
    for name in analysis.__all__:
        value = getattr(analysis, name)
        module = importlib.import_module(analysis._WHERE[name])
        assert value is getattr(module, name), name
    assert set(analysis.__all__) <= set(dir(analysis))


def test_a_function_named_like_its_module_stays_the_function() -> None:
    import analysis.compare  # the submodule import sets the package attribute
    import analysis.weight_change

    assert callable(analysis.compare) and analysis.compare.__module__ == "analysis.compare"
    assert analysis.weight_change.__module__ == "analysis.weight_change"
    from analysis import compare

    assert compare is analysis.compare


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        analysis.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected an AttributeError")


def test_the_type_checking_imports_all_and_the_lazy_table_agree() -> None:
    tree = ast.parse((ROOT / "analysis" / "__init__.py").read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If))  # if TYPE_CHECKING:
    imported = {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == analysis._WHERE
    assert sorted(analysis.__all__) == sorted(imported)
