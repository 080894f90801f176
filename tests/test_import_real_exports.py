"""What real exports carry reaches the store: attributes, events without times or with the source's
own kinds, and event logs folded into tickets; malformed values are still refused with a reason."""

import json
import tempfile
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from ml.core.serialization import serialize
from repair_center.documents import MAX_EVENTS, DocumentError, parse_ticket
from repair_center.models import Ticket, TicketEvent, UnmappedEventKind
from repair_center.selectors import ticket_detail, ticket_document
from repair_center.services.tickets import tickets_upsert
from tests.factories import ResolutionCodeFactory
from tests.real_exports import INCIDENT_LOG_MAP, REAL


def _import(*args) -> str:
    out, err = StringIO(), StringIO()
    call_command("import_tickets", *map(str, args), stdout=out, stderr=err)
    return out.getvalue().strip()


def test_events_without_times_and_with_the_sources_own_kinds_are_kept_in_order(db):
    doc = parse_ticket(
        {
            "external_id": "F-1",
            "events": [
                {"kind": "Awaiting User Info"},
                {"kind": "alarm_raised", "at": None, "code": "LOS"},
                {"kind": "Resolved", "at": "2026-01-01T10:00:00Z"},
            ],
        }
    )
    assert [(e.kind, e.at is None) for e in doc.events] == [
        ("Awaiting User Info", True),
        ("alarm_raised", True),
        ("Resolved", False),
    ]


@pytest.mark.parametrize(
    ("event", "field", "reason"),
    [
        ({"kind": "alarm_raised", "at": "yesterday"}, "events[0].at", "is not an ISO 8601 date-time"),
        ({"kind": "a|b"}, "events[0].kind", "is not an event kind"),
        ({"kind": ""}, "events[0].kind", "is not an event kind"),
        ({"kind": 7}, "events[0].kind", "is not an event kind"),
        ({"kind": "x" * 65}, "events[0].kind", "is not an event kind"),
        ({"kind": "line\nbreak"}, "events[0].kind", "is not an event kind"),
    ],
)
def test_malformed_event_values_are_still_refused_with_a_reason(db, event, field, reason):
    with pytest.raises(DocumentError) as e:
        parse_ticket({"external_id": "F-2", "events": [event]})
    assert reason in " ".join(e.value.errors[field])


@pytest.mark.parametrize(
    ("attributes", "field", "reason"),
    [
        ([1, 2], "attributes", "must be an object"),
        ({"bad name!": "x"}, "attributes", "is not an attribute name"),
        ({"nested": {"a": 1}}, "attributes.nested", "must be a string or a number"),
        ({"flag": True}, "attributes.flag", "must be a string or a number"),
        (
            {"tags": ["los", "north"]},
            "attributes.tags",
            "not a list: a list of tags or codes is read as error_codes",
        ),
        ({"long": "x" * 201}, "attributes.long", "at most 200 characters (got 201): an attribute is a short"),
        ({f"k{i}": i for i in range(33)}, "attributes", "at most 32 attributes"),
        ({"nul": "a\x00b"}, "attributes.nul", "NUL"),
    ],
)
def test_attributes_are_bounded_and_refused_with_a_reason(db, attributes, field, reason):
    with pytest.raises(DocumentError) as e:
        parse_ticket({"external_id": "F-3", "title": "t", "attributes": attributes})
    assert reason in " ".join(e.value.errors[field])


def test_attributes_round_trip_through_import_export_and_serialisation(db, tmp_path):
    csv_path = tmp_path / "desk.csv"
    csv_path.write_text(
        "Id,Summary,Category,Impact,Reading,Zip\n"
        "D-1,vpn drops every hour,Network,2 - Medium,-19.5,0042\n"
        "D-2,printer jammed,Hardware,,3,\n"
    )
    args = ["--source", "desk", "--map", "external_id=Id", "--map", "title=Summary"]
    args += ["--map", "attributes.category=Category", "--map", "attributes.impact=Impact"]
    args += ["--map", "attributes.reading=Reading", "--map", "attributes.zip=Zip"]
    assert _import(csv_path, *args) == "created 2, updated 0, unchanged 0, rejected 0"
    stored = {t.external_id: t.attributes for t in Ticket.objects.all()}
    assert stored == {
        "D-1": {"category": "Network", "impact": "2 - Medium", "reading": -19.5, "zip": "0042"},
        "D-2": {"category": "Hardware", "reading": 3},
    }

    out = tmp_path / "export.jsonl"
    call_command("export_tickets", str(out), "--source", "desk", stdout=StringIO())
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["attributes"] for d in exported] == [stored["D-1"], stored["D-2"]]
    assert _import(out, "--source", "desk") == "created 0, updated 0, unchanged 2, rejected 0"

    ticket = ticket_detail().get(external_id="D-1")
    text = serialize(ticket_document(ticket))
    assert "[attrs] category=Network impact=2_-_Medium reading~-20 zip=0042" in text


