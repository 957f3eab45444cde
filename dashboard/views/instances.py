"""The Instances page: twin embeddings under A and B with highlight modes, a selection shared by
both maps (box, lasso or click in either), its class breakdown and table, the "most changed
samples" list and an instance card with the image and every model's class probabilities.

Selection syncing: a chart's selection lives in the chart's own widget state, which Streamlit
resets whenever the figure changes (and drawing the shared selection changes both figures). So
each run reads every selection source (both maps, both tables), keeps what it saw last time, and
applies only a source that changed to something non-empty (:func:`fresh_events`, pure). The
shared selection is stored in the URL-bound key ``inst_sel``, the open card in ``inst_card``.

The maps box-select on drag (pan and zoom stay in the modebar); selected points keep their
colour inside a thin ring while the others fade. The card opens in a dialog over the maps,
where the user is looking; closing it (its button, ✕, Esc or a click outside) clears
``inst_card``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from analysis.compare import Comparison
from analysis.errors import UlensError
from dashboard import cached, messages, state
from dashboard.figures import images
from dashboard.figures import instances as figs
from dashboard.messages import md

MAP_KEYS = {"A": "inst_map_a", "B": "inst_map_b"}
# Streamlit turns off plotly's click-to-select while a chart box-selects (its clickmode becomes
# "event"), so a click on a map would do nothing. This watcher (one per page load) re-emits a
# click on a map in select/lasso mode as a one-point plotly selection, the event Streamlit
# already listens to: a click still selects that sample and opens its card.
CLICK_TO_SELECT_SCRIPT = """
<script>
(() => {
  const w = window.parent || window;
  if (w.__ulensClickSelect) return;
  w.__ulensClickSelect = true;
  const keys = KEYS;
  const attach = () => {
    for (const key of keys) {
      const gd = w.document.querySelector(`.st-key-${key} .js-plotly-plot`);
      if (!gd || gd.__ulensClick || typeof gd.on !== "function") continue;
      gd.__ulensClick = true;
      gd.on("plotly_click", (event) => {
        const mode = gd._fullLayout ? gd._fullLayout.dragmode : "";
        if ((mode !== "select" && mode !== "lasso") || !event || !event.points.length) return;
        const p = event.points[0];  // only plain fields: a click's point links back to gd
        const point = {
          curveNumber: p.curveNumber, pointNumber: p.pointNumber, pointIndex: p.pointIndex,
          x: p.x, y: p.y, customdata: p.customdata, data: p.data, fullData: p.fullData,
        };
        gd.emit("plotly_selected", { points: [point] });
      });
    }
  };
  attach();
  w.setInterval(attach, 400);
})();
</script>
"""
TABLE_KEYS = ("inst_sel_table", "inst_top_table")
_SEEN_KEY = "_inst_seen"
_ROWS_KEY = "_inst_table_rows"
TOP_K = 15
CARD_WIDTH = 760  # px: the card drawer on the right leaves map A in view


# --------------------------------------------------------------------------- pure helpers


def _first(data: Any) -> Any:
    """First element of a point's customdata: a list, a typed-array row sent as an object
    (``{"0": 29}``, what the browser sends for binary-encoded arrays) or a scalar."""
    if isinstance(data, Mapping):
        return data.get("0", next(iter(data.values()), None))
    if isinstance(data, (list, tuple)):
        return data[0] if data else None
    return data


def selected_indices(event: Mapping[str, Any] | None) -> list[int]:
    """Sample indices of a plotly chart selection (each point's ``customdata[0]``), sorted.

    Example:
        >>> points = [{"customdata": [7]}, {"customdata": 3}, {"customdata": {"0": 5}}]
        >>> selected_indices({"selection": {"points": points}})
        [3, 5, 7]
    """
    if not event:
        return []
    points = (event.get("selection") or {}).get("points") or []
    out = set()
    for point in points:
        data = _first(point.get("customdata"))
        if data is not None:
            out.add(int(data))
    return sorted(out)


def table_rows(event: Mapping[str, Any] | None, shown: Sequence[int]) -> list[int]:
    """Sample indices of the rows selected in a dataframe whose rows showed ``shown``.

    Example:
        >>> table_rows({"selection": {"rows": [1]}}, [40, 41, 42])
        [41]
    """
    if not event:
        return []
    rows = (event.get("selection") or {}).get("rows") or []
    return [int(shown[r]) for r in rows if 0 <= r < len(shown)]


def fresh_events(
    now: Mapping[str, list[int]], seen: Mapping[str, list[int]]
) -> dict[str, list[int]]:
    """Sources whose value changed since the last run to something non-empty.

    A chart whose figure changed comes back empty (Streamlit resets it): that is not an event.

    Example:
        >>> fresh_events({"a": [1, 2], "b": []}, {"a": [], "b": [5]})
        {'a': [1, 2]}
    """
    return {k: v for k, v in now.items() if v and list(v) != list(seen.get(k, []))}


def apply_events(
    events: Mapping[str, list[int]], selection: list[int], card: int
) -> tuple[list[int], int]:
    """New (shared selection, open card) after ``events``.

    A map event replaces the selection (and opens the card when it is a single sample, i.e. a
    click); a table event opens the card of its row and keeps the selection.

    Example:
        >>> apply_events({"inst_map_b": [4]}, [1, 2], -1)
        ([4], 4)
        >>> apply_events({"inst_top_table": [9]}, [1, 2], -1)
        ([1, 2], 9)
    """
    for key, value in events.items():
        if key in MAP_KEYS.values():
            selection = sorted(value)
            if len(value) == 1:
                card = value[0]
        else:
            card = value[0]
    return selection, card


def focus_sample(index: int) -> None:
    """Hand sample ``index`` to this page: select it (ringed in both maps) and open its card.

    Other pages call this (e.g. the Privacy page when a dot or thumbnail is clicked); it sets
    the URL-bound ``inst_sel`` / ``inst_card`` keys that :func:`_sync_selection` reads.
    """
    state.bind("inst_sel", [])
    state.bind("inst_card", -1)
    state.set_value("inst_sel", [int(index)])
    state.set_value("inst_card", int(index))


# --------------------------------------------------------------------------- state


def _read_sources() -> dict[str, list[int]]:
    now = {key: selected_indices(st.session_state.get(key)) for key in MAP_KEYS.values()}
    shown: dict[str, list[int]] = st.session_state.get(_ROWS_KEY, {})
    now.update(
        {key: table_rows(st.session_state.get(key), shown.get(key, [])) for key in TABLE_KEYS}
    )
    return now


def _sync_selection() -> tuple[list[int], int]:
    """Merge this run's selection events into the bound ``inst_sel`` / ``inst_card`` keys."""
    selection = [int(i) for i in state.bind("inst_sel", [])]
    card = int(state.bind("inst_card", -1))
    now = _read_sources()
    events = fresh_events(now, st.session_state.get(_SEEN_KEY, {}))
    st.session_state[_SEEN_KEY] = now
    if events:
        selection, card = apply_events(events, selection, card)
        state.set_value("inst_sel", selection)
        state.set_value("inst_card", card)
    return selection, card


def _known_samples(
    cmp: Comparison, frame: pd.DataFrame, selection: list[int], card: int
) -> tuple[list[int], int]:
    """Drop selected samples the maps do not show and a card of no training sample (e.g. from
    a link made on another dataset); the URL check then says what was ignored."""
    shown = set(frame["index"].tolist())
    kept = [i for i in selection if i in shown]
    if kept != selection:
        state.set_value("inst_sel", kept)
    train = cmp.instances.loc[cmp.instances["split"] == "train", "index"]
    if card >= 0 and card not in set(train.tolist()):
        card = -1
        state.set_value("inst_card", card)
    return kept, card


def _clear_selection() -> None:
    state.set_value("inst_sel", [])


def _close_card() -> None:
    state.set_value("inst_card", -1)


# --------------------------------------------------------------------------- sections


def _comparison(ctx: state.Context) -> Comparison | None:
    try:
        return cached.comparison(ctx.workspace, ctx.scenario, ctx.a, ctx.b, embedding=True)
    except UlensError as exc:
        messages.error(
            f"Could not compare {ctx.a} and {ctx.b}: {exc}. Choose another pair in the "
            "sidebar, or check the models' weights and architecture in experiment.toml."
        )
        return None


def _highlight_mode(cmp: Comparison) -> str:
    modes = list(figs.HIGHLIGHT_MODES)
    if state.bind("inst_mode", "all") not in modes:
        state.set_value("inst_mode", "all")
    mode: str = st.radio(
        "Highlight",
        modes,
        key="inst_mode",
        horizontal=True,
        format_func=lambda m: figs.HIGHLIGHT_MODES[m].label,
    )
    spec = figs.HIGHLIGHT_MODES[mode]
    if spec.needs_retrain and cmp.retrain is None:
        st.warning(
            f"'{spec.label}' compares with the retrain model, and this workspace has "
            "none: nothing is highlighted. Add a retrain model to experiment.toml."
        )
    dimmed = "" if mode == "all" else " Other samples are dimmed."
    st.caption(f"**{spec.label}**: {spec.caption}{dimmed}")
    return mode


def _maps(
    cmp: Comparison,
    frame: pd.DataFrame,
    mode: str,
    selection: list[int],
    card: int,
    presentation: bool,
) -> None:
    ranges = figs.shared_ranges(frame)
    method = cmp.embedding.method.upper()
    for column, (model, name) in zip(st.columns(2), (("A", cmp.a), ("B", cmp.b)), strict=True):
        lit = figs.highlight_mask(frame, mode, model)
        fig = figs.embedding_figure(
            frame,
            model,
            name=name,
            a=cmp.a,
            b=cmp.b,
            class_names=cmp.class_names,
            forget_classes=cmp.forget_classes or (),
            highlight=lit,
            selected=selection,
            focus=card if card >= 0 else None,
            ranges=ranges,
            method=method,
            presentation=presentation,
        )
        with column:
            st.plotly_chart(
                fig,
                width="stretch",
                theme=None,
                key=MAP_KEYS[model],
                on_select="rerun",
                selection_mode=("points", "box", "lasso"),
            )
            st.caption(f"{int(lit.sum())} of {len(frame)} samples highlighted.")
    keys = json.dumps(list(MAP_KEYS.values()))
    st.html(CLICK_TO_SELECT_SCRIPT.replace("KEYS", keys), unsafe_allow_javascript=True)
    st.caption(
        f"Training samples embedded with {method} ({cmp.embedding.align}); colour = the "
        "class that map's model predicts, ✖ = forget sample. Drag a box (or use lasso, or "
        "click) in either map to select the same samples in both: they keep their colour "
        "inside a thin ring while the others fade. A single click opens that sample's card "
        "(black diamond). Pan and zoom are in each map's toolbar."
    )


def _selectable_table(table: pd.DataFrame, key: str) -> None:
    shown: dict[str, list[int]] = st.session_state.setdefault(_ROWS_KEY, {})
    shown[key] = [int(i) for i in table["index"]]
    st.dataframe(
        table,
        key=key,
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        placeholder="N/A",
        column_config={
            c: st.column_config.NumberColumn(format="%.3f")
            for c in ("A p(true)", "B p(true)", "KL(A‖B)")
        },
    )


def _selection_section(
    cmp: Comparison, frame: pd.DataFrame, selection: list[int], presentation: bool
) -> None:
    st.subheader("Selection")
    table = figs.selection_table(frame, selection, cmp.class_names)
    if table.empty:
        st.info("Nothing selected: drag a box or lasso, or click a point, in either map.")
        return
    plural = "" if len(table) == 1 else "s"
    st.caption(f"{len(table)} sample{plural} selected, ringed in both maps.")
    st.button("Clear selection", key="inst_clear", on_click=_clear_selection)
    counts = figs.class_breakdown(frame, selection, len(cmp.class_names))
    left, right = st.columns([2, 3])
    with left:
        st.plotly_chart(
            figs.class_breakdown_figure(
                counts,
                class_names=cmp.class_names,
                forget_classes=cmp.forget_classes or (),
                a=cmp.a,
                b=cmp.b,
                presentation=presentation,
            ),
            width="stretch",
            theme=None,
            key="inst_breakdown_chart",
        )
    with right:
        st.caption("Selected samples, largest KL(A‖B) first; select a row to open its card.")
        _selectable_table(table, "inst_sel_table")


def _most_changed_section(cmp: Comparison) -> None:
    st.subheader("Most changed samples")
    st.caption(
        f"The {TOP_K} training samples whose predicted distributions differ most between "
        "A and B (KL(A‖B) of the softmax outputs); select a row to open its card."
    )
    _selectable_table(figs.most_changed(cmp, TOP_K), "inst_top_table")


def _prediction_lines(cmp: Comparison, row: pd.Series, roles: Mapping[str, str]) -> list[str]:
    names = cmp.class_names
    lines = [
        f"**True label:** {md(names[int(row['label'])])}"
        + (" — ✖ forget sample" if bool(row["is_forget"]) else "")
    ]
    for name, role in roles.items():
        lines.append(
            f"**{role} ({md(name)}) predicts:** {md(names[int(row[f'{name}__pred'])])} "
            f"(p(true) = {float(row[f'{name}__true_prob']):.3f})"
        )
    return lines


def instance_card(ctx: state.Context, cmp: Comparison, index: int, *, key: str = "inst") -> None:
    """The instance card of training sample ``index``: image, predictions, every model's class
    probabilities and every attack's per-sample score. Shown by this page for the sample in
    ``inst_card`` and by the Privacy page's "most exposed" list; ``key`` prefixes its widgets.
    """
    train = cmp.instances[cmp.instances["split"] == "train"].set_index("index")
    if index not in train.index:
        return
    row: pd.Series = train.loc[int(index)]  # type: ignore[assignment]
    label = int(row["label"])
    roles = {cmp.a: "A", cmp.b: "B"}
    if cmp.retrain and cmp.retrain not in roles:
        roles[cmp.retrain] = "retrain"
    st.subheader(f"Sample #{index}")
    st.button("Close card", key=f"{key}_close", on_click=_close_card)
    left, right = st.columns([2, 3])
    with left:
        x = ctx.experiment.dataset("train").x[index].numpy()
        st.plotly_chart(
            images.image_figure(x, presentation=ctx.presentation),
            width="content",
            theme=None,
            key=f"{key}_card_image",
        )
        st.markdown("  \n".join(_prediction_lines(cmp, row, roles)))
    with right:
        probs = cached.probabilities(ctx.workspace, ctx.scenario, tuple(roles), "train", index)
        fig = figs.probability_figure(
            probs,
            roles,
            class_names=cmp.class_names,
            label=label,
            forget_classes=cmp.forget_classes or (),
            index=index,
            presentation=ctx.presentation,
        )
        st.plotly_chart(fig, width="stretch", theme=None, key=f"{key}_card_probs")
    _exposure(cmp, index, roles, key)


def _exposure(cmp: Comparison, index: int, roles: Mapping[str, str], key: str) -> None:
    table = figs.exposure_table(cmp, index, roles)
    if table.empty:
        return
    st.markdown("**Exposure: every attack's score for this sample**")
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        placeholder="N/A",
        key=f"{key}_card_exposure",
        column_config={
            c: st.column_config.NumberColumn(format="%.4g")
            for c in table.columns
            if c not in ("attack", "member-like when")
        },
    )
    st.caption(
        "Threshold-attack and PS signals for every model; reference-model attacks (LiRA, "
        "RMIA, U-LiRA) only score forget and holdout samples, so other samples show N/A. "
        "Online LiRA and U-LiRA play against the retrain model."
    )


@st.dialog("Instance card", width=CARD_WIDTH, position="right", on_dismiss=_close_card)
def _card_dialog(ctx: state.Context, cmp: Comparison, index: int) -> None:
    """The card of ``index`` over the page; a rerun of the dialog after its "Close card"
    button (``inst_card`` cleared) closes it."""
    if int(st.session_state.get("inst_card", -1)) < 0:
        st.rerun()
    instance_card(ctx, cmp, index)


def render() -> None:
    """Draw the page."""
    ctx = state.context()
    st.header("Instances")
    cmp = _comparison(ctx)
    if cmp is None:
        return
    selection, card = _sync_selection()
    frame = figs.embedding_frame(cmp)
    selection, card = _known_samples(cmp, frame, selection, card)
    mode = _highlight_mode(cmp)
    _maps(cmp, frame, mode, selection, card, ctx.presentation)
    if card >= 0:
        _card_dialog(ctx, cmp, card)
    _selection_section(cmp, frame, selection, ctx.presentation)
    _most_changed_section(cmp)
