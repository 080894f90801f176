"""The canonical ticket document: one JSON shape for the bulk API, file import/export and the simulator.

Parsing is plain Python (no DRF serializer) because the file importer runs it on millions of rows.
Errors come back as ``{field: [message, ...]}``, the same shape DRF uses.
"""

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from repair_center import vocabulary
from repair_center.models import RESOLUTION_CODE_LENGTH, Ticket, TicketEvent
from ticketai.storable import json_problem, printable, text_problem

DOCUMENT_VERSION = 1
FIELDS = (
    "source",
    "external_id",
    "title",
    "description",
    "status",
    "priority",
    "opened_at",
    "resolved_at",
    "site",
    "element",
    "error_codes",
    "events",
    "alarms",
    "resolution",
    "resolution_notes",
    "attributes",
)
EVENT_FIELDS = ("at", "kind", "code", "attrs")
MAX_CODES = 64
MAX_EVENTS = 500
MAX_ALARMS = 64
# An alarm named by its path in TicketAI's TMF642 API, rather than by its externalAlarmId: the path
# itself (OWN_ALARM_RE), or the end of a URL (OWN_ALARM_HREF_RE, whose host the caller judges).
OWN_ALARM_PATH = "/tmf-api/alarm/v4/alarm/"
OWN_ALARM_HREF_RE = re.compile(re.escape(OWN_ALARM_PATH) + r"(\d{1,18})/?$")
OWN_ALARM_RE = re.compile("^" + OWN_ALARM_HREF_RE.pattern)
MAX_ATTRS_DEPTH = 4
MAX_ATTRS_BYTES = 4096
# A bare number is a system's own state code, and systems number their states differently
# (ServiceNow's 6 is Resolved, Remedy's is Cancelled): the person importing says which it is.
_NUMERIC_STATE_HINT = (
    "; a numeric state is a system's own code (ServiceNow: 1 New, 2 In Progress, 3 On Hold, 6 Resolved,"
    " 7 Closed, 8 Canceled): import with --value-map status:CODE=STATUS, e.g. --value-map status:7=closed"
)
# Extra ticket fields of an export (category, service, customer impact, ...): flat and bounded.
MAX_ATTRIBUTES = 32
MAX_ATTRIBUTE_CHARS = 200
MAX_KIND_CHARS = 64
ATTRIBUTE_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KIND_RE = re.compile(r"^[^\s|=\[\]][^\x00-\x1f|=\[\]]{0,63}$")
_SOURCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
BUILT_IN_EVENT_KINDS = frozenset(TicketEvent.Kind.values)


