"""A confirm form sent after someone changed the ticket: what the engineer typed is kept and the
form comes back saying what changed, at the new revision, so confirming again works. A colleague's
work note changes neither status nor resolution, so it does not stand in the way."""

from html import unescape

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from repair_center.models import Ticket
from repair_center.services import workflow
from repair_center.services.tickets import tickets_upsert
from tests.factories import ResolutionCodeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(db) -> Ticket:
    ResolutionCodeFactory(code="REPLACE_SFP", title="Replace the SFP")
    [result] = tickets_upsert(documents=[{"external_id": "S-1", "title": "CPRI link down"}], source="noc")
    return Ticket.objects.get(pk=result.id)


@pytest.fixture
def colleague(engineer) -> User:
    zed = User.objects.create_user("zed")
    zed.groups.add(*engineer.groups.all())
    return zed


@pytest.fixture
def eng(client, engineer):
    client.force_login(engineer)
    return client


RESOLVE = {
    "action": "resolve",
    "confirmed": "yes",
    "resolution_code": "REPLACE_SFP",
    "resolution_notes": "swapped the SFP on port 3",
}


def _confirm(client, ticket, revision, **data):
    return client.post(reverse("ticket-action", args=[ticket.pk]), {**data, "revision": revision})


def test_a_stale_confirm_keeps_the_input_says_what_changed_and_confirms_at_the_new_revision(
    eng, ticket, colleague
):
    opened_at = ticket.revision
    workflow.ticket_transition(ticket_id=ticket.pk, action="start", user=colleague)

    response = _confirm(eng, ticket, opened_at, **RESOLVE)

    html = unescape(response.content.decode())
    assert response.status_code == 409
    assert "Not saved: someone changed this ticket since you opened this form" in html
    assert "zed: Work started (Status: Acknowledged → In progress;" in html
    assert ">swapped the SFP on port 3</textarea>" in html
    assert '<option value="REPLACE_SFP" selected>' in html
    assert f'name="revision" value="{opened_at + 1}"' in html
    assert Ticket.objects.get(pk=ticket.pk).status == "inProgress"

    _confirm(eng, ticket, opened_at + 1, **RESOLVE)
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.status, stored.resolution_notes) == ("resolved", "swapped the SFP on port 3")


def test_a_stale_hold_keeps_its_reason(eng, ticket, colleague):
    opened_at = ticket.revision
    workflow.ticket_assign(ticket_id=ticket.pk, assignee=colleague, user=colleague)

    html = unescape(
        _confirm(eng, ticket, opened_at, action="hold", confirmed="yes", reason="spare SFP").content.decode()
    )
    assert 'value="spare SFP"' in html and "zed: Assigned" in html
    assert Ticket.objects.get(pk=ticket.pk).status == "acknowledged"


def test_a_colleagues_note_meanwhile_does_not_block_the_confirm(eng, ticket, colleague):
    opened_at = ticket.revision
    workflow.ticket_note_add(ticket_id=ticket.pk, text="crew on site", visibility="internal", user=colleague)

    response = _confirm(eng, ticket, opened_at, **RESOLVE)

    assert response.status_code == 302
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.status, stored.resolution_notes) == ("resolved", "swapped the SFP on port 3")


def test_a_note_and_a_status_change_meanwhile_still_block(eng, ticket, colleague):
    opened_at = ticket.revision
    workflow.ticket_note_add(ticket_id=ticket.pk, text="crew on site", visibility="internal", user=colleague)
    workflow.ticket_transition(ticket_id=ticket.pk, action="hold", reason="no spare", user=colleague)

    response = _confirm(eng, ticket, opened_at, **RESOLVE)

    assert response.status_code == 409
    assert Ticket.objects.get(pk=ticket.pk).status == "held"


def test_when_the_change_meanwhile_rules_the_action_out_what_was_typed_is_still_shown(eng, ticket, colleague):
    opened_at = ticket.revision
    workflow.ticket_transition(ticket_id=ticket.pk, action="cancel", reason="duplicate", user=colleague)

    response = _confirm(eng, ticket, opened_at, **RESOLVE)

    html = unescape(response.content.decode())
    assert response.status_code == 409
    assert "Cannot resolve ticket S-1: it is cancelled (a final status)" in html
    assert "What you entered, not saved:" in html and "swapped the SFP on port 3" in html
