"""A status action, an assignment or a note changes a ticket's revision but not what the model reads:
its stored recommendation is carried over to the new revision instead of being scored again."""

import pytest

from ml.models import Recommendation
from repair_center.models import Ticket
from repair_center.services.tickets import tickets_upsert
from repair_center.services.workflow import ticket_note_add, ticket_transition
from tests.factories import ModelVersionFactory, RecommendationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket():
    [result] = tickets_upsert(documents=[{"external_id": "C-1", "title": "CPRI link down"}], source="noc")
    ticket = Ticket.objects.get(pk=result.id)
    version = ModelVersionFactory(base_model="t")
    RecommendationFactory(
        ticket=ticket,
        ticket_revision=1,
        model_version=version,
        payload={"recommendations": []},
        top_resolution="REPLACE_SFP",
        top_confidence=0.83,
    )
    return ticket


def test_a_status_action_and_a_note_carry_the_recommendation_to_each_new_revision(
    ticket, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ticket_transition(ticket_id=ticket.pk, action="start")
    with django_capture_on_commit_callbacks(execute=True):
        ticket_note_add(ticket_id=ticket.pk, text="on site")

    rows = Recommendation.objects.filter(ticket=ticket).order_by("ticket_revision")
    assert [(r.ticket_revision, r.top_resolution, r.top_confidence) for r in rows] == [
        (1, "REPLACE_SFP", 0.83),
        (2, "REPLACE_SFP", 0.83),
        (3, "REPLACE_SFP", 0.83),
    ]


def test_a_change_the_source_makes_is_scored_again_not_carried(ticket, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        tickets_upsert(documents=[{"external_id": "C-1", "title": "CPRI link down, RU dead"}], source="noc")
    assert list(Recommendation.objects.filter(ticket=ticket).values_list("ticket_revision", flat=True)) == [1]
