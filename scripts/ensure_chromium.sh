#!/usr/bin/env bash
# Image export (PNG, SVG, PDF) renders through kaleido, which drives a Chromium-based browser.
# `make demo` runs this before the server starts: when no such browser is found, it installs
# Debian's chromium if it may (root, apt-get available), else prints one line saying how to.
# It never fails the demo: CSV downloads and the HTML report work without a browser.
#
# Usage: scripts/ensure_chromium.sh [PYTHON]   (PYTHON: the venv's, which has kaleido)
set -u
PYTHON="${1:-python3}"
FIND='from choreographer.browsers.chromium import Chromium as C; import os, sys
p = C.find_browser(skip_local=False); sys.exit(0 if p and os.access(p, os.X_OK) else 1)'
HINT="image export (PNG/SVG/PDF) needs Chromium: install it with \`sudo apt-get install -y chromium\` (Debian/Ubuntu) or \`.venv/bin/kaleido_get_chrome\`, then restart the dashboard"

found() { "$PYTHON" -c "$FIND" >/dev/null 2>&1; }

found && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ulens: installing Debian's chromium for image export (apt-get install -y chromium)"
  if { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
      >/dev/null 2>&1 && found; then
    exit 0
  fi
  echo "ulens: warning: installing chromium failed; $HINT"
  exit 0
fi
echo "ulens: note: $HINT"
exit 0
