"""With a real (tiny) champion: the ticket page shows its top 3 and evidence; the queue reads stored rows."""

import re

import pytest
from django.urls import reverse

from ml.models import Feedback
from ml.models.recommendations import Recommendation
from ml.serving.recommendations import recommendation_for_ticket
from repair_center.models import Ticket
from repair_center.services.tickets import tickets_upsert

pytestmark = pytest.mark.slow


@pytest.fixture
def new_ticket(trained_champion, db) -> Ticket:
    [result] = tickets_upsert(
        documents=[
            {
                "external_id": "NEW-1",
                "title": "optical receive power low on the fibre link",
                "description": "optical receive power low on the fibre link at the harbour",
                "status": "acknowledged",
                "opened_at": "2026-03-01T10:00:00Z",
                "site": "SITE-ML",
                "element": "SN-ML-1",
                "error_codes": ["SFP_RX_LOW"],
                "events": [{"at": "2026-03-01T09:55:00Z", "kind": "alarm_raised", "code": "SFP_RX_LOW"}],
            }
        ],
        source="noc",
    )
    return Ticket.objects.get(pk=result.id)


def test_the_panel_shows_three_resolutions_with_confidence_steps_and_evidence(client, engineer, new_ticket):
    client.force_login(engineer)
    html = client.get(reverse("ticket-detail", args=[new_ticket.pk])).content.decode()
    payload = Recommendation.objects.get(ticket=new_ticket).payload
    panel = html[html.index('id="recommendation-heading"') : html.index('id="description-heading"')]
    assert panel.count('class="rec"') == 3
    assert len(re.findall(r'role="meter"[^>]*aria-valuenow="\d+"', panel)) == 3
    for rec in payload["recommendations"]:
        assert f"<code>{rec['resolution']}</code>" in panel
    assert ("Needs an expert" in panel) == payload["abstained"]
    assert f'href="/models/{payload["model_version"]}/"' in panel
    if payload["evidence"]["words"]:
        assert '<mark class="evidence-word">' in html[html.index('id="description-heading"') :]
    if payload["similar"]:
        assert "Similar past tickets" in panel


def test_accepting_in_one_click_labels_the_ticket_and_lists_the_feedback(client, engineer, new_ticket):
    client.force_login(engineer)
    payload = recommendation_for_ticket(new_ticket)
    top = payload["recommendations"][0]["resolution"]
    html = client.get(reverse("ticket-detail", args=[new_ticket.pk])).content.decode()
    assert f"Accept {top}</button>" in html
    response = client.post(
        reverse("ticket-feedback", args=[new_ticket.pk]),
        {"action": "accept", "resolution_code": top},
        follow=True,
    )
    feedback = Feedback.objects.get(ticket=new_ticket)
    assert (feedback.action, feedback.chosen_resolution.code) == ("accept", top)
    assert 'class="feedback feedback-accept"' in response.content.decode()
    new_ticket.refresh_from_db()
    assert new_ticket.resolution.code == top


def test_the_queue_shows_stored_recommendations_and_filters_those_needing_an_expert(
    client, engineer, new_ticket, trained_champion, django_assert_max_num_queries
):
    payload = recommendation_for_ticket(new_ticket)
    other = Ticket.objects.exclude(pk=new_ticket.pk).order_by("pk").first()
    Recommendation.objects.create(
        ticket=other,
        ticket_revision=other.revision,
        model_version=trained_champion,
        abstained=True,
        top_resolution="FIX_MAINS",
        top_confidence=0.2,
        payload={},
    )
    client.force_login(engineer)
    client.get(reverse("ticket-list"))
    with django_assert_max_num_queries(7):  # no per-row queries, and no inference, however many rows
        html = client.get(reverse("ticket-list"), {"q": "NEW-1"}).content.decode()
    row = html[html.index('class="ticket-id">NEW-1<') :]
    top = payload["recommendations"][0]
    if payload["abstained"]:
        assert "Needs an expert" in row[: row.index("</tr>")]
    else:
        assert f"<code>{top['resolution']}</code>" in row[: row.index("</tr>")]
        assert f"{round(top['confidence'] * 100)}%" in row[: row.index("</tr>")]
    expert = client.get(reverse("ticket-list"), {"needs_expert": "on"}).content.decode()
    ids = re.findall(r'class="ticket-id">([^<]+)<', expert)
    assert other.external_id in ids
    assert ("NEW-1" in ids) == payload["abstained"]
