"""The ticket page's wording: times in the history as on the rest of the page, user names as they
are spelt, no "yet" on a ticket that is over, and a reopened ticket's resolution marked as previous."""

import re
from html import unescape

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from repair_center.models import AssignmentGroup, Ticket
from repair_center.services import workflow
from repair_center.services.tickets import tickets_upsert
from tests.factories import ResolutionCodeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(engineer) -> Ticket:
    ResolutionCodeFactory(code="REPLACE_SFP", title="Replace the SFP")
    [result] = tickets_upsert(documents=[{"external_id": "T-1", "title": "Fan alarm"}], source="noc")
    workflow.ticket_transition(
        ticket_id=result.id, action="resolve", resolution_code="REPLACE_SFP", resolution_notes="x", user=None
    )
    return Ticket.objects.get(pk=result.id)


def _page(client, ticket) -> str:
    return unescape(client.get(reverse("ticket-detail", args=[ticket.pk])).content.decode())


def test_history_times_are_shown_like_the_rest_of_the_page(client, engineer, ticket):
    client.force_login(engineer)
    html = _page(client, ticket)
    history = html[html.index('id="activity"') :]
    assert f"{ticket.resolved_at:%Y-%m-%d %H:%M}" in history
    assert re.search(r">\d{4}-\d\d-\d\dT", history) is None  # no ISO text, only in datetime=""


def test_a_title_that_looks_like_a_time_is_shown_as_typed_and_never_breaks_the_page(client, engineer, ticket):
    for title in ("2024-02-30T10:00 no such day", "2024-01-01T10:00"):
        tickets_upsert(documents=[{"external_id": "T-1", "title": title}], source="noc")
    client.force_login(engineer)
    response = client.get(reverse("ticket-detail", args=[ticket.pk]))
    assert response.status_code == 200
    html = unescape(response.content.decode())
    # a title, not a time: shown as typed
    assert (
        '<span class="from">2024-02-30T10:00 no such day</span> → <span class="to">2024-01-01T10:00</span>'
        in (html)
    )


def test_a_closed_ticket_is_assigned_to_nobody_not_nobody_yet(client, engineer, ticket):
    workflow.ticket_transition(ticket_id=ticket.pk, action="close", user=None)
    client.force_login(engineer)
    html = _page(client, ticket)
    assert "nobody yet" not in html and ">nobody<" in html


def test_a_reopened_tickets_resolution_is_marked_previous(client, engineer, ticket):
    workflow.ticket_transition(ticket_id=ticket.pk, action="reopen", reason="alarm came back", user=None)
    client.force_login(engineer)
    html = _page(client, ticket)
    assert "Previous resolution, before the ticket was reopened" in html


def test_a_user_name_is_not_capitalised_in_a_refusal(client, engineer):
    [result] = tickets_upsert(documents=[{"external_id": "T-2", "title": "Fan alarm"}], source="noc")
    AssignmentGroup.objects.create(name="Coast crew")
    other = User.objects.create_user("zed")
    other.groups.add(*engineer.groups.all())
    client.force_login(engineer)
    html = unescape(
        client.post(
            reverse("ticket-assign", args=[result.id]),
            {"group": "Coast crew", "assignee": "zed"},
            follow=True,
        ).content.decode()
    )
    assert "Not saved: zed is not a member of Coast crew" in html
