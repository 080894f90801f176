"""--value-map FIELD:SOURCE=TARGET reads an export's own values (a ServiceNow Table API dump's numeric
states, a desk's own priority words) as TicketAI's, before the fields are checked."""

import json

import pytest
from django.core.management import CommandError, call_command

from repair_center.models import Ticket

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
