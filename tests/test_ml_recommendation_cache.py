"""A ticket's recommendation is computed once per (ticket revision, model version) and stored."""

import pytest

from ml.core import registry
from ml.models import ModelVersion
from ml.models.recommendations import Recommendation
from ml.serving import inference
from ml.serving.recommendations import latest_for_tickets, recommendation_for_ticket
from repair_center.models import Ticket
from repair_center.selectors import ticket_detail, ticket_document
from repair_center.services.tickets import tickets_upsert

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def _ticket() -> Ticket:
    return Ticket.objects.get(external_id="ML-REPLACE_SFP-006")


def test_the_first_answer_is_stored_with_its_top_resolution_and_then_reused(trained_champion):
    ticket = _ticket()

    first = recommendation_for_ticket(ticket)
    row = Recommendation.objects.get(ticket=ticket)
    again = recommendation_for_ticket(ticket)

    assert (row.ticket_revision, row.model_version_id) == (ticket.revision, trained_champion.pk)
    assert row.top_resolution == first["recommendations"][0]["resolution"] == "REPLACE_SFP"
    assert row.top_confidence == first["recommendations"][0]["confidence"]
    assert row.abstained == first["abstained"]
    assert again == first and Recommendation.objects.filter(ticket=ticket).count() == 1


def test_the_cached_answer_costs_no_inference(trained_champion, django_assert_max_num_queries):
    ticket = _ticket()
    recommendation_for_ticket(ticket)
    Recommendation.objects.filter(ticket=ticket).update(
        payload={"model_version": trained_champion.pk, "cached": 1}
    )

    with django_assert_max_num_queries(2):
        assert recommendation_for_ticket(ticket)["cached"] == 1


def test_refresh_recomputes_and_replaces_the_stored_answer(trained_champion):
    ticket = _ticket()
    recommendation_for_ticket(ticket)
    Recommendation.objects.filter(ticket=ticket).update(payload={"stale": True})

    fresh = recommendation_for_ticket(ticket, refresh=True)

    assert "stale" not in fresh
    assert Recommendation.objects.get(ticket=ticket).payload == fresh


def test_a_new_revision_of_the_ticket_gets_its_own_answer(trained_champion):
    ticket = _ticket()
    recommendation_for_ticket(ticket)
    document = ticket_document(ticket_detail().get(pk=ticket.pk))
    document["title"] = "sfp swapped, link flapping again"
    [result] = tickets_upsert(documents=[document], source="noc")
    assert result.status == "updated"

    ticket.refresh_from_db()
    recommendation_for_ticket(ticket)

    assert sorted(Recommendation.objects.filter(ticket=ticket).values_list("ticket_revision", flat=True)) == [
        1,
        2,
    ]
    assert latest_for_tickets([ticket.pk])[ticket.pk].ticket_revision == 2


def test_a_new_champion_gets_its_own_answer(trained_champion):
    from tests.test_ml_inference import _copy_as_new_version

    ticket = _ticket()
    recommendation_for_ticket(ticket)
    newer = registry.promote(_copy_as_new_version(trained_champion), reason="test")
    try:
        payload = recommendation_for_ticket(ticket)
        assert payload["model_version"] == newer.pk
        assert set(
            Recommendation.objects.filter(ticket=ticket).values_list("model_version_id", flat=True)
        ) == {
            trained_champion.pk,
            newer.pk,
        }
    finally:
        inference.reset_cache()
        ModelVersion.objects.filter(pk=newer.pk).delete()
        ModelVersion.objects.filter(pk=trained_champion.pk).update(status=ModelVersion.Status.CHAMPION)


def test_a_fresh_answer_is_announced_to_webhook_subscribers_and_a_cached_one_is_not(trained_champion):
    from ml.models import WebhookDelivery, WebhookSubscription

    WebhookSubscription.objects.create(
        url="http://127.0.0.1:9/hook", secret="s" * 32, events=["recommendation.ready"]
    )
    ticket = _ticket()

    payload = recommendation_for_ticket(ticket)
    recommendation_for_ticket(ticket)

    [delivery] = WebhookDelivery.objects.all()
    assert delivery.event == "recommendation.ready"
    assert (delivery.payload["ticket_id"], delivery.payload["external_id"]) == (ticket.pk, ticket.external_id)
    assert delivery.payload["recommendations"] == payload["recommendations"]
