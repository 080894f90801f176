"""--value-map FIELD:SOURCE=TARGET reads an export's own values (a ServiceNow Table API dump's numeric
states, a desk's own priority words) as TicketAI's, before the fields are checked."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from repair_center.models import Alarm, RepairRecord, Ticket
from tests.factories import NetworkElementFactory

# A ServiceNow Table API dump without display values: every value a string, states as numbers.
DUMP = {
    "result": [
        {"number": "INC1", "short_description": "Mains failure", "state": "7", "priority": "Dringend"},
        {"number": "INC2", "short_description": "Fibre cut", "state": "2", "priority": "Mittel"},
        {"number": "INC3", "short_description": "Fan noise", "state": "N/A", "priority": "3"},
    ]
}
MAP = ["--map", "external_id=number", "--map", "title=short_description", "--map", "status=state"]


def _import(tmp_path, *options):
    path = tmp_path / "servicenow.json"
    path.write_text(json.dumps(DUMP))
    rejects = tmp_path / "rejects.jsonl"
    call_command("import_tickets", str(path), "--source", "snow", *MAP, "--rejects", str(rejects), *options)
    return [json.loads(line) for line in rejects.read_text().splitlines()] if rejects.exists() else []


def test_numeric_states_are_refused_naming_value_map_and_read_with_it(db, tmp_path):
    rejects = _import(tmp_path)
    assert [r["row"] for r in rejects] == [1, 2, 3]
    assert "--value-map status:7=closed" in rejects[0]["errors"]["status"][0]

    rejects = _import(
        tmp_path,
        *("--value-map", "status:7=closed", "--value-map", "status:2=inProgress"),
        *("--value-map", "status:n/a=", "--value-map", "priority:dringend=high"),
    )
    assert rejects == []
    tickets = {t.external_id: (t.status, t.priority) for t in Ticket.objects.all()}
    assert tickets == {
        "INC1": ("closed", "high"),
        "INC2": ("inProgress", "medium"),
        "INC3": ("acknowledged", "medium"),
    }


def test_an_event_logs_kinds_and_attributes_are_mapped_too(db, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("id,state,site_kind\nT1,1,rooftop\nT1,7,rooftop\n")
    call_command(
        "import_tickets", str(path), "--source", "log",
        *("--map", "external_id=id", "--map", "event.kind=state", "--map", "attributes.kind=site_kind"),
        *("--value-map", "event.kind:1=New", "--value-map", "event.kind:7=Closed"),
        *("--value-map", "attributes.kind:ROOFTOP=roof"),
    )  # fmt: skip
    ticket = Ticket.objects.get(external_id="T1")
    assert [e.kind for e in ticket.events.order_by("position")] == ["New", "Closed"]
    assert ticket.attributes == {"kind": "roof"}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("status=closed", "write FIELD:SOURCE=TARGET"),
        (":7=closed", "FIELD is one of"),
        ("colour:7=red", "FIELD is one of"),
    ],
)
def test_a_malformed_value_map_is_refused_before_anything_is_read(db, tmp_path, entry, message):
    with pytest.raises(CommandError, match=message):
        call_command("import_tickets", str(tmp_path / "absent.csv"), "--source", "x", "--value-map", entry)


REPAIRS = (
    "rma_id,unit_kind,finding,reported_fault_code,received_on\n"
    "R-1,SFP,NFF,7,2026-01-10\n"
    "R-2,sfp,Defekt,SFP_RX_LOW,2026-01-11\n"
    "R-3,PSU,?,,2026-01-12\n"
)


def _import_repairs(tmp_path, *options):
    path = tmp_path / "rma.csv"
    path.write_text(REPAIRS)
    rejects = tmp_path / "rejects.jsonl"
    call_command("import_repairs", str(path), "--rejects", str(rejects), *options, stdout=StringIO())
    return [json.loads(line) for line in rejects.read_text().splitlines()] if rejects.exists() else []


def test_a_repair_centres_own_findings_and_codes_are_read_with_a_value_map(db, tmp_path):
    assert [(r["row"], list(r["errors"])) for r in _import_repairs(tmp_path)] == [
        (2, ["finding"]),
        (3, ["finding"]),
        (4, ["finding"]),
    ]
    rejects = _import_repairs(
        tmp_path,
        *("--value-map", "finding:nff=no_fault_found", "--value-map", "finding:Defekt=confirmed_fault"),
        *("--value-map", "finding:?=", "--value-map", "reported_fault_code:7=SFP_RX_LOW"),
        *("--value-map", "unit_kind:SFP=sfp"),
    )
    assert rejects == []
    records = {r.rma_id: (r.unit_kind, r.finding, r.reported_fault_code) for r in RepairRecord.objects.all()}
    assert records == {
        "R-1": ("sfp", "no_fault_found", "SFP_RX_LOW"),
        "R-2": ("sfp", "confirmed_fault", "SFP_RX_LOW"),
        "R-3": ("PSU", "pending", ""),  # a blanked finding is pending, as a missing one is
    }


def test_an_alarm_exports_own_severities_and_states_are_read_with_a_value_map(db, tmp_path):
    NetworkElementFactory(serial="RU-1", site__code="S-1")
    path = tmp_path / "alarms.csv"
    path.write_text(
        "id,object,raised,cleared,severity,state\n"
        "A-1,RU-1,2026-03-01T09:00:00Z,,1,aktiv\n"
        "A-2,RU-1,2026-03-01T09:05:00Z,2026-03-01T09:30:00Z,3,N/A\n"
    )
    options = (
        *("--source", "fm", "--map", "externalAlarmId=id", "--map", "alarmedObject=object"),
        *("--map", "alarmRaisedTime=raised", "--map", "alarmClearedTime=cleared"),
        *("--map", "perceivedSeverity=severity", "--map", "state=state"),
        *("--default", "alarmType=equipmentAlarm", "--default", "probableCause=lossOfSignal"),
    )
    call_command(
        "import_alarms", str(path), *options,
        *("--value-map", "perceivedSeverity:1=critical", "--value-map", "perceivedSeverity:3=minor"),
        *("--value-map", "state:AKTIV=raised", "--value-map", "state:n/a="),
        stdout=StringIO(), stderr=StringIO(),
    )  # fmt: skip
    alarms = {a.external_id: (a.perceived_severity, a.state) for a in Alarm.objects.all()}
    assert alarms == {"A-1": ("critical", "raised"), "A-2": ("minor", "cleared")}  # N/A: the clear time says


@pytest.mark.parametrize(
    ("command", "entry", "fields"),
    [
        ("import_repairs", "rma_id:1=2", "finding, reported_fault_code, unit_kind"),
        ("import_alarms", "alarmRaisedTime:1=2", "perceivedSeverity, state, ackState"),
        ("import_alarms", "perceivedSeverity=critical", "write FIELD:SOURCE=TARGET"),
    ],
)
def test_a_value_map_of_a_field_that_holds_no_vocabulary_is_refused(db, tmp_path, command, entry, fields):
    path = tmp_path / "empty.json"
    path.write_text("[]")
    source = ("--source", "x") if command == "import_alarms" else ()
    with pytest.raises(CommandError, match=fields):
        call_command(command, str(path), *source, "--value-map", entry)
