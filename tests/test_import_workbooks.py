"""Spreadsheet exports (.xlsx) import as CSV exports do: the first sheet, its header row, text cells;
dates as date-times need no --date-format; a row that cannot be read costs only itself."""

import json
import zipfile
from datetime import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from openpyxl import Workbook

from repair_center.ingestion import files, readers, workbooks
from repair_center.models import Ticket

HEADER = ["Number", "Short description", "Opened", "Reading", "Reopened", "Category", None]


def _workbook(path, rows, *, more_sheets=()):
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    for title in more_sheets:
        book.create_sheet(title).append(["other", "sheet"])
    book.save(path)
    return path


MAP = [
    "--map=external_id=Number",
    "--map=title=Short description",
    "--map=opened_at=Opened",
    "--map=attributes.reading=Reading",
    "--map=attributes.reopened=Reopened",
    "--map=resolution=Category",
]


def _import(path, *args):
    out, err = StringIO(), StringIO()
    call_command("import_tickets", str(path), "--source", "xl", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_an_xlsx_export_imports_its_first_sheet_with_typed_cells_as_text(db, tmp_path):
    path = _workbook(
        tmp_path / "export.xlsx",
        [
            HEADER,
            ["INC1", "Störung Lüfter", datetime(2016, 2, 29, 1, 16), -19.5, False, "Hardware"],
            [],  # an empty row is no record
            ["INC2", "password reset", datetime(2016, 3, 1, 10, 0), 12.0, True, "Access", None],
            ["INC3", "one value too many", None, None, None, "Access", None, "extra"],
        ],
        more_sheets=["Notes"],
    )
    rejects = tmp_path / "rejects.jsonl"
    out, err = _import(path, *MAP, "--create-missing", "--rejects", rejects)
    assert out == "created 2, updated 0, unchanged 0, rejected 1"
    assert "read as the first of 2 sheets, 'Sheet' (not read: 'Notes')" in err
    tickets = {t.external_id: t for t in Ticket.objects.all()}
    assert tickets["INC1"].title == "Störung Lüfter"
    assert tickets["INC1"].opened_at.isoformat() == "2016-02-29T01:16:00+00:00"
    assert tickets["INC1"].attributes == {"reading": -19.5, "reopened": "false"}
    assert tickets["INC2"].attributes == {"reading": 12, "reopened": "true"}
    assert tickets["INC2"].resolution.code == "Access"
    [reject] = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert reject["row"] == 5 and reject["reason"] == "8 values for 6 columns"  # the sheet's row number
    # Importing it again changes nothing, as with any other format.
    assert _import(path, *MAP, "--create-missing")[0] == "created 0, updated 0, unchanged 2, rejected 1"


def test_predict_reads_a_workbook_exactly_as_import_does(tmp_path):
    path = _workbook(tmp_path / "e.xlsx", [HEADER, ["INC9", "fan noise", datetime(2026, 1, 2, 3, 4), 47.5]])
    mapping = {"external_id": "Number", "title": "Short description", "opened_at": "Opened"}
    [entry] = list(files.read_ticket_rows(path, mapping={**mapping, "attributes.reading": "Reading"}))
    assert entry.document == {
        "external_id": "INC9",
        "title": "fan noise",
        "opened_at": "2026-01-02T03:04:00",
        "attributes": {"reading": 47.5},
    }
    assert readers.columns(path) == [
        "Number",
        "Short description",
        "Opened",
        "Reading",
        "Reopened",
        "Category",
    ]


def test_a_sheet_whose_writer_recorded_a_wrong_used_range_reads_every_column(tmp_path):
    path = _workbook(tmp_path / "e.xlsx", [["Number", "Title", "Site"], ["1", "fan", "S-1"]])
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    assert b'<dimension ref="A1:C2" />' in sheet
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(
        b'<dimension ref="A1:C2" />', b'<dimension ref="A1:A1" />'
    )
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    assert [row.data for row in readers.read_rows(path)] == [{"Number": "1", "Title": "fan", "Site": "S-1"}]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"PK\x03\x04 not a workbook"), "is not a readable .xlsx workbook"),
        (lambda p: p.write_text("Number,Title\n1,x\n"), "is not a readable .xlsx workbook"),
        (lambda p: _workbook(p, []), "first sheet is empty"),
    ],
)
def test_a_workbook_that_cannot_be_read_stops_before_anything_is_written(db, tmp_path, make, message):
    path = tmp_path / "bad.xlsx"
    make(path)
    with pytest.raises(CommandError, match=message):
        _import(path)
    assert Ticket.objects.count() == 0


def test_a_column_a_sheet_names_twice_is_numbered_and_the_import_says_so(db, tmp_path):
    path = _workbook(
        tmp_path / "jira.xlsx", [["Key", "Summary", "Labels", "Labels"], ["N-1", "LOS", "fibre", "north"]]
    )
    out, err = _import(
        path, "--map=external_id=Key", "--map=title=Summary", "--map=attributes.region=Labels (2)"
    )
    assert out.startswith("created 1")
    assert "columns the header names more than once, numbered: Labels (2)" in err
    assert Ticket.objects.get().attributes == {"region": "north"}


def test_a_workbook_whose_text_unpacks_past_the_limit_is_refused(db, tmp_path, monkeypatch):
    path = _workbook(tmp_path / "big.xlsx", [["Number", "Title"], *[[n, f"text {n}"] for n in range(50)]])
    assert _import(path, "--map=external_id=Number", "--map=title=Title")[0].startswith("created 50")
    with zipfile.ZipFile(path, "a") as archive:  # the shared strings a spreadsheet program writes
        archive.writestr("xl/sharedStrings.xml", "x" * 5000)
    monkeypatch.setattr(workbooks, "MAX_SHARED_STRINGS_BYTES", 4096)
    with pytest.raises(CommandError, match="its text unpacks to 0 MiB, over the 0 MiB read in memory"):
        _import(path)


