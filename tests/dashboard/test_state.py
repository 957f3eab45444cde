"""URL state: query-string parsing, and the one toast about a link value the app did not use."""

from __future__ import annotations

import pytest

from dashboard import state


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        ("1", False, True),
        ("false", True, False),
        ("7", 0, 7),
        ("0.5", 1.0, 0.5),
        ("3,4", [], [3, 4]),
    ],
)
def test_parse_reads_the_defaults_type(text: str, default: object, expected: object) -> None:
    assert state.parse(text, default) == expected
    assert state.decode(state.encode(expected), default) == expected


@pytest.mark.parametrize(("text", "default"), [("maybe", False), ("x", 0), ("1,a", [])])
def test_parse_refuses_text_of_another_type(text: str, default: object) -> None:
    with pytest.raises(ValueError):
        state.parse(text, default)
    assert state.decode(text, default) == default  # decode keeps its silent fallback


def test_ignored_message_names_key_value_and_fallback() -> None:
    text = state.ignored_message("a", "nope", "retrain", parsed=True)
    assert "`a=nope`" in text and "'retrain'" in text and "not available" in text
    assert "not a valid value" in state.ignored_message("inst_card", "x", -1, parsed=False)
    long = state.ignored_message("a", "z" * 500, "b", parsed=True)
    assert len(long) < 200 and "…" in long  # a long link value is shortened
    hidden = state.ignored_message("ws", "/home/me/secret", "digits", parsed=True, echo=False)
    assert "secret" not in hidden and "`ws`" in hidden and "'digits'" in hidden
    assert "`" not in state.ignored_message("a", "x`y", "b", parsed=True).split("`")[1][3:]
    assert "using the default" in state.ignored_message("mdl_sort", "zz", "", parsed=True)
