"""Renderers: one normalized event, several schemas.

``cim`` is the project's own schema (Splunk CIM Authentication field names,
``schemas/auth_event.schema.json``); ``ocsf`` is OCSF 1.7.0 class
Authentication (3002); ``ecs`` is Elastic Common Schema 9.4. Every renderer is
a pure function that takes an :class:`~esa_auth.events.AuthEvent` and returns
a JSON-able dict. ``docs/crosswalk.md`` maps every field across the three.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

from ..events import AuthEvent
from .ecs import render_ecs
from .ocsf import render_ocsf

Renderer = Callable[[AuthEvent], Dict[str, Any]]


def render_cim(event: AuthEvent) -> Dict[str, Any]:
    """The CIM form (the schema contract)."""
    return event.to_dict()


#: Output formats by name.
RENDERERS: Dict[str, Renderer] = {"cim": render_cim, "ocsf": render_ocsf, "ecs": render_ecs}

#: The Splunk sourcetype of each format's events.
SOURCETYPES: Dict[str, str] = {
    "cim": "cisco:esa:auth",
    "ocsf": "cisco:esa:auth:ocsf",
    "ecs": "cisco:esa:auth:ecs",
}


def render(event: AuthEvent, fmt: str = "cim") -> Dict[str, Any]:
    """Render an event in a format of :data:`RENDERERS` (KeyError if unknown)."""
    return RENDERERS[fmt](event)