def test_a_mapped_column_missing_from_the_sheet_names_the_columns_it_has(db, tmp_path):
    path = _workbook(tmp_path / "e.xlsx", [["Number", "Title"], ["1", "x"]])
    with pytest.raises(
        CommandError, match=r"not in the first sheet's header: Nr \(its columns are: Number, Title\)"
    ):
        _import(path, "--map=external_id=Nr")


def test_a_mapped_import_opens_the_workbook_once_and_closes_it_however_it_ends(db, tmp_path, monkeypatch):
    # Opening a workbook parses all of its text (about a second for a 14 MB export): the header
    # the mapping is checked against comes from the opening the rows are read from.
    import openpyxl

    opened, real = [], openpyxl.load_workbook

    def load_workbook(*args, **kwargs):
        opened.append(real(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(openpyxl, "load_workbook", load_workbook)
    path = _workbook(tmp_path / "e.xlsx", [["Number", "Title"], ["1", "x"]])
    assert _import(path, "--map=external_id=Number", "--map=title=Title")[0].startswith("created 1")
    with pytest.raises(CommandError, match="not in the first sheet's header: Nr"):
        _import(path, "--map=external_id=Nr")
    assert len(opened) == 2  # one per import
    assert all(book._archive.fp is None for book in opened)  # both closed, the refused one too


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), (True, "true"), (3, "3"), (3.0, "3"), (-19.5, "-19.5"), (1e20, "1e+20"), ("x", "x")],
)
def test_a_cell_reads_as_a_csv_export_would_write_it(value, text):
    assert workbooks.cell_text(value) == text


def test_workbook_xml_is_parsed_through_defusedxml():
    # openpyxl guards its XML parsing against entity expansion only when defusedxml is installed.
    import openpyxl

    assert openpyxl.DEFUSEDXML is True


def _moved_workbook_part(path):
    """The same workbook with its workbook part under another name, as some writers store it."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts["xl/book.xml"] = parts.pop("xl/workbook.xml")
    parts["xl/_rels/book.xml.rels"] = parts.pop("xl/_rels/workbook.xml.rels")
    for name in ("[Content_Types].xml", "_rels/.rels"):
        parts[name] = (
            parts[name]
            .replace(b"/xl/workbook.xml", b"/xl/book.xml")
            .replace(b"xl/workbook.xml", b"xl/book.xml")
        )
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def test_the_sheet_names_come_from_the_workbook_part_wherever_the_writer_put_it(tmp_path):
    path = _workbook(tmp_path / "e.xlsx", [["Number"], ["1"]], more_sheets=["Notes", "Pivot"])
    note = "the first of 3 sheets, 'Sheet' (not read: 'Notes', 'Pivot')"
    assert workbooks.sheet_names(path) == ["Sheet", "Notes", "Pivot"] and workbooks.sheets_note(path) == note
    _moved_workbook_part(path)
    assert [row.data for row in readers.read_rows(path)] == [{"Number": "1"}]  # openpyxl still reads it
    assert workbooks.sheets_note(path) == note
    assert workbooks.sheets_note(_workbook(tmp_path / "one.xlsx", [["Number"], ["1"]])) == ""


def test_a_macro_enabled_workbook_imports_as_a_workbook(db, tmp_path):
    path = _workbook(tmp_path / "export.xlsm", [["Number", "Title"], ["INC1", "fan noise"]])
    assert _import(path, "--map=external_id=Number", "--map=title=Title")[0].startswith("created 1")
    assert Ticket.objects.get().title == "fan noise"


def test_a_sheet_with_a_reports_title_above_its_header_imports_and_says_where_the_header_was(db, tmp_path):
    path = _workbook(
        tmp_path / "report.xlsx",
        [
            ["Incident report"],
            [None],
            ["Generated", None, None],
            ["Number", "Short description", "Category"],
            ["INC1", "Fan noise", "REPLACE_FAN"],
        ],
    )
    out, err = _import(
        path,
        "--map=external_id=Number",
        "--map=title=Short description",
        "--map=resolution=Category",
        "--create-missing",
    )
    assert out == "created 1, updated 0, unchanged 0, rejected 0"
    assert "read as header on row 4, the rows above it skipped as a title" in err
    assert list(Ticket.objects.values_list("external_id", "title")) == [("INC1", "Fan noise")]
    # A footer row under the last record is refused as one, the records kept.
    footed = _workbook(
        tmp_path / "footed.xlsx",
        [["Number", "Short description"], ["INC4", "PSU dead"], [None, None], ["Total: 1 record", None]],
    )
    out, err = _import(footed, "--map=external_id=Number", "--map=title=Short description")
    assert out == "created 1, updated 0, unchanged 0, rejected 1"
    assert "row 4 rejected: non_field_errors: one value after the last record, a report's footer" in err
    assert Ticket.objects.filter(external_id="INC4").exists()
    # Where nothing above the header looks like a title, the first row stays the header.
    plain = _workbook(tmp_path / "plain.xlsx", [["Number"], ["INC2"], ["INC3"]])
    header, rows, workbook, note = workbooks.open_sheet(plain)
    assert (header, note, list(rows)) == (["Number"], "", [(2, ["INC2"]), (3, ["INC3"])])
    workbook.close()
