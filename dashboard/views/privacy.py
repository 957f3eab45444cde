"""The Privacy page: the retrain-distinguishability attack on A and B, the MIA audit, and the
most exposed forget samples.

Attack: pick the signal (entropy / confidence), a threshold strategy and, optionally, the
direction; each model's threshold comes from the library's ``threshold_*`` strategies (or a
per-model slider for "custom"; clicking a point of an attack curve uses that threshold). The
"Worst case" button sets the Metric to the signal behind the lowest PS and the strategy to the
worst case on that metric (the Comparator's behaviour); the worst case always follows the
Metric radio. A's and B's panels share their axes. Audit: every membership-inference attack of
the engine against the retrain model's numbers, each with its bootstrap interval, as static
tables (every row and column visible at any font size). Exposure: a model's forget samples
ranked by one attack's per-sample score.

Clicking a dot of a butterfly plot, a thumbnail of the success/failure grids or a row of the
exposure list opens that sample's instance card in a dialog over the page (where the user is
looking) and hands the sample to the Instances page (:func:`instances.focus_sample`: selected
and ringed in both maps, its card open there); a button in the dialog goes there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from analysis.compare import Comparison
from analysis.errors import UlensError
from analysis.mia import MAX_FORM_NOTE, Direction, ThresholdChoice, threshold_max_attack
from dashboard import cached, messages, state
from dashboard.figures import privacy as figs
from dashboard.messages import md
from dashboard.views import instances as instances_view

_LAST = "_prv_last_thresholds"
EXPOSED_TABLE = "prv_exposed_table"
_EXPOSED_ROWS = "_prv_exposed_rows"
EXPOSED_ROW_CHOICES = (10, 20, 50, 100)
#: Widget keys whose selection opens a sample's card: butterfly dots, grid thumbnails.
CARD_CHARTS = (
    *(f"prv_dist_{r}" for r in ("a", "b")),
    *(f"prv_grid_{r}_{k}" for r in ("a", "b") for k in (1, 0)),
)
_CARD_SEEN = "_prv_card_seen"
_DIALOG = "_prv_dialog"  # the sample whose card dialog is open (None: closed)
#: Engine signal -> the Metric radio's option.
METRIC_OF: dict[str, str] = {signal: metric for metric, signal in figs.SIGNALS.items()}


@dataclass(frozen=True)
class Controls:
    """The attack settings chosen on the page."""

    signal: str
    strategy: str
    direction: Direction | None
    style: str
    custom: Mapping[str, float]


def render() -> None:
    """Draw the page."""
    ctx = state.context()
    st.header("Privacy")
    try:
        cmp = cached.comparison(ctx.workspace, ctx.scenario, ctx.a, ctx.b)
    except UlensError as exc:
        messages.error(
            f"Could not compare {ctx.a} and {ctx.b}: {exc}. Choose another pair in the "
            "sidebar, or fix the models' entries in experiment.toml."
        )
        return
    _open_clicked_sample()
    _attack_section(ctx, cmp)
    _audit_section(cmp, ctx.presentation)
    _exposure_section(ctx, cmp)
    _card_dialog(ctx, cmp)


# ------------------------------------------------------------------------ selection logic


def clicked_threshold(selection: Any) -> float | None:
    """The threshold of the first clicked point of an attack-curve chart (None if none).

    Example:
        >>> clicked_threshold({"selection": {"points": [{"x": 1.5, "y": 0.2}]}})
        1.5
        >>> clicked_threshold({"selection": {"points": []}}) is None
        True
    """
    try:
        points = selection["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for point in points or ():
        x = point.get("x") if isinstance(point, Mapping) else None
        if isinstance(x, int | float):
            return float(x)
    return None


def custom_after_click(role: str, threshold: float, last: Mapping[str, float]) -> dict[str, float]:
    """Custom thresholds after a click on ``role``'s curves: the others keep their last value.

    Example:
        >>> custom_after_click("B", 0.7, {"A": 0.2, "B": 0.4})
        {'A': 0.2, 'B': 0.7}
    """
    return {**dict(last), role: threshold}


def clicked_sample(fresh: Mapping[str, Sequence[int]]) -> int | None:
    """The sample a new click opens: the first index of the first source that changed.

    Example:
        >>> clicked_sample({"prv_dist_b": [12, 40]}), clicked_sample({}) is None
        (12, True)
    """
    for indices in fresh.values():
        if indices:
            return int(indices[0])
    return None


def _card_sources() -> dict[str, list[int]]:
    """Every source of a card: the charts' clicked samples and the exposure list's row."""
    now = {k: instances_view.selected_indices(st.session_state.get(k)) for k in CARD_CHARTS}
    shown = st.session_state.get(_EXPOSED_ROWS, [])
    now[EXPOSED_TABLE] = instances_view.table_rows(st.session_state.get(EXPOSED_TABLE), shown)
    return now


def _open_clicked_sample() -> None:
    """A new click on a dot, a thumbnail or a row hands its sample to the Instances page
    (selected there, card open) and opens the card dialog here.

    The open card's sample is ringed in the butterflies, so opening or closing a card changes
    those figures and resets their selection: the next click on the same dot is new again.
    """
    if st.session_state.get(_DIALOG) is not None and st.session_state.get(
        "inst_card", -1
    ) != st.session_state.get(_DIALOG):  # closed with the card's own button
        _close_dialog()
    now = _card_sources()
    fresh = instances_view.fresh_events(now, st.session_state.get(_CARD_SEEN, {}))
    st.session_state[_CARD_SEEN] = now
    index = clicked_sample(fresh)
    if index is not None:
        instances_view.focus_sample(index)
        st.session_state[_DIALOG] = index


def _close_dialog() -> None:
    st.session_state[_DIALOG] = None


@st.dialog("Instance card", width="large", on_dismiss=_close_dialog)
def _card(ctx: state.Context, cmp: Comparison, index: int) -> None:
    # a widget inside a dialog reruns only the dialog (a fragment): after "Close card" the
    # whole page reruns, which closes the dialog and drops the ring
    if int(st.session_state.get("inst_card", -1)) != index:
        _close_dialog()
        st.rerun()
    if st.button("Show it on the Instances page (selected in both maps)", key="prv_open_instances"):
        st.switch_page(st.Page(instances_view.render, title="Instances", url_path="instances"))
    instances_view.instance_card(ctx, cmp, index, key="prv")


def _card_dialog(ctx: state.Context, cmp: Comparison) -> None:
    """The open card, in a dialog over the page; closed with the card's own button too."""
    index = st.session_state.get(_DIALOG)
    if index is not None:
        _card(ctx, cmp, int(index))


