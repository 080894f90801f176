"""Working a ticket from its page: status actions (resolve asks for the fix and notes, and
confirms), assignment, notes, "I'll try this" that never resolves, the timeline of it all, the
site's access details, and error pages in the site's layout."""

from html import unescape

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from ml.models import Feedback, ModelVersion
from repair_center.models import AssignmentGroup, Ticket, TicketChange
from repair_center.services.tickets import tickets_upsert
from tests.factories import ModelVersionFactory, RecommendationFactory, ResolutionCodeFactory, SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(engineer) -> Ticket:
    SiteFactory(
        code="CS-COAST-001",
        latitude=60.39,
        longitude=5.32,
        address="Havnegata 12, West region",
        access_notes="Key safe at the gate; the code is in the site folder.",
    )
    ResolutionCodeFactory(code="REPLACE_SFP", title="Replace the SFP")
    ResolutionCodeFactory(code="REBOOT_RU", title="Reboot the radio")
    AssignmentGroup.objects.create(name="Coast crew").members.add(engineer)
    [result] = tickets_upsert(
        documents=[
            {"external_id": "W-1", "title": "CPRI link down", "site": "CS-COAST-001", "priority": "high"}
        ],
        source="noc",
    )
    return Ticket.objects.get(pk=result.id)


@pytest.fixture
def eng(client, engineer):
    client.force_login(engineer)
    return client


def _page(client, ticket) -> str:
    return client.get(reverse("ticket-detail", args=[ticket.pk])).content.decode()


def _act(client, ticket, action: str, **fields):
    data = {"action": action, "revision": Ticket.objects.get(pk=ticket.pk).revision, **fields}
    return client.post(reverse("ticket-action", args=[ticket.pk]), data, follow=True)


def test_acknowledge_start_note_resolve_with_confirmation_and_the_history_shows_each_step(eng, ticket):
    html = _act(eng, ticket, "acknowledge").content.decode()
    assert "Acknowledged: the ticket is yours." in html
    assert '<button type="submit" class="button">Start work</button>' in html
    assert ">Acknowledge</button>" not in html  # the buttons follow the new state

    html = _act(eng, ticket, "start").content.decode()
    assert "Work started" in html and 'class="badge status-inProgress"' in html

    eng.post(
        reverse("ticket-note", args=[ticket.pk]),
        {"text": "SFP on port 3 reads -19 dBm", "visibility": "internal"},
    )

    # Resolving asks first: the form offers the fix and notes, and nothing changes yet.
    confirm = eng.get(
        reverse("ticket-action", args=[ticket.pk]), {"action": "resolve", "resolution_code": "REPLACE_SFP"}
    )
    assert "Resolve W-1?" in confirm.content.decode()
    assert '<option value="REPLACE_SFP" selected>' in confirm.content.decode()
    assert Ticket.objects.get(pk=ticket.pk).status == "inProgress"
    unconfirmed = eng.post(
        reverse("ticket-action", args=[ticket.pk]), {"action": "resolve", "resolution_code": "REPLACE_SFP"}
    )
    assert unconfirmed.status_code == 200 and Ticket.objects.get(pk=ticket.pk).status == "inProgress"

    html = _act(
        eng, ticket, "resolve", confirmed="yes", resolution_code="REPLACE_SFP", resolution_notes="swapped it"
    ).content.decode()
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.status, stored.resolution.code, stored.resolution_notes) == (
        "resolved",
        "REPLACE_SFP",
        "swapped it",
    )
    assert "Resolved with REPLACE_SFP." in html

    assert list(TicketChange.objects.filter(ticket=ticket).values_list("action", flat=True)) == [
        "acknowledge",
        "start",
        "note",
        "resolve",
    ]
    timeline = html[html.index('id="activity"') :]
    for text in (
        "Acknowledged",
        "Work started",
        "SFP on port 3 reads -19 dBm",
        "Resolved",
        "In progress</span> → ",
    ):
        assert text in timeline


def test_hold_asks_for_a_reason_and_refuses_without_one(eng, ticket):
    asked = eng.get(reverse("ticket-action", args=[ticket.pk]), {"action": "hold"}).content.decode()
    assert 'name="reason"' in asked and "required" in asked

    refused = _act(eng, ticket, "hold", confirmed="yes", reason="  ")
    assert refused.status_code == 400 and "Give a reason to put on hold." in refused.content.decode()

    _act(eng, ticket, "hold", confirmed="yes", reason="waiting for a spare SFP")
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.status, stored.status_change_reason) == ("held", "waiting for a spare SFP")
    assert "On hold because" in _page(eng, ticket)


