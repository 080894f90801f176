"""CSV rows with another number of values than the header: read by position, a short row's values would
fill the first columns and an extra value would land nowhere. A row with too many values is refused; a
short one is read with blank trailing cells only in a file that leaves those out on every row (and the
import says so once, with a count), else refused with the counts."""

import json

from django.core.management import call_command

from repair_center.ingestion import csv_records, readers
from repair_center.models import Ticket

HEADER = "external_id,title,status,resolution_notes\n"


def _rows(path):
    return [(row.number, row.data, row.reason) for row in readers.read_rows(path)]


def _import(tmp_path, text, capsys):
    path = tmp_path / "export.csv"
    path.write_text(text)
    rejects = tmp_path / "rejects.jsonl"
    call_command("import_tickets", str(path), "--source", "noc", "--rejects", str(rejects))
    err = capsys.readouterr().err
    return [json.loads(line) for line in rejects.read_text().splitlines()], err


def test_a_lone_short_row_among_full_ones_is_refused_naming_the_counts(db, tmp_path, capsys):
    # T2's title holds an unquoted line break: each half is a short row whose values sit in the wrong
    # columns ("fan noise" would be T3's id, "new" its title).
    text = HEADER + "T1,Mains failure,new,\nT2,Fan\nnoise,new,\nT4,Fibre cut,closed,spliced\n"
    rejects, err = _import(tmp_path, text, capsys)
    assert [(r["row"], r["reason"].split(":")[0]) for r in rejects] == [
        (3, "2 values for 4 columns (the file's other rows have all 4)"),
        (4, "3 values for 4 columns (the file's other rows have all 4)"),
    ]
    assert "line break inside an unquoted value" in rejects[0]["reason"]
    assert rejects[0]["data"] == "T2,Fan"
    assert set(Ticket.objects.values_list("external_id", flat=True)) == {"T1", "T4"}
    assert "fewer values than the header" not in err


def test_a_file_that_leaves_out_trailing_empty_cells_is_read_with_them_blank_and_says_so(
    db, tmp_path, capsys
):
    text = HEADER + "T1,Mains failure,closed,reset\nT2,Fan noise\nT3,Fibre cut,new\nT4,Door open\n"
    rejects, err = _import(tmp_path, text, capsys)
    assert rejects == []
    tickets = {t.external_id: (t.title, t.status, t.resolution_notes) for t in Ticket.objects.all()}
    assert tickets == {
        "T1": ("Mains failure", "closed", "reset"),
        "T2": ("Fan noise", "acknowledged", ""),
        "T3": ("Fibre cut", "acknowledged", ""),
        "T4": ("Door open", "acknowledged", ""),
    }
    notes = [line for line in err.splitlines() if "fewer values than the header" in line]
    assert notes == [
        "3 rows hold fewer values than the header: this file leaves out the empty cells at the end of a "
        "row, so the columns they lack were read as blank"
    ]


def test_a_full_row_ending_in_an_empty_value_shows_the_file_does_not_trim(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n1,2,\n3,4\n5,6\n7,8,9\n")
    rows = _rows(path)
    assert rows[0] == (2, {"a": "1", "b": "2", "c": ""}, "")
    assert [(n, reason.split(" (")[0]) for n, data, reason in rows[1:3]] == [
        (3, "2 values for 3 columns"),
        (4, "2 values for 3 columns"),
    ]
    assert rows[3] == (5, {"a": "7", "b": "8", "c": "9"}, "")


def test_in_a_trimming_file_a_short_row_ending_in_an_empty_value_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_records, "SURVEY_ROWS", 3)  # the rows after the first 3 are judged by them
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,d\n1,2\n3\n4,5,6\n7,,\n8,9\n")
    rows = _rows(path)
    assert [(n, data) for n, data, _ in rows] == [
        (2, {"a": "1", "b": "2"}),
        (3, {"a": "3"}),
        (4, {"a": "4", "b": "5", "c": "6"}),
        (5, None),
        (6, {"a": "8", "b": "9"}),
    ]
    assert rows[3][2].startswith("3 values for 4 columns (its last value is empty, and this file leaves out")


def test_a_row_with_more_values_than_the_header_is_refused_naming_the_counts(db, tmp_path, capsys):
    text = HEADER + "T1,Mains failure,new,\nT2,Fan noise, loud,new,\n"
    rejects, _ = _import(tmp_path, text, capsys)
    assert [(r["row"], r["reason"]) for r in rejects] == [
        (
            3,
            "5 values for 4 columns: a separator inside an unquoted value would shift every value after "
            "it; quote that value",
        )
    ]
    assert set(Ticket.objects.values_list("external_id", flat=True)) == {"T1"}


def test_a_footer_under_a_file_that_does_not_trim_keeps_its_own_reason(db, tmp_path, capsys):
    text = HEADER + "T1,Mains failure,new,\nT2,Fan noise,new,\nTotal: 2 records\n"
    rejects, _ = _import(tmp_path, text, capsys)
    assert [r["errors"]["non_field_errors"][0] for r in rejects] == [
        "one value after the last record, a report's footer: 'Total: 2 records'"
    ]
