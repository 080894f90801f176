"""export_tickets: canonical documents to .jsonl or .json, and a round trip that changes nothing."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from repair_center.services.tickets import tickets_upsert
from tests.factories import NetworkElementFactory, ResolutionCodeFactory


def _load():
    NetworkElementFactory(serial="SN-1", site__code="CS-1")
    ResolutionCodeFactory(code="REPLACE_SFP")
    docs = [
        {
            "external_id": f"T-{n}",
            "title": f"ticket {n}: café",
            "opened_at": "2026-01-03T10:12:00+01:00",
            "site": "CS-1",
            "element": "SN-1",
            "error_codes": ["NL-7001", "CPRI_LINK_DOWN"],
            "events": [
                {"at": "2026-01-03T09:58:00Z", "kind": "alarm_raised", "code": "X", "attrs": {"db": -19.5}}
            ],
            "resolution": "REPLACE_SFP",
        }
        for n in range(3)
    ]
    tickets_upsert(documents=docs, source="noc")
    tickets_upsert(documents=[{"external_id": "O-1", "title": "other system"}], source="remedy")


def _run(command, *args) -> str:
    out = StringIO()
    call_command(command, *map(str, args), stdout=out, stderr=StringIO())
    return out.getvalue().strip()


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_an_export_reimports_as_all_unchanged(db, tmp_path, suffix):
    _load()
    path = tmp_path / f"tickets{suffix}"
    assert _run("export_tickets", path) == f"exported 4 tickets to {path}"
    assert (
        _run("import_tickets", path, "--source", "ignored") == "created 0, updated 0, unchanged 4, rejected 0"
    )


def test_the_jsonl_export_holds_canonical_documents_one_per_line(db, tmp_path):
    _load()
    path = tmp_path / "noc.jsonl"
    _run("export_tickets", path, "--source", "noc")
    docs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [d["external_id"] for d in docs] == ["T-0", "T-1", "T-2"]
    assert docs[0]["opened_at"] == "2026-01-03T09:12:00Z"
    assert docs[0]["error_codes"] == ["NL-7001", "CPRI_LINK_DOWN"]
    assert docs[0]["title"] == "ticket 0: café"
    assert not list(tmp_path.glob("*.part"))


def test_an_empty_export_is_a_valid_json_array(db, tmp_path):
    path = tmp_path / "none.json"
    assert _run("export_tickets", path) == f"exported 0 tickets to {path}"
    assert json.loads(path.read_text()) == []


def test_it_refuses_an_unknown_extension(db, tmp_path):
    with pytest.raises(CommandError, match=r"export to \.json or \.jsonl"):
        _run("export_tickets", tmp_path / "out.csv")