class DocumentError(Exception):
    """A ticket document failed validation; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(json.dumps(errors, sort_keys=True))
        self.errors = errors


# Where text too long for a short field goes.
TO_DESCRIPTION = "free text belongs in the description (import: --map description=COLUMN)"


@dataclass(frozen=True, slots=True)
class EventDoc:
    at: datetime | None  # real exports often carry only the order of events
    kind: str
    code: str
    attrs: dict


@dataclass(frozen=True, slots=True)
class TicketDoc:
    source: str
    external_id: str
    title: str
    description: str
    status: str
    priority: str
    opened_at: datetime | None
    resolved_at: datetime | None
    site: str
    element: str
    error_codes: tuple[str, ...]
    events: tuple[EventDoc, ...]
    resolution: str
    resolution_notes: str
    attributes: dict = field(default_factory=dict)
    alarms: tuple[str, ...] = ()  # alarms the ticket names as its own (models.TicketAlarm)

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.external_id)

    def to_json(self) -> dict:
        """The document as JSON-ready data, in the canonical field order.

        ``attributes`` and ``alarms`` appear only when there are some, so tickets stored before they
        existed keep their content hash (a re-import of the same file stays "unchanged")."""
        data = {
            "source": self.source,
            "external_id": self.external_id,
            "title": self.title,
            "description": self.description,
            "status": self.status,
            "priority": self.priority,
            "opened_at": _iso(self.opened_at),
            "resolved_at": _iso(self.resolved_at),
            "site": self.site or None,
            "element": self.element or None,
            "error_codes": list(self.error_codes),
            "events": [
                {"at": _iso(e.at), "kind": e.kind, "code": e.code or None, "attrs": e.attrs}
                for e in self.events
            ],
            "resolution": self.resolution or None,
            "resolution_notes": self.resolution_notes,
        }
        if self.attributes:
            data["attributes"] = dict(self.attributes)
        if self.alarms:
            data["alarms"] = list(self.alarms)
        return data

    def content_hash(self) -> str:
        payload = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _text(data: dict, field: str, errors: dict, *, max_length: int | None = None, hint: str = "") -> str:
    value = data.get(field)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        errors.setdefault(field, []).append("must be a string")
        return ""
    value = str(value).strip() if not isinstance(value, str) else value.strip()
    problem = text_problem(value)
    if problem:
        errors.setdefault(field, []).append(problem)
        return ""
    if max_length is not None and len(value) > max_length:
        errors.setdefault(field, []).append(
            f"must be at most {max_length} characters (got {len(value)})" + (f": {hint}" if hint else "")
        )
        return ""
    return value


def parse_timestamp(value: Any) -> datetime:
    """An ISO 8601 timestamp; naive ones are taken as UTC. Raises ValueError with a readable reason."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValueError(f"{value[:40]!r} is not an ISO 8601 date-time")
    else:
        raise ValueError("must be an ISO 8601 date-time string")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{str(value)[:40]!r} is out of range") from None
    if not 1900 <= parsed.year <= 2200:
        raise ValueError(f"{str(value)[:40]!r} is outside the years 1900-2200")
    return parsed


def _timestamp(data: dict, field: str, errors: dict) -> datetime | None:
    value = data.get(field)
    if value is None or value == "":
        return None
    try:
        return parse_timestamp(value)
    except ValueError as e:
        errors.setdefault(field, []).append(str(e))
        return None


