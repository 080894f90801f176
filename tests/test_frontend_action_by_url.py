"""A ticket action opened by its URL is checked against the ticket as it stands: one the ticket's
status does not allow says why and offers nothing to confirm; a one-click action asks for no
reason; and the page names the status the action really leads to."""

from html import unescape

import pytest
from django.urls import reverse

from repair_center.models import Ticket
from repair_center.services import workflow
from repair_center.services.tickets import tickets_upsert

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_progress(engineer) -> Ticket:
    [result] = tickets_upsert(documents=[{"external_id": "U-1", "title": "Fan alarm"}], source="noc")
    workflow.ticket_transition(ticket_id=result.id, action="start", user=engineer)
    return Ticket.objects.get(pk=result.id)


def _open(client, ticket, action):
    response = client.get(reverse("ticket-action", args=[ticket.pk]), {"action": action})
    return response, unescape(response.content.decode())


def test_an_action_the_status_does_not_allow_says_why_and_offers_no_form(client, engineer, in_progress):
    client.force_login(engineer)

    response, html = _open(client, in_progress, "close")

    assert response.status_code == 409
    assert "Cannot close ticket U-1: it is in progress; only a ticket that is resolved can be." in html
    assert 'name="reason"' not in html and "Confirm:" not in html


def test_a_one_click_action_asks_for_no_reason_and_names_the_right_status(client, engineer, in_progress):
    client.force_login(engineer)
    workflow.ticket_transition(ticket_id=in_progress.pk, action="hold", reason="spare", user=engineer)

    response, html = _open(client, in_progress, "start")

    assert response.status_code == 200
    assert 'name="reason"' not in html
    assert "The ticket becomes <strong>In progress</strong>" in html


def test_a_reason_action_names_its_own_status(client, engineer, in_progress):
    client.force_login(engineer)
    _, html = _open(client, in_progress, "hold")
    assert 'name="reason"' in html and "The ticket becomes <strong>On hold</strong>" in html
