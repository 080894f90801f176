"""The ticket page's recommendation panel and one-click feedback (accept, reject, correct)."""

import pytest
from django.urls import reverse

from frontend.recommendation_panel import highlight
from ml.models import Feedback
from repair_center.models import Ticket
from repair_center.services.tickets import tickets_upsert
from tests.factories import ResolutionCodeFactory, SiteFactory


@pytest.fixture
def ticket(db) -> Ticket:
    SiteFactory(code="CS-COAST-001")
    ResolutionCodeFactory(code="REPLACE_SFP", title="Replace the SFP", steps="Swap the SFP")
    ResolutionCodeFactory(code="REBOOT_RU", title="Reboot the radio", steps="Power-cycle the RU")
    [result] = tickets_upsert(
        documents=[
            {
                "external_id": "T-1",
                "title": "CPRI down",
                "description": "fibre dirty\nsfp <b>hot</b>",
                "site": "CS-COAST-001",
                "error_codes": ["CPRI_LINK_DOWN"],
            }
        ],
        source="noc",
    )
    return Ticket.objects.get(pk=result.id)


def test_without_a_model_the_panel_says_so_honestly(client, engineer, ticket):
    client.force_login(engineer)
    html = client.get(reverse("ticket-detail", args=[ticket.pk])).content.decode()
    assert "No model yet" in html


def test_an_engineer_corrects_the_resolution_and_sees_the_feedback_at_once(client, engineer, ticket):
    client.force_login(engineer)
    response = client.post(
        reverse("ticket-feedback", args=[ticket.pk]),
        {"action": "correct", "resolution_code": "REBOOT_RU", "notes": "RU hung after upgrade"},
        follow=True,
    )
    html = response.content.decode()
    feedback = Feedback.objects.get()
    assert (feedback.action, feedback.chosen_resolution.code, feedback.notes, feedback.user) == (
        "correct",
        "REBOOT_RU",
        "RU hung after upgrade",
        engineer,
    )
    ticket.refresh_from_db()
    assert ticket.resolution is None and ticket.revision == 1  # an open ticket: a verdict, not a label
    assert "Corrected to REBOOT_RU" in html
    # On the timeline at once, with the engineer's notes.
    assert 'class="entry entry-feedback entry-correct"' in html and "RU hung after upgrade" in html


def test_a_rejection_is_stored_without_relabelling_the_ticket(client, engineer, ticket):
    client.force_login(engineer)
    client.post(reverse("ticket-feedback", args=[ticket.pk]), {"action": "reject"})
    assert Feedback.objects.get().action == "reject"
    ticket.refresh_from_db()
    assert ticket.resolution is None and ticket.revision == 1


def test_a_correction_without_a_resolution_or_with_an_unknown_one_is_refused(client, engineer, ticket):
    client.force_login(engineer)
    response = client.post(reverse("ticket-feedback", args=[ticket.pk]), {"action": "correct"}, follow=True)
    assert "Choose accept, reject, or a resolution" in response.content.decode()
    response = client.post(
        reverse("ticket-feedback", args=[ticket.pk]),
        {"action": "correct", "resolution_code": "NOPE"},
        follow=True,
    )
    assert "Feedback not stored" in response.content.decode() and "NOPE" in response.content.decode()
    assert not Feedback.objects.exists()


def test_feedback_needs_the_engineer_or_admin_role(client, integration, ticket):
    client.force_login(integration)
    response = client.post(reverse("ticket-feedback", args=[ticket.pk]), {"action": "reject"})
    assert response.status_code == 403
    assert not Feedback.objects.exists()


def test_feedback_is_a_post_with_csrf(ticket, engineer):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(engineer)
    assert strict.post(reverse("ticket-feedback", args=[ticket.pk]), {"action": "reject"}).status_code == 403
    assert strict.get(reverse("ticket-feedback", args=[ticket.pk])).status_code == 405


def test_evidence_words_are_highlighted_and_the_text_still_escaped():
    html = highlight("Fibre dirty\nsfp <b>hot</b>; fibre-optic", ["fibre", "hot"])
    assert html == (
        '<mark class="evidence-word">Fibre</mark> dirty<br>sfp &lt;b&gt;'
        '<mark class="evidence-word">hot</mark>&lt;/b&gt;; fibre-optic'
    )
    assert highlight("a <i>", []) == "a &lt;i&gt;"


def test_only_what_speaks_for_the_fix_is_highlighted_and_the_evidence_is_ranked_and_signed(
    client, engineer, ticket, monkeypatch
):
    from frontend.recommendation_panel import Panel

    payload = {
        "model_version": 1,
        "recommendations": [
            {"resolution": "REPLACE_SFP", "title": "Replace the SFP", "steps": [], "confidence": 0.9}
        ],
        "evidence": {
            "unit": "log-odds",
            "codes": [{"code": "CPRI_LINK_DOWN", "weight": 2.5}, {"code": "XX_NOISE", "weight": -0.4}],
            "events": [{"index": 0, "kind": "alarm_raised", "code": "SFP_RX_LOW", "weight": 0.9}],
            "words": [{"word": "dirty", "weight": 1.2}, {"word": "hot", "weight": -0.7}],
            "patterns": [
                {
                    "statement": "CPRI_LINK_DOWN: 62% of the 540 past tickets with this code were fixed by "
                    "REPLACE_SFP"
                }
            ],
        },
    }
    panel = Panel(state="ready", payload=payload)

    assert [(i["kind"], i["direction"]) for i in panel.evidence_items] == [
        ("code", "for"),
        ("word", "for"),
        ("event", "for"),
        ("word", "against"),
        ("code", "against"),
    ]
    assert panel.evidence_codes == {"CPRI_LINK_DOWN"} and panel.evidence_words == ["dirty"]
    assert panel.evidence_event_indexes == {0}
    assert str(highlight(ticket.description, panel.evidence_words)) == (
        'fibre <mark class="evidence-word">dirty</mark><br>sfp &lt;b&gt;hot&lt;/b&gt;'
    )

    monkeypatch.setattr("frontend.recommendation_panel.panel_for", lambda _: panel)
    client.force_login(engineer)
    html = client.get(reverse("ticket-detail", args=[ticket.pk])).content.decode()
    shown = html[
        html.index("Why: the evidence") : html.index("Similar past tickets")
        if "Similar past" in html
        else None
    ]
    assert "62% of the 540 past tickets with this code were fixed by REPLACE_SFP" in shown
    assert shown.count('<li class="evidence-for">') == 3 and shown.count('<li class="evidence-against">') == 2
    assert (
        shown.index("CPRI_LINK_DOWN") < shown.index("dirty") < shown.index("SFP_RX_LOW") < shown.index("hot")
    )
    assert "+2.50 for" in shown and "-0.40 against" in shown
    description = html[html.index('id="description-heading"') :]
    assert '<mark class="evidence-word">dirty</mark>' in description
    assert '<mark class="evidence-word">hot</mark>' not in description
    assert html.count("evidence-hit") == 1  # the one decisive code; no event is stored on this ticket