def _events(value: Any, errors: dict) -> tuple[EventDoc, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        errors.setdefault("events", []).append("must be a list of {at, kind, code, attrs} objects")
        return ()
    if len(value) > MAX_EVENTS:
        errors.setdefault("events", []).append(f"at most {MAX_EVENTS} events (got {len(value)})")
        return ()
    events = []
    for i, item in enumerate(value):
        where = f"events[{i}]"
        if not isinstance(item, dict):
            errors.setdefault(where, []).append("must be an object with at, kind, code, attrs")
            continue
        unknown = sorted(printable(str(key)) for key in set(item) - set(EVENT_FIELDS))
        if unknown:
            errors.setdefault(where, []).append(f"unknown fields: {', '.join(unknown)}")
        at = None
        if item.get("at") not in (None, ""):
            try:
                at = parse_timestamp(item.get("at"))
            except ValueError as e:
                errors.setdefault(f"{where}.at", []).append(str(e))
                continue
        kind = item.get("kind")
        kind = kind.strip() if isinstance(kind, str) else kind
        # Kinds outside the built-in list are kept as given (and counted for curation on ingest).
        if not isinstance(kind, str) or not _KIND_RE.match(kind) or text_problem(kind):
            errors.setdefault(f"{where}.kind", []).append(
                f"{printable(str(kind))[:40]!r} is not an event kind: give a name of 1-{MAX_KIND_CHARS} "
                "characters without '|', '=', '[' or ']' (built in: "
                f"{', '.join(sorted(BUILT_IN_EVENT_KINDS))})"
            )
            continue
        code = item.get("code") or ""
        if not isinstance(code, str) or len(code) > 64:
            errors.setdefault(f"{where}.code", []).append("must be a string of at most 64 characters")
            continue
        if text_problem(code):
            errors.setdefault(f"{where}.code", []).append(text_problem(code))
            continue
        attrs = item.get("attrs") or {}
        if not isinstance(attrs, dict):
            errors.setdefault(f"{where}.attrs", []).append("must be an object")
            continue
        # Depth, size, and text PostgreSQL's jsonb can hold: said here instead of failing the batch.
        problem = json_problem(attrs, max_depth=MAX_ATTRS_DEPTH, max_bytes=MAX_ATTRS_BYTES)
        if problem:
            errors.setdefault(f"{where}.attrs", []).append(problem)
            continue
        events.append(EventDoc(at=at, kind=kind, code=code.strip(), attrs=attrs))
    return tuple(events)


def _attributes(value: Any, errors: dict) -> dict:
    """Flat {name: string or number}; names like source codes, values short, at most MAX_ATTRIBUTES."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.setdefault("attributes", []).append("must be an object of name: string or number")
        return {}
    if len(value) > MAX_ATTRIBUTES:
        errors.setdefault("attributes", []).append(f"at most {MAX_ATTRIBUTES} attributes (got {len(value)})")
        return {}
    attributes: dict = {}
    for key, item in value.items():
        where = f"attributes.{printable(str(key))[:64]}"
        if not isinstance(key, str) or not ATTRIBUTE_KEY_RE.match(key):
            errors.setdefault("attributes", []).append(
                f"{printable(str(key))[:40]!r} is not an attribute name: letters, digits, '.', '_' or '-' "
                "(at most 64, starting with a letter or digit)"
            )
            continue
        if item is None or item == "":
            continue  # a blank cell is an absent attribute
        if isinstance(item, list):
            # Zendesk's and Freshservice's tags: a whole export refused, with the way to read it
            errors.setdefault(where, []).append(
                "must be a string or a number, not a list: a list of tags or codes is read as error_codes "
                "(import: --map error_codes=PATH), or one of its items by its index (PATH.0)"
            )
            continue
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            errors.setdefault(where, []).append("must be a string or a number")
            continue
        if isinstance(item, float) and not math.isfinite(item):
            errors.setdefault(where, []).append("must be a finite number")
            continue
        if isinstance(item, str):
            item = item.strip()
            problem = text_problem(item)
            if problem:
                errors.setdefault(where, []).append(problem)
                continue
            if len(item) > MAX_ATTRIBUTE_CHARS:
                errors.setdefault(where, []).append(
                    f"must be at most {MAX_ATTRIBUTE_CHARS} characters (got {len(item)}): an attribute is a "
                    f"short field; {TO_DESCRIPTION}"
                )
                continue
            if not item:
                continue
        attributes[key] = item
    return attributes


def _names(
    value: Any, errors: dict, *, field: str, shape: str, plural: str, most: int, longest: int, one: str
):
    """A list of short strings (codes, alarm names): stripped, blanks dropped, bounded in number and
    length; ``()`` with the reason in ``errors[field]`` when it breaks a rule."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        errors.setdefault(field, []).append(f"must be a list of {shape}")
        return ()
    problems = sorted({text_problem(c) for c in value} - {""})
    if problems:
        errors.setdefault(field, []).extend(problems)
        return ()
    names = tuple(c.strip() for c in value if c.strip())
    if len(names) > most:
        errors.setdefault(field, []).append(f"at most {most} {plural} (got {len(names)})")
        return ()
    if any(len(c) > longest for c in names):
        errors.setdefault(field, []).append(f"each {one} must be at most {longest} characters")
        return ()
    return names


def _codes(value: Any, errors: dict) -> tuple[str, ...]:
    return _names(
        value,
        errors,
        field="error_codes",
        shape="code strings",
        plural="codes",
        most=MAX_CODES,
        longest=64,
        one="code",
    )


def own_alarm_ref(ref: str) -> str:
    """An alarm name as stored: a path in TicketAI's TMF642 API without a trailing slash or leading
    zeros, anything else (an externalAlarmId) as given."""
    found = OWN_ALARM_RE.match(ref)
    return f"{OWN_ALARM_PATH}{int(found.group(1))}" if found else ref


def _alarm_refs(value: Any, errors: dict) -> tuple[str, ...]:
    names = _names(
        value,
        errors,
        field="alarms",
        shape="alarm names: externalAlarmIds, or paths in TicketAI's TMF642 API",
        plural="alarms",
        most=MAX_ALARMS,
        longest=200,
        one="alarm name",
    )
    return tuple(dict.fromkeys(own_alarm_ref(name) for name in names))


def parse_ticket(data: Any, *, default_source: str = "api") -> TicketDoc:
    """Validate one canonical ticket document; raises DocumentError with every problem found."""
    if not isinstance(data, dict):
        raise DocumentError({"non_field_errors": ["a ticket document must be a JSON object"]})
    errors: dict[str, list[str]] = {}
    unknown = sorted(printable(str(k)) for k in set(data) - set(FIELDS))
    if unknown:
        errors["non_field_errors"] = [f"unknown fields: {', '.join(unknown)}"]

    source = _text(data, "source", errors, max_length=64) or default_source
    if "source" not in errors and not _SOURCE_RE.match(source):
        errors["source"] = ["must be letters, digits, '.', '_' or '-' (at most 64)"]
    external_id = _text(data, "external_id", errors, max_length=200)
    if not external_id and "external_id" not in errors:
        errors["external_id"] = ["this field is required"]

    title = _text(data, "title", errors, max_length=500, hint=f"a title is a summary; {TO_DESCRIPTION}")
    description = _text(data, "description", errors, max_length=100_000)
    error_codes = _codes(data.get("error_codes"), errors)
    events = _events(data.get("events"), errors)
    alarms = _alarm_refs(data.get("alarms"), errors)
    resolution = _text(data, "resolution", errors, max_length=RESOLUTION_CODE_LENGTH)
    resolution_notes = _text(data, "resolution_notes", errors, max_length=100_000)
    attributes = _attributes(data.get("attributes"), errors)
    site = _text(data, "site", errors, max_length=64)
    element = _text(data, "element", errors, max_length=120)
    resolved_at = _timestamp(data, "resolved_at", errors)
    opened_at = _timestamp(data, "opened_at", errors)
    if opened_at and resolved_at and resolved_at < opened_at:
        errors.setdefault("resolved_at", []).append("is before opened_at")

    raw_status = _text(data, "status", errors, max_length=32)
    if raw_status:
        status = vocabulary.status_of(raw_status)
        if status is None:
            errors.setdefault("status", []).append(
                f"{raw_status!r} is not one of {', '.join(Ticket.Status.values)} (nor a known alias)"
                + _NUMERIC_STATE_HINT * raw_status.strip().isdigit()
            )
    else:
        resolved = resolution or resolved_at
        status = Ticket.Status.RESOLVED if resolved else Ticket.Status.ACKNOWLEDGED

    raw_priority = _text(data, "priority", errors, max_length=32)
    priority = vocabulary.priority_of(raw_priority) if raw_priority.strip() else Ticket.Priority.MEDIUM
    if priority is None:
        errors.setdefault("priority", []).append(
            f"{raw_priority!r} is not one of {', '.join(Ticket.Priority.values)} (nor a known alias)"
        )

    if not (title or description or error_codes or events or attributes or alarms) and not errors:
        errors["non_field_errors"] = [
            "give at least one of title, description, error_codes, events, alarms or attributes"
        ]
    if errors:
        raise DocumentError(errors)
    return TicketDoc(
        source=source,
        external_id=external_id,
        title=title,
        description=description,
        status=str(status),
        priority=str(priority),
        opened_at=opened_at,
        resolved_at=resolved_at,
        site=site,
        element=element,
        error_codes=error_codes,
        events=events,
        resolution=resolution,
        resolution_notes=resolution_notes,
        attributes=attributes,
        alarms=alarms,
    )
