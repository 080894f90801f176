"""On a ticket that is resolved or closed there is nothing left to try: "I'll try this" is not
offered and the server refuses it, so the engineer's recorded fix (the training label) is never
overwritten by a stray click. Relabelling it is a deliberate, confirmed correction."""

from html import unescape

import pytest
from django.urls import reverse

from frontend.recommendation_panel import Panel
from ml.models import Feedback, ModelVersion
from repair_center.models import Ticket
from repair_center.services import workflow
from repair_center.services.tickets import tickets_upsert
from tests.factories import ModelVersionFactory, RecommendationFactory, ResolutionCodeFactory

pytestmark = pytest.mark.django_db


PAYLOAD = {"recommendations": [{"resolution": "REBOOT_RU", "confidence": 0.9}], "model_version": None}


@pytest.fixture
def closed(engineer, monkeypatch) -> Ticket:
    ResolutionCodeFactory(code="REPLACE_SFP", title="Replace the SFP")
    ResolutionCodeFactory(code="REBOOT_RU", title="Reboot the radio")
    [result] = tickets_upsert(documents=[{"external_id": "C-1", "title": "CPRI link down"}], source="noc")
    ticket = Ticket.objects.get(pk=result.id)
    for action, fields in (
        ("resolve", {"resolution_code": "REPLACE_SFP", "resolution_notes": "swapped"}),
        ("close", {}),
    ):
        workflow.ticket_transition(ticket_id=ticket.pk, action=action, user=engineer, **fields)
    version = ModelVersionFactory(base_model="t", status=ModelVersion.Status.CANDIDATE)
    ticket.refresh_from_db()
    RecommendationFactory(
        ticket=ticket,
        ticket_revision=ticket.revision,
        model_version=version,
        top_resolution="REBOOT_RU",
        top_confidence=0.9,
        payload={**PAYLOAD, "model_version": version.pk},
    )
    # The page shows the stored recommendation as if this version were the champion.
    panel = Panel(state="ready", payload={**PAYLOAD, "model_version": version.pk})
    monkeypatch.setattr("frontend.recommendation_panel.panel_for", lambda _: panel)
    return ticket


@pytest.fixture
def eng(client, engineer):
    client.force_login(engineer)
    return client


def _feedback(client, ticket, **data):
    return client.post(reverse("ticket-feedback", args=[ticket.pk]), data, follow=True)


def test_a_closed_ticket_offers_no_ill_try_this(eng, closed):
    html = unescape(eng.get(reverse("ticket-detail", args=[closed.pk])).content.decode())
    assert "REBOOT_RU" in html and "Reject" in html  # the recommendation is shown
    assert "I'll try this" not in html
    assert 'name="action" value="accept"' not in html


def test_the_server_refuses_to_accept_a_fix_on_a_closed_ticket(eng, closed):
    html = unescape(_feedback(eng, closed, action="accept", resolution_code="REBOOT_RU").content.decode())

    assert "Not stored: this ticket is closed, so there is no fix left to try." in html
    stored = Ticket.objects.get(pk=closed.pk)
    assert (stored.resolution.code, stored.resolution_notes) == ("REPLACE_SFP", "swapped")
    assert not Feedback.objects.exists()


def test_relabelling_a_closed_ticket_needs_a_confirmation(eng, closed):
    page = unescape(eng.get(reverse("ticket-detail", args=[closed.pk])).content.decode())
    assert 'name="relabel" value="yes" required' in page
    assert "Replace the recorded resolution, REPLACE_SFP" in page

    html = unescape(_feedback(eng, closed, action="correct", resolution_code="REBOOT_RU").content.decode())
    assert "Not stored: tick to confirm that REBOOT_RU replaces the recorded resolution, REPLACE_SFP." in html
    assert Ticket.objects.get(pk=closed.pk).resolution.code == "REPLACE_SFP"

    _feedback(eng, closed, action="correct", resolution_code="REBOOT_RU", relabel="yes")
    assert Ticket.objects.get(pk=closed.pk).resolution.code == "REBOOT_RU"
