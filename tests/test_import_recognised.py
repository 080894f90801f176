"""Exports read without a --map for every column: columns named for a field, ServiceNow and Jira
dumps read as their connectors read them, and what a person must hear about how tickets were keyed
(by row, one id twice) or a mapped path that reads nothing."""

import json
import unicodedata
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from repair_center.models import Ticket
from tests.factories import ResolutionCodeFactory


@pytest.fixture
def fixes(db):
    for code in ("REPLACE_SFP", "RESET_RADIO", "Solved (Permanently)"):
        ResolutionCodeFactory(code=code)


def _import(*args) -> tuple[str, list[str]]:
    out, err = StringIO(), StringIO()
    call_command("import_tickets", *map(str, args), stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue().splitlines()


def _csv(path, rows: list[str]) -> None:
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_a_ticket_id_column_is_recognised_and_a_resorted_export_updates_the_same_tickets(fixes, tmp_path):
    header = "Ticket ID,Short description,Resolution,Close notes,language"
    rows = ["T-1,SFP rx low on sector 2,REPLACE_SFP,swapped it,en", "T-2,Radio hung,RESET_RADIO,reset,de"]
    _csv(tmp_path / "week.csv", [header, *rows])
    out, err = _import(tmp_path / "week.csv", "--source", "desk")

    assert out == "created 2, updated 0, unchanged 0, rejected 0"
    assert (
        "read by their names (--map overrides): 'Ticket ID' as external_id, 'Short description' as title, "
        "'Resolution' as resolution, 'Close notes' as resolution_notes"
    ) in err
    assert "ignored columns: language" in err
    ticket = Ticket.objects.get(external_id="T-1")
    assert (ticket.title, ticket.resolution.code, ticket.resolution_notes) == (
        "SFP rx low on sector 2",
        "REPLACE_SFP",
        "swapped it",
    )

    _csv(tmp_path / "week.csv", [header, *reversed(rows)])  # next week's export, sorted the other way
    assert (
        _import(tmp_path / "week.csv", "--source", "desk")[0]
        == "created 0, updated 0, unchanged 2, rejected 0"
    )
    assert Ticket.objects.get(external_id="T-1").title == "SFP rx low on sector 2"


def test_tickets_keyed_by_row_are_said_to_be(fixes, tmp_path):
    _csv(tmp_path / "noid.csv", ["title,resolution", "SFP rx low,REPLACE_SFP", "Radio hung,RESET_RADIO"])

    out, err = _import(tmp_path / "noid.csv", "--source", "desk")

    assert out == "created 2, updated 0, unchanged 0, rejected 0"
    [line] = [line for line in err if "no id in the file" in line]
    assert line.startswith(
        "2 tickets have no id in the file, so they are keyed by file name and row (noid.csv:2"
    )
    assert "--map external_id=COLUMN" in line


def test_rows_repeating_an_id_are_counted_and_named(fixes, tmp_path):
    rows = ["id,title", "F1,first", "F2,second", "F1,first again", "F1,and again"]
    _csv(tmp_path / "dupes.csv", rows)

    out, err = _import(tmp_path / "dupes.csv", "--source", "desk")

    assert out == "created 2, updated 2, unchanged 0, rejected 0"
    assert (
        "2 rows repeat the id of an earlier row of this file, and each updated the same record: "
        "'F1' (row 4), 'F1' (row 5); if that column is not the ticket's own id, map the right one with "
        "--map external_id=COLUMN"
    ) in err
    assert Ticket.objects.get(external_id="F1").title == "and again"


def test_a_servicenow_dump_reads_as_the_servicenow_connector_reads_it(fixes, tmp_path):
    record = {
        "sys_id": "9d385017c611228701d22104cc95c371",
        "number": "INC0010001",
        "short_description": "Cell site dark",
        "description": "RRU unreachable after power dip",
        "state": "7",
        "priority": "2",
        "close_code": "Solved (Permanently)",
        "close_notes": "restarted rectifier",
        "opened_at": "2026-01-03 10:12:00",
        "resolved_at": "2026-01-03 14:00:00",
        "assignment_group": {"display_value": "NOC", "link": "https://x.service-now.com/api/now/table/x"},
    }
    path = tmp_path / "incidents.json"
    path.write_text(json.dumps({"result": [record]}))

    out, err = _import(path, "--source", "snow")

    assert out == "created 1, updated 0, unchanged 0, rejected 0", err
    assert (
        "read as the array under 'result', ServiceNow Table API records with the 'servicenow' "
        "connector's fields (--map overrides one)"
    ) in err
    ticket = Ticket.objects.get(external_id="INC0010001")
    assert (ticket.title, ticket.status, ticket.priority) == ("Cell site dark", "closed", "high")
    assert (ticket.resolution.code, ticket.resolution_notes) == (
        "Solved (Permanently)",
        "restarted rectifier",
    )


def test_a_jira_dump_reads_its_document_format_description_and_status_category(fixes, tmp_path):
    description = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Fibre cut at km 12"}]}],
    }
    issue = {
        "id": "10001",
        "key": "NOC-1",
        "fields": {
            "summary": "Backhaul down",
            "description": description,
            "status": {"name": "Erledigt", "statusCategory": {"key": "done"}},
            "priority": {"name": "Highest"},
            "resolution": {"name": "REPLACE_SFP"},
            "created": "2026-01-03T10:12:00.000+0100",
            "resolutiondate": "2026-01-03T14:00:00.000+0100",
            "components": [{"name": "Transport"}],
        },
    }
    path = tmp_path / "jira.json"
    path.write_text(json.dumps({"issues": [issue]}))

    out, err = _import(path, "--source", "jira", "--map", "attributes.component=fields.components.0.name")

    assert out == "created 1, updated 0, unchanged 0, rejected 0", err
    ticket = Ticket.objects.get(external_id="NOC-1")
    assert (ticket.title, ticket.description, ticket.status, ticket.priority) == (
        "Backhaul down",
        "Fibre cut at km 12",
        "resolved",
        "critical",
    )
    assert ticket.attributes == {"component": "Transport"}


