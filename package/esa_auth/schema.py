"""The JSON Schema of rendered events, shipped inside the package."""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any, Dict

#: Where the schemas are (a path; os.path rather than pathlib keeps pathlib out of the command line's start-up).
SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")


@cache
def load_schema(name: str = "auth_event") -> Dict[str, Any]:
    """Load a schema shipped with the package (``auth_event`` is the CIM form)."""
    with open(os.path.join(SCHEMA_DIR, f"{name}.schema.json"), encoding="utf-8") as handle:
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
