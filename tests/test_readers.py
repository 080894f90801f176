"""The streaming readers: every broken record becomes a reject with a reason, never a crash."""

import gzip
import json

import pytest

from repair_center.ingestion import csv_records, readers
from repair_center.ingestion.mapping import parse_mapping


def _rows(path):
    return [(row.number, row.data, row.reason) for row in readers.read_rows(path)]


def _read_as(path) -> str:
    """How the reader says it read the file (its dialect, the member holding a JSON dump's array)."""
    rows = readers.read_rows(path)
    rows.close()
    return rows.read_as


def test_it_numbers_jsonl_rows_by_line_and_skips_blank_lines(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n')
    assert _rows(path) == [(1, {"a": 1}, ""), (3, {"a": 2}, "")]


def test_it_rejects_bad_json_bad_utf8_and_non_objects_in_jsonl_and_goes_on(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"a": 1\n{"a": "caf\xe9"}\n[1, 2]\n{"a": "\\u0000"}\n{"ok": true}\n')
    rows = _rows(path)
    assert rows[0][2].startswith("invalid JSON")
    assert rows[1][2] == "not valid UTF-8"
    assert rows[2][2] == "expected a JSON object, got list"
    assert "NUL" in rows[3][2]
    assert rows[4] == (5, {"ok": True}, "")


def test_it_keeps_an_escaped_emoji_but_rejects_a_lone_surrogate(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"t": "\\ud83d\\ude00"}\n{"t": "\\ud83d"}\n')
    rows = _rows(path)
    assert rows[0] == (1, {"t": "\U0001f600"}, "")
    assert "surrogate" in rows[1][2]


def test_it_rejects_a_line_over_the_limit_without_holding_it(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 100)
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": "' + "x" * 500 + '"}\n{"b": 1}\n')
    rows = _rows(path)
    assert rows[0] == (1, None, "line longer than 100 bytes")
    assert rows[1] == (2, {"b": 1}, "")


def test_it_streams_a_json_array_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "CHUNK_CHARS", 7)
    path = tmp_path / "t.json"
    items = [{"n": i, "text": "é" * i} for i in range(20)]
    path.write_text("\ufeff  " + json.dumps(items, ensure_ascii=False))
    rows = _rows(path)
    assert [data for _, data, _ in rows] == items
    assert [number for number, _, _ in rows] == list(range(1, 21))


def test_it_skips_a_malformed_array_element_and_resumes_at_the_next(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "CHUNK_CHARS", 5)
    path = tmp_path / "t.json"
    path.write_text('[{"a": 1}, {"b": [1,, "x]"}], 42, {"c": 3},]')
    rows = _rows(path)
    assert rows[0] == (1, {"a": 1}, "")
    assert rows[1][0] == 2 and rows[1][2].startswith("invalid JSON")
    assert rows[2] == (3, None, "expected a JSON object, got int")
    assert rows[3] == (4, {"c": 3}, "")
    assert len(rows) == 4


def test_it_reports_a_json_array_cut_short(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('[{"a": 1}, {"b": 2')
    rows = _rows(path)
    assert rows[0] == (1, {"a": 1}, "")
    assert rows[1][0] == 2 and rows[1][2].startswith("invalid JSON")


def test_an_empty_json_array_has_no_rows(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(" [ ] ")
    assert _rows(path) == []


def test_an_api_dump_is_read_from_the_array_its_object_keeps_the_records_under(tmp_path):
    # ServiceNow's {"records": [...]}, Jira's {"startAt": 0, ..., "issues": [...]}: members before
    # the records (a count, metadata longer than a read chunk, a list of strings) are passed.
    path = tmp_path / "dump.json"
    dump = {
        "total": 2,
        "meta": {"note": "x" * (3 * readers.CHUNK_CHARS), "tags": [1, 2]},
        "items": ["not", "records"],
        "records": [{"a": 1}, {"a": "]"}],
        "after": {"ignored": True},
    }
    path.write_text(json.dumps(dump))
    assert _rows(path) == [(1, {"a": 1}, ""), (2, {"a": "]"}, "")]
    assert _read_as(path) == "the array under 'records'"
    (tmp_path / "plain.json").write_text('[{"a": 1}]')
    assert _read_as(tmp_path / "plain.json") == ""


@pytest.mark.parametrize(
    "content",
    [
        '{"external_id": "T-1", "events": [{"kind": "LOS"}]}',  # one record, not a dump of them
        '{"records": "none"}',
        '{"records": [1, 2]}',
        "{}",
    ],
)
def test_an_object_without_records_under_a_known_name_is_unreadable(tmp_path, content):
    path = tmp_path / "t.json"
    path.write_text(content)
    with pytest.raises(
        readers.FileUnreadable, match=r"not a top-level array of records.*\(alarms, data, entries"
    ):
        readers.read_rows(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("t.json", b'{"a": 1}', "top-level array"),
        ("t.json", b"", "empty"),
        ("t.csv", b"", "no header"),
        ("t.csv", "tïtle,".encode() + b"ti\xfftle\nx\n", "not valid UTF-8"),
        ("t.xml", b"<x/>", "unknown format"),
        ("t.xls", b"\xd0\xcf\x11\xe0", r"t.xls is an Excel 97-2003 workbook; open it and save it as .xlsx"),
        ("t.ods", b"PK", r"OpenDocument spreadsheet; .* \.csv \(CSV UTF-8\)"),
    ],
)
def test_a_file_without_a_usable_start_is_unreadable(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(readers.FileUnreadable, match=message):
        readers.read_rows(path)


def test_a_missing_file_is_unreadable(tmp_path):
    with pytest.raises(readers.FileUnreadable, match="No such file"):
        readers.read_rows(tmp_path / "absent.jsonl")


def test_it_numbers_csv_records_like_a_spreadsheet_even_with_multiline_cells(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b'\xef\xbb\xbfcode,steps\nA,"one\ntwo"\n\nB,three\n')
    # A multi-line cell is one row; a blank line is an empty row, as a spreadsheet opens the file.
    assert _rows(path) == [
        (2, {"code": "A", "steps": "one\ntwo"}, ""),
        (4, {"code": "B", "steps": "three"}, ""),
    ]


def test_it_rejects_csv_records_with_bad_bytes_extra_values_or_long_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 50)
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,caf\xe9\n1,2,3\n1," + b"x" * 80 + b"\n4,5\n\xc3\xa9,6\n")  # UTF-8: an \xe9
    rows = _rows(path)
    assert [(n, reason) for n, _, reason in rows[:3]] == [
        (2, "not valid UTF-8"),
        (
            3,
            "3 values for 2 columns: a separator inside an unquoted value would shift every value after it; "
            "quote that value",
        ),
        (4, "line longer than 50 bytes"),
    ]
    assert rows[3] == (5, {"a": "4", "b": "5"}, "")


def test_it_parses_the_mapping_and_refuses_unknown_fields():
    assert parse_mapping(["title=Summary", " site = Site Code "], ("title", "site")) == {
        "title": "Summary",
        "site": "Site Code",
    }
    with pytest.raises(ValueError, match="unknown field"):
        parse_mapping(["titel=Summary"], ("title",))
    with pytest.raises(ValueError, match="FIELD=COLUMN"):
        parse_mapping(["title"], ("title",))


@pytest.mark.parametrize(
    ("header", "separator"),
    [
        (b"id,title,description", ","),
        (b"id;title;description", ";"),
        (b"id\ttitle\tdescription", "\t"),
        (b"id|title|description", "|"),
        (b'"id, the key";"title, short";text', ";"),  # commas inside quotes do not count
        (b"id;title,description", ","),  # a tie: the comma
        (b"title", ","),  # one column: nothing to tell, the comma
    ],
)
def test_the_separator_is_the_one_the_header_uses_most_outside_quotes(tmp_path, header, separator):
    path = tmp_path / "t.csv"
    path.write_bytes(header + b"\n")
    assert readers.csv_dialect_of(path).separator == separator


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        ("title\nStörung\n".encode(), "utf-8"),
        ("title\nStörung\n".encode("cp1252"), "cp1252"),
        ("title\nStörung\n".encode() + "Störung\n".encode("cp1252"), "utf-8"),  # UTF-8, one bad row
        (b"title\nplain ascii\n", "utf-8"),
        (b"title\n" + b"x" * (csv_records.SNIFF_BYTES - 7) + "é\n".encode(), "utf-8"),  # é cut in two
    ],
)
def test_the_encoding_is_utf8_unless_the_start_holds_no_utf8_character_and_is_not_utf8(
    tmp_path, content, encoding
):
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    assert readers.csv_dialect_of(path).encoding == encoding