def test_an_action_on_a_ticket_someone_changed_meanwhile_is_refused_with_what_happened(eng, ticket):
    stale = Ticket.objects.get(pk=ticket.pk).revision
    tickets_upsert(
        documents=[
            {
                "external_id": "W-1",
                "title": "CPRI link down, customers complain",
                "site": "CS-COAST-001",
                "priority": "high",
            }
        ],
        source="noc",
    )

    html = eng.post(
        reverse("ticket-action", args=[ticket.pk]), {"action": "start", "revision": stale}, follow=True
    ).content.decode()

    assert "someone changed this ticket since you opened it (now revision 2)" in html
    assert Ticket.objects.get(pk=ticket.pk).status == "acknowledged"


def test_an_illegal_action_says_why(eng, ticket):
    html = _act(eng, ticket, "close").content.decode()
    assert (
        "Not saved: cannot close ticket W-1: it is acknowledged; only a ticket that is resolved can be."
        in html
    )


def test_assign_to_me_and_to_a_group(eng, ticket, engineer):
    html = eng.post(reverse("ticket-assign", args=[ticket.pk]), {"take": "me"}, follow=True).content.decode()
    assert "Assigned to eng in Coast crew." in html
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.assignee, stored.assignment_group.name) == (engineer, "Coast crew")

    outsider = User.objects.create_user("zed")
    outsider.groups.add(*engineer.groups.all())
    html = eng.post(
        reverse("ticket-assign", args=[ticket.pk]), {"group": "Coast crew", "assignee": "zed"}, follow=True
    ).content.decode()
    assert "Not saved: zed is not a member of Coast crew" in html


def _recommend(ticket, *codes):
    version = ModelVersionFactory(
        base_model="t",
        status=ModelVersion.Status.CANDIDATE,
    )
    RecommendationFactory(
        ticket=ticket,
        ticket_revision=ticket.revision,
        model_version=version,
        top_resolution=codes[0],
        top_confidence=0.9,
        payload={
            "recommendations": [{"resolution": c, "confidence": 0.9} for c in codes],
            "model_version": version.pk,
        },
    )


def test_ill_try_this_records_acceptance_and_leaves_the_status_alone(eng, ticket):
    _recommend(ticket, "REPLACE_SFP", "REBOOT_RU")

    response = eng.post(
        reverse("ticket-feedback", args=[ticket.pk]),
        {"action": "accept", "resolution_code": "REPLACE_SFP"},
        follow=True,
    )

    html = unescape(response.content.decode())
    assert response.redirect_chain[-1][0].endswith("#recommendation")
    assert "Noted: you'll try REPLACE_SFP. The ticket stays acknowledged" in html
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.status, stored.resolution, stored.revision) == ("acknowledged", None, 1)
    assert Feedback.objects.get().action == "accept"
    # Resolving now offers the fix the engineer is trying.
    confirm = eng.get(reverse("ticket-action", args=[ticket.pk]), {"action": "resolve"}).content.decode()
    assert '<option value="REPLACE_SFP" selected>' in confirm


def test_the_site_panel_shows_the_address_a_map_link_and_the_access_notes(eng, ticket):
    html = _page(eng, ticket)
    assert "Havnegata 12, West region" in html
    assert (
        'href="https://www.openstreetmap.org/?mlat=60.39000&amp;mlon=5.32000#map=16/60.39000/5.32000"' in html
    )
    assert "Key safe at the gate; the code is in the site folder." in html


def test_age_and_sla_are_on_the_ticket(eng, ticket):
    html = _page(eng, ticket)
    assert 'class="sla sla-' in html and "SLA due" in html and "· open " in html


def test_a_missing_page_and_a_forbidden_one_use_the_site_layout(eng, client, ticket):
    missing = eng.get("/tickets/999999/")
    assert missing.status_code == 404
    assert 'class="site-header"' in missing.content.decode() and "Nothing here" in missing.content.decode()
    assert 'name="viewport"' in missing.content.decode()
    forbidden = eng.get(reverse("model-list"))
    assert forbidden.status_code == 403 and "This page is not for your role" in forbidden.content.decode()


def test_a_server_error_page_renders_without_a_database(rf):
    from frontend.views.errors import server_error
    from ticketai.error_pages import unavailable_html

    response = server_error(rf.get("/"))
    assert response.status_code == 500 and "Something went wrong on our side" in response.content.decode()
    assert "TicketAI is not available right now" in unavailable_html("The database is not answering.")
