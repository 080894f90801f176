"""import_alarms: an alarm history from a file (TMF642 JSON, or a CSV export read through --map)
through the TMF642 write path, then recorrelate gives stored tickets their alarms."""

import json
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from repair_center.models import Alarm, Ticket
from repair_center.services.tickets import tickets_upsert
from tests.factories import NetworkElementFactory


@pytest.fixture
def element(db):
    return NetworkElementFactory(serial="RU-1", site__code="S-1")


def _run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_alarms", *map(str, args), stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def _tmf642(ext: str, at: str, **extra) -> dict:
    return {
        "externalAlarmId": ext,
        "alarmedObject": {"id": "RU-1"},
        "state": "raised",
        "alarmType": "equipmentAlarm",
        "perceivedSeverity": "major",
        "probableCause": "lossOfSignal",
        "specificProblem": "NL-CPRI",
        "alarmRaisedTime": at,
        **extra,
    }


def test_a_tmf642_jsonl_history_imports_raises_and_clears_and_a_rerun_changes_nothing(element, tmp_path):
    path = tmp_path / "alarms.jsonl"
    rows = [
        _tmf642("A-1", "2026-03-01T09:00:00Z"),
        _tmf642("A-2", "2026-03-01T09:05:00Z", sourceSystemId="ems-2"),
        {
            **_tmf642("A-1", "2026-03-01T09:00:00Z"),
            "state": "cleared",
            "alarmClearedTime": "2026-03-01T09:30:00Z",
        },
        _tmf642("A-3", "not a time"),
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))

    out, _ = _run(path, "--source", "netact", "--rejects", tmp_path / "rejects.jsonl")

    assert out.startswith("created 2, updated 1, unchanged 0, rejected 1")
    stored = {(a.source_system, a.external_id): a for a in Alarm.objects.all()}
    assert set(stored) == {("netact", "A-1"), ("ems-2", "A-2")}
    assert stored[("netact", "A-1")].state == "cleared" and stored[("netact", "A-1")].element == element
    [reject] = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert "alarmRaisedTime" in reject["errors"]
    assert _run(path, "--source", "netact")[0].startswith("created 0, updated 0, unchanged 3, rejected 1")


def test_a_csv_export_imports_through_map_defaults_and_its_date_format(element, tmp_path):
    path = tmp_path / "netact.csv"
    path.write_text(
        "Alarm ID;Managed Object;Alarm Time;Cancel Time;Severity;Alarm Number\n"
        "7001;RU-1;01.03.2026 09:00:00;01.03.2026 09:30:00;major;NL-CPRI\n"
        "7002;RU-1;01.03.2026 09:10:00;;critical;NL-SFP\n"
        "7003;RU-1;01.03.2026 09:20:00;;urgent;NL-SFP\n"
    )
    options = [
        *("--map", "externalAlarmId=Alarm ID", "--map", "alarmedObject=Managed Object"),
        *("--map", "alarmRaisedTime=Alarm Time", "--map", "alarmClearedTime=Cancel Time"),
        *("--map", "perceivedSeverity=Severity", "--map", "specificProblem=Alarm Number"),
        *("--default", "alarmType=equipmentAlarm", "--default", "probableCause=equipmentMalfunction"),
        *("--date-format", "%d.%m.%Y %H:%M:%S"),
    ]
    out, err = _run(path, "--source", "netact", *options)

    assert out.startswith("created 2, updated 0, unchanged 0, rejected 1"), (out, err)
    assert "perceivedSeverity" in err
    first, second = Alarm.objects.order_by("raised_at")
    assert (first.external_id, first.state, first.cleared_at) == (
        "7001",
        "cleared",
        datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    )
    assert (second.state, second.probable_cause, second.alarm_type) == (
        "raised",
        "equipmentMalfunction",
        "equipmentAlarm",
    )


def test_a_backfilled_history_reaches_stored_tickets_through_recorrelate(element, tmp_path, settings):
    settings.TICKETAI_ALARM_RETENTION_DAYS = 30
    tickets_upsert(
        documents=[
            {
                "external_id": "T-1",
                "title": "cell down",
                "element": "RU-1",
                "opened_at": "2026-03-01T10:00:00Z",
            }
        ],
        source="noc",
    )
    path = tmp_path / "alarms.json"
    path.write_text(json.dumps([_tmf642("A-1", "2026-03-01T09:58:00Z")]))

    _, err = _run(path, "--source", "netact")
    assert "1 stored alarms last changed over TICKETAI_ALARM_RETENTION_DAYS (30) days ago" in err

    call_command("recorrelate", "--all", stdout=StringIO())
    assert [(e.raw_code, e.attrs["scope"]) for e in Ticket.objects.get().events.all()] == [
        ("NL-CPRI", "element")
    ]


def test_an_unknown_attribute_in_map_or_default_is_refused_before_reading(element, tmp_path):
    path = tmp_path / "a.json"
    path.write_text("[]")
    with pytest.raises(CommandError, match="unknown field"):
        _run(path, "--source", "x", "--map", "severity=Severity")
    with pytest.raises(CommandError, match="--default 'alarmType': give ATTRIBUTE=VALUE"):
        _run(path, "--source", "x", "--default", "alarmType")