def _apply_clicks(page_sides: Sequence[figs.Side]) -> None:
    """Turn a new click on an attack-curve chart into a custom threshold (before the widgets)."""
    for side in page_sides:
        key = _curves_key(side)
        x = clicked_threshold(st.session_state.get(key))
        seen = f"_seen_{key}"
        if x is None or st.session_state.get(seen) == x:
            continue
        st.session_state[seen] = x
        values = custom_after_click(side.role, x, st.session_state.get(_LAST, {}))
        for role, value in values.items():
            st.session_state[_threshold_key(role)] = value
        st.session_state["prv_strategy"] = "custom"


def _curves_key(side: figs.Side) -> str:
    return f"prv_curves_{side.role.lower()}"


def _threshold_key(role: str) -> str:
    return f"prv_thr_{role.lower()}"


# ------------------------------------------------------------------------------- controls


def _controls(page_sides: Sequence[figs.Side]) -> Controls:
    left, mid, right, far = st.columns([1.1, 1.6, 1.4, 1.1])
    state.bind("prv_metric", "entropy")
    with left:
        metric = st.radio(
            "Metric",
            list(figs.SIGNALS),
            key="prv_metric",
            horizontal=True,
            format_func=str.capitalize,
            help="Entropy of softmax(logits / 2), or the logit confidence "
            "log p_max − log(1 − p_max).",
        )
    state.bind("prv_strategy", "max_attack")
    with mid:
        strategy = st.selectbox(
            "Threshold strategy",
            list(figs.STRATEGIES),
            key="prv_strategy",
            format_func=figs.STRATEGIES.__getitem__,
        )
        st.button(
            "Worst case",
            key="prv_worst",
            help="The attack behind PS: sets the Metric to the signal of the lowest PS's worst "
            "case, then per model the largest attack score over both directions and every "
            "threshold of that metric. Change the Metric to see the worst case on the other.",
            on_click=_worst_case,
            args=(figs.worst_signal(page_sides),),
        )
    state.bind("prv_direction", "auto")
    with right:
        direction = st.selectbox(
            "Direction",
            ["auto", *figs.DIRECTIONS],
            key="prv_direction",
            format_func=lambda d: "chosen by the strategy" if d == "auto" else figs.DIRECTIONS[d],
        )
    state.bind("prv_style", "butterfly")
    with far:
        style = st.radio(
            "Distribution plot", ["butterfly", "histogram"], key="prv_style", horizontal=True
        )
    signal = figs.SIGNALS[metric]
    chosen = _direction(direction)
    custom = _sliders(page_sides, signal, chosen) if strategy == "custom" else {}
    return Controls(signal, strategy, chosen, style, custom)


