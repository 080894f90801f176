"""A ticket opened from an alarm names it (TMF621 relatedEntity of role alarm, the document's
``alarms``): the named alarm is the ticket's, wherever and whenever it was raised, and one that has not
arrived yet joins when it does."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.urls import reverse

from repair_center import tasks
from repair_center.documents import MAX_ALARMS, DocumentError, parse_ticket
from repair_center.models import Alarm, Site, Ticket, TicketAlarm, TicketChange
from repair_center.selectors import ticket_detail, ticket_document
from repair_center.services import correlation
from repair_center.services.alarms import alarms_expire
from repair_center.services.grouping import group_alarms
from repair_center.services.tickets import tickets_upsert
from tests.factories import ErrorCodeAliasFactory, ErrorCodeFactory, NetworkElementFactory, SiteFactory
from tests.test_alarm_correlation import OPENED, _iso, model_input, open_ticket, raise_alarm, sequence
from tests.test_alarm_correlation import eager_celery as eager_celery  # a fixture
from tests.test_alarm_correlation import site as site  # a fixture
from tests.tmf_spec import tmf621

TT = "/tmf-api/troubleTicket/v4/troubleTicket"
ALARM = "/tmf-api/alarm/v4/alarm/"
DAY = 1440


def _doc(**fields) -> dict:
    return {"external_id": "T-9", "title": "cell down", **fields}


def test_the_document_takes_alarm_names_and_reads_a_tmf642_path_as_ticketais_own():
    doc = parse_ticket(_doc(alarms=[" FM-7 ", "FM-7", f"{ALARM}0042/", "https://fm.example/alarm/9"]))
    assert doc.alarms == ("FM-7", f"{ALARM}42", "https://fm.example/alarm/9")
    assert doc.to_json()["alarms"] == list(doc.alarms)
    assert "alarms" not in parse_ticket(_doc()).to_json()  # tickets stored before keep their hash
    assert parse_ticket(_doc(title="", alarms=["FM-7"])).alarms == ("FM-7",)  # an alarm is enough


@pytest.mark.parametrize(
    ("alarms", "message"),
    [
        ("FM-7", "must be a list of alarm names"),
        ([7], "must be a list of alarm names"),
        (["x" * 201], "at most 200 characters"),
        ([f"FM-{n}" for n in range(MAX_ALARMS + 1)], f"at most {MAX_ALARMS} alarms"),
        (["FM\x00-7"], "NUL"),
    ],
)
def test_bad_alarm_names_are_refused_with_the_reason(alarms, message):
    with pytest.raises(DocumentError) as refused:
        parse_ticket(_doc(alarms=alarms))
    assert message in " ".join(refused.value.errors["alarms"])


def test_a_named_alarm_is_the_tickets_wherever_and_whenever_it_was_raised(site, settings):
    settings.TICKETAI_CORRELATION_WINDOW_MINUTES = 60
    ErrorCodeFactory(code="CPRI_LINK_DOWN", domain="transport")
    ErrorCodeFactory(code="MAINS_FAIL", domain="power")
    raise_alarm("link", "RU-1", -5, code="CPRI_LINK_DOWN")
    raise_alarm("mains", "RU-9", -3 * DAY, cleared=-3 * DAY + 30, code="MAINS_FAIL")  # other site, old
    raise_alarm("mains-2", "RU-1", -30, cleared=-20, code="MAINS_FAIL")  # came and went: power's family

    ticket = open_ticket(error_codes=["CPRI_LINK_DOWN"], alarms=["mains"])

    m = timedelta(minutes=1)
    assert sequence(ticket) == [
        (-3 * DAY * m, "alarm_raised", "MAINS_FAIL", "ticket"),
        ((-3 * DAY + 30) * m, "alarm_cleared", "MAINS_FAIL", "ticket"),
        (-30 * m, "alarm_raised", "MAINS_FAIL", "element"),
        (-20 * m, "alarm_cleared", "MAINS_FAIL", "element"),
        (-5 * m, "alarm_raised", "CPRI_LINK_DOWN", "element"),
    ]
    # Named, the power family is the ticket's: neither mains alarm is marked as another incident's.
    assert not any(e.attrs.get("unrelated") for e in ticket.events.all())
    assert model_input(ticket).count("MAINS_FAIL") == 4


def test_without_them_the_same_alarms_would_be_left_out_or_marked(site, settings):
    settings.TICKETAI_CORRELATION_WINDOW_MINUTES = 60
    ErrorCodeFactory(code="CPRI_LINK_DOWN", domain="transport")
    ErrorCodeFactory(code="MAINS_FAIL", domain="power")
    raise_alarm("link", "RU-1", -5, code="CPRI_LINK_DOWN")
    raise_alarm("mains", "RU-9", -3 * DAY, cleared=-3 * DAY + 30, code="MAINS_FAIL")
    raise_alarm("mains-2", "RU-1", -30, cleared=-20, code="MAINS_FAIL")
    ticket = open_ticket(error_codes=["CPRI_LINK_DOWN"])
    assert [(e.attrs.get("scope"), bool(e.attrs.get("unrelated"))) for e in ticket.events.all()] == [
        ("element", True),
        ("element", True),
        ("element", False),
    ]


def test_a_ticket_naming_only_an_alarm_takes_its_element_and_site_and_their_window(site):
    raise_alarm("sfp", "RU-1", -4, code="NL-SFP")
    trigger = raise_alarm("link", "RU-1", -1, code="NL-LINK")
    ticket = open_ticket("T-2", site="", element="", alarms=[f"{ALARM}{trigger}"])
    assert (ticket.element.serial, ticket.site.code, ticket.element_ref) == ("RU-1", "S-1", "")
    assert [row[2:] for row in sequence(ticket)] == [("NL-SFP", "element"), ("NL-LINK", "ticket")]


def test_a_ticket_placed_by_its_alarm_maps_its_codes_for_the_alarms_vendor(site):
    NetworkElementFactory(serial="RU-V", site=site, vendor="southwave")
    curated = ErrorCodeFactory(code="CPRI_LINK_DOWN", domain="transport")
    ErrorCodeAliasFactory(vendor="southwave", raw_code="SW-7001", error_code=curated)
    ErrorCodeAliasFactory(vendor="nordlink", raw_code="SW-7001", error_code=ErrorCodeFactory(code="FAN_FAIL"))
    raise_alarm("link", "RU-V", -1, code="SW-7001")
    ticket = open_ticket("T-V", site="", element="", alarms=["link"], error_codes=["SW-7001"])
    assert [c.error_code_id for c in ticket.codes.all()] == [curated.pk]


def test_a_ticket_placed_by_an_alarm_that_came_later_maps_its_codes_for_the_vendor(site):
    NetworkElementFactory(serial="RU-V", site=site, vendor="southwave")
    curated = ErrorCodeFactory(code="CPRI_LINK_DOWN", domain="transport")
    ErrorCodeAliasFactory(vendor="southwave", raw_code="SW-7001", error_code=curated)
    ErrorCodeAliasFactory(vendor="nordlink", raw_code="SW-7001", error_code=ErrorCodeFactory(code="FAN_FAIL"))
    ticket = open_ticket("T-V", site="", element="", alarms=["link"], error_codes=["SW-7001"])
    assert [c.error_code_id for c in ticket.codes.all()] == [None]  # no vendor to read it by yet

    tasks.correlate_alarms([raise_alarm("link", "RU-V", -1, code="SW-7001")])
    assert [c.error_code_id for c in ticket.codes.all()] == [curated.pk]


def test_an_alarm_named_before_it_arrives_joins_the_ticket_with_a_new_revision(site):
    ticket = open_ticket("T-3", site="", element="", alarms=["late-1"])
    assert (ticket.element_id, ticket.events.count()) == (None, 0)
    assert TicketAlarm.objects.get(ticket=ticket).alarm_id is None

    late = raise_alarm("late-1", "RU-1", -2, code="NL-LINK")
    tasks.correlate_alarms([late])

    ticket.refresh_from_db()
    assert TicketAlarm.objects.get(ticket=ticket).alarm_id == late
    assert (ticket.element.serial, ticket.site.code) == ("RU-1", "S-1")
    assert [row[1:] for row in sequence(ticket)] == [("alarm_raised", "NL-LINK", "ticket")]
    assert TicketChange.objects.filter(ticket=ticket, reason="alarms correlated").count() == 1
    tasks.correlate_alarms([late])  # again: nothing changes
    assert Ticket.objects.get(pk=ticket.pk).revision == ticket.revision


def test_names_survive_an_export_sent_back_and_are_replaced_by_new_ones(site):
    first = raise_alarm("a-1", "RU-1", -4)
    ticket = open_ticket(alarms=["a-1"])
    stored = ticket_document(ticket_detail().get(pk=ticket.pk))
    assert stored["alarms"] == ["a-1"]
    [again] = tickets_upsert(documents=[{**stored, "title": "cell down again"}], source="noc")
    assert again.status == "updated"
    assert list(TicketAlarm.objects.filter(ticket=ticket).values_list("ref", "alarm_id")) == [("a-1", first)]

    [moved] = tickets_upsert(documents=[{**stored, "alarms": ["a-2"], "title": "moved"}], source="noc")
    assert moved.status == "updated"
    assert list(TicketAlarm.objects.filter(ticket=ticket).values_list("ref", "alarm_id")) == [("a-2", None)]
    assert first in {e.attrs["alarm"] for e in Ticket.objects.get(pk=ticket.pk).events.all()}  # its window's


def test_a_named_alarm_deleted_by_retention_stays_on_the_ticket_and_its_name_waits(site, settings):
    named = raise_alarm("old", "RU-9", -4)
    ticket = open_ticket(alarms=["old"])
    settings.TICKETAI_ALARM_RETENTION_DAYS = 1
    assert alarms_expire(now=OPENED + timedelta(days=3)) == 0  # kept while the ticket is open
    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.RESOLVED)
    assert alarms_expire(now=OPENED + timedelta(days=3)) == 1
    assert TicketAlarm.objects.get(ticket=ticket).alarm_id is None
    stored = ticket_document(ticket_detail().get(pk=ticket.pk))
    tickets_upsert(documents=[{**stored, "title": "again"}], source="noc")
    assert [(e.attrs["alarm"], e.attrs["scope"]) for e in Ticket.objects.get(pk=ticket.pk).events.all()] == [
        (named, "ticket")
    ]


def test_a_path_to_no_stored_alarm_never_takes_a_later_alarm_of_that_id(site):
    first = raise_alarm("first", "RU-1", -4)
    ticket = open_ticket(alarms=[f"{ALARM}{first + 1}"])  # an id TicketAI has not given yet
    later = raise_alarm("later", "RU-9", -3)
    assert later == first + 1
    tasks.correlate_alarms([later])
    assert TicketAlarm.objects.get(ticket=ticket).alarm_id is None
    assert later not in {e.attrs["alarm"] for e in Ticket.objects.get(pk=ticket.pk).events.all()}


def test_the_ticket_page_says_which_alarms_the_ticket_named(site, engineer, client):
    raise_alarm("sfp", "RU-1", -4, code="NL-SFP")
    raise_alarm("mains", "RU-9", -30, code="NL-MAINS")
    ticket = open_ticket(alarms=["mains"])
    client.force_login(engineer)
    page = client.get(reverse("ticket-detail", args=[ticket.pk])).content.decode()
    assert page.count("named by the ticket") == 1 and page.count("from the alarm stream") == 1


def test_the_ticket_page_lists_the_named_alarms_not_received_yet(site, engineer, client):
    ticket = open_ticket(alarms=["fm-late", "fm-later"])
    client.force_login(engineer)
    page = client.get(reverse("ticket-detail", args=[ticket.pk])).content.decode()
    assert "not received from the alarm system: <code>fm-late</code>, <code>fm-later</code>" in page

    tasks.correlate_alarms([raise_alarm("fm-late", "RU-1", -1)])
    tasks.correlate_alarms([raise_alarm("fm-later", "RU-1", 1)])
    page = client.get(reverse("ticket-detail", args=[ticket.pk])).content.decode()
    assert "not received from the alarm system" not in page and page.count("named by the ticket") == 2


def test_over_the_event_limit_named_alarms_are_kept_first():
    at = OPENED - timedelta(days=1)
    element = [
        (OPENED - timedelta(minutes=n), "alarm_raised", f"E{n}", None, {"alarm": n, "scope": "element"})
        for n in range(1, correlation.MAX_EVENTS + 1)
    ]
    named = (at, "alarm_raised", "NAMED", None, {"alarm": 0, "scope": "ticket"})
    kept = correlation.merge([], [*element, named], opened_at=OPENED)
    assert len(kept) == correlation.MAX_EVENTS and kept[0][2] == "NAMED"


# --- TMF621 -----------------------------------------------------------------------------------------


def test_tmf621_relatedentity_alarms_are_named_by_href_or_by_external_id(site, integration_client):
    ours = raise_alarm("fm-ours", "RU-1", -3, code="NL-LINK")
    raise_alarm("fm-7", "RU-9", -DAY, code="NL-MAINS")
    body = {
        "externalId": "NOC:INC-7",
        "name": "Link down",
        "description": "Opened from the link alarm",
        "severity": "Major",
        "ticketType": "incident",
        "creationDate": _iso(OPENED),
        "relatedEntity": [
            {
                "id": "ignored",
                "href": f"http://testserver{ALARM}{ours}",
                "role": "alarm",
                "@referredType": "Alarm",
            },
            {"id": "fm-7", "role": "alarm", "@referredType": "Alarm"},
            {"id": "fm-not-yet", "role": "alarm", "@referredType": "Alarm"},
        ],
    }
    tmf621("TroubleTicket_Create", body)
    response = integration_client.post(TT, body, format="json")
    assert response.status_code == 201, response.content[:500]
    created = response.json()
    tmf621("TroubleTicket", created)

    ticket = Ticket.objects.get(pk=int(created["id"]))
    assert list(TicketAlarm.objects.filter(ticket=ticket).values_list("ref", flat=True)) == [
        f"{ALARM}{ours}",
        "fm-7",
        "fm-not-yet",
    ]
    assert ticket.element.serial == "RU-1"  # from the alarm it named first
    mains = Alarm.objects.get(external_id="fm-7").pk
    alarms = [(e["id"], e.get("href")) for e in created["relatedEntity"] if e["role"] == "alarm"]
    assert alarms == [
        (str(mains), f"http://testserver{ALARM}{mains}"),
        (str(ours), f"http://testserver{ALARM}{ours}"),
        ("fm-not-yet", None),  # named, not stored yet
    ]


def test_a_correlated_alarms_relatedentity_leads_to_its_tmf642_resource(site, engineer_client):
    alarm = raise_alarm("sfp", "RU-1", -4, code="NL-SFP")
    ticket = open_ticket()
    body = engineer_client.get(f"{TT}/{ticket.pk}").json()
    tmf621("TroubleTicket", body)
    [entity] = [e for e in body["relatedEntity"] if e["role"] == "alarm"]
    assert (entity["id"], entity["name"], entity["@referredType"]) == (str(alarm), "NL-SFP", "Alarm")
    followed = engineer_client.get(entity["href"])
    assert followed.status_code == 200 and followed.json()["externalAlarmId"] == "sfp"


def test_the_canonical_api_answers_the_names_and_refuses_bad_ones(site, integration_client):
    created = integration_client.post(
        "/api/v1/tickets/", {**_doc(opened_at=_iso(OPENED)), "alarms": ["fm-1", "fm-2"]}, format="json"
    )
    assert created.status_code == 201, created.content[:300]
    assert created.json()["alarms"] == ["fm-1", "fm-2"]
    patched = integration_client.patch(
        f"/api/v1/tickets/{created.json()['id']}/", {"title": "new"}, format="json"
    )
    assert patched.status_code == 200, patched.content[:300]
    assert (patched.json()["title"], patched.json()["alarms"]) == ("new", ["fm-1", "fm-2"])
    refused = integration_client.post(
        "/api/v1/tickets/", {**_doc(external_id="T-10"), "alarms": "fm-1"}, format="json"
    )
    assert refused.status_code == 400, refused.content[:300]
    assert "must be a list of alarm names" in str(refused.json()["alarms"])


@pytest.mark.django_db(transaction=True)
def test_an_alarm_stored_while_the_ticket_naming_it_is_written_still_joins_it(eager_celery):
    """The usual race: the fault-management system sends the alarm to TicketAI and to the ticketing
    system at once. The alarm is stored while the ticket's write is open: neither sees the other."""
    assert connection.vendor == "postgresql", "this test needs DATABASE_URL=postgres://..."
    SiteFactory(code="S-1")
    NetworkElementFactory(serial="RU-1", site=Site.objects.get(code="S-1"))
    written, may_commit = threading.Event(), threading.Event()

    def write_ticket():
        try:
            with transaction.atomic():
                tickets_upsert(documents=[_doc(opened_at=_iso(OPENED), alarms=["race-1"])], source="noc")
                written.set()
                may_commit.wait(timeout=30)
        finally:
            connection.close()

    writer = threading.Thread(target=write_ticket)
    writer.start()
    assert written.wait(timeout=30)
    alarm = raise_alarm("race-1", "RU-1", -2)  # committed; its correlation task ran and found no name
    may_commit.set()
    writer.join(timeout=30)

    ticket = Ticket.objects.get(external_id="T-9")
    assert TicketAlarm.objects.get(ticket=ticket).alarm_id == alarm
    assert ticket.element.serial == "RU-1"
    assert [(e.attrs["alarm"], e.attrs["scope"]) for e in ticket.events.all()] == [(alarm, "ticket")]


