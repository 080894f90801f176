"""Validate bodies against the TM Forum Swagger files in tests/specs/ (JSON Schema draft 4 definitions).

``assert_valid("TMF621_Trouble_Ticket_v4.0.0_swagger.json", "TroubleTicket", body)`` fails with every
violation listed; date-time values are checked too (RFC 3339, as the spec's ``format`` says).
"""

import functools
import json
from datetime import datetime
from pathlib import Path

from jsonschema import Draft4Validator, FormatChecker

SPECS = Path(__file__).parent / "specs"
TMF621 = "TMF621_Trouble_Ticket_v4.0.0_swagger.json"

_formats = FormatChecker(formats=())


@_formats.checks("date-time", raises=ValueError)
def _date_time(value) -> bool:
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None or "T" not in value:
        raise ValueError(f"{value!r} is not an RFC 3339 date-time with a time zone")
    return True


@functools.cache
def _spec(name: str) -> dict:
    return json.loads((SPECS / name).read_text())


@functools.cache
def validator(spec: str, definition: str, *, many: bool = False) -> Draft4Validator:
    ref = {"$ref": f"#/definitions/{definition}"}
    schema = {**({"type": "array", "items": ref} if many else ref), "definitions": _spec(spec)["definitions"]}
    return Draft4Validator(schema, format_checker=_formats)


def assert_valid(spec: str, definition: str, body, *, many: bool = False) -> None:
    assert definition in _spec(spec)["definitions"], definition
    errors = sorted(validator(spec, definition, many=many).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def tmf621(definition: str, body, *, many: bool = False) -> None:
    assert_valid(TMF621, definition, body, many=many)
