"""Importing ticket and repair files through the shared write services, and exporting tickets.

Files are streamed (see readers.py) and written in batches; each batch is one transaction, so a
ticket is never half-written. Rows that cannot be read or fail validation are counted, kept in the
rejects file (JSONL: {"row", "external_id", "reason" or "errors", "data"}) and never stop the import.
"""

import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import DataError, transaction

from repair_center import documents, selectors
from repair_center.ingestion import readers, recognise, ticket_rows, workbooks
from repair_center.ingestion.mapping import check_mapping, near_misses, pick_fields, top_key
from repair_center.ingestion.report import KEPT_IGNORED, ImportReport, RejectsLog, note_respelled
from repair_center.ingestion.value_map import ValueMap, apply_value_map
from repair_center.models import Ticket
from repair_center.services import repairs
from repair_center.services.tickets import ItemResult, tickets_upsert
from repair_center.tmf import troubleticket

_ROW_FAILURES = (DataError, ValueError, OverflowError)
# Fields a JSON export may give as a rich value that holds their text (recognise.plain_value).
TEXT_FIELDS = ("title", "description", "resolution_notes", "status", "priority", "resolution", "element")


Converter = Callable[[readers.Row], tuple[dict, dict[str, list[str]]]]
Writer = Callable[[list[dict]], list[ItemResult]]


@dataclass(slots=True)
class TicketRow:
    """One item of a file as import reads it: ``document`` (mapped, folded, not yet validated) or,
    for a row that cannot be read, ``error`` (a reason or errors by field) and the row's ``data``."""

    row: int
    external_id: Any
    document: dict | None = None
    error: str | dict | None = None
    data: Any = None
    events_left_out: int = 0  # an event log's ticket over MAX_EVENTS keeps its latest events


def _entries(
    rows: Iterator[readers.Row], convert: Converter, key: str, *, event_log: bool = False
) -> Iterator[TicketRow]:
    """The file's items, each converted (and, for an event log, folded) or refused: what import
    writes and predict scores, read by one loop. An event log's refused rows come as they are read,
    its tickets once the whole log has been read (a ticket's rows may be anywhere in it)."""
    folder = ticket_rows.EventLogFolder() if event_log else None
    try:
        for row in rows:
            if row.data is None:
                yield TicketRow(row.number, None, error=row.reason, data=row.raw)
                continue
            item, errors = convert(row)
            if errors:
                if key == "external_id" and not event_log and "non_field_errors" not in errors:
                    errors = _and_the_rest(item, errors)  # not for a footer: it is no ticket
                yield TicketRow(row.number, item.get(key), error=errors, data=row.data)
            elif folder is None:
                yield TicketRow(row.number, item.get(key), document=item)
            elif reason := folder.push(row.number, item):
                yield TicketRow(row.number, item.get(key), error=reason, data=row.data)
        for number, folded, left_out in folder.tickets() if folder is not None else ():
            yield TicketRow(number, folded.get(key), document=folded, events_left_out=left_out)
    finally:
        if folder is not None:
            folder.close()


