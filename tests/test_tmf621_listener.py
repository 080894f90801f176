"""TicketAI as a TMF621 listener of a ticketing system that a tmf621 connector pulls: the system
POSTs its TroubleTicket events to ``{callback}/listener/<event>``, with the callback naming the
connector, and the tickets are written as that connector's pull writes them. Every event and every
answer is checked against the TM Forum specification (tests/specs/)."""

import pytest

from repair_center.models import Connector, Ticket
from repair_center.services import workflow
from repair_center.services.connectors import pull_connector
from repair_center.services.history import Actor
from tests.factories import SiteFactory
from tests.fake_ticketing_systems import START, FakeSystem, tmf621_ticket
from tests.tmf_spec import tmf621

pytestmark = pytest.mark.django_db
BASE = "/tmf-api/troubleTicket/v4/connector"


def event(kind: str, ticket: dict, event_id: str = "ev-1") -> dict:
    name = kind[0].upper() + kind[1:]
    body = {
        "eventId": event_id,
        "eventTime": "2026-01-01T08:01:00Z",
        "eventType": name,
        "event": {"troubleTicket": ticket},
    }
    tmf621(name, body)
    return body


@pytest.fixture
def connector(settings):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]
    SiteFactory(code="SITE-P1")
    return Connector.objects.create(
        name="oss-tt", preset="tmf621", base_url="http://127.0.0.1:9/tmf-api/troubleTicket/v4"
    )


def _post(client, kind: str, body, name: str = "oss-tt"):
    return client.post(f"{BASE}/{name}/listener/{kind}", body, format="json")


def test_a_ticket_created_and_resolved_on_the_remote_system_follows_it_here(integration_client, connector):
    created = _post(
        integration_client,
        "troubleTicketCreateEvent",
        event("troubleTicketCreateEvent", tmf621_ticket(1, START)),
    )

    assert created.status_code == 201, created.content
    tmf621("EventSubscription", created.json())
    ticket = Ticket.objects.get()
    assert (ticket.source, ticket.external_id, ticket.title, ticket.status) == (
        "oss-tt",
        "TT-1",
        "Trouble 1",
        "inProgress",
    )
    assert created.json()["troubleTicket"] == {
        "id": str(ticket.pk),
        "href": f"/tmf-api/troubleTicket/v4/troubleTicket/{ticket.pk}",
        "status": "created",
    }

    resolved = tmf621_ticket(
        1, START.replace(minute=30), status="resolved", resolutionDate="2026-01-01T08:30:00Z"
    )
    answer = _post(
        integration_client,
        "troubleTicketResolvedEvent",
        event("troubleTicketResolvedEvent", resolved, "ev-2"),
    )
    assert answer.status_code == 201 and answer.json()["troubleTicket"]["status"] == "updated"
    ticket.refresh_from_db()
    assert ticket.status == "resolved" and ticket.resolved_at.isoformat() == "2026-01-01T08:30:00+00:00"

    # Deleted there: kept here. The scheduled pull reads the same ticket as unchanged.
    assert (
        _post(
            integration_client, "troubleTicketDeleteEvent", event("troubleTicketDeleteEvent", resolved)
        ).status_code
        == 201
    )
    with FakeSystem("tmf621", [resolved]) as system:
        Connector.objects.filter(pk=connector.pk).update(base_url=system.base_url)
        run = pull_connector(connector.pk)
    assert (run.status, run.created, run.updated, run.unchanged) == ("succeeded", 0, 0, 1), run.error
    assert Ticket.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "kind", "status", "message"),
    [
        ("nobody", "troubleTicketCreateEvent", 404, "no TMF621 ticket connector named 'nobody'"),
        ("oss-tt", "troubleTicketAttachmentEvent", 404, "TicketAI listens to troubleTicketCreateEvent"),
    ],
)
def test_an_unknown_connector_or_event_is_a_404(integration_client, connector, name, kind, status, message):
    response = _post(
        integration_client, kind, event("troubleTicketCreateEvent", tmf621_ticket(1, START)), name=name
    )
    assert response.status_code == status
    tmf621("Error", response.json())
    assert message in response.json()["reason"] + response.json().get("message", "")


