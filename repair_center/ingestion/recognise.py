"""Reading an export without a ``--map`` for every column.

- **Columns exports commonly use for a field**: a column that is a field's name but for case and
  spacing (``Opened At`` for ``opened_at``), else a name other systems give it (``number``,
  ``Issue key`` or ``Ticket ID`` for ``external_id``; ``Short description``, ``Summary`` or
  ``Subject`` for ``title``). A ticket keyed by its own id is updated when the next export brings
  it again; keyed by its row in the file, it would be overwritten by whatever row comes there.
- **API dumps TicketAI has a connector for**: a saved ServiceNow Table API answer (records with
  ``sys_id`` and ``number``) or Jira search (``key`` and ``fields``) is read as that connector's
  preset reads it: its fields, state and priority codes, Jira's document-format descriptions.

What was recognised is said in the import report, ``--map`` always wins, and ``FIELD=`` (no
column) still reads a field from nowhere.
"""

import dataclasses
import difflib
import re
import unicodedata
from collections.abc import Collection, Iterable
from typing import Any

from repair_center import documents
from repair_center.ingestion import presets, readers, ticket_rows
from repair_center.ingestion.mapping import lookup
from repair_center.ingestion.report import ImportReport

# Other names exports give a field, most telling first (matched but for case, spaces, '_' and '-').
# Only fields whose value cannot turn a readable row into a refused one by being misread, besides
# a field's own name: a "Location" or "State" column is too often something else to be guessed.
KNOWN_NAMES: dict[str, tuple[str, ...]] = {
    "external_id": (
        *("ticket id", "ticket number", "ticket no", "ticket", "incident id", "incident number"),
        *("incident", "issue key", "case number", "case id", "number", "key", "id"),
    ),
    "title": ("short description", "summary", "subject", "headline"),
    "description": ("long description", "problem description", "details"),
    "resolution_notes": ("close notes", "closure notes", "resolution notes", "resolution note"),
}
# A column that is one of these fields' names but for case or spacing is that field. Not ``source``
# ("Source" is often the channel a call came in by), nor the fields holding JSON in a CSV.
OWN_NAMES = (
    *("external_id", "title", "description", "status", "priority", "opened_at", "resolved_at"),
    *("site", "element", "error_codes", "resolution", "resolution_notes"),
)
_SEPARATORS = re.compile(r"[\s_\-]+")
# BMC Remedy / Helix marks a required field's label with '*' and an indexed one with '+'
# ("Incident ID*+", "Summary*"); OTRS heads its id column "Ticket#".
_HEADER_MARKS = re.compile(r"[\s*+#]+$")


def name_key(name: str) -> str:
    """A column name as it is compared: composed Unicode, case, separators and trailing marks aside."""
    key = _SEPARATORS.sub(" ", unicodedata.normalize("NFC", name).casefold()).strip()
    return _HEADER_MARKS.sub("", key) or key


def recognise(keys: Iterable[Any], named: Collection[str], taken: Collection[str]) -> dict[str, str]:
    """{field: column} for the fields not ``named`` by the mapping whose own name is no column.

    A column the mapping already reads (``taken``), or a name two columns could be (``ID`` and
    ``id``), is left alone: a guess is taken only where it is the one reading."""
    columns = [key for key in keys if isinstance(key, str)]
    by_key: dict[str, list[str]] = {}
    for column in columns:
        by_key.setdefault(name_key(column), []).append(column)
    found: dict[str, str] = {}
    for field in OWN_NAMES:
        if field in named or field in columns:
            continue
        for name in (field, *KNOWN_NAMES.get(field, ())):
            candidates = by_key.get(name_key(name), [])
            if len(candidates) > 1:
                break  # "Ticket ID" and "ticket_id": no guess, and no weaker name in their place
            if candidates and candidates[0] not in taken and candidates[0] not in found.values():
                found[field] = candidates[0]
                break
    return found


