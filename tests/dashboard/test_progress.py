"""dashboard/progress.py: the progress line (stage, percentage, ETA) and the terminal console."""

from __future__ import annotations

import io

from dashboard.progress import Console, eta_seconds, format_seconds, progress_text


def test_progress_text_gives_stage_percentage_and_eta() -> None:
    assert progress_text("Comparing a and b", "privacy audit", 0.25, 10.0) == (
        "Comparing a and b: privacy audit · 25 % · ETA 30 s"
    )
    assert eta_seconds(0.5, 90.0) == 90.0
    assert format_seconds(90.0) == "1 min 30 s"
    # nothing to estimate from yet (or nothing left): no made-up ETA
    for fraction, elapsed in ((0.0, 5.0), (0.01, 5.0), (0.5, 0.1), (1.0, 5.0)):
        assert eta_seconds(fraction, elapsed) is None
    assert progress_text("X", "queued", 0.0, 0.0) == "X: queued · 0 % · estimating time left"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_console_redraws_progress_in_place_on_a_terminal_and_prints_events_on_lines() -> None:
    out = _Terminal()
    console = Console(out, prefix="ulens: ")
    console.progress("pre", "models table", 0.1, 1.0)
    console.progress("pre", "embedding", 0.5, 2.0)
    console.event("models table ready")
    lines = out.getvalue().split("\n")
    assert lines[-1] == "" and lines[-2].endswith("\rulens: models table ready")
    assert out.getvalue().count("\n") == 1  # the progress line was redrawn, never repeated


def test_console_prints_progress_lines_at_most_every_few_seconds_off_a_terminal() -> None:
    out = io.StringIO()
    console = Console(out, every=60.0)
    for step in range(10):
        console.progress("pre", "layout", step / 10, 1.0 + step)
    console.event("done")
    assert out.getvalue().splitlines() == ["pre: layout · 0 % · estimating time left", "done"]