def test_an_incident_event_log_folds_into_tickets_with_their_events(db):
    ResolutionCodeFactory(code="code 5")
    out = _import(
        REAL / "incident_event_log_100.csv", "--source", "itsm", "--create-missing", *INCIDENT_LOG_MAP
    )
    assert out.splitlines()[0] == "created 100, updated 0, unchanged 0, rejected 0"
    ticket = Ticket.objects.get(external_id="INC0000045")
    events = list(ticket.events.order_by("position").values_list("kind", "at", "attrs"))
    assert events == [
        ("New", None, {"reassignments": 0}),
        ("Resolved", None, {"reassignments": 0}),
        ("Resolved", None, {"reassignments": 0}),
        ("Closed", None, {"reassignments": 0}),
    ]
    assert ticket.resolution.code == "code 5" and ticket.opened_at is None
    assert ticket.attributes["category"] == "Category 55" and ticket.attributes["location"] == "Location 143"
    assert TicketEvent.objects.count() == 603
    kinds = dict(UnmappedEventKind.objects.values_list("kind", "occurrences"))
    assert kinds["New"] > 100 and kinds["Awaiting User Info"] > 10 and "alarm_raised" not in kinds


def test_the_ticket_page_shows_attributes_and_untimed_events_in_order_with_an_unknown_time(
    db, client, engineer
):
    tickets_upsert(
        documents=[
            {
                "external_id": "U-1",
                "title": "t",
                "opened_at": "2026-01-01T10:00:00Z",
                "events": [{"kind": "Awaiting Vendor"}, {"kind": "alarm_raised", "code": "LOS"}],
                "attributes": {"category": "Network <b>", "impact": 2},
            }
        ],
        source="itsm",
    )
    client.force_login(engineer)
    page = client.get(reverse("ticket-detail", args=[Ticket.objects.get().pk])).content.decode()
    timeline = page[page.index('id="timeline-heading"') :]
    assert timeline.count('<span class="unknown-time">time unknown</span>') == 2
    assert "after the ticket opened" not in timeline and "before the ticket opened" not in timeline
    assert timeline.index("Awaiting Vendor") < timeline.index("Alarm raised")
    assert "<dt>category</dt><dd>Network &lt;b&gt;</dd><dt>impact</dt><dd>2</dd>" in page


def test_a_tickets_rows_are_folded_wherever_they_are_in_the_log_and_its_last_row_wins(
    db, tmp_path, monkeypatch
):
    # exports are often ordered by time, so one ticket's rows are spread through the file
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the folder keeps the rows
    path = tmp_path / "log.csv"
    path.write_text(
        "Ticket,State,Priority,Volume\n"
        "T-1,opened,low,10\n"
        "T-2,opened,low,1\n"
        "T-1,escalated,high,250\n"
        ",orphan,low,1\n"
        "T-2,closed,medium,2\n"
        "T-1,closed,critical,3\n"
        "4 rows,,,\n"  # a report's footer: in an event log one value is never an event
    )
    rejects = tmp_path / "rejects.jsonl"
    options = ["--map", "external_id=Ticket", "--map", "event.kind=State", "--map", "priority=Priority"]
    out = _import(
        path, "--source", "log", "--rejects", rejects, *options, "--map", "event.attrs.volume=Volume"
    )

    assert out.splitlines()[0] == "created 2, updated 0, unchanged 0, rejected 2"
    first, second = Ticket.objects.get(external_id="T-1"), Ticket.objects.get(external_id="T-2")
    assert (first.priority, second.priority) == ("critical", "medium")
    assert list(first.events.values_list("kind", flat=True)) == ["opened", "escalated", "closed"]
    assert [e.attrs for e in first.events.all()] == [{"volume": 10}, {"volume": 250}, {"volume": 3}]
    assert list(second.events.values_list("kind", flat=True)) == ["opened", "closed"]
    refused, footer = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert refused["row"] == 5 and refused["reason"] == "the ticket id column is blank"
    assert footer["row"] == 8 and footer["errors"] == {
        "non_field_errors": ["one value after the last record, a report's footer: '4 rows'"]
    }

    assert _import(path, "--source", "log", *options, "--map", "event.attrs.volume=Volume").startswith(
        "created 0, updated 0, unchanged 2, rejected 2"
    )
    assert list(scratch.iterdir()) == []  # the rows' temporary file is gone