def _worst_case(signal: str) -> None:
    """The "Worst case" button: the worst-case strategy on the signal behind the lowest PS."""
    state.set_value("prv_strategy", "worst_case")
    state.set_value("prv_metric", METRIC_OF.get(signal, "entropy"))
    state.set_value("prv_direction", "auto")


def _direction(value: str | None) -> Direction | None:
    if value == "model_positive":
        return "model_positive"
    if value == "retrain_positive":
        return "retrain_positive"
    return None


def _sliders(
    page_sides: Sequence[figs.Side], signal: str, direction: Direction | None
) -> dict[str, float]:
    """One threshold slider per model, clamped to the signal's range."""
    custom = {}
    for col, side in _role_columns(page_sides):
        if side is None:
            continue
        lo, hi = figs.threshold_range(side.ps, signal)
        auto = threshold_max_attack(side.ps, signal=signal, direction=direction).threshold
        key = _threshold_key(side.role)
        state.bind(key, float(auto))
        st.session_state[key] = figs.clamp_threshold(st.session_state.get(key), (lo, hi), auto)
        with col:
            custom[side.role] = st.slider(
                f"Threshold for {side.label}",
                min_value=lo,
                max_value=max(hi, lo + 1e-9),
                key=key,
                step=max((hi - lo) / 500, 1e-9),
                format="%.3f",
            )
    return custom


# ----------------------------------------------------------------------------- attack part


def _attack_section(ctx: state.Context, cmp: Comparison) -> None:
    page_sides = figs.sides(cmp)
    if not page_sides:
        st.info(
            "This scenario has no retrain model, so the retrain-distinguishability attack "
            '(PS) cannot run: add a model with `role = "retrain"` to experiment.toml. '
            "The audit below still lists the attacks that need no retrain model."
        )
        return
    st.caption(
        "An attacker thresholds one value per forget sample to tell each model's outputs "
        "from the retrain model's. Attack score = 1 − 2^(−ε); PS = 1 − the worst "
        "attack score (1 = indistinguishable from retraining). Click a point of an "
        "attack curve to try that threshold, a dot of a butterfly plot to open that "
        "sample's card."
    )
    _apply_clicks(page_sides)
    controls = _controls(page_sides)
    choices = figs.choose_thresholds(
        page_sides,
        strategy=controls.strategy,
        signal=controls.signal,
        direction=controls.direction,
        custom=controls.custom,
    )
    st.session_state[_LAST] = {role: c.threshold for role, c in choices.items()}
    scales = figs.shared_scales(page_sides, choices)
    focus = st.session_state.get(_DIALOG)  # ringed while its card is open
    focus = -1 if focus is None else int(focus)
    for col, side in _role_columns(page_sides):
        with col:
            if side is None:
                _retrain_note(cmp, "A" if cmp.a == cmp.retrain else "B")
            else:
                panel = Panel(choices[side.role], controls.style, scales, focus)
                _side_panel(side, panel, ctx.presentation)
    st.plotly_chart(
        figs.ps_figure(cmp, current=choices, presentation=ctx.presentation),
        key="prv_ps",
        width="stretch",
        theme=None,
    )
    if any(s.ps.max_form_saturated for s in page_sides):
        st.caption(f"PS max form: {MAX_FORM_NOTE}")
    _grids(ctx, cmp, page_sides, choices)


def _role_columns(page_sides: Sequence[figs.Side]) -> list[tuple[Any, figs.Side | None]]:
    """Two columns, Model A's and Model B's, with the side shown in each (None: not attacked)."""
    present = {s.role: s for s in page_sides}
    return list(zip(st.columns(2), (present.get("A"), present.get("B")), strict=True))


