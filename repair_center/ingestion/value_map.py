"""``--value-map FIELD:SOURCE=TARGET``: an export's own value of a field read as another, before the
field is checked. The escape hatch for what the vocabulary cannot know: a system's numeric states
(``status:7=closed``), a desk's own words (``priority:Dringend=high``), a code spelt its own way
(``resolution:HW=Hardware failure``). ``status:N/A=`` (an empty TARGET) makes the value blank.

SOURCE matches the cell stripped, ignoring case; a number (a JSON ``7``) matches its digits.
"""

from collections.abc import Iterable, Sequence

from repair_center import documents

# Fields of a ticket document that hold a value to map, besides attributes.NAME and event parts.
FIELDS = tuple(name for name in documents.FIELDS if name not in ("events", "alarms", "attributes"))
EVENT_PARTS = ("event.kind", "event.code")
# What import_repairs and import_alarms map: the fields that hold a vocabulary (a finding, a fault code,
# a severity, a probable cause), not an id, a serial, a time or free text.
REPAIR_FIELDS = ("finding", "reported_fault_code", "unit_kind", "repair_action", "ticket_source")
ALARM_FIELDS = (
    *("perceivedSeverity", "state", "ackState", "alarmType", "probableCause"),
    *("specificProblem", "alarmedObjectType"),
)

ValueMap = dict[str, dict[str, str]]  # field -> {source, case-folded: target}


def parse_value_map(entries: Iterable[str], fields: Sequence[str] | None = None) -> ValueMap:
    """The ``--value-map`` entries by field, a ticket's or, given, one of ``fields``; ValueError naming
    a malformed one."""
    value_map: ValueMap = {}
    for entry in entries:
        field, colon, rest = entry.partition(":")
        source, equals, target = rest.partition("=")
        field = field.strip()
        if not (colon and equals and source.strip()):
            raise ValueError(f"--value-map {entry!r}: write FIELD:SOURCE=TARGET, e.g. status:7=closed")
        if fields is not None:
            known, names = field in fields, ", ".join(fields)
        else:
            known = field in FIELDS or field in EVENT_PARTS or field.startswith("attributes.")
            names = f"{', '.join(FIELDS)}, attributes.NAME, " + " or ".join(EVENT_PARTS)
        if not known:
            raise ValueError(f"--value-map {entry!r}: FIELD is one of {names}")
        value_map.setdefault(field, {})[_key(source)] = target.strip()
    return value_map


def apply_value_map(doc: dict, value_map: ValueMap) -> None:
    """Replace, in place, the values of ``doc`` (a row's document) that ``value_map`` names."""
    for field, table in value_map.items():
        if field.startswith("attributes."):
            holder, key = doc.get("attributes"), field.removeprefix("attributes.")
            if isinstance(holder, dict):
                _replace(holder, key, table)
        elif field.startswith("event."):
            for event in doc.get("events") or []:
                if isinstance(event, dict):
                    _replace(event, field.removeprefix("event."), table)
        elif isinstance(doc.get(field), list):  # error_codes
            doc[field] = [table.get(_key(item), item) if _mappable(item) else item for item in doc[field]]
        else:
            _replace(doc, field, table)


def _replace(holder: dict, key: str, table: dict[str, str]) -> None:
    value = holder.get(key)
    if not _mappable(value) or _key(value) not in table:
        return
    target = table[_key(value)]
    if target:
        holder[key] = target
    else:
        del holder[key]


def _mappable(value: object) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _key(value: object) -> str:
    return str(value).strip().casefold()
