"""From file rows to ticket documents: mapped columns, extra fields as attributes, and event logs.

``--map`` names a canonical field (``title=Summary``), an attribute (``attributes.category=Category``)
or, for an event log, a part of the row's event (``event.kind=State``, ``event.at=Updated``,
``event.code=Alarm``, ``event.attrs.volume=Volume``). With any ``event.*`` mapping the file is an
event log: each row is one state change or alarm of a ticket, and the rows with the same ticket id,
wherever they are in the file, are folded into one ticket carrying those events (in time order, a
row without a time staying after the row before it), the latest row's ticket fields winning. Folding keeps the
rows in a temporary file, not in memory: only the ticket being folded is held there.
"""

import itertools
import json
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from repair_center import documents, vocabulary
from repair_center.ingestion import readers
from repair_center.ingestion.mapping import check_mapping, lookup, pick_fields
from repair_center.models import Ticket

MAPPING_PREFIXES = ("attributes.", "event.")
EVENT_PARTS = ("at", "kind", "code")
# A plain number; "0042" (a code with leading zeros) stays text.
_NUMBER_RE = re.compile(r"^[+-]?((0|[1-9]\d*)(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# The same with a decimal comma ("47,5"), as a file separated by semicolons writes numbers.
_COMMA_NUMBER_RE = re.compile(r"^[+-]?(0|[1-9]\d*),\d+$")
# A reading written with its unit ("-19.5 dBm", "44,5 °C", "-48 V"): the number, as the column
# name or the attribute says the unit. Only units of measure, so "5 G" or "3 normal" stay text.
_UNITS = (
    *("dBm", "dBW", "dBi", "dBuV", "dB", "mV", "kV", "V", "mA", "A", "mW", "kW", "W", "kWh", "Wh"),
    *("°C", "ºC", "°F", "C", "F", "%", "Hz", "kHz", "MHz", "GHz", "ms", "us", "µs", "s"),
    *("bps", "kbps", "Kbps", "Mbps", "Gbps", "km", "m", "ppm", "rpm", "Ω", "ohm", "Ohm"),
)
_UNIT_RE = re.compile(r"^(.*?\d)\s*(?:" + "|".join(map(re.escape, _UNITS)) + r")$")


@dataclass(frozen=True, slots=True)
class TicketMapping:
    fields: dict[str, str]  # canonical field -> column
    attributes: dict[str, str] = field(default_factory=dict)  # attribute name -> column
    event: dict[str, str] = field(default_factory=dict)  # at/kind/code -> column
    event_attrs: dict[str, str] = field(default_factory=dict)  # event attribute name -> column

    @property
    def is_event_log(self) -> bool:
        return bool(self.event or self.event_attrs)

    def columns(self) -> set[str]:
        return {
            *self.fields.values(),
            *self.attributes.values(),
            *self.event.values(),
            *self.event_attrs.values(),
        }


def split_mapping(mapping: dict[str, str]) -> TicketMapping:
    """Sort ``--map`` entries by what they fill; raises ValueError naming a wrong one."""
    check_mapping(mapping, documents.FIELDS, prefixes=MAPPING_PREFIXES)
    plain, attributes, event, event_attrs = {}, {}, {}, {}
    for name, column in mapping.items():
        if name.startswith("attributes."):
            key = name.removeprefix("attributes.")
            if not documents.ATTRIBUTE_KEY_RE.match(key):
                raise ValueError(f"--map {name}: an attribute name is letters, digits, '.', '_' or '-'")
            attributes[key] = column
        elif name.startswith("event.attrs."):
            event_attrs[name.removeprefix("event.attrs.")] = column
        elif name.startswith("event."):
            part = name.removeprefix("event.")
            if part not in EVENT_PARTS:
                raise ValueError(
                    f"--map {name}: an event log maps event.at, event.kind, event.code or event.attrs.NAME"
                )
            event[part] = column
        else:
            plain[name] = column
    if (event or event_attrs) and "kind" not in event:
        raise ValueError("an event log needs --map event.kind=COLUMN (the state or alarm of each row)")
    if (event or event_attrs) and "external_id" not in plain:
        raise ValueError("an event log needs --map external_id=COLUMN (the ticket id its rows share)")
    if (event or event_attrs) and "events" in plain:
        raise ValueError("an event log builds events from event.* columns; do not also map events")
    return TicketMapping(plain, attributes, event, event_attrs)


def _cell(data: dict, column: str, *, text: bool, decimal_comma: bool = False):
    """A mapped cell, or None when blank; a cell that is a plain number as text becomes a number,
    so a reading is bucketed as a number by the serialiser whichever format it came in: a CSV cell,
    and a JSON string too (ServiceNow's API sends every value as one: ``"u_rsrp": "-90.0"``). An id
    with leading zeros ("00123") stays text. With ``decimal_comma`` (a semicolon-separated file)
    "47,5" is the number 47.5. A number with a unit of measure ("-19.5 dBm", "44,5 °C") is the
    number: as text each reading would be a token of its own, and nothing would be learnt from it."""
    value = lookup(data, column)[1]
    if not isinstance(value, str):
        return value
    stripped = value.strip()
    if text and not stripped:
        return None
    number = _number(stripped, decimal_comma=text and decimal_comma)
    if number is None and (unit := _UNIT_RE.match(stripped)):
        number = _number(unit.group(1), decimal_comma=text and decimal_comma)
    if number is not None:
        return number
    return stripped if text else value


def _number(text: str, *, decimal_comma: bool) -> int | float | None:
    if decimal_comma and _COMMA_NUMBER_RE.match(text):
        return float(text.replace(",", "."))
    if _NUMBER_RE.match(text):
        number = float(text)
        plain = number.is_integer() and "." not in text and "e" not in text.lower()
        return int(number) if plain else number
    return None


def row_document(data: dict, mapping: TicketMapping, *, text: bool, decimal_comma: bool = False) -> dict:
    """One row as a (partial) ticket document; in an event log, with the row's one event. Numbers
    in attributes are read with a decimal comma when ``decimal_comma``."""
    doc = pick_fields(data, mapping.fields, documents.FIELDS, text=text, taken=mapping.columns())
    if mapping.attributes:
        attributes = dict(doc.get("attributes") or {}) if isinstance(doc.get("attributes"), dict) else {}
        for name, column in mapping.attributes.items():
            value = _cell(data, column, text=text, decimal_comma=decimal_comma)
            if value is not None:
                attributes[name] = value
        if attributes:
            doc["attributes"] = attributes
    if mapping.is_event_log:
        event = {part: lookup(data, column)[1] for part, column in mapping.event.items()}
        event = {part: value.strip() if isinstance(value, str) else value for part, value in event.items()}
        attrs = {
            name: _cell(data, column, text=text, decimal_comma=decimal_comma)
            for name, column in mapping.event_attrs.items()
        }
        event["attrs"] = {name: value for name, value in attrs.items() if value is not None}
        doc["events"] = [{part: value for part, value in event.items() if value not in (None, "")}]
    return doc


# Date formats exports often write. A row whose date is not ISO 8601, read without --date-format,
# is rejected with the ones its date matches, so the person importing knows what to pass.
COMMON_DATE_FORMATS = tuple(
    f"{day}{time}".strip()
    for day in ("%d-%m-%Y", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d %b %Y", "%d-%b-%Y")
    for time in (" %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", "")
)
# --date-format names for a count since 1970-01-01 UTC (Unix time), with what one second counts.
# Not guessed without it: ten digits may as well be a yyyymmddHH.
EPOCH_FORMATS = {"epoch": 1, "%s": 1, "epoch_ms": 1000}
_EPOCH_RE = re.compile(r"^\d+(\.\d+)?$")
_EPOCH_HINTS = ((re.compile(r"^\d{9,10}(\.\d+)?$"), "epoch"), (re.compile(r"^\d{12,13}$"), "epoch_ms"))
# MySQL's "no date" (a NOT NULL date column left unset): blank, whatever the export's other markers.
_ZERO_DATE_RE = re.compile(r"^0000-00-00(?:[ T]00:00(?::00(?:\.0+)?)?Z?)?$")
# What an export writes in a date column for none: named in the refusal with --missing.
_NULL_WORDS = {"n/a", "na", "null", "none", "nil", "nan", "unknown", "tbd", "nat", "n.a."}


def _date_fields(doc: dict):
    """(where, value) of the document's dates: opened_at, resolved_at and its events' times; a
    date given as a JSON number (a Unix time) too."""
    for name in ("opened_at", "resolved_at"):
        if _is_date_value(doc.get(name)):
            yield name, doc[name]
    for i, event in enumerate(doc.get("events") or []):
        if isinstance(event, dict) and _is_date_value(event.get("at")):
            yield f"events[{i}].at", event["at"]


def _is_date_value(value: object) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def blank_zero_dates(doc: dict) -> None:
    """Drop the dates that are MySQL's zero date (``0000-00-00 00:00:00``): no date, not a bad one."""
    for name in ("opened_at", "resolved_at"):
        if isinstance(doc.get(name), str) and _ZERO_DATE_RE.match(doc[name].strip()):
            del doc[name]
    for event in doc.get("events") or []:
        if (
            isinstance(event, dict)
            and isinstance(event.get("at"), str)
            and _ZERO_DATE_RE.match(event["at"].strip())
        ):
            del event["at"]


def date_format_hints(doc: dict) -> dict[str, list[str]]:
    """Errors for dates that are not ISO 8601 but match COMMON_DATE_FORMATS, naming the formats
    (``'03/04/2016' is not an ISO 8601 date-time; --date-format '%d/%m/%Y' or '%m/%d/%Y' reads
    it``), or look like a Unix time (``--date-format epoch``) or a null marker (``--missing 'N/A'``);
    zero dates are dropped (blank_zero_dates), other dates left to the document's own check."""
    blank_zero_dates(doc)
    errors: dict[str, list[str]] = {}
    for where, value in _date_fields(doc):
        text = str(value).strip()
        if not text or (isinstance(value, str) and _is_iso(text)):
            continue
        hint = _date_hint(text)
        if hint:
            errors.setdefault(where, []).append(f"{text[:40]!r} is not an ISO 8601 date-time; {hint}")
    return errors


def _date_hint(text: str) -> str:
    """What reads ``text``, a date that is not ISO 8601, or '' when nothing known does."""
    for pattern, name in _EPOCH_HINTS:
        if pattern.match(text):
            read = parse_formatted(text, name).isoformat()
            return f"--date-format {name} reads it as a Unix time (UTC): {read}"
    if text.lower() in _NULL_WORDS or not any(c.isalnum() for c in text):
        return f"if it marks a missing date, --missing {text!r} reads it as blank"
    formats = [f for f in COMMON_DATE_FORMATS if _matches(text, f)]
    if formats:
        return f"--date-format {' or '.join(repr(f) for f in formats[:3])} reads it"
    return ""


def _is_iso(text: str) -> bool:
    try:
        documents.parse_timestamp(text)
    except ValueError:
        return False
    return True


def _matches(text: str, date_format: str) -> bool:
    try:
        datetime.strptime(text, date_format)
    except ValueError:
        return False
    return True


def parse_formatted(value: object, date_format: str) -> datetime:
    """``value`` read with ``date_format``: a strptime format (a time without a zone taken as UTC),
    or one of EPOCH_FORMATS; ValueError when it does not match."""
    text = str(value).strip()
    if date_format in EPOCH_FORMATS:
        if isinstance(value, bool) or not _EPOCH_RE.match(text):
            raise ValueError(text)
        try:
            return datetime.fromtimestamp(float(text) / EPOCH_FORMATS[date_format], UTC)
        except (OverflowError, OSError):
            raise ValueError(text) from None
    parsed = datetime.strptime(text, date_format)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def apply_date_format(doc: dict, date_format: str) -> dict[str, list[str]]:
    """Rewrite opened_at, resolved_at and event times read with ``date_format`` (parse_formatted)
    as ISO 8601; a value that does not match is an error naming the format (and ``--missing`` for
    a null marker). Zero dates are dropped (blank_zero_dates)."""
    blank_zero_dates(doc)
    errors: dict[str, list[str]] = {}
    numbers = date_format in EPOCH_FORMATS  # a JSON number is a Unix time only there

    def convert(value, where: str):
        if not (isinstance(value, str) or (numbers and _is_date_value(value))) or not str(value).strip():
            return value
        try:
            return parse_formatted(value, date_format).isoformat()
        except ValueError:
            text = str(value).strip()
            hint = _date_hint(text)
            errors.setdefault(where, []).append(
                f"{text[:40]!r} does not match --date-format {date_format!r}" + (f"; {hint}" if hint else "")
            )
            return value

    for name in ("opened_at", "resolved_at"):
        if name in doc:
            doc[name] = convert(doc[name], name)
    for i, event in enumerate(doc.get("events") or []):
        if isinstance(event, dict) and "at" in event:
            event["at"] = convert(event["at"], f"events[{i}].at")
    return errors


class EventLogFolder:
    """Folds an event log's rows into one document per ticket, whatever order the rows come in.

    Exports are often ordered by time, so one ticket's rows are spread through the file. Rows are
    kept in a temporary SQLite file (memory does not grow with the log) and read back a ticket at a
    time, tickets in the order of their first row. A ticket's events are in time order (a log
    listed newest first folds the same as one listed oldest first; a row without a time stays after
    the row before it: in_time_order); the ticket fields of its latest row in that order win.
    """

    _BATCH = 1000

    def __init__(self):
        self._dir = tempfile.TemporaryDirectory(prefix="ticketai-event-log-")
        self._db = sqlite3.connect(Path(self._dir.name) / "rows.sqlite3")
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(
            "CREATE TABLE row (seq INTEGER PRIMARY KEY, ticket TEXT NOT NULL, number INTEGER NOT NULL,"
            " doc TEXT NOT NULL)"
        )
        self._pending: list[tuple[str, int, str]] = []

    def push(self, number: int, doc: dict) -> str:
        """Keep one row (its ``number`` in the file); '' or why the row is refused."""
        key = str(doc.get("external_id") or "").strip()
        if not key:
            return "the ticket id column is blank"
        doc["external_id"] = key
        self._pending.append((key, number, json.dumps(doc)))  # ASCII: any string round-trips
        if len(self._pending) >= self._BATCH:
            self._flush()
        return ""

    def tickets(self) -> Iterator[tuple[int, dict, int]]:
        """(the number of the ticket's first row, its folded document, how many of its oldest events
        were left out: fold_rows), a ticket at a time. Whoever made the folder closes it."""
        self._flush()
        self._db.execute("CREATE INDEX row_ticket ON row (ticket, seq)")
        rows = self._db.execute(
            "SELECT row.ticket, row.number, row.doc FROM row"
            " JOIN (SELECT ticket, MIN(seq) AS first FROM row GROUP BY ticket) AS t USING (ticket)"
            " ORDER BY t.first, row.seq"
        )
        for _, group in itertools.groupby(rows, key=lambda row: row[0]):
            numbered = [(number, json.loads(doc)) for _, number, doc in group]
            yield numbered[0][0], *fold_rows([doc for _, doc in numbered])

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()

    def _flush(self) -> None:
        if self._pending:
            self._db.executemany("INSERT INTO row (ticket, number, doc) VALUES (?, ?, ?)", self._pending)
            self._pending = []


def fold_rows(docs: list[dict]) -> tuple[dict, int]:
    """One ticket's rows (each a document with one event) as one document: the events in time order
    (in_time_order); the last row in that order gives the ticket fields, and attributes are merged,
    later rows winning. A ticket the rows give no open time opens at its first event's time, and
    one resolved or closed without a resolve time was resolved at its last event's. A ticket stores
    at most MAX_EVENTS events, so a longer history (an alarm storm's log) keeps its latest ones (the
    model reads fewer still: the last 24); returned with how many were left out."""
    docs = in_time_order(docs, [_event_time(doc) for doc in docs])
    folded: dict = {}
    events: list = []
    attributes: dict = {}
    for doc in docs:
        events.extend(doc.pop("events", []))
        attributes.update(doc.pop("attributes", None) or {})
        folded.update(doc)
    times = [event["at"] for event in events if isinstance(event, dict) and read_time(event.get("at"))]
    if times and not folded.get("opened_at"):
        folded["opened_at"] = times[0]
    if times and not folded.get("resolved_at") and _is_done(folded):
        folded["resolved_at"] = times[-1]
    dropped = max(0, len(events) - documents.MAX_EVENTS)
    folded["events"] = events[dropped:]
    if attributes:
        folded["attributes"] = attributes
    return folded, dropped


def _is_done(doc: dict) -> bool:
    """Resolved or closed: by its status, or, with none, by having a resolution (as documents reads it)."""
    status = doc.get("status")
    if isinstance(status, str) and status.strip():
        return vocabulary.status_of(status) in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED)
    return bool(doc.get("resolution"))


def in_time_order(items: list, times: list[datetime | None]) -> list:
    """``items`` in the order of ``times``, ties and items without a time staying where the file
    has them: an item without a time keeps to the one before it (the first ones, to the first with
    a time), so one untimed row does not leave the rest of a ticket in file order. All untimed:
    as they are. How an event log's rows of one ticket are folded."""
    first = next((time for time in times if time is not None), None)
    if first is None:
        return items
    keys, last = [], first
    for time in times:
        last = time or last
        keys.append(last)
    return [items[i] for i in sorted(range(len(items)), key=keys.__getitem__)]


def read_time(value: object, date_format: str = "") -> datetime | None:
    """An event time as the importer reads it (with ``date_format`` by strptime, as UTC; else ISO
    8601), or None when it is blank or cannot be read."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_formatted(value, date_format) if date_format else documents.parse_timestamp(value)
    except ValueError:
        return None


def _event_time(doc: dict) -> datetime | None:
    events = doc.get("events") or []
    return read_time(events[0].get("at")) if len(events) == 1 and isinstance(events[0], dict) else None


def footer_errors(row, ticket: dict) -> dict[str, list[str]]:
    """``readers.footer_errors`` for a row of a ticket file, unless its document (``ticket``) is a
    valid ticket: a last ticket that holds just its title is kept."""
    errors = readers.footer_errors(row)
    if errors:
        try:
            documents.parse_ticket(ticket)
            return {}
        except documents.DocumentError:
            pass
    return errors
