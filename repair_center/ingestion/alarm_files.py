"""Importing an alarm history: a fault-management system's export of TMF642 alarms, or a CSV or
workbook of its columns, through the same ``alarms_upsert`` as the TMF642 API (keyed on
sourceSystemId + externalAlarmId, so a rerun changes nothing).

A JSON record is a TMF642 Alarm as the API takes it. A CSV or sheet is read through ``--map``
(TMF642 attribute -> column; columns named as the attributes are read without one), and a record
without a value takes ``defaults`` (``--default alarmType=equipmentAlarm``): an export that has no
X.733 probable cause names one for all its alarms, rather than TicketAI guessing one. Besides:

- ``sourceSystemId`` defaults to ``source``;
- ``alarmedObject`` given as text is the alarmed object's id (the element's serial or name);
- ``state`` defaults to cleared when the record has a clear time, else raised;
- with ``date_format`` (strptime, read as UTC; or epoch, epoch_ms), the times are read in the
  export's own format;
- ``value_map`` (``--value-map perceivedSeverity:1=critical``, value_map.ALARM_FIELDS) reads the
  export's own words for a severity, a state or a cause, before the defaults.
"""

from pathlib import Path

from repair_center.alarm_documents import CHOICES, REQUIRED, TEXT, TIMES
from repair_center.ingestion import readers
from repair_center.ingestion.files import ignored_noter, import_rows
from repair_center.ingestion.mapping import check_mapping, pick_fields
from repair_center.ingestion.report import ImportReport
from repair_center.ingestion.ticket_rows import parse_formatted
from repair_center.ingestion.value_map import ValueMap, apply_value_map
from repair_center.services.alarms import alarms_upsert

# The TMF642 attributes a column can fill.
FIELDS = tuple(dict.fromkeys((*REQUIRED, *TEXT, *TIMES, *CHOICES, "alarmDetails")))


def import_alarms_file(
    path: str | Path,
    *,
    source: str,
    mapping: dict[str, str] | None = None,
    defaults: dict[str, str] | None = None,
    rejects_path=None,
    batch_size: int = 1000,
    progress=None,
    date_format: str = "",
    encoding: str = "",
    value_map: ValueMap | None = None,
) -> ImportReport:
    """Import a JSON, JSONL, CSV or XLSX file of alarms through alarms_upsert (module docstring)."""
    mapping, defaults = mapping or {}, defaults or {}
    check_mapping(mapping, FIELDS)
    check_mapping(dict.fromkeys(defaults, ""), FIELDS)
    tabular = readers.file_format(path) in readers.TABULAR
    report = ImportReport()
    note_ignored = ignored_noter(report, mapping, FIELDS)

    def convert(row: readers.Row) -> tuple[dict, dict]:
        if tabular or mapping:
            note_ignored(row.data)
            alarm = pick_fields(row.data, mapping, FIELDS, text=tabular)
        else:
            alarm = dict(row.data)  # a TMF642 Alarm, as the API takes it
        apply_value_map(alarm, value_map or {})  # before the defaults: "N/A" mapped to blank takes one
        for name, value in {"sourceSystemId": source, **defaults}.items():
            if alarm.get(name) in (None, ""):
                alarm[name] = value
        if isinstance(alarm.get("alarmedObject"), str):
            alarm["alarmedObject"] = {"id": alarm["alarmedObject"]}
        alarm.setdefault("state", "cleared" if alarm.get("alarmClearedTime") else "raised")
        errors = _read_times(alarm, date_format) if date_format else {}
        return alarm, errors | readers.footer_errors(row)

    return import_rows(
        path,
        convert=convert,
        write=lambda alarms: alarms_upsert(documents=alarms),
        key="externalAlarmId",
        rejects_path=rejects_path,
        batch_size=batch_size,
        progress=progress,
        report=report,
        mapping=mapping,
        encoding=encoding,
    )


def _read_times(alarm: dict, date_format: str) -> dict[str, list[str]]:
    """The record's times in ``date_format`` (as UTC) rewritten as ISO 8601, or the reason each is not."""
    errors: dict[str, list[str]] = {}
    for name in TIMES:
        value = alarm.get(name)
        if isinstance(value, str) and value.strip():
            try:
                alarm[name] = parse_formatted(value, date_format).isoformat()
            except ValueError:
                errors[name] = [f"{value[:40]!r} does not match the date format {date_format!r}"]
    return errors
