"""``scripts/ensure_chromium.sh`` (run by ``make demo`` before the server starts): with no
Chromium for kaleido it installs Debian's when it may (root + apt-get), else prints one line
saying how; it never fails the demo.

The browser lookup runs through the PYTHON argument; here a stub that finds a browser once a
marker file exists (what the stub ``apt-get`` creates), so no real package is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ensure_chromium.sh"


def _bin(tmp_path: Path, *, apt: bool, apt_works: bool = True) -> tuple[Path, Path]:
    """A PATH folder with bash and id only (and a stub apt-get when ``apt``); the stub python."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("bash", "id"):
        found = shutil.which(tool)
        assert found, tool
        (folder / tool).symlink_to(found)
    marker = tmp_path / "installed"
    python = tmp_path / "python"
    python.write_text(f"#!{shutil.which('bash')}\n[ -f {marker} ]\n")
    python.chmod(0o755)
    if apt:
        stub = folder / "apt-get"
        stub.write_text(
            f'#!{shutil.which("bash")}\necho "$*" >> {tmp_path / "apt.log"}\n'
            + (f'[ "$1" = install ] && : > {marker}\nexit 0\n' if apt_works else "exit 100\n")
        )
        stub.chmod(0o755)
    return folder, python


def _run(folder: Path, python: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(folder / "bash"), str(SCRIPT), str(python)],
        env={"PATH": str(folder), "HOME": os.environ.get("HOME", "/tmp")},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_apt_get_it_prints_one_line_saying_how_and_succeeds(tmp_path: Path) -> None:
    folder, python = _bin(tmp_path, apt=False)
    out = _run(folder, python)
    assert out.returncode == 0
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and "needs Chromium" in lines[0]
    assert "apt-get install -y chromium" in lines[0] and "kaleido_get_chrome" in lines[0]


def test_with_a_browser_it_says_nothing(tmp_path: Path) -> None:
    folder, python = _bin(tmp_path, apt=True)
    (tmp_path / "installed").touch()
    out = _run(folder, python)
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    assert not (tmp_path / "apt.log").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="installs only as root")
def test_as_root_with_apt_get_it_installs_debians_chromium(tmp_path: Path) -> None:
    folder, python = _bin(tmp_path, apt=True)
    out = _run(folder, python)
    assert out.returncode == 0
    assert "installing Debian's chromium" in out.stdout and "note" not in out.stdout
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert calls[-1].startswith("install -y") and calls[-1].endswith("chromium")


@pytest.mark.skipif(os.geteuid() != 0, reason="installs only as root")
def test_a_failed_install_is_one_warning_line_and_the_demo_goes_on(tmp_path: Path) -> None:
    folder, python = _bin(tmp_path, apt=True, apt_works=False)
    out = _run(folder, python)
    assert out.returncode == 0
    warning = out.stdout.strip().splitlines()[-1]
    assert "installing chromium failed" in warning and "apt-get install -y chromium" in warning