def _retrain_note(cmp: Comparison, role: str) -> None:
    name = cmp.a if role == "A" else cmp.b
    st.markdown(f"#### {md(name)} (Model {role})")
    st.info(
        f"{md(name)} is the retrain model: it is indistinguishable from itself (PS = 1 by "
        f"definition), so there is nothing to attack. Pick an unlearned Model {role} in the "
        "sidebar to compare two unlearning methods."
    )


def summary_line(choice: ThresholdChoice) -> str:
    """One readable line about a threshold choice (the metric by its radio name).

    Example:
        >>> import numpy as np
        >>> from analysis.mia import privacy_score_from_values, threshold_custom
        >>> r = privacy_score_from_values({"s": [0.0, 1.0]}, {"s": [5.0, 6.0]})
        >>> summary_line(threshold_custom(r, 5.5, signal="s", direction="retrain_positive"))
        'custom · s · value ≥ t → the retrain model · t = 5.5 · ε = 0.693'
    """
    return (
        f"{choice.strategy} · {metric_name(choice.signal)} · {figs.DIRECTIONS[choice.direction]}"
        f" · t = {choice.threshold:.4g} · ε = {choice.epsilon:.3f}"
    )


def metric_name(signal: str) -> str:
    """A signal as the Metric radio names it, with the engine's name.

    Example:
        >>> metric_name("logit_conf"), metric_name("s")
        ('confidence (logit_conf)', 's')
    """
    metric = METRIC_OF.get(signal)
    return f"{metric} ({signal})" if metric else signal


def worst_case_note(side: figs.Side, choice: ThresholdChoice) -> str:
    """How a worst-case choice on the chosen metric relates to the model's PS.

    Example:
        >>> from analysis.mia import privacy_score_from_values, threshold_max_attack
        >>> r = privacy_score_from_values({"s": [0.0, 1.0]}, {"s": [5.0, 6.0]})
        >>> c = threshold_max_attack(r, signal="s")
        >>> worst_case_note(figs.Side("A", "m", r), c)
        'Worst case on s: the attack behind PS (PS = 1 − 1.000 = 0.000).'
    """
    ps = side.ps
    if choice.signal == ps.worst_signal:
        return (
            f"Worst case on {metric_name(choice.signal)}: the attack behind PS "
            f"(PS = 1 − {choice.attack_score:.3f} = {ps.ps:.3f})."
        )
    return (
        f"Worst case on {metric_name(choice.signal)}: attack score {choice.attack_score:.3f}. "
        f"PS's worst case is on {metric_name(ps.worst_signal)} (attack score "
        f"{1.0 - ps.ps:.3f}): switch the Metric to see it."
    )


@dataclass(frozen=True)
class Panel:
    """What one model's panel draws: its threshold, the plot style, the shared axes and the
    sample whose card is open (-1: none)."""

    choice: ThresholdChoice
    style: str
    scales: figs.Scales
    focus: int


def _side_panel(side: figs.Side, panel: Panel, presentation: bool) -> None:
    choice = panel.choice
    st.markdown(f"#### {side.label}")
    st.caption(summary_line(choice))
    if choice.strategy == "worst_case":
        st.caption(worst_case_note(side, choice))
    top = st.columns(3)
    top[0].metric(
        "PS at t",
        f"{1.0 - choice.attack_score:.3f}",
        help="1 − the attack score at the threshold t shown (this strategy's attack).",
    )
    top[1].metric(
        "PS",
        f"{side.ps.ps:.3f}",
        help="The privacy score: 1 − the worst case, the largest attack score over both "
        f"metrics, directions and thresholds (here on {metric_name(side.ps.worst_signal)}).",
    )
    top[2].metric("Attack score", f"{choice.attack_score:.3f}")
    bottom = st.columns(3)
    bottom[0].metric("Success rate", f"{choice.success_rate:.1%}")
    bottom[1].metric("FPR", f"{choice.fpr:.1%}")
    bottom[2].metric("FNR", f"{choice.fnr:.1%}")
    fig = figs.distribution_figure(
        side,
        choice,
        style=panel.style,
        scales=panel.scales,
        focus=panel.focus if panel.focus >= 0 else None,
        presentation=presentation,
    )
    st.plotly_chart(
        fig,
        key=f"prv_dist_{side.role.lower()}",
        on_select="rerun",
        selection_mode="points",
        width="stretch",
        theme=None,
    )
    st.plotly_chart(
        figs.attack_curves_figure(side, choice, scales=panel.scales, presentation=presentation),
        key=_curves_key(side),
        on_select="rerun",
        selection_mode="points",
        width="stretch",
        theme=None,
    )


