"""The library's exceptions: one hierarchy, raised only for bad configuration.

Bad *input* never raises: it becomes a :class:`~esa_auth.pipeline.Diagnostic`.
"""

from __future__ import annotations


class EsaAuthError(ValueError):
    """Base class of every error the library raises."""


class ConfigError(EsaAuthError):
    """A setting (time zone, bound, saved state) cannot be used."""


class StateError(ConfigError):
    """A saved state cannot be restored (wrong version or shape)."""
