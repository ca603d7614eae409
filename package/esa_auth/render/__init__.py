"""Renderers: one normalized event, several schemas.

``cim`` is the project's own schema (Splunk CIM Authentication field names,
``schemas/auth_event.schema.json``). Every renderer takes an
:class:`~esa_auth.events.AuthEvent` and returns a JSON-able dict.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

from ..events import AuthEvent

Renderer = Callable[[AuthEvent], Dict[str, Any]]


def render_cim(event: AuthEvent) -> Dict[str, Any]:
    """The CIM form (the schema contract)."""
    return event.to_dict()


#: Output formats by name.
RENDERERS: Dict[str, Renderer] = {"cim": render_cim}

#: The Splunk sourcetype of each format's events.
SOURCETYPES: Dict[str, str] = {"cim": "cisco:esa:auth"}


def render(event: AuthEvent, fmt: str = "cim") -> Dict[str, Any]:
    """Render an event in a format of :data:`RENDERERS` (KeyError if unknown)."""
    return RENDERERS[fmt](event)
