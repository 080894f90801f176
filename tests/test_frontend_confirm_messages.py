"""A ticket's confirm page says an error once, in the form, not in the page banner as well."""

from html import unescape

import pytest
from django.urls import reverse

from repair_center.models import Ticket
from repair_center.services.tickets import tickets_upsert

pytestmark = pytest.mark.django_db


def test_a_refused_reason_is_said_once(client, engineer):
    [result] = tickets_upsert(documents=[{"external_id": "M-1", "title": "Fan alarm"}], source="noc")
    client.force_login(engineer)
    ticket = Ticket.objects.get(pk=result.id)

    response = client.post(
        reverse("ticket-action", args=[ticket.pk]),
        {"action": "hold", "confirmed": "yes", "reason": " ", "revision": ticket.revision},
    )

    html = unescape(response.content.decode())
    assert response.status_code == 400
    assert html.count("Give a reason to put on hold.") == 1
    assert 'class="messages"' not in html