def test_a_ticket_with_more_events_than_a_ticket_holds_keeps_its_latest_and_the_import_says_so(db, tmp_path):
    path = tmp_path / "storm.csv"
    rows = [f"STORM,alarm {n},2016-03-01T09:{n // 60:02d}:{n % 60:02d}" for n in range(MAX_EVENTS + 12)]
    path.write_text("Ticket,State,Updated\n" + "\n".join(reversed(rows)) + "\nCALM,New,2016-03-01T10:00\n")
    out = StringIO()
    call_command(
        "import_tickets",
        str(path),
        "--source=log",
        "--map=external_id=Ticket",
        "--map=event.kind=State",
        "--map=event.at=Updated",
        stdout=out,
        stderr=out,
    )
    assert "created 2, updated 0, unchanged 0, rejected 0" in out.getvalue()
    assert (
        f"1 tickets have more than {MAX_EVENTS} events in the log: the latest {MAX_EVENTS} of each "
        "were kept: STORM (12 older left out)"
    ) in out.getvalue()
    kinds = list(Ticket.objects.get(external_id="STORM").events.values_list("kind", flat=True))
    assert kinds == [f"alarm {n}" for n in range(12, MAX_EVENTS + 12)]


def test_a_log_listed_newest_first_folds_as_one_listed_oldest_first(db, tmp_path):
    header = "Ticket,State,Updated,Group\n"
    rows = [
        "T-1,New,2016-03-01T09:00,dispatch",
        "T-1,Active,2016-03-01T09:05,field",
        "T-1,Closed,2016-03-02T10:00,noc",
    ]
    oldest_first, newest_first = tmp_path / "oldest.csv", tmp_path / "newest.csv"
    oldest_first.write_text(header + "\n".join(rows) + "\n")
    newest_first.write_text(header + "\n".join(reversed(rows)) + "\n")
    options = ["--map", "external_id=Ticket", "--map", "event.kind=State", "--map", "event.at=Updated"]
    options += ["--map", "attributes.group=Group"]

    _import(newest_first, "--source", "newest", *options)
    _import(oldest_first, "--source", "oldest", *options)

    for source in ("newest", "oldest"):
        ticket = Ticket.objects.get(source=source)
        assert list(ticket.events.values_list("kind", flat=True)) == ["New", "Active", "Closed"]
        assert ticket.attributes == {"group": "noc"}