def test_a_mapped_json_path_that_no_record_has_is_said_with_the_near_one(fixes, tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"ref": "X-1", "fields": {"summary": "SFP rx low"}}]))

    out, err = _import(path, "--source", "x", "--map", "external_id=ref", "--map", "title=fields.sumary")

    assert out == "created 0, updated 0, unchanged 0, rejected 1"  # nothing left to learn from
    [line] = [line for line in err if line.startswith("mapped keys no record has")]
    assert "fields.sumary (did you mean fields.summary?)" in line


def test_a_file_none_of_whose_columns_is_read_is_refused_before_anything_is_written(fixes, tmp_path):
    _csv(tmp_path / "de.csv", ["Kurzbeschreibung,Lösung", "Lüfter ausgefallen,REPLACE_SFP"])

    with pytest.raises(CommandError, match="no column of the file is a field TicketAI reads") as refused:
        _import(tmp_path / "de.csv", "--source", "de")

    assert "Kurzbeschreibung, Lösung" in str(refused.value) and "--map title=COLUMN" in str(refused.value)
    assert not Ticket.objects.exists()


def test_a_decomposed_unicode_header_is_mapped_by_its_composed_name(fixes, tmp_path):
    decomposed = unicodedata.normalize("NFD", "Lösung")
    assert decomposed != "Lösung"
    _csv(
        tmp_path / "mac.csv", [f"Ticket,Kurzbeschreibung,{decomposed}", "T-9,Lüfter ausgefallen,REPLACE_SFP"]
    )

    out, _ = _import(
        tmp_path / "mac.csv",
        "--source",
        "de",
        "--map",
        "title=Kurzbeschreibung",
        "--map",
        "resolution=Lösung",
    )

    assert out == "created 1, updated 0, unchanged 0, rejected 0"
    assert Ticket.objects.get(external_id="T-9").resolution.code == "REPLACE_SFP"


def test_a_remedy_or_otrs_header_is_read_by_its_names_without_their_marks(fixes, tmp_path):
    # Remedy marks required fields '*' and indexed ones '+'; OTRS heads its id "Ticket#".
    _csv(
        tmp_path / "helix.csv",
        [
            "Incident ID*+;Summary*;Status*;Priority*;Resolution",
            "INC000000001001;SFP rx low;Closed;Critical;REPLACE_SFP",
        ],
    )
    _csv(tmp_path / "otrs.csv", ["Ticket#;Title;Priority", "2024010310000017;Radio hung;5 very high"])

    out, err = _import(tmp_path / "helix.csv", "--source", "helix")
    assert out == "created 1, updated 0, unchanged 0, rejected 0"
    ticket = Ticket.objects.get(source="helix")
    assert (ticket.external_id, ticket.title, ticket.status) == ("INC000000001001", "SFP rx low", "closed")
    assert ticket.priority == "critical"
    assert "'Incident ID*+' as external_id" in next(line for line in err if line.startswith("read by"))

    out, _ = _import(tmp_path / "otrs.csv", "--source", "otrs")
    assert out == "created 1, updated 0, unchanged 0, rejected 0"
    assert Ticket.objects.get(source="otrs").external_id == "2024010310000017"


def test_a_mapping_wins_over_a_recognised_column(fixes, tmp_path):
    _csv(tmp_path / "two.csv", ["id,case number,title", "row-1,C-77,Radio hung"])

    out, err = _import(tmp_path / "two.csv", "--source", "desk", "--map", "external_id=case number")

    assert out == "created 1, updated 0, unchanged 0, rejected 0"
    assert Ticket.objects.get().external_id == "C-77"
    assert not any(line.startswith("read by their names") for line in err)


def test_a_row_refused_for_its_date_also_names_its_other_problems(fixes, tmp_path):
    _csv(tmp_path / "bad.csv", ["id,title,status,opened_at", "B-1,Radio hung,Gelöscht und weg,31/12/2026"])

    out, err = _import(tmp_path / "bad.csv", "--source", "desk")

    assert out == "created 0, updated 0, unchanged 0, rejected 1"
    [line] = [line for line in err if line.startswith("row 2 rejected")]
    assert "opened_at: '31/12/2026' is not an ISO 8601 date-time" in line
    assert "status: 'Gelöscht und weg'" in line  # said now, not on the next try


def test_a_name_two_columns_could_be_is_no_guess_and_no_weaker_name_takes_its_place():
    from repair_center.ingestion.mapping import lookup
    from repair_center.ingestion.recognise import recognise

    found = recognise(["Ticket ID", "ticket_id", "Number", "Summary"], {}, set())

    assert found == {"title": "Summary"}  # not "Number" as the id: it may be anything
    assert lookup({"c": [{"name": "x"}]}, "c.0.name") == (True, "x")
    assert lookup({"c": [{"name": "x"}]}, "c.².name") == (False, None)  # a digit, but not an index
