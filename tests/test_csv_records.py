"""CSV records too large, broken or oddly ended cost only themselves (SECURITY.md, finding 2).

A file with one quoted field of 1,000 lines x 50 KB, then a good row, once imported as "created 980,
rejected 1": after "field larger than field limit" csv.reader started again mid-field, so every
line of the field became a junk ticket and the good row was lost inside the last one.
"""

import csv
import io
import json

import pytest
from django.core.management import call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from repair_center.ingestion import csv_records, readers
from repair_center.models import Ticket


def _rows(path):
    return [(row.number, row.data, row.reason) for row in readers.read_rows(path)]


def test_an_oversized_quoted_field_is_one_rejected_row_and_the_next_row_imports(db, tmp_path):
    path = tmp_path / "f.csv"
    line = "x" * 50_000
    with path.open("w", newline="") as f:
        f.write("external_id,title,description\n")
        f.write('BIG,huge,"' + "\n".join([line] * 1000) + '"\n')
        f.write("GOOD-1,link down,after the big one\n")
    rejects = tmp_path / "rejects.jsonl"
    call_command("import_tickets", str(path), "--source", "noc", "--rejects", str(rejects))
    assert list(Ticket.objects.values_list("external_id", "description")) == [("GOOD-1", "after the big one")]
    [reject] = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert reject["row"] == 2 and reject["reason"] == f"record longer than {readers.MAX_LINE_BYTES} bytes"


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 200)


def test_a_multi_line_quoted_field_within_the_limit_is_kept_whole(tmp_path, small_limit):
    path = tmp_path / "t.csv"
    path.write_bytes(b'id,text\n1,"two\nlines, and ""quotes"""\n2,next\n')
    assert _rows(path) == [
        (2, {"id": "1", "text": 'two\nlines, and "quotes"'}, ""),
        (3, {"id": "2", "text": "next"}, ""),
    ]


def test_a_record_over_the_limit_is_skipped_to_its_real_end(tmp_path, small_limit):
    path = tmp_path / "t.csv"
    field = '"' + "\n".join(['a,b,""c'] * 100) + '"'  # commas and escaped quotes inside the quotes
    path.write_bytes(f"id,text\n1,ok\n2,{field}\n3,after\n".encode())
    rows = _rows(path)
    assert rows[0] == (2, {"id": "1", "text": "ok"}, "")
    assert rows[1][0] == 3 and rows[1][2] == "record longer than 200 bytes"
    assert rows[2] == (4, {"id": "3", "text": "after"}, "")


def test_an_overlong_line_that_opens_a_quote_is_skipped_with_its_field(tmp_path, small_limit):
    path = tmp_path / "t.csv"
    path.write_bytes(b'id,text\n1,"' + b"y" * 500 + b'\nstill inside, the field"\n2,after\n')
    rows = _rows(path)
    assert rows[0][:1] == (2,) and rows[0][2] == "line longer than 200 bytes"
    assert rows[1] == (3, {"id": "2", "text": "after"}, "")


def test_an_unterminated_quote_rejects_its_line_and_the_lines_after_it_are_read_again(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b'id,text\n1,ok\n2,"never closed\n3,fine\n4,also fine\n')
    rows = _rows(path)
    assert rows[0] == (2, {"id": "1", "text": "ok"}, "")
    assert rows[1][0] == 3 and rows[1][2].startswith("unterminated quoted field")
    assert rows[2:] == [(4, {"id": "3", "text": "fine"}, ""), (5, {"id": "4", "text": "also fine"}, "")]


def test_an_unterminated_quote_in_an_oversized_record_is_read_again_too(tmp_path, small_limit):
    path = tmp_path / "t.csv"
    path.write_bytes(b'id,text\n1,"open\n' + b"".join(b"%d,row\n" % n for n in range(2, 60)))
    rows = _rows(path)
    assert rows[0][2] == "record longer than 200 bytes; its quoted field never ends"
    assert [data for _, data, _ in rows[1:]] == [{"id": str(n), "text": "row"} for n in range(2, 60)]


@pytest.mark.parametrize(
    "raw",
    [
        b"id,text\r\n1,crlf\n2,lf\r3,cr\r\n4,last",
        b"\xef\xbb\xbfid,text\r1,crlf\r\n2,lf\n3,cr\r4,last\r\n",
    ],
    ids=["mixed", "bom-and-mixed"],
)
def test_mixed_line_ends_and_a_bom_read_every_row(tmp_path, raw):
    path = tmp_path / "t.csv"
    path.write_bytes(raw)
    assert [data for _, data, _ in _rows(path)] == [
        {"id": "1", "text": "crlf"},
        {"id": "2", "text": "lf"},
        {"id": "3", "text": "cr"},
        {"id": "4", "text": "last"},
    ]


def test_a_header_over_the_limit_makes_the_file_unreadable(tmp_path, small_limit):
    path = tmp_path / "t.csv"
    path.write_bytes(b'id,"' + b"h\n" * 200 + b'"\n1,2\n')
    with pytest.raises(readers.FileUnreadable, match="header"):
        list(readers.read_rows(path))


# The scan must end a record exactly where csv.reader does, or skipping would land mid-record.
CSV_TEXT = st.text(alphabet='a,;\t|"\r\n', max_size=60)


def _csv_record_ends(text: str, separator: str) -> list[int]:
    """Where csv.reader ends each record, reading ``text`` in lines ended by CR, LF or CRLF."""
    lines = io.StringIO(text, newline="").readlines()
    consumed, ends = 0, []
    fed = iter(lines)

    def counting():
        nonlocal consumed
        for line in fed:
            consumed += len(line)
            yield line

    reader = csv.reader(counting(), strict=False, delimiter=separator)
    for _ in reader:
        ends.append(consumed)
    return ends


@pytest.mark.parametrize("separator", csv_records.SEPARATORS)
@settings(max_examples=150, deadline=None)
@given(CSV_TEXT)
def test_the_quote_scan_ends_records_where_csv_reader_does(separator, text):
    data = text.encode()
    ends, position, state = [], 0, csv_records.START
    while position < len(data):
        state, used = csv_records.scan(data[position:], state, separator.encode())
        position += used
        if state == csv_records.END:
            ends.append(position)
            state = csv_records.START
    if data and (not ends or ends[-1] != len(data)):
        ends.append(len(data))  # the last record ends with the file
    assert ends == _csv_record_ends(text, separator)