class Reading:
    """How a ticket file's records are read: ``--map``, and what the first record lets TicketAI
    recognise (recognise.py): columns named for a field, or a connector's API dump."""

    def __init__(self, columns: ticket_rows.TicketMapping, *, tabular: bool):
        self.columns, self.tabular = columns, tabular
        self.preset: presets.Preset | None = None
        self.started = False
        self.keys = KeyTracker(() if tabular else columns.columns())

    def start(self, data: dict, report: ImportReport | None) -> None:
        """Settle the reading on the file's first record (later ones only count mapped keys seen)."""
        self.keys.see(data)
        if self.started:
            return
        self.started = True
        if self.columns.is_event_log:
            return
        fields = dict(self.columns.fields)
        self.preset = None if self.tabular else dump_preset(data)
        if self.preset is not None:
            fields = {**preset_mapping(self.preset), **fields}
            found = {}
        else:
            found = recognise(data.keys(), fields, self.columns.columns())
        self.columns = dataclasses.replace(self.columns, fields={**fields, **found})
        if report is not None:
            if self.preset is not None:
                how = f"{DUMP_NAMES[self.preset.name]} with the {self.preset.name!r} connector's fields"
                report.read_as = ", ".join(filter(None, [report.read_as, f"{how} (--map overrides one)"]))
            report.recognised.extend(f"{column!r} as {name}" for name, column in found.items())
        if self.tabular:
            self._check_any_column_read(data)

    def _check_any_column_read(self, data: dict) -> None:
        read = {self.columns.fields.get(name, name) for name in documents.FIELDS} | self.columns.columns()
        if not read & data.keys():
            header = list(data)
            raise readers.FileUnreadable(
                f"no column of the file is a field TicketAI reads (its columns are: {', '.join(header[:20])}"
                + (", ...)" if len(header) > 20 else ")")
                + "; name them with --map, e.g. --map title=COLUMN --map resolution=COLUMN (docs/data.md)"
            )


# --- API dumps --------------------------------------------------------------------------------


def dump_preset(record: Any) -> presets.Preset | None:
    """The connector preset that reads a saved API answer's record, if it is one TicketAI knows."""
    if not isinstance(record, dict):
        return None
    if "key" in record and isinstance(record.get("fields"), dict):
        return presets.PRESETS["jira"]
    if "sys_id" in record and "number" in record:
        return presets.PRESETS["servicenow"]
    return None


DUMP_NAMES = {"jira": "Jira search results", "servicenow": "ServiceNow Table API records"}


def preset_mapping(preset: presets.Preset) -> dict[str, str]:
    """The preset's canonical field -> remote field, without the update time (a file is no pull)."""
    return {name: remote for name, remote in preset.mapping.items() if name != "updated_at"}


def apply_transforms(preset: presets.Preset, doc: dict, mapped: dict[str, str]) -> None:
    """The preset's value transforms (state codes, priorities, document-format text) on the fields
    read through its own mapping; a field ``--map`` moved elsewhere is read as it is."""
    own = preset_mapping(preset)
    for name, transform in preset.transforms.items():
        if name in doc and doc[name] is not None and mapped.get(name) == own.get(name):
            doc[name] = transform(doc[name])


def plain_value(value: Any) -> Any:
    """A JSON value as a text field reads it: the text of a Jira document-format body, a
    ServiceNow reference or choice answered with ``sysparm_display_value`` as its display value."""
    if isinstance(value, dict):
        if "display_value" in value:
            return value["display_value"]
        return presets.adf_text(value)
    return value


# --- Mapped keys no record has ------------------------------------------------------------------


def paths(record: Any, prefix: str = "", depth: int = 3) -> list[str]:
    """The dotted paths into a JSON record's objects (lists by index), ``depth`` levels down."""
    found: list[str] = []
    items = (
        record.items() if isinstance(record, dict) else enumerate(record) if isinstance(record, list) else ()
    )
    for key, value in items:
        path = f"{prefix}{key}"
        found.append(path)
        if depth > 1 and isinstance(value, dict | list):
            found.extend(paths(value, path + ".", depth - 1))
    return found


class KeyTracker:
    """The mapped keys or paths of a JSON file that no record has yet: a misspelt path reads nothing,
    so it is said at the end of the import instead of leaving the field blank without a word."""

    def __init__(self, columns: Iterable[str]):
        self.unseen = {column for column in columns if column}
        self.example: Any = None

    def see(self, record: Any) -> None:
        if not self.unseen or not isinstance(record, dict):
            return
        if self.example is None:
            self.example = record
        self.unseen = {column for column in self.unseen if not lookup(record, column)[0]}

    def note(self) -> str:
        if not self.unseen:
            return ""
        known = paths(self.example) if self.example is not None else []
        hints = []
        for column in sorted(self.unseen):
            close = difflib.get_close_matches(column, known, n=1, cutoff=0.75)
            hints.append(f"{column} (did you mean {close[0]}?)" if close else column)
        return (
            f"mapped keys no record has, so they read nothing: {', '.join(hints)}; a path goes through "
            "objects by key and lists by index (fields.components.0.name)"
        )
