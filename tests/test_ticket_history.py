"""Every change is kept: source updates through tickets_upsert are recorded field by field, and a
source that sends its ticket again without changing its own status does not undo engineers' work."""

import pytest
from django.contrib.auth.models import Group, User

from repair_center.models import Ticket, TicketChange
from repair_center.selectors import ticket_detail, ticket_document
from repair_center.services.tickets import tickets_upsert
from repair_center.services.workflow import ticket_transition
from tests.factories import ResolutionCodeFactory, SiteFactory

pytestmark = pytest.mark.django_db

DOC = {
    "external_id": "NOC-9",
    "title": "battery low",
    "status": "acknowledged",
    "priority": "medium",
    "opened_at": "2026-03-01T08:00:00Z",
    "site": "SITE-H1",
}


@pytest.fixture
def ticket():
    SiteFactory(code="SITE-H1")
    SiteFactory(code="SITE-H2")
    ResolutionCodeFactory(code="DISPATCH_GENERATOR")
    [result] = tickets_upsert(documents=[DOC], source="noc")
    return Ticket.objects.get(pk=result.id)


@pytest.fixture
def field(db):
    user = User.objects.create_user("field", password="x")
    user.groups.add(Group.objects.get_or_create(name="engineer")[0])
    return user


def test_a_source_update_is_recorded_with_each_changed_field(ticket):
    [result] = tickets_upsert(
        documents=[
            {**DOC, "priority": "critical", "site": "SITE-H2", "title": "battery low, site on battery"}
        ],
        source="noc",
    )

    assert result.status == "updated"
    [change] = TicketChange.objects.filter(ticket=ticket)
    assert (change.action, change.actor, change.revision, change.user) == ("update", "source:noc", 2, None)
    assert change.changes == {
        "title": {"from": "battery low", "to": "battery low, site on battery"},
        "priority": {"from": "medium", "to": "critical"},
        "site": {"from": "SITE-H1", "to": "SITE-H2"},
    }


def test_a_change_only_to_the_description_is_recorded_as_a_document_change(ticket):
    tickets_upsert(documents=[{**DOC, "description": "voltage 44 V"}], source="noc")
    assert list(TicketChange.objects.filter(ticket=ticket).values_list("changes", flat=True)) == [
        {"document": {"from": None, "to": "description, codes or events changed"}}
    ]


def test_an_unchanged_resend_records_nothing(ticket):
    [result] = tickets_upsert(documents=[DOC], source="noc")
    assert result.status == "unchanged"
    assert not TicketChange.objects.exists()


def test_a_resend_with_the_same_source_status_keeps_the_engineers_status(ticket, field):
    ticket_transition(ticket_id=ticket.pk, action="start", user=field)

    [same] = tickets_upsert(documents=[DOC], source="noc")
    [edited] = tickets_upsert(documents=[{**DOC, "title": "battery low since 02:00"}], source="noc")

    assert same.status == "unchanged"
    assert edited.status == "updated"
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.status, stored.title, stored.source_status) == (
        "inProgress",
        "battery low since 02:00",
        "acknowledged",
    )


def test_a_status_the_source_changed_wins_and_is_recorded(ticket, field):
    ticket_transition(ticket_id=ticket.pk, action="start", user=field)

    tickets_upsert(documents=[{**DOC, "status": "cancelled"}], source="noc")

    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.status, stored.source_status) == ("cancelled", "cancelled")
    last = TicketChange.objects.filter(ticket=ticket).last()
    assert (last.actor, last.changes["status"]) == ("source:noc", {"from": "inProgress", "to": "cancelled"})


def test_an_engineers_resolution_survives_the_sources_resend_and_exports_unchanged(ticket, field):
    ticket_transition(ticket_id=ticket.pk, action="start", user=field)
    ticket_transition(ticket_id=ticket.pk, action="resolve", user=field, resolution_code="DISPATCH_GENERATOR")
    ticket_transition(ticket_id=ticket.pk, action="close", user=field)

    [resend] = tickets_upsert(documents=[DOC], source="noc")
    [export] = tickets_upsert(documents=[ticket_document(ticket_detail().get(pk=ticket.pk))], source="noc")

    assert (resend.status, export.status) == ("unchanged", "unchanged")
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.status, stored.resolution.code, stored.resolved_by) == (
        "closed",
        "DISPATCH_GENERATOR",
        "field",
    )
