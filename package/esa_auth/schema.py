"""The JSON Schema of rendered events, shipped inside the package."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Dict

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


@cache
def load_schema(name: str = "auth_event") -> Dict[str, Any]:
    """Load a schema shipped with the package (``auth_event`` is the CIM form)."""
    with open(SCHEMA_DIR / f"{name}.schema.json", encoding="utf-8") as handle:
        schema: Dict[str, Any] = json.load(handle)
    return schema


def validator(name: str = "auth_event") -> Any:
    """A ``jsonschema`` validator for a shipped schema (draft 2020-12, formats checked).

    ``jsonschema`` is imported here, not at module load: the Splunk app's
    runtime does not need it.
    """
    import jsonschema

    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)
