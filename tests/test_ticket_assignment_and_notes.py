"""Tickets are assigned to a team and a person in it, and carry a timeline of work notes."""

import pytest
from django.contrib.auth.models import Group, User

from repair_center.models import AssignmentGroup, Ticket, TicketChange, WorkNote
from repair_center.services.history import IllegalTransition, StaleRevision, WorkflowError
from repair_center.services.tickets import tickets_upsert
from repair_center.services.workflow import ticket_assign, ticket_note_add, ticket_transition
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def _person(name: str, role: str = "engineer") -> User:
    user = User.objects.create_user(name, password="x")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def ticket():
    SiteFactory(code="SITE-AS")
    [result] = tickets_upsert(
        documents=[{"external_id": "AS-1", "title": "mains failure", "site": "SITE-AS"}], source="noc"
    )
    return Ticket.objects.get(pk=result.id)


@pytest.fixture
def team():
    crew = AssignmentGroup.objects.create(name="West field crew")
    crew.members.add(_person("ana"), _person("ben"))
    return crew


def test_a_ticket_is_assigned_to_a_group_and_one_of_its_members(ticket, team):
    ana = User.objects.get(username="ana")

    assigned = ticket_assign(ticket_id=ticket.pk, group=team, assignee="ana", user=ana)

    assert (assigned.assignment_group, assigned.assignee, assigned.revision) == (team, ana, 2)
    change = TicketChange.objects.get(ticket=ticket, action="assign")
    assert change.changes == {
        "assignee": {"from": None, "to": "ana"},
        "assignment_group": {"from": None, "to": "West field crew"},
    }


def test_a_person_outside_the_group_is_refused(ticket, team):
    outsider = _person("carl")

    with pytest.raises(WorkflowError) as refused:
        ticket_assign(ticket_id=ticket.pk, group=team, assignee=outsider)

    assert refused.value.field == "assignee"
    assert "carl is not a member of West field crew" in str(refused.value)
    assert Ticket.objects.get(pk=ticket.pk).revision == 1


def test_a_person_in_one_group_brings_it_and_moving_teams_drops_a_non_member(ticket, team):
    ben = User.objects.get(username="ben")
    assert ticket_assign(ticket_id=ticket.pk, assignee=ben).assignment_group == team

    transport = AssignmentGroup.objects.create(name="Transport")
    moved = ticket_assign(ticket_id=ticket.pk, group=transport)

    assert (moved.assignment_group, moved.assignee) == (transport, None)


def test_integrations_and_unknown_names_cannot_be_assignees(ticket):
    _person("noc-bridge", role="integration")

    with pytest.raises(WorkflowError, match="needs the engineer or admin role"):
        ticket_assign(ticket_id=ticket.pk, assignee="noc-bridge")
    with pytest.raises(WorkflowError, match="no user 'nobody'"):
        ticket_assign(ticket_id=ticket.pk, assignee="nobody")
    with pytest.raises(WorkflowError, match="no assignment group 'Ghosts'"):
        ticket_assign(ticket_id=ticket.pk, group="Ghosts")


def test_assigning_the_same_again_is_not_a_new_revision(ticket, team):
    ticket_assign(ticket_id=ticket.pk, group=team, assignee="ana")
    again = ticket_assign(ticket_id=ticket.pk, group=team, assignee="ana", expected_revision=2)
    assert again.revision == 2


def test_a_closed_ticket_is_not_assigned(ticket, team):
    ticket_transition(ticket_id=ticket.pk, action="cancel", reason="duplicate of AS-0")

    with pytest.raises(IllegalTransition, match="only open tickets are assigned"):
        ticket_assign(ticket_id=ticket.pk, group=team)


def test_a_work_note_records_author_time_text_and_visibility(ticket, team):
    ana = User.objects.get(username="ana")

    note = ticket_note_add(ticket_id=ticket.pk, text="  Gate code changed, ask the landlord.  ", user=ana)

    assert (note.author, note.text, note.visibility) == (
        "ana",
        "Gate code changed, ask the landlord.",
        "internal",
    )
    assert note.created_at is not None
    assert Ticket.objects.get(pk=ticket.pk).revision == 2
    assert TicketChange.objects.get(ticket=ticket, action="note").actor == "ana"


def test_an_empty_note_or_a_stale_one_is_refused(ticket):
    with pytest.raises(WorkflowError) as empty:
        ticket_note_add(ticket_id=ticket.pk, text="   ")
    with pytest.raises(StaleRevision):
        ticket_note_add(ticket_id=ticket.pk, text="on my way", expected_revision=7)
    with pytest.raises(WorkflowError) as hidden:
        ticket_note_add(ticket_id=ticket.pk, text="x", visibility="secret")

    assert (empty.value.field, hidden.value.field) == ("text", "visibility")
    assert not WorkNote.objects.exists()
