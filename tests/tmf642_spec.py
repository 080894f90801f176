"""Validating bodies against the TMF642 specification (tests/specs/, Apache 2.0, TM Forum)."""

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path

import jsonschema

SPEC = Path(__file__).parent / "specs" / "TMF642_Alarm_Management_v4.0.0_swagger.json"
# RFC 3339 date-time (jsonschema checks the format only with an optional package, not installed).
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@cache
def _definitions() -> dict:
    return json.loads(SPEC.read_text())["definitions"]


def validate(body, definition: str, *, many: bool = False) -> None:
    """Raise jsonschema.ValidationError unless ``body`` is a valid TMF642 ``definition``."""
    ref = {"$ref": f"#/definitions/{definition}"}
    schema = {"definitions": _definitions(), **({"type": "array", "items": ref} if many else ref)}
    jsonschema.Draft4Validator(schema, format_checker=FORMATS).validate(body)