def test_an_event_log_mapping_needs_a_kind_and_a_ticket_id(db, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("Ticket,State\nT-1,opened\n")
    with pytest.raises(CommandError, match=r"needs --map event\.kind"):
        _import(path, "--source", "log", "--map", "external_id=Ticket", "--map", "event.attrs.x=State")
    with pytest.raises(CommandError, match=r"needs --map external_id"):
        _import(path, "--source", "log", "--map", "event.kind=State")
    with pytest.raises(CommandError, match=r"event\.at, event\.kind, event\.code or event\.attrs\.NAME"):
        _import(path, "--source", "log", "--map", "external_id=Ticket", "--map", "event.when=State")


def test_dates_in_the_exports_own_format_are_read_with_date_format(db, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        "Ticket,State,opened_at,Updated\n"
        "T-1,New,29-02-2016 01:16,29-02-2016 01:23\n"
        "T-1,Closed,29-02-2016 01:16,05-03-2016 12:00\n"
        "T-2,New,31-02-2016 01:16,29-02-2016 01:23\n"
    )
    args = ["--map", "external_id=Ticket", "--map", "event.kind=State", "--map", "event.at=Updated"]
    out = _import(path, "--source", "log", "--date-format", "%d-%m-%Y %H:%M", *args)
    assert out == "created 1, updated 0, unchanged 0, rejected 1"
    ticket = Ticket.objects.get(external_id="T-1")
    assert ticket.opened_at.isoformat() == "2016-02-29T01:16:00+00:00"
    assert [e.at.isoformat() for e in ticket.events.all()] == [
        "2016-02-29T01:23:00+00:00",
        "2016-03-05T12:00:00+00:00",
    ]


def test_an_exports_null_marker_is_read_as_blank_with_missing(db, tmp_path):
    # ServiceNow writes "?" for an empty field: without --missing it would be a class and a value
    path = tmp_path / "log.csv"
    path.write_text(
        "Ticket,State,Symptom,Group,Code\n"
        "T-1,New,?,Group 5,?\n"
        "T-1,Closed,?,Group 5,code 3\n"
        "T-2,New,Symptom 7, ? ,?\n"
    )
    args = ["--map", "external_id=Ticket", "--map", "event.kind=State", "--map", "resolution=Code"]
    args += ["--map", "attributes.symptom=Symptom", "--map", "attributes.group=Group", "--create-missing"]
    assert _import(path, "--source", "log", "--missing", "?", *args) == (
        "created 2, updated 0, unchanged 0, rejected 0"
    )
    one, two = Ticket.objects.get(external_id="T-1"), Ticket.objects.get(external_id="T-2")
    assert (one.attributes, one.resolution.code) == ({"group": "Group 5"}, "code 3")
    assert (two.attributes, two.resolution) == ({"symptom": "Symptom 7"}, None)
    assert [e.kind for e in one.events.all()] == ["New", "Closed"]


def test_a_null_marker_in_a_json_export_is_an_absent_key(db, tmp_path):
    path = tmp_path / "tickets.jsonl"
    path.write_text(
        json.dumps({"external_id": "J-1", "title": "mains failure", "description": "NULL"}) + "\n"
    )
    assert (
        _import(path, "--source", "json", "--missing", "NULL")
        == "created 1, updated 0, unchanged 0, rejected 0"
    )
    assert Ticket.objects.get(external_id="J-1").description == ""


def test_the_events_api_lists_and_filters_a_sources_own_kinds(db, engineer_client):
    tickets_upsert(
        documents=[{"external_id": "K-1", "events": [{"kind": "Awaiting User Info"}, {"kind": "power"}]}],
        source="itsm",
    )
    rows = engineer_client.get("/api/v1/events/", {"kind": "Awaiting User Info"}).json()["results"]
    assert [(row["kind"], row["at"]) for row in rows] == [("Awaiting User Info", None)]


def test_untimed_events_keep_their_order_when_alarms_are_correlated_onto_the_ticket():
    from datetime import UTC, datetime

    from repair_center.services import correlation

    inline = [(None, "New", "", None, {}), (None, "Resolved", "", None, {})]
    alarm = (datetime(2026, 1, 1, tzinfo=UTC), "alarm_raised", "LOS", None, {correlation.MARK: 1})
    assert correlation.merge(inline, [alarm]) == [*inline, alarm]


def test_numbers_a_json_export_sends_as_text_are_readings_as_a_csvs_are(db, tmp_path):
    # ServiceNow's API sends every value as a string; a CSV's cells are text too, read by one rule.
    record = {"number": "INC1", "u_rsrp": "-90.0", "u_count": "12", "u_site": "00123", "u_code": "1e5"}
    path = tmp_path / "incidents.json"
    path.write_text(json.dumps({"result": [record, {**record, "number": "INC2", "u_rsrp": "-90.4"}]}))
    csv_path = tmp_path / "incidents.csv"
    csv_path.write_text(",".join(record) + "\nCSV1," + ",".join(list(record.values())[1:]) + "\n")
    names = ("rsrp", "count", "site", "code")
    args = ["--map", "external_id=number", *(f"--map=attributes.{n}=u_{n}" for n in names)]
    _import(path, "--source", "snow", *args)
    _import(csv_path, "--source", "csv", *args)

    attributes = {t.external_id: t.attributes for t in Ticket.objects.all()}
    expected = {"rsrp": -90.0, "count": 12, "site": "00123", "code": 100000.0}
    assert attributes == {"INC1": expected, "INC2": {**expected, "rsrp": -90.4}, "CSV1": expected}
    # bucketed as readings: one token for both tickets, not one per spelling
    tokens = {serialize(ticket_document(t)).split("[attrs] ")[1].split(" [")[0] for t in Ticket.objects.all()}
    assert tokens == {"code~100000 count~12 rsrp~-90 site=00123"}


def test_an_untimed_row_stays_by_its_neighbour_and_the_log_gives_the_open_and_resolve_times(db, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        "Ticket,State,Updated,Code,Opened\n"
        "T-1,Closed,2016-03-02T10:00,fixed,\n"  # newest first
        "T-1,Active,2016-03-01T09:05,,\n"
        "T-1,Awaiting User Info,,,\n"  # no time: it stays after Active, the rest is still sorted
        "T-1,New,2016-03-01T09:00,,\n"
        "T-2,New,2016-03-01T11:00,,\n"  # open: no resolve time
        "T-3,New,2016-03-01T12:00,,2016-02-28T08:00\n"  # the log's own open time wins
        "T-3,Closed,2016-03-01T13:00,fixed,2016-02-28T08:00\n"
    )
    options = ["--map", "external_id=Ticket", "--map", "event.kind=State", "--map", "event.at=Updated"]
    _import(
        path,
        "--source",
        "log",
        "--create-missing",
        *options,
        "--map",
        "resolution=Code",
        "--map",
        "opened_at=Opened",
    )

    one, two, three = (Ticket.objects.get(external_id=f"T-{n}") for n in (1, 2, 3))
    assert list(one.events.values_list("kind", flat=True)) == [
        "New",
        "Active",
        "Awaiting User Info",
        "Closed",
    ]
    times = {
        t.external_id: (t.opened_at.isoformat(), t.resolved_at and t.resolved_at.isoformat())
        for t in (one, two, three)
    }
    assert times == {
        "T-1": ("2016-03-01T09:00:00+00:00", "2016-03-02T10:00:00+00:00"),
        "T-2": ("2016-03-01T11:00:00+00:00", None),
        "T-3": ("2016-02-28T08:00:00+00:00", "2016-03-01T13:00:00+00:00"),
    }
