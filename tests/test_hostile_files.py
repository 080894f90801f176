"""Hostile input files and bodies: broken encodings, a 10 MB line, spreadsheet formulas, JSON nested
far too deep. Each ends in a clear error for the bad record or request, the good records are kept
whole, and nothing half-written is left behind (a ticket is stored with all its parts or not at all).
"""

import json

import pytest
from django.core.management import CommandError, call_command

from repair_center.models import Ticket, TicketEvent

GOOD = {
    "source": "noc",
    "title": "CPRI link down",
    "events": [{"at": "2026-01-03T09:58:00Z", "kind": "alarm_raised"}],
}


def _good(n: int) -> dict:
    return {**GOOD, "external_id": f"OK-{n}"}


def _import(path, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    call_command("import_tickets", str(path), "--source", "noc", "--rejects", str(rejects))
    return [json.loads(line) for line in rejects.read_text().splitlines()]


def _assert_whole(*external_ids: str):
    """The good tickets are there with every event; nothing else is."""
    assert sorted(Ticket.objects.values_list("external_id", flat=True)) == sorted(external_ids)
    for ticket in Ticket.objects.all():
        assert ticket.events.count() == 1
    assert TicketEvent.objects.count() == len(external_ids)


def test_broken_utf8_lines_are_rejected_by_row_and_the_rest_imported(db, tmp_path):
    path = tmp_path / "t.jsonl"
    lines = [
        json.dumps(_good(1)).encode(),
        b'{"external_id": "BAD-1", "title": "caf\xe9 \xff\xfe latin-1 bytes"}',
        b'\xef\xbb\xbf{"external_id": "BAD-2", "title": "\xc3\x28 truncated sequence"}',
        json.dumps(_good(2)).encode(),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    rejects = _import(path, tmp_path)
    _assert_whole("OK-1", "OK-2")
    assert [r["row"] for r in rejects] == [2, 3]
    assert all("UTF-8" in r["reason"] or "JSON" in r["reason"] for r in rejects), rejects


def test_a_utf8_csv_with_rows_in_another_encoding_rejects_those_rows_with_the_reason(db, tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(
        "external_id,title\nOK-1,Störung am Standort\n".encode()
        + "BAD-1,Störung\n".encode("latin-1")
        + "BAD-2,Störung\n".encode("cp1252")
    )
    rejects = _import(path, tmp_path)
    assert list(Ticket.objects.values_list("title", flat=True)) == ["Störung am Standort"]
    assert [r["row"] for r in rejects] == [3, 4]
    assert all("not valid UTF-8" in r["reason"] for r in rejects), rejects


def test_a_windows_1252_csv_with_semicolons_is_read_as_what_it_is(db, tmp_path, capsys):
    # A German spreadsheet's "CSV": semicolons (the comma is the decimal mark), Windows-1252 text,
    # CRLF line ends, and a quoted field holding the separator.
    path = tmp_path / "t.csv"
    text = 'external_id;title;description\r\nOK-1;Störung;Spannung 47,5 V\r\nOK-2;"Lüfter; laut";€ 12\r\n'
    path.write_bytes(text.encode("cp1252"))
    assert _import(path, tmp_path) == []
    tickets = dict(Ticket.objects.values_list("external_id", "title"))
    assert tickets == {"OK-1": "Störung", "OK-2": "Lüfter; laut"}
    assert Ticket.objects.get(external_id="OK-2").description == "€ 12"
    assert "read as semicolon-separated, Windows-1252, not UTF-8" in capsys.readouterr().err


def test_a_shift_jis_csv_is_read_with_encoding_and_without_it_the_import_says_so(db, tmp_path, capsys):
    # A Japanese spreadsheet's "CSV" is Shift-JIS (cp932): its bytes pass for neither UTF-8 nor
    # Windows-1252 text, and no sample tells it apart from other legacy encodings reliably.
    path = tmp_path / "t.csv"
    path.write_bytes("external_id,title\nJP-1,基地局の電源障害\nJP-2,光ファイバーの切断\n".encode("cp932"))

    rejects = _import(path, tmp_path)
    assert [r["reason"] for r in rejects] == ["not valid UTF-8"] * 2
    assert "2 rows are not in the encoding the file was read in" in capsys.readouterr().err

    call_command("import_tickets", str(path), "--source", "noc", "--encoding", "cp932")
    assert dict(Ticket.objects.values_list("external_id", "title")) == {
        "JP-1": "基地局の電源障害",
        "JP-2": "光ファイバーの切断",
    }
    assert "read as cp932, not UTF-8" in capsys.readouterr().err
    with pytest.raises(CommandError, match="unknown encoding 'klingon'"):
        call_command("import_tickets", str(path), "--source", "noc", "--encoding", "klingon")


def test_excels_unicode_text_is_read_as_utf16_tab_separated_text(db, tmp_path, capsys):
    # Excel's "Unicode text": UTF-16 LE with a byte-order mark, tab-separated, CRLF line ends; the
    # way older Excel gets Japanese or Chinese text out. The separators are two bytes wide there, so the
    # file is read as the UTF-8 text it decodes to.
    path = tmp_path / "t.txt"
    text = 'external_id\ttitle\tdescription\r\nJP-1\t電源障害\t"セル\tタブ"\r\nCN-2\t光纤中断\tx\r\n'
    path.write_bytes(text.encode("utf-16"))
    assert _import(path, tmp_path) == []
    assert dict(Ticket.objects.values_list("external_id", "title")) == {
        "JP-1": "電源障害",
        "CN-2": "光纤中断",
    }
    assert Ticket.objects.get(external_id="JP-1").description == "セル\tタブ"
    assert "read as tab-separated, UTF-16, not UTF-8" in capsys.readouterr().err


def test_utf16_without_a_byte_order_mark_is_read_with_encoding_and_bad_pairs_reject_their_row(db, tmp_path):
    path = tmp_path / "t.csv"
    lone_surrogate = "\ud800".encode("utf-16-le", errors="surrogatepass")
    path.write_bytes(
        "external_id,title\nJP-1,基地局の電源障害\nBAD-1,".encode("utf-16-le")
        + lone_surrogate
        + "\nJP-2,切断\n".encode("utf-16-le")
    )
    rejects = tmp_path / "rejects.jsonl"
    call_command(
        "import_tickets", str(path), "--source", "noc", "--encoding", "utf-16-le", "--rejects", str(rejects)
    )
    titles = dict(Ticket.objects.values_list("external_id", "title"))
    assert titles == {"JP-1": "基地局の電源障害", "JP-2": "切断"}
    assert [json.loads(line)["reason"] for line in rejects.read_text().splitlines()] == ["not valid UTF-16LE"]


def test_a_10_mb_line_is_rejected_without_reading_it_whole_and_the_next_line_imported(db, tmp_path):
    path = tmp_path / "t.jsonl"
    huge = json.dumps({"external_id": "HUGE", "title": "x" * (10 * 1024 * 1024)})
    path.write_text("\n".join([json.dumps(_good(1)), huge, json.dumps(_good(2))]) + "\n")
    rejects = _import(path, tmp_path)
    _assert_whole("OK-1", "OK-2")
    [reject] = rejects
    assert reject["row"] == 2
    assert "longer than" in reject["reason"] or "over" in reject["reason"], reject


def test_deeply_nested_json_in_a_file_is_rejected_with_a_clear_reason(db, tmp_path):
    path = tmp_path / "t.jsonl"
    nested = '{"external_id": "DEEP", "title": "t", "events": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path.write_text("\n".join([json.dumps(_good(1)), nested, json.dumps(_good(2))]) + "\n")
    rejects = _import(path, tmp_path)
    _assert_whole("OK-1", "OK-2")
    [reject] = rejects
    assert reject["row"] == 2
    assert "nested too deep" in reject["reason"], reject


def test_event_attributes_nested_past_the_limit_are_a_field_error(db, tmp_path):
    attrs: dict = {}
    inner = attrs
    for _ in range(10):
        inner["x"] = {}
        inner = inner["x"]
    doc = {
        **_good(9),
        "external_id": "ATTRS",
        "events": [{"at": "2026-01-03T09:58:00Z", "kind": "power", "attrs": attrs}],
    }
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(doc) + "\n" + json.dumps(_good(1)) + "\n")
    [reject] = _import(path, tmp_path)
    assert any(field.startswith("events") for field in reject["errors"]), reject
    assert "nested deeper than 4 levels" in json.dumps(reject["errors"])
    _assert_whole("OK-1")


@pytest.mark.parametrize(
    "body",
    [
        '{"source": "noc", "tickets": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"external_id": "DEEP", "title": ' + '{"a":' * 100_000 + "1" + "}" * 100_000 + "}",
    ],
    ids=["bulk-array", "single-object"],
)
def test_deeply_nested_json_bodies_get_400_not_500(integration_client, body):
    for url in ("/api/v1/tickets/bulk/", "/api/v1/tickets/"):
        response = integration_client.generic("POST", url, body, content_type="application/json")
        assert response.status_code == 400, (url, response.status_code, response.content[:300])
        assert "nested" in response.json()["detail"].lower()
    assert Ticket.objects.count() == 0


FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1+1)*cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"]


def test_spreadsheet_formulas_in_csv_cells_are_stored_as_plain_text(db, tmp_path, engineer_client):
    path = tmp_path / "t.csv"
    rows = ["external_id,title,description"]
    for n, formula in enumerate(FORMULAS):
        quoted = '"' + formula.replace('"', '""') + '"'
        rows.append(f"F-{n},{quoted},{quoted}")
    path.write_text("\n".join(rows) + "\n")
    assert _import(path, tmp_path) == []
    for n, formula in enumerate(FORMULAS):
        ticket = Ticket.objects.get(external_id=f"F-{n}")
        # Text as sent (edges trimmed, as for every ticket): kept as text, never evaluated or dropped.
        assert (ticket.title, ticket.description) == (formula.strip(), formula.strip())
        shown = engineer_client.get(f"/api/v1/tickets/{ticket.pk}/").json()
        assert shown["description"] == formula.strip()


def test_the_export_writes_formulas_as_json_strings_never_as_csv_cells(db, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("external_id,title\nF-1,\"=cmd|' /C calc'!A0\"\n")
    _import(path, tmp_path)
    out = tmp_path / "out.jsonl"
    call_command("export_tickets", str(out))
    [doc] = [json.loads(line) for line in out.read_text().splitlines()]
    assert doc["title"] == "=cmd|' /C calc'!A0"
    with pytest.raises(Exception, match=r"\.json or \.jsonl"):
        call_command("export_tickets", str(tmp_path / "out.csv"))