def _and_the_rest(item: dict, errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """A row refused while being read (a date in no known format) with what else is wrong with it
    (a status in no known words, a title too long), so one import names every fix the file needs."""
    rest = {name: value for name, value in item.items() if name not in errors}
    rest.setdefault("external_id", "x")  # a row missing only its id is said by the reader
    try:
        documents.parse_ticket(rest)
    except documents.DocumentError as e:
        return {**e.errors, **errors}
    return errors


def import_rows(
    path: str | Path,
    *,
    convert: Converter,
    write: Writer,
    key: str,
    rejects_path,
    batch_size: int,
    progress,
    report: ImportReport,
    mapping: dict[str, str],
    event_log: bool = False,
    encoding: str = "",
) -> ImportReport:
    """Read ``path`` row by row, ``convert`` each row into an item (or its errors), ``write`` the items
    in batches keyed on ``key``; rejected rows go to the rejects file with their reasons."""
    # FileUnreadable comes from here, before anything is written: the file, or a mapped column
    # its header lacks (the header read as the rows are opened: a workbook is parsed once).
    header, rows = readers.open_rows(path, encoding=encoding)
    try:
        check_mapped_columns(path, mapping, header, read_as=rows.read_as)
    except BaseException:
        rows.close()
        raise
    report.numbered = readers.numbered_columns(header)
    sheets = workbooks.sheets_note(path) if readers.file_format(path) == "xlsx" else ""
    report.read_as = ", ".join(note for note in (sheets, rows.read_as) if note)
    try:
        rejects = RejectsLog(rejects_path, report)
    except OSError as e:
        rows.close()
        raise readers.FileUnreadable(f"{rejects_path}: cannot write the rejects file: {e.strerror}") from e
    batch: list[tuple[int, dict]] = []
    seen: set[tuple[str, str]] = set()
    try:
        for entry in _entries(rows, convert, key, event_log=event_log):
            if entry.document is None:
                rejects.refuse(entry)
                continue
            _note_repeated(report, seen, entry, key)
            if entry.events_left_out:
                report.long_histories += 1
                if len(report.long_history_examples) < 5:
                    report.long_history_examples.append((entry.external_id, entry.events_left_out))
            batch.append((entry.row, entry.document))
            if len(batch) >= batch_size:
                _write_batch(batch, write, key, report, rejects)
                batch = []
                if progress:
                    progress(report)
        if batch:
            _write_batch(batch, write, key, report, rejects)
            if progress:
                progress(report)
    finally:
        rejects.close()
        rows.close()
    report.trimmed = rows.lengths.trimmed if rows.lengths else 0
    return report


def _note_repeated(report: ImportReport, seen: set[tuple[str, str]], entry: TicketRow, key: str) -> None:
    """Count a row whose id an earlier row of the file had: it updates the same record."""
    document = entry.document or {}
    identity = (str(document.get("source") or ""), str(document.get(key)))
    if identity in seen:
        report.repeated += 1
        if len(report.repeated_examples) < 5:
            report.repeated_examples.append((document.get(key), entry.row))
    else:
        seen.add(identity)


def _write_batch(batch, write: Writer, key: str, report: ImportReport, rejects: RejectsLog) -> None:
    items = [item for _, item in batch]
    try:
        with transaction.atomic():
            results = write(items)
    except _ROW_FAILURES:
        # A value that slipped past validation (the database refuses it, or a date overflows when
        # normalised to UTC) costs only its own row: retry one by one, each in its own transaction.
        results = []
        for i, item in enumerate(items):
            try:
                with transaction.atomic():
                    [result] = write([item])
            except _ROW_FAILURES as e:
                refused = {"non_field_errors": [f"cannot be stored: {str(e).strip()[:300]}"]}
                result = ItemResult(i, item.get(key), "rejected", errors=refused)
            result.index = i
            results.append(result)
    for result in results:
        number, item = batch[result.index]
        if result.status == "rejected":
            rejects.add(number, result.external_id, errors=result.errors, data=item)
        else:
            setattr(report, result.status, getattr(report, result.status) + 1)


def check_mapped_columns(
    path, mapping: dict[str, str], header: list[str] | None, *, read_as: str = ""
) -> None:
    """A CSV or sheet header (None for JSON) is known up front: a mapped column that is not there
    is a mistake, not a blank. ``read_as`` is how the reader read the file (RowReader.read_as)."""
    if header is not None and mapping:
        missing = sorted(column for column in mapping.values() if column and column not in header)
        if missing:
            if readers.file_format(path) == "csv":
                where = "CSV header"
                how = f"read as {read_as or 'comma-separated'}, "
            else:
                where, how = "first sheet's header", ""
            raise readers.FileUnreadable(
                f"mapped column(s) not in the {where}: {', '.join(missing)} "
                f"({how}its columns are: {', '.join(header[:20])}"
                + (", ...)" if len(header) > 20 else ")")
                + near_misses(missing, header)
            )


def ignored_noter(report: ImportReport, mapping, fields: tuple[str, ...]):
    """Collects the columns or keys no field reads, so a misspelt one is reported, not just lost."""
    if isinstance(mapping, ticket_rows.TicketMapping):
        used = {mapping.fields.get(name, name) for name in fields} | mapping.columns()
    else:
        used = {mapping.get(name, name) for name in fields}

    def note(data: dict) -> None:
        if len(report.ignored_columns) < KEPT_IGNORED and not used.issuperset(data):
            read = {top_key(column, data) for column in used}  # "fields.summary" reads "fields"
            report.ignored_columns.update(key for key in data if key not in read)

    return note


# --- Tickets -----------------------------------------------------------------------------------


def import_tickets_file(
    path: str | Path,
    *,
    source: str,
    mapping: dict[str, str] | None = None,
    rejects_path=None,
    create_missing: bool = False,
    batch_size: int = 1000,
    progress=None,
    date_format: str = "",
    missing: Sequence[str] = (),
    encoding: str = "",
    value_map: ValueMap | None = None,
) -> ImportReport:
    """Import a CSV, XLSX, JSON or JSONL file of ticket documents through tickets_upsert.

    ``source`` is the default for documents that name none. Without an external id the row is
    keyed as ``<file name>:<row>``, so importing the same file again updates instead of duplicating.
    ``mapping`` may fill attributes and, for an event log, events (see ticket_rows.py); with
    ``date_format`` (strptime), dates in that format are read as UTC. A cell equal to one of
    ``missing`` (an export's null marker: ``?``, ``NULL``, ``N/A``) is read as blank. A CSV file is
    read in ``encoding`` when one is given (else the one its start shows). ``value_map``: value_map.py.
    """
    mapping = mapping or {}
    columns = ticket_rows.split_mapping(mapping)
    tabular = readers.file_format(path) in readers.TABULAR  # text cells under a header
    report = ImportReport()
    to_document = _TicketReader(
        path,
        columns,
        tabular=tabular,
        date_format=date_format,
        missing=missing,
        value_map=value_map,
        report=report,
    )
    noters: dict[str, Callable[[dict], None]] = {}

    def convert(row: readers.Row) -> tuple[dict, dict]:
        converted = to_document(row)  # the first row settles how every row is read
        kind = "tmf" if _is_troubleticket(row, tabular, mapping) else "rows"
        if kind not in noters:
            read = to_document.reading.columns if kind == "rows" else {}
            noters[kind] = ignored_noter(report, read, documents.FIELDS if read else troubleticket.READ)
        noters[kind](row.data)
        return converted

    def write(docs: list[dict]) -> list[ItemResult]:
        results = tickets_upsert(documents=docs, source=source, create_missing=create_missing)
        note_respelled(report, docs, results)
        return results

    import_rows(
        path,
        convert=convert,
        write=write,
        key="external_id",
        rejects_path=rejects_path,
        batch_size=batch_size,
        progress=progress,
        report=report,
        mapping=mapping,
        event_log=columns.is_event_log,
        encoding=encoding,
    )
    report.unread_keys = to_document.reading.keys.note()
    return report


def read_ticket_rows(
    path: str | Path,
    *,
    mapping: dict[str, str] | None = None,
    date_format: str = "",
    missing: Sequence[str] = (),
    encoding: str = "",
    value_map: ValueMap | None = None,
):
    """Yield the file's tickets read exactly as ``import_tickets_file`` reads them (the same
    ``--map`` with attributes and event-log folding, ``date_format``, ``missing`` and ``encoding``),
    writing nothing: what ``predict`` scores a file with, so a file that imports is a file that scores.
    The first ``next()`` raises FileUnreadable for a file that cannot be read, ValueError for a
    wrong mapping."""
    mapping = mapping or {}
    columns = ticket_rows.split_mapping(mapping)
    tabular = readers.file_format(path) in readers.TABULAR  # text cells under a header
    convert = _TicketReader(
        path, columns, tabular=tabular, date_format=date_format, missing=missing, value_map=value_map
    )
    header, rows = readers.open_rows(path, encoding=encoding)
    try:
        check_mapped_columns(path, mapping, header, read_as=rows.read_as)
        yield from _entries(rows, convert, "external_id", event_log=columns.is_event_log)
    finally:
        rows.close()


class _TicketReader:
    """row -> (partial document, errors): null markers blanked, mapped (and recognised) columns, CSV
    cells parsed (with a decimal comma in a semicolon-separated file: a spreadsheet writes ";" where
    "," is the decimal mark), dates read; a row of a plain file without an external id is keyed
    ``<file name>:<row>``, and ``report`` counts those."""

    def __init__(
        self, path, columns, *, tabular: bool, date_format: str, missing, value_map=None, report=None
    ):
        self.name = Path(path).name
        self.tabular, self.date_format, self.report = tabular, date_format, report
        self.value_map: ValueMap = value_map or {}
        self.decimal_comma = (
            readers.file_format(path) == "csv" and readers.csv_dialect_of(path).separator == ";"
        )
        self.nulls = {value.strip() for value in missing}
        self.reading = recognise.Reading(columns, tabular=tabular)
        self.mapped = columns.columns()

    def __call__(self, row: readers.Row) -> tuple[dict, dict]:
        if _is_troubleticket(row, self.tabular, self.mapped):
            # A TMF621 dump (GET /troubleTicket saved to a file): read as the TMF621 connector reads it.
            doc = {**troubleticket.document_fields(row.data), "external_id": str(row.data.get("id") or "")}
            if not doc["external_id"]:
                doc["external_id"] = f"{self.name}:{row.number}"
            return doc, {}
        data = row.data
        self.reading.start(data, self.report)
        if self.nulls:  # a marked cell or key is absent, as a blank CSV cell is
            data = {k: v for k, v in data.items() if not (isinstance(v, str) and v.strip() in self.nulls)}
        columns = self.reading.columns
        doc = ticket_rows.row_document(data, columns, text=self.tabular, decimal_comma=self.decimal_comma)
        if not self.tabular:
            for name in TEXT_FIELDS:
                if name in doc:
                    doc[name] = recognise.plain_value(doc[name])
        errors = _csv_ticket_fields(doc) if self.tabular and not columns.is_event_log else {}
        apply_value_map(doc, self.value_map)  # the export's words, before a preset reads its codes
        if not self.tabular and self.reading.preset is not None:
            recognise.apply_transforms(self.reading.preset, doc, columns.fields)
        if self.date_format:
            errors.update(ticket_rows.apply_date_format(doc, self.date_format))
        else:  # an export's own format (or a Unix time, or a null marker) is worth naming
            errors.update(ticket_rows.date_format_hints(doc))
        if columns.is_event_log:  # the folder refuses a row without a ticket id
            return doc, errors | readers.footer_errors(row)
        external_id = doc.get("external_id")
        if external_id is None or (isinstance(external_id, str) and not external_id.strip()):
            doc["external_id"] = f"{self.name}:{row.number}"
            if self.report is not None:
                self.report.row_keyed += 1
                self.report.row_keyed_example = self.report.row_keyed_example or doc["external_id"]
        return doc, errors | ticket_rows.footer_errors(row, doc)


def _is_troubleticket(row: readers.Row, tabular: bool, mapping) -> bool:
    """A JSON row that is a TMF621 TroubleTicket, in a file imported without ``--map``."""
    return not tabular and not mapping and troubleticket.is_troubleticket(row.data)


def _csv_ticket_fields(doc: dict) -> dict[str, list[str]]:
    """CSV cells are text: error_codes a list separated by ';', ',', '|' or line breaks (exports use
    each; a code with a space in it stays whole), events a JSON array."""
    errors: dict[str, list[str]] = {}
    if "error_codes" in doc:
        doc["error_codes"] = [
            code.strip() for code in re.split(r"[;,|\r\n]", doc["error_codes"]) if code.strip()
        ]
    if "events" in doc:
        try:
            doc["events"] = json.loads(doc["events"])
        except json.JSONDecodeError as e:
            errors["events"] = [f"must be a JSON array of events: {e.msg} at column {e.colno}"]
    return errors


# --- Repair records ----------------------------------------------------------------------------


def import_repairs_file(
    path: str | Path,
    *,
    mapping: dict[str, str] | None = None,
    rejects_path=None,
    batch_size: int = 1000,
    progress=None,
    encoding: str = "",
    value_map: ValueMap | None = None,
) -> ImportReport:
    """Import a CSV, XLSX, JSON or JSONL file of repair records through repairs_upsert (keyed on
    rma_id); a CSV file in ``encoding`` when one is given; ``value_map`` (value_map.REPAIR_FIELDS)
    reads an export's own words for a finding or a fault code."""
    mapping = mapping or {}
    check_mapping(mapping, repairs.FIELDS)
    tabular = readers.file_format(path) in readers.TABULAR  # text cells under a header
    report = ImportReport()
    note_ignored = ignored_noter(report, mapping, repairs.FIELDS)

    def convert(row: readers.Row) -> tuple[dict, dict]:
        note_ignored(row.data)
        record = pick_fields(row.data, mapping, repairs.FIELDS, text=tabular)
        apply_value_map(record, value_map or {})
        return record, readers.footer_errors(row)

    return import_rows(
        path,
        convert=convert,
        write=lambda rows: repairs.repairs_upsert(rows=rows),
        key="rma_id",
        rejects_path=rejects_path,
        batch_size=batch_size,
        progress=progress,
        report=report,
        mapping=mapping,
        encoding=encoding,
    )


# --- Export ------------------------------------------------------------------------------------


def export_tickets_file(path: str | Path, *, source: str | None = None) -> int:
    """Write canonical documents to ``path`` (.json array or .jsonl); returns how many.

    Written to ``<path>.part`` and renamed, so a reader never sees half a file."""
    path = Path(path)
    if path.suffix.lower() not in (".json", ".jsonl"):
        raise readers.FileUnreadable(f"{path.name}: export to .json or .jsonl")
    queryset = Ticket.objects.all()
    if source:
        queryset = queryset.filter(source=source)
    part = path.with_name(path.name + ".part")
    count = 0
    try:
        with open(part, "w", encoding="utf-8") as out:
            lines = _json_lines(selectors.ticket_documents(queryset))
            if path.suffix.lower() == ".jsonl":
                for line in lines:
                    out.write(line + "\n")
                    count += 1
            else:
                out.write("[")
                for line in lines:
                    out.write(("\n" if count == 0 else ",\n") + line)
                    count += 1
                out.write("\n]\n")
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return count


def _json_lines(docs: Iterator[dict]) -> Iterator[str]:
    for doc in docs:
        yield json.dumps(doc, ensure_ascii=False)


__all__: Sequence[str] = (
    "ImportReport",
    "export_tickets_file",
    "import_repairs_file",
    "import_tickets_file",
)
