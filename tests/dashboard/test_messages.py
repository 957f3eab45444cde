"""dashboard.messages: the browser never sees a server path outside the workspace."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.messages import PLACEHOLDER, scrub

WS = "/srv/lab/ws/digits"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"cannot read {WS}/models/a.pt", "cannot read digits/models/a.pt"),
        (f"workspace {WS} is broken", "workspace digits is broken"),
        (f"'{WS}/x.npz' (from /usr/lib/python3/x.py)", f"'digits/x.npz' (from {PLACEHOLDER})"),
        (f"{WS}2/models/a.pt", PLACEHOLDER),  # a sibling folder is not the workspace
        ('File "/opt/venv/lib/torch/nn.py", line 3', f'File "{PLACEHOLDER}", line 3'),
        (r"C:\Users\bob\weights.pt is missing", f"{PLACEHOLDER} is missing"),
        ("see file:///etc/passwd", f"see {PLACEHOLDER}"),
        ("/etc/passwd", PLACEHOLDER),
    ],
)
def test_paths_become_workspace_relative_or_a_placeholder(text: str, expected: str) -> None:
    assert scrub(text, [WS]) == expected


@pytest.mark.parametrize(
    "text",
    [
        "models/a.pt is relative",
        "see https://docs.streamlit.io/a/b",
        "N/A for random forgetting; 3/4 and/or 1 / 2",
        "~/data stays as typed",
    ],
)
def test_text_without_server_paths_is_unchanged(text: str) -> None:
    assert scrub(text, [WS]) == text


def test_a_symlinked_workspace_is_named_in_both_forms(tmp_path: Path) -> None:
    real = tmp_path / "real" / "ws"
    real.mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    assert scrub(f"{link}/a and {real}/b", [link]) == "link/a and link/b"


def _crashing_app() -> None:
    import streamlit as st

    from dashboard import messages

    try:
        raise RuntimeError("cannot open /srv/secret/project/weights.pt")
    except RuntimeError as exc:
        messages.show_exception(exc)
    st.write("still running")


def test_an_unexpected_exception_is_shown_scrubbed_and_the_page_goes_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    at = AppTest.from_function(_crashing_app).run()
    shown = [e.value for e in at.exception]
    assert shown and "/srv/secret" not in shown[0] and PLACEHOLDER in shown[0]
    assert all("/srv/secret" not in c.value for c in at.code)  # the traceback block too
    assert "still running" in at.markdown[-1].value
    assert "/srv/secret/project/weights.pt" in capsys.readouterr().err  # full text in the log


def test_names_shown_in_markdown_cannot_embed_images_or_links() -> None:
    from dashboard.messages import md

    name = "![pixel](https://evil.example/p.png) [link](javascript:x) :material/home: $x$"
    shown = md(name)
    for raw in ("![", "](", "$x$"):
        assert raw not in shown
    assert "\\:material/home\\:" in shown
    assert shown.replace("\\", "") == name  # still readable, character for character
    assert "![" not in scrub("model ![x](https://evil.example/p.png) failed", [WS])
