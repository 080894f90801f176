"""Alarms become ticket events: the element's (and, marked, the site's) alarms in the window before a
ticket opened, later ones until it is resolved, and a new recommendation when the sequence changes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from ml.core.dataset import ticket_code_map, ticket_context
from ml.core.serialization import serialize
from repair_center import tasks
from repair_center.models import Ticket, TicketChange
from repair_center.selectors import ticket_detail, ticket_document
from repair_center.services import correlation
from repair_center.services.alarms import alarms_upsert
from repair_center.services.tickets import tickets_upsert
from repair_center.signals import tickets_changed
from tests.factories import ErrorCodeFactory, NetworkElementFactory, SiteFactory
from ticketai.celery import app as celery_app

OPENED = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def raise_alarm(
    external_id: str, on: str, minutes: float, *, cleared: float | None = None, code="NL-1", **extra
):
    body = {
        "externalAlarmId": external_id,
        "sourceSystemId": "oss",
        "alarmedObject": {"id": on},
        "state": "raised" if cleared is None else "cleared",
        "alarmType": "Equipment Alarm",
        "perceivedSeverity": "major",
        "probableCause": "equipmentMalfunction",
        "specificProblem": code,
        "alarmRaisedTime": _iso(OPENED + timedelta(minutes=minutes)),
        **extra,  # what a test says wins (perceivedSeverity, say)
    }
    if cleared is not None:
        body["alarmClearedTime"] = _iso(OPENED + timedelta(minutes=cleared))
    [result] = alarms_upsert(documents=[body])
    assert result.status in ("created", "updated"), result.errors
    return result.id


def open_ticket(external_id="T-1", *, events=(), **fields) -> Ticket:
    document = {
        "external_id": external_id,
        "title": "cell down",
        "opened_at": _iso(OPENED),
        "site": "S-1",
        "element": "RU-1",
        "events": list(events),
        **fields,
    }
    [result] = tickets_upsert(documents=[document], source="noc")
    assert result.status != "rejected", result.errors
    return Ticket.objects.get(pk=result.id)


def sequence(ticket: Ticket) -> list[tuple]:
    return [
        (e.at - OPENED, e.kind, e.raw_code, e.attrs.get("scope"))
        for e in Ticket.objects.get(pk=ticket.pk).events.order_by("position")
    ]


@pytest.fixture
def site(db):
    site = SiteFactory(code="S-1")
    NetworkElementFactory(serial="RU-1", site=site)
    NetworkElementFactory(serial="PSU-1", site=site)
    NetworkElementFactory(serial="RU-9", site=SiteFactory(code="S-2"))
    return site


def test_a_new_ticket_gets_the_alarms_of_its_element_and_marked_ones_of_its_site(site, settings):
    settings.TICKETAI_CORRELATION_WINDOW_MINUTES = 60
    raise_alarm("too-early", "RU-1", -90)
    raise_alarm("sfp", "RU-1", -4, cleared=20, code="NL-SFP")
    raise_alarm("mains", "PSU-1", -30, code="NL-MAINS")
    raise_alarm("elsewhere", "RU-9", -3)

    ticket = open_ticket(events=[{"at": _iso(OPENED - timedelta(minutes=10)), "kind": "config_change"}])

    m = timedelta(minutes=1)
    assert sequence(ticket) == [
        (-30 * m, "alarm_raised", "NL-MAINS", "site"),
        (-10 * m, "config_change", "", None),
        (-4 * m, "alarm_raised", "NL-SFP", "element"),
        (20 * m, "alarm_cleared", "NL-SFP", "element"),
    ]


def test_site_alarms_are_shown_on_the_ticket_but_not_fed_to_the_model(site, engineer, client):
    raise_alarm("sfp", "RU-1", -4, code="NL-SFP")
    raise_alarm("mains", "PSU-1", -30, code="NL-MAINS")
    ticket = open_ticket()

    client.force_login(engineer)
    page = client.get(reverse("ticket-detail", args=[ticket.pk])).content.decode()
    assert "NL-MAINS" in page and "elsewhere on the site (PSU-1)" in page and "NL-SFP" in page
    text = model_input(ticket)
    assert "-4m alarm_raised NL-SFP" in text and "NL-MAINS" not in text


def model_input(ticket: Ticket) -> str:
    """The ticket as training (ml.core.dataset) serialises it for the model."""
    ticket = ticket_detail().get(pk=ticket.pk)
    document = ticket_document(ticket)
    return serialize(document, context=ticket_context(ticket), code_map=ticket_code_map(ticket))


def unrelated(ticket: Ticket) -> list[tuple]:
    return [
        (e.raw_code, e.kind, bool(e.attrs.get("unrelated")))
        for e in Ticket.objects.get(pk=ticket.pk).events.order_by("position")
    ]


def test_another_family_alarm_not_active_at_the_opening_is_marked_and_left_out_of_the_model_input(
    site, settings, engineer, client
):
    settings.TICKETAI_CORRELATION_WINDOW_MINUTES = 15 * 1440
    ErrorCodeFactory(code="CPRI_LINK_DOWN", domain="transport")
    ErrorCodeFactory(code="SFP_RX_LOW", domain="transport")
    ErrorCodeFactory(code="DOOR_OPEN", domain="environment")
    ErrorCodeFactory(code="MEMORY_HIGH", domain="software")
    ErrorCodeFactory(code="FAN_FAIL", domain="environment")
    raise_alarm("flap", "RU-1", -3 * 1440, cleared=-3 * 1440 + 5, code="SFP_RX_LOW")  # the ticket's family
    raise_alarm("door", "RU-1", -2 * 1440, cleared=-2 * 1440 + 30, code="DOOR_OPEN")  # came and went
    raise_alarm("memory", "RU-1", -1440, code="MEMORY_HIGH")  # still active at the opening: kept
    raise_alarm("link", "RU-1", -5, code="CPRI_LINK_DOWN")
    ticket = open_ticket(error_codes=["CPRI_LINK_DOWN"])
    tasks.correlate_alarms([raise_alarm("fan", "RU-1", 180, code="FAN_FAIL")])  # a new fault, hours later
    tasks.correlate_alarms([raise_alarm("mem-later", "RU-1", 200, code="MEMORY_HIGH")])  # active family

    assert unrelated(ticket) == [
        ("SFP_RX_LOW", "alarm_raised", False),
        ("SFP_RX_LOW", "alarm_cleared", False),
        ("DOOR_OPEN", "alarm_raised", True),
        ("DOOR_OPEN", "alarm_cleared", True),
        ("MEMORY_HIGH", "alarm_raised", False),
        ("CPRI_LINK_DOWN", "alarm_raised", False),
        ("FAN_FAIL", "alarm_raised", True),
        ("MEMORY_HIGH", "alarm_raised", False),
    ]
    text = model_input(ticket)
    assert "DOOR_OPEN" not in text and "FAN_FAIL" not in text
    assert "SFP_RX_LOW" in text and "MEMORY_HIGH" in text and "CPRI_LINK_DOWN" in text
    client.force_login(engineer)
    page = client.get(reverse("ticket-detail", args=[ticket.pk])).content.decode()
    assert "DOOR_OPEN" in page and page.count("likely another incident (not model input)") == 3


def test_without_codes_or_alarms_at_the_opening_no_alarm_is_marked_unrelated(site):
    ErrorCodeFactory(code="FAN_FAIL", domain="environment")
    raise_alarm("door", "RU-1", -60, cleared=-50, code="DOOR_OPEN")  # unmapped: its probable cause
    ticket = open_ticket()  # a customer's complaint: no codes, nothing active yet
    tasks.correlate_alarms([raise_alarm("fan", "RU-1", 10, code="FAN_FAIL")])
    assert [flag for *_, flag in unrelated(ticket)] == [False, False, False]
    assert "DOOR_OPEN" in model_input(ticket) and "FAN_FAIL" in model_input(ticket)


def test_a_later_clear_makes_a_stale_alarm_unrelated_only_once_the_ticket_has_a_family(site):
    ErrorCodeFactory(code="CPRI_LINK_DOWN", domain="transport")
    ErrorCodeFactory(code="DOOR_OPEN", domain="environment")
    door = raise_alarm("door", "RU-1", -120, code="DOOR_OPEN")  # active at the opening: its family counts
    ticket = open_ticket(error_codes=["CPRI_LINK_DOWN"])
    assert unrelated(ticket) == [("DOOR_OPEN", "alarm_raised", False)]
    raise_alarm("door", "RU-1", -120, cleared=-60, code="DOOR_OPEN")  # the clear came late: it was over
    tasks.correlate_alarms([door])
    assert unrelated(ticket) == [("DOOR_OPEN", "alarm_raised", True), ("DOOR_OPEN", "alarm_cleared", True)]


def test_a_threshold_alarms_reading_goes_onto_its_raise_and_into_the_model_input(site):
    reading = {"indicatorName": "rx_dbm", "observedValue": "-32.4", "direction": "down"}
    raise_alarm("sfp", "RU-1", -4, cleared=20, code="NL-SFP", crossedThresholdInformation=reading)
    ticket = open_ticket()
    events = list(Ticket.objects.get(pk=ticket.pk).events.order_by("position"))
    assert [(e.kind, e.attrs.get("rx_dbm")) for e in events] == [
        ("alarm_raised", -32.4),
        ("alarm_cleared", None),
    ]
    assert "alarm_raised NL-SFP rx_dbm~-32 severity=major" in model_input(ticket)


def test_the_name_value_pairs_of_an_alarms_details_go_onto_its_raise_and_into_the_model_input(site):
    details = "Process restarted by watchdog; process=rrc_mgr, sector=3 restarts=2"
    raise_alarm("crash", "RU-1", -4, cleared=20, code="NL-BB", alarmDetails=details)
    ticket = open_ticket()
    events = list(Ticket.objects.get(pk=ticket.pk).events.order_by("position"))
    raised = {k: v for k, v in events[0].attrs.items() if k not in ("alarm", "scope", "object", "severity")}
    assert raised == {"process": "rrc_mgr", "sector": 3.0, "restarts": 2.0}
    assert [k for k in events[1].attrs if k in raised] == []  # the clear carries none of them
    assert "alarm_raised NL-BB process=rrc_mgr restarts~2 sector~3 severity=major" in model_input(ticket)


@pytest.mark.parametrize(
    ("details", "pairs"),
    [
        (None, {}),
        ("", {}),
        ("Link down on port 3", {}),
        ("see x = 3", {}),
        ("cause=watchdog", {"cause": "watchdog"}),
        ("slot=2, port=eth0.1; vlan=-7.5", {"slot": 2.0, "port": "eth0.1", "vlan": -7.5}),
        ("url=http://x/y?q=1 a=b=c k=v", {"k": "v"}),  # no pair inside a value, no value with '='
        ("v=nan w=inf", {"v": "nan", "w": "inf"}),  # not finite: kept as words
        ("scope=site alarm=9 object=x severity=minor ok=1", {"ok": 1.0}),  # correlation's own names
        ("k=1 k=2", {"k": 1.0}),
        (" ".join(f"n{i}={i}" for i in range(9)), {f"n{i}": float(i) for i in range(6)}),
    ],
)
def test_detail_pairs_are_whole_name_value_words(details, pairs):
    assert correlation.detail_pairs(details) == pairs


@pytest.mark.parametrize(
    "extra",
    [
        None,
        {},
        {"crossedThresholdInformation": "rx_dbm=-32"},
        {"crossedThresholdInformation": {"observedValue": "-32"}},
        {"crossedThresholdInformation": {"indicatorName": "rx_dbm", "observedValue": "low"}},
        {"crossedThresholdInformation": {"indicatorName": "rx_dbm", "observedValue": "nan"}},
        {"crossedThresholdInformation": {"indicatorName": "rx_dbm", "observedValue": True}},
        {"crossedThresholdInformation": {"indicatorName": "scope", "observedValue": "3"}},
        {"crossedThresholdInformation": {"indicatorName": " ", "observedValue": "3"}},
    ],
)
def test_no_reading_without_a_named_finite_number(extra):
    assert correlation.threshold_reading(extra) is None


def test_a_reading_is_a_named_number():
    info = {"indicatorName": " volt ", "observedValue": "44.5", "indicatorUnit": "V"}
    assert correlation.threshold_reading({"crossedThresholdInformation": info}) == ("volt", 44.5)
    info = {"indicatorName": "uptime_h", "observedValue": 12}
    assert correlation.threshold_reading({"crossedThresholdInformation": info}) == ("uptime_h", 12.0)


def test_a_source_update_keeps_the_alarm_events_without_doubling_them(site):
    raise_alarm("sfp", "RU-1", -4)
    ticket = open_ticket()
    document = ticket_document(Ticket.objects.prefetch_related("codes", "events").get(pk=ticket.pk))
    assert [e["attrs"]["scope"] for e in document["events"]] == ["element"]

    [result] = tickets_upsert(documents=[{**document, "title": "cell down, still"}], source="noc")

    assert result.status == "updated"
    assert [row[1:] for row in sequence(ticket)] == [("alarm_raised", "NL-1", "element")]


def test_a_later_alarm_is_appended_with_a_new_revision_and_a_signal(site, django_capture_on_commit_callbacks):
    ticket = open_ticket()
    sent = []

    def listen(sender, ticket_ids, **kwargs):
        sent.append(ticket_ids)

    tickets_changed.connect(listen)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            alarm = raise_alarm("later", "RU-1", 15)
            answer = tasks.correlate_alarms([alarm])
        assert answer == {"alarms": 1, "tickets": 1, "changed": 1}
        assert tasks.correlate_alarms([alarm])["changed"] == 0  # idempotent
    finally:
        tickets_changed.disconnect(listen)

    after = Ticket.objects.get(pk=ticket.pk)
    assert after.revision == ticket.revision + 1
    assert sequence(ticket) == [(timedelta(minutes=15), "alarm_raised", "NL-1", "element")]
    change = TicketChange.objects.get(ticket=ticket, actor="system:alarms")
    assert change.changes == {"alarm_events": {"from": 0, "to": 1}}
    assert sent == [[ticket.pk]]


def test_alarms_raised_after_the_ticket_was_resolved_are_not_its(site):
    ticket = open_ticket(status="resolved", resolved_at=_iso(OPENED + timedelta(hours=1)))
    late = raise_alarm("late", "RU-1", 120)
    assert tasks.correlate_alarms([late])["tickets"] == 0
    assert sequence(ticket) == []


def test_an_alarm_raised_before_another_tickets_fix_is_that_incidents_unless_still_standing(site):
    # T-0, on the same element, was fixed two hours before T-1 opened. Its alarm, cleared at the fix,
    # is not T-1's; one raised while T-0 was open and still standing when T-1 opened is part of what
    # T-1 shows (the fix did not clear it); one raised after the fix is T-1's in any case.
    open_ticket(
        "T-0",
        opened_at=_iso(OPENED - timedelta(hours=5)),
        status="resolved",
        resolved_at=_iso(OPENED - timedelta(hours=2)),
    )
    raise_alarm("old", "RU-1", -290, cleared=-120, code="OLD")
    raise_alarm("standing", "RU-1", -200, code="STANDING")
    raise_alarm("cleared-before", "RU-1", -180, cleared=-90, code="GONE")
    raise_alarm("after", "RU-1", -60, code="AFTER")
    ticket = open_ticket("T-1")
    assert [row[2] for row in sequence(ticket) if row[1] == "alarm_raised"] == ["STANDING", "AFTER"]


def test_the_clear_of_an_attached_alarm_is_added(site):
    ticket = open_ticket()
    alarm = raise_alarm("a", "RU-1", 5)
    tasks.correlate_alarms([alarm])
    raise_alarm("a", "RU-1", 5, cleared=40)
    tasks.correlate_alarms([alarm])
    assert [row[:2] for row in sequence(ticket)] == [
        (timedelta(minutes=5), "alarm_raised"),
        (timedelta(minutes=40), "alarm_cleared"),
    ]


def test_a_clear_by_severity_keeps_the_raised_severity_on_the_raise_and_none_on_the_clear(site):
    # X.733 element managers clear by sending the severity "cleared". The ticket's raise event must
    # still say what the alarm was raised as, as it did while the alarm stood: a model trained on
    # "severity=cleared" would learn from the future what no open ticket shows.
    ticket = open_ticket(status="resolved", resolved_at=_iso(OPENED + timedelta(hours=2)))
    alarm = raise_alarm("a", "RU-1", -30)
    tasks.correlate_alarms([alarm])
    standing = model_input(ticket)
    raise_alarm("a", "RU-1", -30, cleared=20, perceivedSeverity="cleared")
    tasks.correlate_alarms([alarm])
    events = list(Ticket.objects.get(pk=ticket.pk).events.order_by("position"))
    assert [(e.kind, e.attrs.get("severity")) for e in events] == [
        ("alarm_raised", "major"),
        ("alarm_cleared", None),
    ]
    assert "-30m alarm_raised NL-1 severity=major" in standing
    assert "-30m alarm_raised NL-1 severity=major | +20m alarm_cleared NL-1 [text]" in model_input(ticket)


def test_the_migration_takes_the_severity_off_correlated_clears_written_before(site):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("repair_center.migrations.0014_correlated_clears_without_severity")
    ticket = open_ticket(events=[{"at": _iso(OPENED), "kind": "alarm_cleared", "attrs": {"severity": "own"}}])
    tasks.correlate_alarms([raise_alarm("a", "RU-1", -30, cleared=-10)])
    old = Ticket.objects.get(pk=ticket.pk).events.get(kind="alarm_cleared", attrs__has_key="alarm")
    old.attrs["severity"] = "major"  # as correlation wrote a clear before
    old.save()

    migration.drop_clear_severity(apps, None)

    clears = Ticket.objects.get(pk=ticket.pk).events.filter(kind="alarm_cleared").order_by("at")
    assert [e.attrs.get("severity") for e in clears] == [None, "own"]  # the ticket's own clear is kept


def test_a_clear_at_or_after_the_resolution_is_not_the_tickets(site):
    # The element clears the alarm once the fault is fixed: after the ticket's story, and nothing an
    # open ticket could show a model. The raise stays; a clear before the resolution is kept.
    ticket = open_ticket(status="resolved", resolved_at=_iso(OPENED + timedelta(hours=1)))
    fixed = raise_alarm("fixed", "RU-1", 5, cleared=60, code="FIXED")
    flapped = raise_alarm("flapped", "RU-1", 10, cleared=20, code="FLAPPED")
    tasks.correlate_alarms([fixed, flapped])
    assert [(row[0], row[1], row[2]) for row in sequence(ticket)] == [
        (timedelta(minutes=5), "alarm_raised", "FIXED"),
        (timedelta(minutes=10), "alarm_raised", "FLAPPED"),
        (timedelta(minutes=20), "alarm_cleared", "FLAPPED"),
    ]


def test_events_of_alarms_past_retention_stay_on_the_ticket(site, settings):
    raise_alarm("old", "RU-1", -4)
    ticket = open_ticket()
    settings.TICKETAI_ALARM_RETENTION_DAYS = 1
    from repair_center.services.alarms import alarms_expire

    assert alarms_expire(now=OPENED + timedelta(days=3)) == 1
    document = ticket_document(Ticket.objects.prefetch_related("codes", "events").get(pk=ticket.pk))
    tickets_upsert(documents=[{**document, "title": "again"}], source="noc")
    assert [row[1:] for row in sequence(ticket)] == [("alarm_raised", "NL-1", "element")]


@pytest.fixture
def eager_celery():
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = False


@pytest.mark.slow
def test_an_alarm_posted_later_gives_the_ticket_a_new_recommendation(
    trained_champion, integration_client, eager_celery, django_capture_on_commit_callbacks
):
    from ml.models import Recommendation

    with django_capture_on_commit_callbacks(execute=True):
        ticket = open_ticket("T-REC", site="SITE-ML", element="SN-ML-1")
    first = Recommendation.objects.get(ticket_id=ticket.pk)
    assert first.ticket_revision == ticket.revision

    body = {
        "externalAlarmId": "rec-1",
        "sourceSystemId": "oss",
        "alarmedObject": {"id": "SN-ML-1"},
        "state": "raised",
        "alarmType": "Equipment Alarm",
        "perceivedSeverity": "critical",
        "probableCause": "equipmentMalfunction",
        "alarmRaisedTime": _iso(OPENED + timedelta(minutes=3)),
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = integration_client.post("/tmf-api/alarm/v4/alarm", body, format="json")
    assert response.status_code == 201

    revisions = set(
        Recommendation.objects.filter(ticket_id=ticket.pk).values_list("ticket_revision", flat=True)
    )
    assert revisions == {ticket.revision, ticket.revision + 1}