def _grid_controls() -> tuple[str, int]:
    """The grids' origin filter and thumbnail size (both mirrored into the URL)."""
    left, right = st.columns([2, 1])
    _bound_choice("prv_origin", list(figs.ORIGINS), "both")
    with left:
        origin = st.radio(
            "Origin",
            list(figs.ORIGINS),
            key="prv_origin",
            horizontal=True,
            format_func=figs.ORIGINS.__getitem__,
            help="Which outputs the grids show: each forget sample under the model and under "
            "the retrain model (both), or one of them.",
        )
    _bound_choice("prv_thumb", list(figs.THUMBNAIL_SIZES), "medium")
    with right:
        size = st.select_slider("Thumbnail size", list(figs.THUMBNAIL_SIZES), key="prv_thumb")
    return str(origin), figs.THUMBNAIL_SIZES[str(size)]


def _grids(
    ctx: state.Context,
    cmp: Comparison,
    page_sides: Sequence[figs.Side],
    choices: Mapping[str, ThresholdChoice],
) -> None:
    st.subheader("Forget samples the attack gets right and wrong")
    st.caption(
        "Each forget sample appears under two origins: the model's output on it and the "
        "retrain model's. The border is the attacker's decision at the current threshold "
        "(the model's colour: “the model's output”; grey: “the retrain model's”); the attack "
        "succeeds when the decision matches the origin. Clearest cases first. Click a "
        "thumbnail to open the sample's card."
    )
    origin, columns = _grid_controls()
    images = ctx.experiment.dataset("train").x.numpy()
    for col, side in _role_columns(page_sides):
        if side is None:
            continue
        frame = figs.outcome_frame(side, choices[side.role], cmp.sets.forget)
        pool = frame if origin == "both" else frame[frame["origin"] == origin]
        n_ok = int(pool["succeeded"].sum())
        with col:
            tabs = st.tabs(
                [f"{side.name}: succeeded ({n_ok})", f"{side.name}: failed ({len(pool) - n_ok})"]
            )
            for tab, succeeded in zip(tabs, (True, False), strict=True):
                with tab:
                    fig = figs.outcome_grid(
                        images,
                        frame,
                        side,
                        succeeded=succeeded,
                        origin=origin,
                        columns=columns,
                        focus=st.session_state.get(_DIALOG),
                        presentation=ctx.presentation,
                    )
                    st.plotly_chart(
                        fig,
                        key=f"prv_grid_{side.role.lower()}_{int(succeeded)}",
                        on_select="rerun",
                        selection_mode="points",
                        width="stretch",
                        theme=None,
                    )


# ------------------------------------------------------------------------------ audit part


def _audit_section(cmp: Comparison, presentation: bool) -> None:
    st.subheader("Audit: every membership-inference attack")
    level = f"{cmp.options.ci_level:.0%}"
    st.caption(
        "Each model's number beside the retrain model's (the target) and the gap. Numbers "
        f"carry {level} bootstrap intervals [low, high] ({cmp.options.n_bootstrap} seeded "
        "replicates; PS and KS: the percentile spread centred on the estimate) for Model A, "
        "Model B and the retrain model; the Models page computes them for every model on "
        "demand. N/A: the attack is undefined here, with the reason "
        "(e.g. no retrain, reference or shadow models). Online LiRA and U-LiRA play the "
        "unlearning game: this model's forget samples against the retrain model's same "
        "samples, so the retrain model itself scores exactly 0.5 (the target)."
    )
    st.table(figs.audit_frame(cmp), hide_index=True)
    references = figs.reference_frame(cmp)
    if not references.empty:
        with st.expander("How the reference-model attacks were evaluated"):
            st.table(references, hide_index=True)
    rocs = {
        a: fig
        for a in figs.ROC_ATTACKS
        if (fig := figs.roc_figure(cmp, a, presentation=presentation)) is not None
    }
    if rocs:
        _roc_chart(rocs)
    missing = [figs.ROC_ATTACKS[a] for a in figs.ROC_ATTACKS if a not in rocs]
    if missing:
        st.caption(
            f"Not available: {', '.join(missing)} (LiRA and RMIA need reference models "
            "with membership masks: `ulens references`; U-LiRA needs shadow models of the "
            "model's unlearning method: `ulens shadows --method M`)."
        )
    st.markdown("**TPR at low FPR** (95% bootstrap intervals)")
    st.table(figs.tpr_frame(cmp), hide_index=True)
    st.caption(
        "With n non-members an FPR below 1/n cannot be resolved: such cells say "
        '"below resolution floor 1/n" and give the TPR measured at FPR 0 instead.'
    )


