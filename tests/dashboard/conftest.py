"""Dashboard tests: AppTests wait for cold work in the script thread.

The app computes cold results in a background executor and shows a progress placeholder that
polls until they are ready (``dashboard.cached``); an AppTest run is one script run, so pages
under test wait instead (``cached.FOREGROUND``). The placeholder itself is tested in
``tests/dashboard/test_cached.py`` with ``FOREGROUND`` turned off.
"""

from __future__ import annotations

from dashboard import cached

cached.FOREGROUND = True
