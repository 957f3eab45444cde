"""The Layers page: per-layer CKA against the original or retrain model, the layer × layer CKA
heatmap of A vs B, and the per-layer weight change from A to B.

Everything drawn comes from the cached :class:`~analysis.compare.Comparison`.
"""

from __future__ import annotations

import streamlit as st

from analysis.compare import Comparison
from analysis.errors import UlensError
from dashboard import cached, messages, state
from dashboard.figures import layers as figs

_AGAINST_LABELS = {"retrain": "retrain model", "original": "original model"}
_SPLIT_LABELS = {"train": "train", "test": "test"}
_GROUP_LABELS = {"forget": "forget samples", "retain": "retain samples"}


def _radio(
    label: str, options: dict[str, str], key: str, help_text: str, default: str | None = None
) -> str:
    """A horizontal radio bound to the URL under ``key``."""
    keys = list(options)
    default = default if default in keys else keys[0]
    if state.bind(key, default) not in keys:
        state.set_value(key, default)
    choice: str = st.radio(
        label, keys, key=key, horizontal=True, format_func=options.__getitem__, help=help_text
    )
    return choice


def _comparison(ctx: state.Context) -> Comparison | None:
    try:
        return cached.comparison(ctx.workspace, ctx.scenario, ctx.a, ctx.b)
    except UlensError as exc:
        messages.error(
            f"Could not compare {ctx.a} and {ctx.b}: {exc}. Choose another pair in the "
            "sidebar, or check the models' weights and architecture in experiment.toml."
        )
        return None


def _cka_lines(cmp: Comparison, split: str, presentation: bool) -> None:
    against = _radio(
        "Compare against",
        _AGAINST_LABELS,
        "lay_against",
        "Reference model of the per-layer CKA lines.",
        default=figs.default_reference(cmp),
    )
    curves = figs.layer_curves(cmp, against=against, split=split)
    for note in curves.notes:
        st.info(note)
    if not curves.data.empty:
        st.plotly_chart(
            figs.cka_lines_figure(curves, split=split, presentation=presentation),
            width="stretch",
            theme=None,
            key="lay_lines_chart",
        )
        st.caption(
            "Linear CKA (1 = the same representation up to rotation and scale) of each "
            "layer's activations with the same layer of the reference model. Colour = "
            "model (A blue, B vermillion); solid ✖ = forget samples, dashed ● = retain "
            "samples. On the test split, 'forget' means held-out samples of the forget "
            "classes."
        )


def _heatmap(cmp: Comparison, split: str, presentation: bool) -> None:
    group = _radio(
        "Samples",
        _GROUP_LABELS,
        "lay_group",
        "Which samples' activations the layer × layer CKA uses.",
    )
    matrix = cmp.layers.get(cmp.a, cmp.b, split, group)
    if matrix is None:
        st.info(
            f"No {group} samples on the {split} split for this scenario (a random-forgetting "
            "scenario has no held-out forget samples): choose retain samples or the train "
            "split."
        )
        return
    st.plotly_chart(
        figs.cka_heatmap_figure(matrix, split=split, group=group, presentation=presentation),
        width="stretch",
        theme=None,
        key="lay_heatmap_chart",
    )
    st.caption(
        "CKA is not clamped: a negative value (red) means the two layers' similarity "
        "structures are anti-aligned; values near 0 are unrelated representations."
    )


def _weight_change(cmp: Comparison, presentation: bool) -> None:
    frame = figs.weight_change_frame(cmp.layers.weight_change)
    if frame is None:
        st.info(figs.WEIGHT_CHANGE_MISSING)
        return
    st.plotly_chart(
        figs.weight_change_figure(frame, a=cmp.a, b=cmp.b, presentation=presentation),
        width="stretch",
        theme=None,
        key="lay_weights_chart",
    )
    st.caption(
        "Relative Frobenius norm of the weight difference, over every parameter a layer "
        "owns (weights and biases), relative to Model A's weights."
    )


def render() -> None:
    """Draw the page."""
    ctx = state.context()
    st.header("Layers")
    cmp = _comparison(ctx)
    if cmp is None:
        return
    split = _radio(
        "Split", _SPLIT_LABELS, "lay_split", "Samples of the training or the test split."
    )
    st.subheader("CKA per layer")
    _cka_lines(cmp, split, ctx.presentation)
    st.subheader("Layer × layer CKA of A vs B")
    _heatmap(cmp, split, ctx.presentation)
    st.subheader("Weight change per layer")
    _weight_change(cmp, ctx.presentation)
