"""Streaming readers for CSV, JSON (an array, or an object holding one: json_array.py), JSONL and
XLSX files, in constant memory.

Every reader yields ``Row(number, data, reason)``: ``data`` is a dict of the record's raw values,
or ``None`` with a ``reason`` when the record could not be read (bad UTF-8, bad JSON, a line over
MAX_LINE_BYTES). One broken record never stops the file; only a file that cannot be opened or has
no usable start (no CSV header, no JSON array) raises FileUnreadable, before anything is yielded.

Row numbers are what a person finds in the file: the JSONL line, the JSON array element (from 1),
the CSV record counting the header as row 1 (as a spreadsheet shows it).
"""

import csv
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from repair_center.ingestion import compressed, csv_records, workbooks
from ticketai.storable import unique_keys

MAX_LINE_BYTES = 1024 * 1024
CHUNK_CHARS = 64 * 1024
# Python's decoder recurses per level and gives up near 1,000; say so instead of crashing.
TOO_DEEP = "invalid JSON: nested too deep"
# Delimited text is read as CSV whatever its extension says (the separator is found: csv_records.sniff);
# .xlsm is a workbook with macros, which are never run.
FORMATS = {
    **dict.fromkeys((".csv", ".tsv", ".txt"), "csv"),
    **dict.fromkeys((".xlsx", ".xlsm"), "xlsx"),
    ".json": "json",
    **dict.fromkeys((".jsonl", ".ndjson"), "jsonl"),
}
# Spreadsheets this reader does not open (to be saved as .xlsx or CSV).
_RESAVE = {".xls": "an Excel 97-2003 workbook", ".xlsb": "a binary Excel workbook"}
_RESAVE |= {".ods": "an OpenDocument spreadsheet", ".numbers": "a Numbers spreadsheet"}
# Formats of header and cells, all text: blank cells are absent, plain numbers are numbers.
TABULAR = ("csv", "xlsx")

# Bytes that were not UTF-8 survive decoding as lone surrogates (errors="surrogateescape").
_UNDECODABLE = re.compile("[\udc80-\udcff]")
# Escapes that may decode to what PostgreSQL cannot store (NUL, lone surrogates); rare, so the
# exact check (_unstorable) runs only when the raw text contains one.
_SUSPECT_ESCAPE = re.compile(r"\\u(0000|d[89a-f])", re.IGNORECASE)

# A CSV record, all its lines together, is held to MAX_LINE_BYTES as well; csv's own field limit
# sits just above, never reached (reaching it made the reader start again mid-field).
csv.field_size_limit(MAX_LINE_BYTES + 16)


class FileUnreadable(Exception):
    """The file cannot be read at all: missing, unknown format, or no usable start."""


@dataclass(frozen=True, slots=True)
class Row:
    number: int
    data: dict | None
    reason: str = ""
    raw: str = ""
    footer: bool = False  # one value after a file's last record: maybe a report's footer (csv_records)
    values: int = 0  # how many values a CSV record or sheet row holds (csv_records.RowLengths)


def file_format(path: str | Path) -> str:
    """The format the file's extension names; under ``.gz`` (gzip), the one before it."""
    suffix = _format_suffix(path)
    if suffix in _RESAVE:
        raise FileUnreadable(
            f"{Path(path).name} is {_RESAVE[suffix]}; open it and save it as .xlsx (Excel Workbook) "
            "or .csv (CSV UTF-8), then import that"
        )
    if suffix not in FORMATS:
        raise FileUnreadable(
            f"{Path(path).name}: unknown format {suffix!r}; use .csv (or .tsv, .txt), .xlsx, .json or "
            ".jsonl, the text ones gzip-compressed or not (.csv.gz)"
        )
    if FORMATS[suffix] == "xlsx" and _is_gzip(path):
        raise FileUnreadable(
            f"{Path(path).name}: a workbook is compressed already; import the {suffix} itself"
        )
    return FORMATS[suffix]