def _roc_chart(rocs: dict[str, Any]) -> None:
    """One attack's ROC curve at a time, chosen like a tab: the browser then draws one chart,
    not four (each took ~0.1 s of the page switch). Every curve still exports."""
    names = list(rocs)
    if st.session_state.get(_ROC_KEY) not in names:
        st.session_state[_ROC_KEY] = names[0]
    chosen = st.segmented_control(
        "ROC curve",
        names,
        format_func=lambda a: f"ROC: {figs.ROC_ATTACKS[a]}",
        key=_ROC_KEY,
        label_visibility="collapsed",
    )
    attack = chosen if chosen in rocs else names[0]
    st.plotly_chart(rocs[attack], key=f"prv_roc_{attack}", width="stretch", theme=None)


_ROC_KEY = "prv_roc_attack"


# --------------------------------------------------------------------------- exposure part


def _bound_choice(key: str, options: list[Any], default: Any) -> None:
    """Bind ``key`` to the URL and keep its value among ``options`` (else ``default``)."""
    if state.bind(key, default) not in options:
        state.set_value(key, default)


def _exposure_controls(cmp: Comparison) -> tuple[str, str, int] | None:
    models = figs.exposure_models(cmp)
    if not models:
        st.info("Model A and Model B are the retrain model: there is nothing to rank.")
        return None
    names = list(models)
    _bound_choice("prv_exp_model", names, cmp.b if cmp.b in models else names[0])
    left, mid, right = st.columns([1.3, 2, 1.2])
    with left:
        model = st.selectbox("Model", names, key="prv_exp_model", format_func=models.__getitem__)
    attacks = figs.exposure_attacks(cmp, model)
    if not attacks:
        st.info(f"No attack scored {model}'s forget samples.")
        return None
    _bound_choice("prv_exp_attack", list(attacks), figs.default_exposure(list(attacks)))
    with mid:
        attack = st.selectbox(
            "Attack", list(attacks), key="prv_exp_attack", format_func=attacks.__getitem__
        )
    _bound_choice("prv_exp_k", list(EXPOSED_ROW_CHOICES), 20)
    with right:
        k = st.select_slider("Rows", list(EXPOSED_ROW_CHOICES), key="prv_exp_k")
    return model, attack, int(k)


def _remember_rows(rows: list[int]) -> None:
    """Record the samples the list shows. When they change (another model, attack or length),
    the row still selected in the table now points at another sample: that is not a click, so
    it is marked as seen rather than opening a card."""
    if rows == st.session_state.get(_EXPOSED_ROWS):
        return
    st.session_state[_EXPOSED_ROWS] = rows
    seen = st.session_state.setdefault(_CARD_SEEN, {})
    seen[EXPOSED_TABLE] = instances_view.table_rows(st.session_state.get(EXPOSED_TABLE), rows)


def _exposure_section(ctx: state.Context, cmp: Comparison) -> None:
    st.subheader("Most exposed forget samples")
    chosen = _exposure_controls(cmp)
    if chosen is None:
        return
    model, attack, k = chosen
    frame = figs.exposure_frame(cmp, model, attack, k=k)
    _remember_rows([int(i) for i in frame["sample"]])
    st.caption(
        f"{model}'s forget samples ranked by the attack's per-sample score, most member-like "
        f"first. {figs.exposure_caption(attack)} Select a row to open the sample's card."
    )
    st.dataframe(
        frame,
        key=EXPOSED_TABLE,
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        column_config={
            c: st.column_config.NumberColumn(format="%.4g")
            for c in frame.columns
            if c == "score" or c.startswith("retrain")
        },
    )
    available = figs.exposure_attacks(cmp, model)
    missing = [e.label for e in figs.EXPOSURE_SCORES if e.key not in available]
    if missing:
        st.caption(f"No per-sample scores here: {', '.join(missing)}.")
