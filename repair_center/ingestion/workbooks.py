"""Spreadsheet exports (.xlsx): the first sheet, its first row (or the first under a report's title)
the header and each later row a record, streamed in constant memory (openpyxl's read-only mode;
defusedxml, installed beside it, guards its XML parsing against entity expansion).

Cells become the text a CSV export of the same sheet would hold, so the importer reads both alike:
a number as its digits (``12``, ``-19.5``), a date-time as ISO 8601 (so dates need no
``--date-format``), a boolean as ``true``/``false``, an empty cell as blank. Nothing here knows
about rows being accepted or rejected (readers.py decides).
"""

import itertools
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from repair_center.ingestion.csv_records import TITLE_LINES, title_rows

# openpyxl holds a workbook's shared strings (the text of its cells) in memory while the sheet
# streams: a small file that unpacks to more than this is refused rather than read.
MAX_SHARED_STRINGS_BYTES = 256 * 1024 * 1024


class WorkbookUnreadable(ValueError):
    """The file is not an .xlsx workbook openpyxl can read, or its first sheet is empty."""


def open_sheet(path: str | Path) -> tuple[list[str], Iterator[tuple[int, list[str]]], Any, str]:
    """(the header's cells, an iterator of (row number, cells) after it, the workbook to close, a
    note for the import report: '', or where the header was found under a title).

    Row numbers are the sheet's, as a spreadsheet shows them; empty rows are skipped. A report's
    title above the header (rows of at most one value, at most ``TITLE_LINES`` of them, then a row
    of two or more) is skipped, as in a CSV file."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    _check_unpacked_size(path)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, TypeError) as e:
        raise _unreadable(path, e) from None
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is not None:
            # Some writers record a wrong used range ("A1:A1"); read each row as wide as its data.
            sheet.reset_dimensions()
        rows = _rows(sheet.iter_rows(values_only=True)) if sheet is not None else iter(())
        first = next(rows, None)
        if first is None:
            raise WorkbookUnreadable("the workbook's first sheet is empty (no header row)")
        header, rows = _past_title(first, rows)
    except BaseException:
        workbook.close()
        raise
    note = f"header on row {header[0]}, the rows above it skipped as a title" if header is not first else ""
    return header[1], rows, workbook, note


def _past_title(first: tuple[int, list[str]], rows: Iterator[tuple[int, list[str]]]):
    """(the header row, the rows after it): past a report's title as csv_records.title_rows reads one,
    else ``first``."""
    seen = [first, *itertools.islice(rows, TITLE_LINES)]
    skip = title_rows(cells for _, cells in seen)
    return seen[skip], itertools.chain(seen[skip + 1 :], rows)


def sheets_note(path: str | Path) -> str:
    """'' for a workbook of one sheet; else which sheet is read and which are not, for the report."""
    names = sheet_names(path)
    if len(names) < 2:
        return ""
    return f"the first of {len(names)} sheets, {names[0]!r} (not read: {', '.join(map(repr, names[1:]))})"


def sheet_names(path: str | Path) -> list[str]:
    """The workbook's sheet names in order, from its workbook part alone: loading the workbook
    would parse all of its text again (about a second for a 14 MB, 50,000-row export)."""
    from defusedxml import ElementTree
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with zipfile.ZipFile(path) as archive:
            root = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        names = [e.get("name", "") for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "sheet"]
        if names:
            return names
    except (zipfile.BadZipFile, KeyError, ValueError, SyntaxError):  # defusedxml's refusals are ValueErrors
        pass
    try:  # a workbook part of another name: openpyxl follows the package's relationships to it
        workbook = load_workbook(path, read_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, TypeError):
        return []
    try:
        return list(workbook.sheetnames)
    finally:
        workbook.close()


def _check_unpacked_size(path: str | Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            strings = sum(i.file_size for i in archive.infolist() if i.filename.endswith("sharedStrings.xml"))
    except zipfile.BadZipFile as e:
        raise _unreadable(path, e) from None
    if strings > MAX_SHARED_STRINGS_BYTES:
        raise WorkbookUnreadable(
            f"{Path(path).name}: its text unpacks to {strings // 2**20} MiB, over the "
            f"{MAX_SHARED_STRINGS_BYTES // 2**20} MiB read in memory; export it as CSV"
        )


def _unreadable(path: str | Path, error: Exception) -> WorkbookUnreadable:
    return WorkbookUnreadable(f"{Path(path).name} is not a readable .xlsx workbook ({error})")


def _rows(values: Iterator[tuple]) -> Iterator[tuple[int, list[str]]]:
    for number, row in enumerate(values, start=1):
        cells = [cell_text(value) for value in row or ()]
        while cells and not cells[-1].strip():
            cells.pop()  # formatted but empty cells at the end of a row
        if cells:
            yield number, cells


def cell_text(value: Any) -> str:
    """A cell's value as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)
