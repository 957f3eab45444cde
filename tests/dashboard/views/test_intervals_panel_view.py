"""AppTest of the Models page's on-demand intervals (the toggle under the models table)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import analysis
from tests.dashboard.views.apptest_pages import APP

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture
def app(tiny_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("ULENS_WORKSPACE", str(tiny_workspace))
    return AppTest.from_file(APP, default_timeout=120).run()


def test_toggle_shows_every_models_intervals(app: AppTest, tiny_workspace: Path) -> None:
    assert not app.exception
    assert not [d for d in app.dataframe if "PS (min form, Comparator)" in d.value.columns]
    app.toggle(key="mdl_ci").set_value(True).run()
    assert not app.exception and not app.error
    shown = next(d.value for d in app.dataframe if "PS (min form, Comparator)" in d.value)
    exp = analysis.load_experiment(tiny_workspace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        table = analysis.models_table(exp, device="cpu", intervals=True).set_index("name")
    assert sorted(shown["name"]) == sorted(table.index)
    for _, row in shown.iterrows():
        ua = table.loc[row["name"], ["UA", "UA_ci_low", "UA_ci_high"]].to_numpy(float)
        assert np.isfinite(ua).all()
        assert row["UA"] == f"{ua[0]:.3f} [{ua[1]:.3f}, {ua[2]:.3f}]"
        assert "[" in row["PS (min form, Comparator)"]
    assert any("bootstrap intervals" in c.value for c in app.caption)
