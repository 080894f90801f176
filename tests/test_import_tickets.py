"""import_tickets: CSV, JSON and JSONL files through tickets_upsert, with rejects and reruns."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from repair_center.ingestion.files import import_tickets_file
from repair_center.models import ResolutionCode, Ticket, TicketErrorCode, TicketEvent
from tests.factories import NetworkElementFactory, ResolutionCodeFactory


def _doc(n: int, **overrides) -> dict:
    doc = {
        "source": "sim",
        "external_id": f"SIM-{n:03d}",
        "title": f"link down {n}",
        "status": "closed",
        "priority": "high",
        "opened_at": "2026-01-03T10:12:00Z",
        "resolved_at": "2026-01-03T14:00:00Z",
        "site": "CS-1",
        "element": "SN-1",
        "error_codes": ["CPRI_LINK_DOWN", "NL-7001"],
        "events": [{"at": "2026-01-03T09:58:00Z", "kind": "alarm_raised", "code": "SFP_RX_LOW", "attrs": {}}],
        "resolution": "REPLACE_SFP",
        "resolution_notes": "swapped sfp",
    }
    doc.update(overrides)
    return doc


@pytest.fixture
def catalogue(db):
    NetworkElementFactory(serial="SN-1", site__code="CS-1")
    ResolutionCodeFactory(code="REPLACE_SFP")


def _import(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_tickets", *map(str, args), stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def _write_jsonl(path, docs):
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))


def test_it_imports_jsonl_and_a_rerun_leaves_everything_unchanged(catalogue, tmp_path):
    path = tmp_path / "tickets.jsonl"
    _write_jsonl(path, [_doc(n) for n in range(5)])
    assert _import(path, "--source", "sim")[0] == "created 5, updated 0, unchanged 0, rejected 0"
    assert _import(path, "--source", "sim")[0] == "created 0, updated 0, unchanged 5, rejected 0"
    assert Ticket.objects.count() == 5
    assert TicketEvent.objects.count() == 5 and TicketErrorCode.objects.count() == 10


def test_it_writes_batches_through_the_same_path_for_a_json_array(catalogue, tmp_path):
    path = tmp_path / "tickets.json"
    path.write_text(json.dumps([_doc(n) for n in range(7)]))
    report = import_tickets_file(path, source="sim", batch_size=3)
    assert report.counts() == {"created": 7, "updated": 0, "unchanged": 0, "rejected": 0}
    changed = [_doc(n, title="changed") if n == 4 else _doc(n) for n in range(7)]
    path.write_text(json.dumps(changed))
    assert import_tickets_file(path, source="sim", batch_size=3).counts()["updated"] == 1
    assert Ticket.objects.get(external_id="SIM-004").revision == 2


def test_a_csv_without_external_ids_is_keyed_by_file_and_row_so_a_rerun_updates(catalogue, tmp_path):
    path = tmp_path / "export.csv"
    events = json.dumps([{"at": "2026-01-01T00:00:00Z", "kind": "alarm_raised", "code": "A", "attrs": {}}])
    path.write_text(
        "title,error_codes,events,site\n"
        f'first,CPRI_LINK_DOWN; NL-7001,"{events.replace(chr(34), chr(34) * 2)}",CS-1\n'
        "second,,,\n"
    )
    assert _import(path, "--source", "noc")[0] == "created 2, updated 0, unchanged 0, rejected 0"
    first = Ticket.objects.get(external_id="export.csv:2")
    assert list(first.codes.values_list("raw_code", flat=True)) == ["CPRI_LINK_DOWN", "NL-7001"]
    assert first.events.get().kind == "alarm_raised"
    assert Ticket.objects.get(external_id="export.csv:3").source == "noc"

    path.write_text(path.read_text().replace("second", "second edited"))
    assert _import(path, "--source", "noc")[0] == "created 0, updated 1, unchanged 1, rejected 0"
    assert Ticket.objects.count() == 2


def test_error_codes_in_one_cell_are_split_on_every_list_separator_exports_use(catalogue, tmp_path):
    path = tmp_path / "alarms.csv"
    path.write_text('id\tcodes\nA\tLOS, LOF|AIS;BER\nB\t"LINK DOWN\nNL-7001"\nC\tCPRI_LINK_DOWN\n')

    out, _ = _import(path, "--source", "noc", "--map", "external_id=id", "--map", "error_codes=codes")

    assert out == "created 3, updated 0, unchanged 0, rejected 0"
    codes = {t.external_id: list(t.codes.values_list("raw_code", flat=True)) for t in Ticket.objects.all()}
    assert codes == {
        "A": ["LOS", "LOF", "AIS", "BER"],
        "B": ["LINK DOWN", "NL-7001"],
        "C": ["CPRI_LINK_DOWN"],
    }


def test_map_reads_fields_from_other_columns_and_reports_the_ignored_ones(catalogue, tmp_path):
    path = tmp_path / "remedy.csv"
    path.write_text("Incident,Summary,Fix,Assignee\nINC-1,fan failure,REPLACE_SFP,bob\n")
    out, err = _import(
        path,
        "--source",
        "remedy",
        "--map",
        "external_id=Incident",
        "--map",
        "title=Summary",
        "--map",
        "resolution=Fix",
    )
    assert out == "created 1, updated 0, unchanged 0, rejected 0"
    assert "ignored columns: Assignee" in err
    ticket = Ticket.objects.get()
    assert (ticket.external_id, ticket.title, ticket.resolution.code) == (
        "INC-1",
        "fan failure",
        "REPLACE_SFP",
    )


def test_an_unknown_resolution_is_rejected_with_a_reason_in_the_rejects_file(catalogue, tmp_path):
    path = tmp_path / "tickets.jsonl"
    rejects = tmp_path / "rejects.jsonl"
    _write_jsonl(path, [_doc(1), _doc(2, resolution="TURN_IT_OFF_AND_ON")])
    out, err = _import(path, "--source", "sim", "--rejects", rejects)
    assert out == "created 1, updated 0, unchanged 0, rejected 1"
    [entry] = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert entry["row"] == 2 and entry["external_id"] == "SIM-002"
    assert "not in the resolution catalogue" in entry["errors"]["resolution"][0]
    assert entry["data"]["resolution"] == "TURN_IT_OFF_AND_ON"
    assert "row 2 rejected: resolution:" in err
    assert not ResolutionCode.objects.filter(code="TURN_IT_OFF_AND_ON").exists()


def test_create_missing_adds_the_resolution_flagged_for_curation(catalogue, tmp_path):
    path = tmp_path / "tickets.jsonl"
    _write_jsonl(path, [_doc(1, resolution="TURN_IT_OFF_AND_ON")])
    assert _import(path, "--source", "sim", "--create-missing")[0].startswith("created 1,")
    assert ResolutionCode.objects.get(code="TURN_IT_OFF_AND_ON").needs_curation


def test_broken_lines_are_rejected_with_reasons_and_never_stop_the_import(catalogue, tmp_path):
    path = tmp_path / "tickets.jsonl"
    rejects = tmp_path / "rejects.jsonl"
    good = json.dumps(_doc(1)).encode()
    path.write_bytes(
        good
        + b"\n{not json\n"
        + json.dumps(_doc(2, title="caf")).encode().replace(b"caf", b"caf\xe9")
        + b"\n"
        + json.dumps(_doc(3, opened_at="yesterday")).encode()
        + b"\n"
        + json.dumps(_doc(4)).encode()
        + b"\n"
    )
    out, _ = _import(path, "--source", "sim", "--rejects", rejects)
    assert out == "created 2, updated 0, unchanged 0, rejected 3"
    entries = {e["row"]: e for e in map(json.loads, rejects.read_text().splitlines())}
    assert entries[2]["reason"].startswith("invalid JSON")
    assert entries[3]["reason"] == "not valid UTF-8"
    assert "opened_at" in entries[4]["errors"]
    assert set(Ticket.objects.values_list("external_id", flat=True)) == {"SIM-001", "SIM-004"}


def test_a_file_that_cannot_be_read_fails_and_writes_nothing(catalogue, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    with pytest.raises(CommandError, match="No such file"):
        _import(tmp_path / "absent.jsonl", "--source", "sim", "--rejects", rejects)
    path = tmp_path / "tickets.json"
    path.write_text(json.dumps(_doc(1)))
    with pytest.raises(CommandError, match="top-level array"):
        _import(path, "--source", "sim", "--rejects", rejects)
    assert not rejects.exists()
    assert Ticket.objects.count() == 0


def test_a_jira_dump_imports_with_dotted_paths_into_its_nested_fields(catalogue, tmp_path):
    path = tmp_path / "jira.json"
    issue = {
        "id": "10042",
        "key": "NOC-7",
        "fields": {"summary": "CPRI link down", "status": {"name": "Done"}, "issuetype": {"name": "Fault"}},
    }
    path.write_text(json.dumps({"startAt": 0, "total": 1, "expand": "names", "issues": [issue]}))
    options = [
        "--map",
        "external_id=key",
        "--map",
        "title=fields.summary",
        "--map",
        "status=fields.status.name",
    ]
    out, err = _import(path, "--source", "jira", *options, "--map", "attributes.type=fields.issuetype.name")

    assert out == "created 1, updated 0, unchanged 0, rejected 0"
    assert err.splitlines() == [
        "read as the array under 'issues', Jira search results with the 'jira' connector's fields "
        "(--map overrides one)",
        "ignored columns: id",  # "fields" is read, through its paths
    ]
    ticket = Ticket.objects.get(source="jira")
    assert (ticket.external_id, ticket.title, ticket.status) == ("NOC-7", "CPRI link down", "resolved")
    assert ticket.attributes == {"type": "Fault"}


def test_a_column_mapped_to_one_field_is_not_also_read_by_the_field_of_its_name(catalogue, tmp_path):
    # With --map resolution=priority the label is in the column "priority": the priority field must
    # not read it too, or the label would be part of the model's input.
    path = tmp_path / "t.csv"
    path.write_text("external_id,title,priority,urgency\nT-1,fan noise,FAN_SWAP,high\n")
    _import(
        path, "--source=desk", "--create-missing", "--map=resolution=priority", "--map=attributes.u=urgency"
    )
    ticket = Ticket.objects.get()
    assert (ticket.resolution.code, ticket.priority, ticket.attributes) == (
        "FAN_SWAP",
        "medium",
        {"u": "high"},
    )


def test_an_unknown_field_or_a_missing_column_in_map_is_refused_before_reading(catalogue, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a\n1\n")
    with pytest.raises(CommandError, match="unknown field"):
        _import(path, "--source", "sim", "--map", "summary=a")
    with pytest.raises(CommandError, match="not in the CSV header: Incident"):
        _import(path, "--source", "sim", "--map", "external_id=Incident", "--map", "title=a")
    with pytest.raises(CommandError, match=r"read as comma-separated, its columns are: a\)"):
        _import(path, "--source", "sim", "--map", "external_id=Incident")
    assert Ticket.objects.count() == 0


def test_a_mapped_column_that_differs_from_one_only_in_case_or_spacing_is_named(catalogue, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("Number,Short  description,status,Status\nA,Fan,open,Open\n")
    message = r"did you mean 'Number' for 'number', 'Short  description' for 'short description'\?"
    with pytest.raises(CommandError, match=message):
        _import(path, "--source", "sim", "--map", "external_id=number", "--map", "title=short description")
    # Two columns that differ only in case: no guess.
    with pytest.raises(CommandError) as refused:
        _import(path, "--source", "sim", "--map", "external_id=Number", "--map", "attributes.s=STATUS")
    assert "did you mean" not in str(refused.value)
    assert Ticket.objects.count() == 0


def test_a_reports_footer_is_refused_as_one_and_a_last_ticket_of_one_value_is_kept(catalogue, tmp_path):
    path = tmp_path / "report.csv"
    path.write_text("Number,Short description\nINC1,Fan noise\nINC2,PSU dead\n\nTotal: 2 records,\n")
    out, err = _import(
        path, "--source", "sim", "--map", "external_id=Number", "--map", "title=Short description"
    )
    assert out == "created 2, updated 0, unchanged 0, rejected 1"
    footer = "one value after the last record, a report's footer: 'Total: 2 records'"
    assert f"row 5 rejected: non_field_errors: {footer}" in err
    assert sorted(Ticket.objects.values_list("external_id", flat=True)) == ["INC1", "INC2"]
    # One value that makes a ticket (a title, the file keying it by its row) is a ticket, not a footer.
    path.write_text("Number,Short description\nINC1,Fan noise\n,Door open\n")
    out, _ = _import(
        path, "--source", "sim", "--map", "external_id=Number", "--map", "title=Short description"
    )
    assert out == "created 1, updated 0, unchanged 1, rejected 0"
    assert Ticket.objects.get(external_id="report.csv:3").title == "Door open"


def test_a_date_in_an_exports_own_format_is_rejected_naming_the_date_format_that_reads_it(
    catalogue, tmp_path
):
    path = tmp_path / "t.csv"
    path.write_text(
        "id,title,opened_at\n"
        "A,us,02/29/2016 1:16 PM\n"
        "B,ambiguous,03/04/2016\n"
        "C,unknown,yesterday\n"
        "D,iso,2016-03-01 10:00\n"
    )
    rejects = tmp_path / "rejects.jsonl"
    out, _ = _import(path, "--source", "sim", "--map", "external_id=id", "--rejects", rejects)
    assert out == "created 1, updated 0, unchanged 0, rejected 3"
    reasons = {
        e["external_id"]: e["errors"]["opened_at"] for e in map(json.loads, rejects.read_text().splitlines())
    }
    assert reasons == {
        "A": [
            "'02/29/2016 1:16 PM' is not an ISO 8601 date-time; --date-format '%m/%d/%Y %I:%M %p' reads it"
        ],
        "B": ["'03/04/2016' is not an ISO 8601 date-time; --date-format '%d/%m/%Y' or '%m/%d/%Y' reads it"],
        "C": ["'yesterday' is not an ISO 8601 date-time"],  # no format to suggest: the document's own check
    }
    _import(path, "--source", "sim", "--map", "external_id=id", "--date-format", "%m/%d/%Y %I:%M %p")
    assert Ticket.objects.get(external_id="A").opened_at.isoformat() == "2016-02-29T13:16:00+00:00"


def test_a_document_that_breaks_the_write_costs_only_its_own_row(catalogue, tmp_path):
    # Valid ISO 8601, but year 1 at +01:00 overflows when normalised to UTC: rejected alone.
    path = tmp_path / "tickets.jsonl"
    _write_jsonl(path, [_doc(1), _doc(2, opened_at="0001-01-01T00:30:00+01:00", resolved_at=None), _doc(3)])
    report = import_tickets_file(path, source="sim")
    assert report.counts() == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 1}
    assert report.rejects[0]["row"] == 2
    assert "out of range" in report.rejects[0]["errors"]["opened_at"][0]
    assert set(Ticket.objects.values_list("external_id", flat=True)) == {"SIM-001", "SIM-003"}


def test_a_semicolon_separated_file_reads_numbers_with_a_decimal_comma(catalogue, tmp_path):
    semicolons, commas = tmp_path / "de.csv", tmp_path / "en.csv"
    semicolons.write_text("id;title;volt;site\nA;Netzteil;47,5;CS-1\nB;Lüfter;-3;CS-1\nC;Tür;1,2,3;CS-1\n")
    commas.write_text('id,title,volt\nD,psu,"47,5"\n')
    for path in (semicolons, commas):
        _import(path, "--source", "sim", "--map", "external_id=id", "--map", "attributes.volt=volt")
    volts = dict(Ticket.objects.values_list("external_id", "attributes__volt"))
    assert volts == {"A": 47.5, "B": -3, "C": "1,2,3", "D": "47,5"}


def test_a_reading_written_with_its_unit_is_read_as_its_number(catalogue, tmp_path):
    semicolons, commas = tmp_path / "de.csv", tmp_path / "en.csv"
    rows = "id;title;rx;temp;mode\nA;SFP;-19,5 dBm;44,5 °C;5 G\nB;Lüfter;-3dBm;61 °C;3 normal\n"
    semicolons.write_text(rows, encoding="utf-8")
    commas.write_text("id,title,rx,temp,mode\nC,psu,-20.4 dBm,40%,dBm\n")
    mapping = ["--map", "attributes.rx=rx", "--map", "attributes.temp=temp", "--map", "attributes.mode=mode"]
    for path in (semicolons, commas):
        _import(path, "--source", "sim", "--map", "external_id=id", *mapping)
    read = {t.external_id: t.attributes for t in Ticket.objects.all()}
    assert read == {
        "A": {"rx": -19.5, "temp": 44.5, "mode": "5 G"},
        "B": {"rx": -3, "temp": 61, "mode": "3 normal"},
        "C": {"rx": -20.4, "temp": 40, "mode": "dBm"},
    }


def test_a_tmf621_dump_imports_as_the_tmf621_api_reads_it_with_no_map(catalogue, tmp_path):
    """GET /troubleTicket of a TM Forum-certified system, saved to a file."""
    ticket = {
        "id": "INC0010042",
        "href": "https://sn.example/tmf-api/troubleTicket/v4/troubleTicket/INC0010042",
        "@type": "TroubleTicket",
        "name": "CPRI link down on sector 2",
        "description": "RRU lost CPRI after an SFP warning",
        "severity": "Major",
        "status": "resolved",
        "ticketType": "incident",
        "creationDate": "2026-01-03T10:12:00Z",
        "resolutionDate": "2026-01-03T14:00:00Z",
        "resolutionCode": "REPLACE_SFP",
        "relatedEntity": [
            {"id": "CS-1", "role": "site", "@referredType": "GeographicSite"},
            {"id": "SN-1", "role": "networkElement", "@referredType": "Resource"},
            {"id": "FM-77", "role": "alarm", "@referredType": "Alarm"},
        ],
    }
    broken = {**ticket, "id": "INC0010043", "creationDate": "yesterday"}
    path = tmp_path / "troubleTicket.json"
    path.write_text(json.dumps([ticket, broken]))

    out, err = _import(path, "--source", "servicenow", "--rejects", tmp_path / "rejects.jsonl")

    assert out == "created 1, updated 0, unchanged 0, rejected 1"
    assert "ignored columns: @type, href, ticketType" in err.splitlines()
    stored = Ticket.objects.get(source="servicenow")
    assert (stored.external_id, stored.title, stored.priority, stored.status) == (
        "INC0010042",
        "CPRI link down on sector 2",
        "high",
        "resolved",
    )
    assert (stored.site.code, stored.element.serial, stored.resolution.code) == (
        "CS-1",
        "SN-1",
        "REPLACE_SFP",
    )
    assert list(stored.alarm_refs.values_list("ref", flat=True)) == ["FM-77"]
    [reject] = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert "opened_at" in json.dumps(reject)
    assert _import(path, "--source", "servicenow")[0] == "created 0, updated 0, unchanged 1, rejected 1"