def _is_gzip(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".gz"


def _format_suffix(path: str | Path) -> str:
    suffixes = [suffix.lower() for suffix in Path(path).suffixes]
    return suffixes[-2] if len(suffixes) >= 2 and suffixes[-1] == ".gz" else Path(path).suffix.lower()


def open_binary(path: str | Path) -> IO[bytes]:
    """The file's bytes, a ``.gz`` file's decompressed as they are read (raises OSError)."""
    return compressed.Decompressed(path) if _is_gzip(path) else open(path, "rb")


def read_rows(path: str | Path, *, encoding: str = "") -> "RowReader":
    """Open ``path`` (format by extension) and return an iterator of its rows; a CSV or JSON file is
    read in ``encoding`` when one is given, else in the one its start shows (csv_records.sniff,
    json_array.open_file).

    Opening and the first check happen now, so FileUnreadable is raised here and not mid-import.
    """
    return open_rows(path, encoding=encoding)[1]


def open_rows(path: str | Path, *, encoding: str = "") -> tuple[list[str] | None, "RowReader"]:
    """(the header of a CSV file or a workbook's first sheet, None for JSON; its rows), as
    ``read_rows``: a workbook is opened once for both (opening parses all of its text)."""
    fmt = file_format(path)
    if fmt == "xlsx":
        header, rows, workbook, note = _open_sheet(path)
        footer = csv_records.footer_rows(_records(rows, header), _named(header))
        return header, RowReader(workbook, footer, read_as=note)
    try:
        handle = open_binary(path)  # closed by the RowReader that owns it
    except OSError as e:
        raise FileUnreadable(f"{path}: {e.strerror or e}") from e
    try:
        if fmt == "csv":
            opened = _csv_header(handle, encoding)
            footer = csv_records.footer_rows(_csv_rows(handle, opened), _named(opened[2]))
            lengths = csv_records.RowLengths(opened[2], opened[3].separator)
            judged = lengths.judged(footer)
            return opened[2], RowReader(handle, judged, read_as=opened[3].describe(), lengths=lengths)
        if fmt == "json":
            # Imported here: json_array builds on this module's rows and checks.
            from repair_center.ingestion import json_array

            rows, read_as = json_array.open_file(handle, encoding)
            return None, RowReader(handle, rows, read_as=read_as)
        return None, RowReader(handle, _jsonl_rows(handle))
    except BaseException:
        handle.close()
        raise


def footer_errors(row: Row) -> dict[str, list[str]]:
    """The refusal, as errors by field, of a row the reader marked as maybe a report's footer
    (``footer``: one value after a file's last record, "Total: 2 records"); nothing for any other
    row. Where one value can make a record (a ticket's title), see ticket_rows.footer_errors."""
    if not row.footer or not row.data:
        return {}
    value = csv_records.filled(row.data.values())[0]
    return {"non_field_errors": [f"one value after the last record, a report's footer: {value[:60]!r}"]}


def _named(header: list[str]) -> int:
    return sum(1 for name in header if name)


class RowReader(Iterator[Row]):
    """``rows``, then ``handle`` closed (a file, or a workbook), however the reading ends: at the
    last row, on an error, or by ``close()``, also before the first row (a generator closed before
    it started would not run its ``finally``)."""

    def __init__(self, handle: Any, rows: Iterator[Row], *, read_as: str = "", lengths=None):
        self._handle, self._rows = handle, rows
        self._last = 0
        self.read_as = read_as  # how the file was read, where that needs saying (its dialect, ...)
        self.lengths: csv_records.RowLengths | None = lengths  # a CSV file's short rows

    def __next__(self) -> Row:
        try:
            row = next(self._rows)
        except StopIteration:
            # A compressed file cut short ends early: the rows before it were read, say where.
            problem = getattr(self._handle, "problem", "")
            if problem:
                self._handle.problem = ""
                return Row(self._last + 1, None, problem)
            self.close()
            raise
        except BaseException:
            self.close()
            raise
        self._last = row.number
        return row

    def close(self) -> None:
        close_rows = getattr(self._rows, "close", None)
        try:
            if close_rows is not None:
                close_rows()
        finally:
            self._handle.close()


def truncate(text: str, limit: int = 2000) -> str:
    """A rejected row's raw text as reported: undecodable characters replaced, cut at ``limit``."""
    text = _UNDECODABLE.sub("\ufffd", text)
    return text if len(text) <= limit else text[:limit] + "…"


def _lines(handle: IO[bytes], overlong: set[int]) -> Iterator[bytes]:
    """Physical lines of at most MAX_LINE_BYTES; a longer one is skipped and its number noted."""
    number = 0
    while True:
        line = handle.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            overlong.add(number)
            while line and not line.endswith(b"\n"):
                line = handle.readline(CHUNK_CHARS)
            yield b"\n"
            continue
        yield line


def _bad_text_reason(text: str, encoding: str = "utf-8") -> str:
    if _UNDECODABLE.search(text):
        return f"not valid {csv_records.encoding_name(encoding)}"
    if "\x00" in text:
        return "contains a NUL character"
    return ""


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _unstorable(text: str, value: Any) -> str:
    if not _SUSPECT_ESCAPE.search(text):
        return ""
    for string in _strings(value):
        if "\x00" in string:
            return "contains a \\u0000 escape (NUL), which cannot be stored"
        try:
            string.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate escape, which is not valid Unicode"
    return ""


def json_value(text: str, value: Any) -> tuple[dict | None, str]:
    """Checks shared by JSONL lines and JSON array elements once they are decoded."""
    reason = _bad_text_reason(text) or _unstorable(text, value)
    if not reason and not isinstance(value, dict):
        reason = f"expected a JSON object, got {type(value).__name__}"
    return (None, reason) if reason else (value, "")


def not_json(constant: str):
    """json's parse_constant: NaN and Infinity are not JSON, and no stored value may hold them."""
    raise ValueError(f"{constant} is not a JSON value")


def _json_object(text: str) -> tuple[dict | None, str]:
    try:
        value = json.loads(text, object_pairs_hook=unique_keys, parse_constant=not_json)
    except json.JSONDecodeError as e:
        reason = _bad_text_reason(text)
        return None, reason or f"invalid JSON: {e.msg} at column {e.colno}"
    except ValueError as e:  # a repeated key, or NaN / Infinity, which JSON does not have
        return None, f"invalid JSON: {e}"
    except RecursionError:
        return None, TOO_DEEP
    return json_value(text, value)


# --- JSONL -------------------------------------------------------------------------------------


def _jsonl_rows(handle: IO[bytes]) -> Iterator[Row]:
    overlong: set[int] = set()
    for number, line in enumerate(_lines(handle, overlong), start=1):
        if number in overlong:
            yield Row(number, None, f"line longer than {MAX_LINE_BYTES} bytes")
            continue
        text = line.decode("utf-8", errors="surrogateescape")
        if number == 1:
            text = text.removeprefix("\ufeff")
        if not text.strip():
            continue
        data, reason = _json_object(text)
        yield Row(number, data, reason, raw="" if data is not None else truncate(text.rstrip("\n")))


# --- CSV ---------------------------------------------------------------------------------------


def _csv_header(
    handle: IO[bytes], encoding: str = ""
) -> tuple[csv_records.CsvSource, Any, list[str], csv_records.CsvDialect]:
    try:
        dialect = csv_records.sniff(handle, encoding)
    except ValueError as e:
        raise FileUnreadable(str(e)) from None
    source = csv_records.CsvSource(
        handle,
        max_line=MAX_LINE_BYTES,
        max_record=MAX_LINE_BYTES,
        separator=dialect.separator,
        encoding=dialect.encoding,
    )
    reader = csv.reader(source, strict=False, delimiter=dialect.separator)
    try:
        for _ in range(dialect.title_lines):  # a report's title above its header
            next(reader)
        header = next(reader)
    except StopIteration:
        raise FileUnreadable("the CSV file is empty (no header row)") from None
    except csv.Error as e:
        raise FileUnreadable(f"the CSV header row cannot be read: {e}") from None
    if source.problem:
        raise FileUnreadable(f"the CSV header row cannot be read: {source.problem}")
    if header:
        header[0] = header[0].removeprefix("\ufeff")
    if _UNDECODABLE.search("".join(header)):
        raise FileUnreadable(f"the CSV header row is not valid {csv_records.encoding_name(dialect.encoding)}")
    return source, reader, _checked_header(header, "CSV file"), dialect


class Header(list[str]):
    """A file's column names, with ``numbered``: those renamed because the file repeats them."""

    numbered: list[str]


def _checked_header(header: list[str], what: str) -> Header:
    """The column names, stripped; FileUnreadable for a header with none. A name the header repeats
    (a Jira export has a "Comment" or "Labels" column per value) is numbered from its second time
    on: "Labels", "Labels (2)", "Labels (3)", so every value is kept and ``--map`` can name each."""
    # Composed Unicode: a macOS export writes "Lösung" decomposed, and --map is typed composed.
    names = [unicodedata.normalize("NFC", name.strip()) for name in header]
    if not any(names):
        raise FileUnreadable(f"the {what} has an empty header row")
    taken, times = set(names), Counter[str]()
    checked = Header()
    checked.numbered = []
    for name in names:
        times[name] += 1
        if name and times[name] > 1:
            n = times[name]
            while f"{name} ({n})" in taken:
                n += 1
            name = f"{name} ({n})"
            taken.add(name)
            checked.numbered.append(name)
        checked.append(name)
    return checked


def numbered_columns(header: list[str] | None) -> list[str]:
    """The columns of ``header`` (as open_rows returns it) numbered because the file repeats them."""
    return list(getattr(header, "numbered", []))


def _csv_rows(
    handle: IO[bytes], opened: tuple[csv_records.CsvSource, Any, list[str], csv_records.CsvDialect]
) -> Iterator[Row]:
    source, reader, header, dialect = opened
    number = 1 + dialect.title_lines  # the header's line
    while True:
        source.start_record()
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            number += 1
            yield Row(number, None, f"unreadable CSV record: {e}")
            continue
        if source.problem:
            number += 1
            yield Row(number, None, source.problem, raw=truncate(",".join(values)))
            if source.unterminated and source.rewind():
                # The quote opened on the record's first line; the lines after it are records.
                reader = csv.reader(source, strict=False, delimiter=dialect.separator)
            continue
        number += 1  # a blank line is no record, but it is a row: the numbers stay a spreadsheet's
        if not values or (len(values) == 1 and not values[0].strip()):
            continue
        joined = dialect.separator.join(values)
        yield _record(number, values, header, joined, dialect.encoding, why=csv_records.EXTRA_VALUES)


def _record(number: int, values: list[str], header: list[str], joined: str, encoding="utf-8", why="") -> Row:
    """A record of a CSV file or a sheet: its values by column name, or the reason it is none
    (``joined``, its values as the file holds them, is checked and kept for the rejects file)."""
    reason = _bad_text_reason(joined, encoding)
    if not reason and len(values) > len(header):
        reason = f"{len(values)} values for {len(header)} columns{why}"
    if reason:
        return Row(number, None, reason, raw=truncate(joined))
    data = {name: value for name, value in zip(header, values, strict=False) if name}
    return Row(number, data, values=len(values))


# --- Spreadsheets (.xlsx) -----------------------------------------------------------------------


def _open_sheet(path: str | Path):
    if not Path(path).is_file():
        raise FileUnreadable(f"{path}: No such file or directory")
    try:
        header, rows, workbook, note = workbooks.open_sheet(path)
    except workbooks.WorkbookUnreadable as e:
        raise FileUnreadable(str(e)) from None
    try:
        return _checked_header(header, "sheet"), rows, workbook, note
    except BaseException:
        workbook.close()
        raise


def _records(rows: Iterator[tuple[int, list[str]]], header: list[str]) -> Iterator[Row]:
    for number, cells in rows:
        yield _record(number, cells, header, "\t".join(cells))


def columns(path: str | Path, *, encoding: str = "") -> list[str]:
    """The header of a CSV file or a workbook's first sheet (raises FileUnreadable like read_rows)."""
    if file_format(path) != "xlsx":
        return csv_columns(path, encoding=encoding)
    header, _, workbook, _ = _open_sheet(path)
    workbook.close()
    return header


def csv_columns(path: str | Path, *, encoding: str = "") -> list[str]:
    """The header of a CSV file (raises FileUnreadable like read_rows)."""
    try:
        with open_binary(path) as handle:
            return _csv_header(handle, encoding)[2]
    except OSError as e:
        raise FileUnreadable(f"{path}: {e.strerror or e}") from e


def csv_dialect_of(path: str | Path, *, encoding: str = "") -> csv_records.CsvDialect:
    """How the CSV file at ``path`` is written (raises FileUnreadable like read_rows)."""
    try:
        with open_binary(path) as handle:
            return csv_records.sniff(handle, encoding)
    except OSError as e:
        raise FileUnreadable(f"{path}: {e.strerror or e}") from e
    except ValueError as e:
        raise FileUnreadable(str(e)) from None