def test_a_tab_separated_windows_1252_file_reads_every_field(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes('id\ttitle\tnote\r\n1\tPrüfung\t"a\ttab, inside"\r\n2\tÄrger\t\r\n'.encode("cp1252"))
    assert _rows(path) == [
        (2, {"id": "1", "title": "Prüfung", "note": "a\ttab, inside"}, ""),
        (3, {"id": "2", "title": "Ärger", "note": ""}, ""),
    ]
    assert readers.csv_dialect_of(path).describe() == "tab-separated, Windows-1252, not UTF-8"


def test_a_column_the_header_names_twice_is_numbered_and_every_value_kept(tmp_path):
    # A Jira CSV export has one "Labels" or "Comment" column per value.
    path = tmp_path / "jira.csv"
    path.write_text("Summary,Labels,Labels,Labels (2),Labels\nLOS,fibre,urgent,x,north\n")
    header, rows = readers.open_rows(path)
    assert header == ["Summary", "Labels", "Labels (3)", "Labels (2)", "Labels (4)"]
    assert [row.data for row in rows] == [
        {
            "Summary": "LOS",
            "Labels": "fibre",
            "Labels (3)": "urgent",
            "Labels (2)": "x",
            "Labels (4)": "north",
        }
    ]
    assert readers.numbered_columns(header) == ["Labels (3)", "Labels (4)"]  # not the file's own "Labels (2)"


@pytest.mark.parametrize("name", ["export.tsv", "export.txt"])
def test_delimited_text_is_read_as_csv_whatever_its_extension(tmp_path, name):
    path = tmp_path / name
    path.write_text("id\ttitle\n1\tLOS on CPRI\n")
    assert _rows(path) == [(2, {"id": "1", "title": "LOS on CPRI"}, "")]
    assert readers.csv_dialect_of(path).describe() == "tab-separated"


def test_a_gzip_compressed_export_is_read_as_it_streams(tmp_path):
    csv_gz, jsonl_gz, json_gz = tmp_path / "t.csv.gz", tmp_path / "t.jsonl.gz", tmp_path / "t.json.gz"
    csv_gz.write_bytes(gzip.compress("id;title\n1;Störung\n".encode("cp1252")))
    jsonl_gz.write_bytes(gzip.compress(b'{"a": 1}\n{"a": 2}\n'))
    json_gz.write_bytes(gzip.compress(b'{"total": 1, "records": [{"a": 1}]}'))
    assert _rows(csv_gz) == [(2, {"id": "1", "title": "Störung"}, "")]
    assert readers.csv_dialect_of(csv_gz).describe() == "semicolon-separated, Windows-1252, not UTF-8"
    assert _rows(jsonl_gz) == [(1, {"a": 1}, ""), (2, {"a": 2}, "")]
    assert _rows(json_gz) == [(1, {"a": 1}, "")]
    assert _read_as(json_gz) == "the array under 'records'"


def test_a_compressed_file_cut_short_keeps_the_rows_before_the_cut_and_says_where(tmp_path):
    path = tmp_path / "t.jsonl.gz"
    whole = gzip.compress(
        "".join(f'{{"n": {n}, "pad": "{n * 7919 % 10**9:x}"}}\n' for n in range(20000)).encode()
    )
    path.write_bytes(whole[: len(whole) // 2])
    rows = _rows(path)
    read = [data for _, data, _ in rows if data is not None]
    assert 0 < len(read) < 20000 and read == [
        {"n": n, "pad": f"{n * 7919 % 10**9:x}"} for n in range(len(read))
    ]
    *_, (number, data, reason) = rows
    assert number == rows[-2][0] + 1  # the row after the last line read
    assert data is None and reason.startswith("the compressed file is cut short or corrupt here")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("t.csv.gz", b"id,title\n1,x\n", "is not gzip-compressed"),
        ("t.xlsx.gz", gzip.compress(b"PK", mtime=0), "a workbook is compressed already"),
        ("t.gz", gzip.compress(b"x", mtime=0), "unknown format '.gz'"),
    ],
    ids=["plain text", "workbook", "no format"],  # the same names on every xdist worker
)
def test_a_compressed_file_that_is_not_what_its_name_says_is_unreadable(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(readers.FileUnreadable, match=message):
        readers.read_rows(path)


@pytest.mark.parametrize(
    ("text", "separator"),
    [
        ("Incident report\nGenerated 2026-12-01\n\nid,title\nA,Fan\nB,PSU\n", ","),
        # A spreadsheet pads the title with separators to the sheet's width.
        ("Incident report,,\nGenerated 2026-12-01,,\nid,title,\nA,Fan,\nB,PSU,\n", ","),
        # The separator comes from the header, not from the title line that has none.
        ("Störungsbericht\n\nid;title\nA;Lüfter\nB;Netzteil\n", ";"),
    ],
    ids=["title-lines", "padded-title", "semicolon-under-title"],
)
def test_a_reports_title_above_the_header_is_skipped_and_said(tmp_path, text, separator):
    path = tmp_path / "report.csv"
    path.write_text(text)
    header_line = text.split("\n").index(next(line for line in text.split("\n") if line.startswith("id")))
    dialect = readers.csv_dialect_of(path)
    assert (dialect.separator, dialect.title_lines) == (separator, header_line)
    rows = _rows(path)
    # Rows are numbered by their line in the file, the header's line counted.
    assert [(number, data["id"]) for number, data, _ in rows] == [
        (header_line + 2, "A"),
        (header_line + 3, "B"),
    ]
    assert f"header on line {header_line + 1}" in _read_as(path)
    assert readers.columns(path)[:2] == ["id", "title"]


def test_rows_of_one_value_after_the_last_record_are_marked_as_maybe_a_footer(tmp_path):
    path = tmp_path / "report.csv"
    path.write_text("id,title\nA,Fan\nB,PSU\n\nTotal: 2 records,\nEnd of report\n")
    rows = [(row.number, row.data, row.footer) for row in readers.read_rows(path)]
    # Still rows (a last ticket may hold one value), numbered as the file's lines, the blank one counted.
    assert rows == [
        (2, {"id": "A", "title": "Fan"}, False),
        (3, {"id": "B", "title": "PSU"}, False),
        (5, {"id": "Total: 2 records", "title": ""}, True),
        (6, {"id": "End of report"}, True),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "id,title\nA,Fan\nB,\nC,PSU\n",  # one value between records: a record
        "title\nFan noise\nPSU dead\n",  # one column: every line holds one value
        "id,title\nA,\nB,\n",  # no record of two values above them: records
        "id,title\nA,Fan\n" + "".join(f"B{n},\n" for n in range(csv_records.TITLE_LINES + 1)),  # too many
    ],
    ids=["between-records", "one-column", "no-record-above", "run-too-long"],
)
def test_rows_of_one_value_that_are_no_footer_are_not_marked(tmp_path, text):
    path = tmp_path / "plain.csv"
    path.write_text(text)
    rows = list(readers.read_rows(path))
    assert [row.footer for row in rows] == [False] * (text.count("\n") - 1)
    assert all(row.data for row in rows)


@pytest.mark.parametrize(
    "text",
    [
        "title\nFan noise\nPSU dead\n",  # one column: every line holds one value
        "id,title\nA,Fan\n",  # the header first, as most exports write it
        "".join(f"line {n}\n" for n in range(csv_records.TITLE_LINES + 1)) + "id,title\nA,Fan\n",  # too deep
    ],
    ids=["one-column", "header-first", "title-too-long"],
)
def test_without_a_short_title_the_first_line_stays_the_header(tmp_path, text):
    path = tmp_path / "plain.csv"
    path.write_text(text)
    assert readers.csv_dialect_of(path).title_lines == 0
    assert readers.columns(path)[0] == text.split("\n")[0].split(",")[0]
    assert "header on line" not in _read_as(path)
