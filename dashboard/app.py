"""Unlearning Lens dashboard entry point (minimal models page until the full dashboard lands)."""

from __future__ import annotations

import os

import streamlit as st

from analysis.errors import UlensError
from analysis.experiment import load_experiment
from analysis.overview import model_overview

st.set_page_config(page_title="Unlearning Lens", layout="wide")
workspace = os.environ.get("ULENS_WORKSPACE", "sample_data/digits")


@st.cache_data(show_spinner="Evaluating models…")
def _overview(path: str, scenario: str):
    return model_overview(load_experiment(path, scenario=scenario))


st.title("Unlearning Lens")
try:
    exp = load_experiment(workspace)
    scenario = st.sidebar.selectbox("Scenario (forget set)", exp.scenarios)
    st.caption(f"Workspace: {workspace} — scenario {scenario}")
    st.dataframe(_overview(workspace, scenario), hide_index=True)
except UlensError as exc:
    st.error(f"Could not load the workspace: {exc}")
