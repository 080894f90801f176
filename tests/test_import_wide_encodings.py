"""UTF-16 and UTF-32 files, with a byte-order mark or without one: a CSV or JSON file's first characters
are ASCII, so the NUL bytes among its first four say which of the four it is (RFC 8259 section 8.1).
An explicit --encoding still wins over those NULs."""

import io
import json

import pytest
from django.core.management import call_command

from repair_center.ingestion import csv_records, readers
from repair_center.models import Ticket

WIDE = ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"]
NAMES = {"utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE", "utf-32-le": "UTF-32LE", "utf-32-be": "UTF-32BE"}
TITLES = {"JP-1": "基地局の電源障害", "DE-1": "Lüfter defekt 🔥"}


def _import(path, capsys, *options) -> str:
    call_command("import_tickets", str(path), "--source", "noc", *options)
    return capsys.readouterr().err


def _titles() -> dict[str, str]:
    return dict(Ticket.objects.values_list("external_id", "title"))


@pytest.mark.parametrize("codec", WIDE)
def test_a_csv_file_without_a_byte_order_mark_is_read_in_its_encoding(db, tmp_path, capsys, codec):
    path = tmp_path / "export.csv"
    rows = "".join(f"{key},{title}\r\n" for key, title in TITLES.items())
    path.write_bytes(("external_id,title\r\n" + rows).encode(codec))
    err = _import(path, capsys)
    assert _titles() == TITLES
    assert f"read as {NAMES[codec]}, not UTF-8" in err


JSON_FILES = [*WIDE, "utf-16", "utf-32"]  # the last two: Python writes a byte-order mark


@pytest.mark.parametrize("codec", JSON_FILES)
def test_a_json_file_in_utf_16_or_utf_32_is_read_with_or_without_a_byte_order_mark(
    db, tmp_path, capsys, codec
):
    path = tmp_path / "export.json"
    records = [{"external_id": key, "title": title} for key, title in TITLES.items()]
    path.write_bytes(json.dumps(records, ensure_ascii=False, indent=1).encode(codec))
    err = _import(path, capsys)
    assert _titles() == TITLES
    assert f"read as {NAMES.get(codec, codec.upper())}, not UTF-8" in err


def test_a_json_dump_in_utf_16_is_read_under_its_wrapper(db, tmp_path, capsys):
    path = tmp_path / "dump.json"
    path.write_bytes(json.dumps({"result": [{"external_id": "A", "title": "Ä"}]}).encode("utf-16-le"))
    err = _import(path, capsys)
    assert _titles() == {"A": "Ä"}
    assert "read as UTF-16LE, not UTF-8, the array under 'result'" in err


def test_an_explicit_encoding_wins_over_the_nul_bytes(tmp_path):
    data = "a,b\n1,2\n".encode("utf-16-le")
    assert csv_records.sniff(io.BytesIO(data)).encoding == "utf-16-le"
    assert csv_records.sniff(io.BytesIO(data), "utf-16-be").encoding == "utf-16-be"
    path = tmp_path / "export.json"
    path.write_bytes(b'[{"x": 1}]'.decode().encode("utf-16-le"))
    assert [row.data for row in readers.read_rows(path)] == [{"x": 1}]
    with pytest.raises(readers.FileUnreadable, match="top-level array"):
        readers.read_rows(path, encoding="utf-16-be")  # read as asked: not JSON at all


def test_utf_8_and_windows_1252_files_are_read_as_before(tmp_path):
    path = tmp_path / "export.json"
    path.write_bytes('\ufeff[{"t": "é"}]'.encode())
    rows = readers.read_rows(path)
    assert ([row.data for row in rows], rows.read_as) == ([{"t": "é"}], "")
    assert csv_records.sniff(io.BytesIO("a,b\n1,é\n".encode("cp1252"))).encoding == "cp1252"
