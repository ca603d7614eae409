"""The one place the version is written: the package, app.conf and app.manifest take it from here."""

from __future__ import annotations

__version__ = "0.1.0"
