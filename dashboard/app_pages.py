"""Imports every page module (for preloading in :mod:`dashboard.serve`)."""

from __future__ import annotations

from dashboard.views import classes, export, instances, layers, models, privacy, studies

__all__ = ["classes", "export", "instances", "layers", "models", "privacy", "studies"]