def test_a_pulled_tmf621_tickets_alarm_hrefs_are_the_remote_systems_not_ours():
    from repair_center.tmf.troubleticket import document_fields

    entities = [{"id": "77", "href": f"{ALARM}5", "role": "alarm"}, {"id": "fm-9", "@referredType": "Alarm"}]
    assert document_fields({"relatedEntity": entities})["alarms"] == ["77", "fm-9"]  # a connector's pull
    assert document_fields({"relatedEntity": entities}, own_base="https://t.example")["alarms"] == [
        f"{ALARM}5",
        "fm-9",
    ]


def test_alarms_the_fault_management_system_links_to_a_named_one_are_the_tickets_too(site):
    # The ticket names the mains failure on the site's PSU. The fault-management system made it the
    # parent of a battery alarm on another site's element; the CPRI alarm on the PSU has no link.
    mains = raise_alarm("mains", "PSU-1", -10, code="NL-MAINS")
    battery = raise_alarm("batt", "RU-9", -8, code="NL-BATT", parentAlarm=[{"id": "mains"}])
    cpri = raise_alarm("cpri", "PSU-1", -7, code="NL-CPRI")
    group_alarms([mains, battery, cpri])

    ticket = open_ticket(alarms=["mains"])

    m = timedelta(minutes=1)
    assert sequence(ticket) == [
        (-10 * m, "alarm_raised", "NL-MAINS", "ticket"),
        (-8 * m, "alarm_raised", "NL-BATT", "ticket"),
        (-7 * m, "alarm_raised", "NL-CPRI", "site"),
    ]
    assert "NL-BATT" in model_input(ticket)

    # A child that arrives later joins when it is grouped, by the parent's TMF642 href this time;
    # a ticket naming a child has its parent and the parent's other children.
    revision = Ticket.objects.get(pk=ticket.pk).revision
    rectifier = raise_alarm(
        "rect", "RU-9", 5, code="NL-RECT", parentAlarm=[{"id": "x", "href": f"{ALARM}{mains}"}]
    )
    assert [e[2] for e in sequence(ticket)] == ["NL-MAINS", "NL-BATT", "NL-CPRI"]  # not grouped yet
    group_alarms([rectifier])
    assert [(e[2], e[3]) for e in sequence(ticket)][-1] == ("NL-RECT", "ticket")
    assert Ticket.objects.get(pk=ticket.pk).revision == revision + 1
    other = open_ticket("T-2", element="RU-9", site="S-2", alarms=["batt"])
    assert {(e[2], e[3]) for e in sequence(other)} == {
        ("NL-MAINS", "ticket"),
        ("NL-BATT", "ticket"),
        ("NL-RECT", "ticket"),
    }


def test_a_linked_alarm_not_grouped_yet_stays_off_the_ticket(site):
    raise_alarm("mains", "PSU-1", -10, code="NL-MAINS")
    raise_alarm("batt", "RU-9", -8, code="NL-BATT", parentAlarm=[{"id": "mains"}])  # links followed in groups

    ticket = open_ticket(alarms=["mains"])

    assert [(e[2], e[3]) for e in sequence(ticket)] == [("NL-MAINS", "ticket")]
