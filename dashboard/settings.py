"""How ``ulens dashboard`` hands its settings to the app: environment variable names.

Standard library only: the CLI reads these before importing anything heavy, so the server
starts without waiting for torch (:mod:`dashboard.state` re-exports them for the app).
"""

from __future__ import annotations

WORKSPACE_ENV = "ULENS_WORKSPACE"
"""Environment variable: the workspace ``ulens dashboard`` was started on."""
WORKSPACES_ENV = "ULENS_WORKSPACES"
"""Environment variable: further workspaces listed with ``--workspaces`` (``os.pathsep``)."""
MAX_UPLOAD_ENV = "ULENS_MAX_UPLOAD_MB"
"""Environment variable: the upload limit in MiB (``ulens dashboard --max-upload-mb``)."""
PRECOMPUTE_ENV = "ULENS_PRECOMPUTE"
"""Environment variable: ``1`` makes opening a workspace scenario queue its background
precompute (``ulens dashboard`` sets it unless it is already set, e.g. to ``0``)."""
READY_ENV = "ULENS_READY_FILE"
"""Environment variable: a file the app creates once its first page is drawn in full, telling
``ulens dashboard`` that its background precompute may start without slowing that page."""
