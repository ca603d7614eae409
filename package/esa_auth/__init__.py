"""Normalized authentication events from Cisco ESA (Secure Email Gateway) logs.

Public entry points: :class:`Normalizer`, :class:`Settings`, :class:`Stream`,
:class:`AuthEvent`, :func:`load_schema`.
"""

from __future__ import annotations

from ._version import __version__
from .errors import ConfigError, EsaAuthError, StateError
from .events import AuthEvent
from .pipeline import Diagnostic, Normalizer, Settings, Stream, appliance_from_filename
from .schema import load_schema, validator

__all__ = [
    "AuthEvent",
    "ConfigError",
    "Diagnostic",
    "EsaAuthError",
    "Normalizer",
    "Settings",
    "StateError",
    "Stream",
    "__version__",
    "appliance_from_filename",
    "load_schema",
    "validator",
]