def test_a_connector_of_another_system_does_not_listen(integration_client, connector):
    Connector.objects.create(name="servicenow", preset="servicenow", base_url="https://sn.example")
    body = event("troubleTicketCreateEvent", tmf621_ticket(1, START))
    assert _post(integration_client, "troubleTicketCreateEvent", body, name="servicenow").status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"eventId": "x"}, "must hold the ticket"),
        (
            {"event": {"troubleTicket": {"id": "TT-1", "status": "resolved"}}},
            "and so is the event's eventTime",
        ),
        (  # a change about a ticket not stored here needs the whole ticket
            {
                "eventTime": "2026-01-01T09:00:00Z",
                "event": {"troubleTicket": {"id": "TT-7", "status": "resolved"}},
            },
            "title",
        ),
    ],
)
def test_an_event_without_a_whole_ticket_is_refused_with_the_reason(
    integration_client, connector, body, message
):
    response = _post(integration_client, "troubleTicketStatusChangeEvent", body)
    assert response.status_code == 400
    tmf621("Error", response.json())
    assert message in str(response.json()) and not Ticket.objects.exists()


def test_only_integrations_and_admins_write_through_the_listener(
    engineer_client, fault_management_client, connector
):
    body = event("troubleTicketCreateEvent", tmf621_ticket(1, START))
    assert _post(engineer_client, "troubleTicketCreateEvent", body).status_code == 403
    assert _post(fault_management_client, "troubleTicketCreateEvent", body).status_code == 403
    assert not Ticket.objects.exists()


def test_a_change_event_may_carry_only_what_changed(integration_client, connector):
    _post(
        integration_client,
        "troubleTicketCreateEvent",
        event("troubleTicketCreateEvent", tmf621_ticket(1, START)),
    )
    held = {"id": "TT-1", "status": "held", "statusChangeReason": "waiting for the site key"}
    body = {**event("troubleTicketStatusChangeEvent", held), "eventTime": "2026-01-01T08:10:00Z"}

    answer = _post(integration_client, "troubleTicketStatusChangeEvent", body)

    assert answer.status_code == 201, answer.content
    assert answer.json()["troubleTicket"]["status"] == "updated"
    ticket = Ticket.objects.get()
    assert (ticket.status, ticket.title, ticket.description) == (
        "held",
        "Trouble 1",
        "Loss of signal on the backhaul",
    )
    assert ticket.site.code == "SITE-P1"


def test_a_partial_change_keeps_the_status_engineers_set(integration_client, connector):
    _post(
        integration_client,
        "troubleTicketCreateEvent",
        event("troubleTicketCreateEvent", tmf621_ticket(1, START)),
    )
    ticket = Ticket.objects.get()
    workflow.ticket_transition(ticket_id=ticket.pk, action="hold", actor=Actor("engineer"), reason="no key")
    described = {"id": "TT-1", "description": "Loss of signal; fibre cut suspected"}
    body = {**event("troubleTicketAttributeValueChangeEvent", described), "eventTime": "2026-01-01T08:20:00Z"}

    assert _post(integration_client, "troubleTicketAttributeValueChangeEvent", body).status_code == 201
    # The source resends its own status, unchanged: the engineer's hold stays too.
    again = tmf621_ticket(1, START.replace(minute=30), description="Loss of signal; fibre cut suspected")
    assert (
        _post(
            integration_client,
            "troubleTicketAttributeValueChangeEvent",
            event("troubleTicketAttributeValueChangeEvent", again),
        ).status_code
        == 201
    )

    ticket.refresh_from_db()
    assert (ticket.status, ticket.description) == ("held", "Loss of signal; fibre cut suspected")
