"""Working a ticket through the TMF621 lifecycle: legal actions move it, illegal ones are refused
with a clear message, and each change is one new revision with a row in the history."""

import threading

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from repair_center.models import Ticket, TicketChange
from repair_center.selectors import ticket_detail
from repair_center.services.history import IllegalTransition, StaleRevision, WorkflowError
from repair_center.services.resolution import ticket_content_hash
from repair_center.services.tickets import tickets_upsert
from repair_center.services.workflow import allowed_actions, ticket_transition
from tests.factories import ResolutionCodeFactory, SiteFactory

pytestmark = pytest.mark.django_db

DOC = {
    "external_id": "NOC-7",
    "title": "CPRI link down on sector 2",
    "status": "acknowledged",
    "priority": "high",
    "opened_at": "2026-03-01T08:00:00Z",
    "site": "SITE-WF",
    "error_codes": ["CPRI_LINK_DOWN"],
}


@pytest.fixture
def ticket():
    SiteFactory(code="SITE-WF")
    ResolutionCodeFactory(code="REPLACE_SFP")
    [result] = tickets_upsert(documents=[DOC], source="noc")
    return Ticket.objects.get(pk=result.id)


@pytest.fixture
def field(db):
    user = User.objects.create_user("field", password="x")
    user.groups.add(Group.objects.get_or_create(name="engineer")[0])
    return user


def _status(ticket) -> str:
    return Ticket.objects.values_list("status", flat=True).get(pk=ticket.pk)


def test_acknowledge_start_resolve_and_close_walk_the_lifecycle(ticket, field):
    acknowledged = ticket_transition(ticket_id=ticket.pk, action="acknowledge", user=field)
    assert (acknowledged.status, acknowledged.acknowledged_by, acknowledged.revision) == (
        "acknowledged",
        "field",
        2,
    )
    assert acknowledged.assignee == field  # who acknowledges an unassigned ticket takes it

    started = ticket_transition(ticket_id=ticket.pk, action="start", user=field)
    assert (started.status, started.revision) == ("inProgress", 3)

    resolved = ticket_transition(
        ticket_id=ticket.pk,
        action="resolve",
        user=field,
        resolution_code="REPLACE_SFP",
        resolution_notes="swapped the SFP on port 3",
    )
    assert (resolved.status, resolved.resolution.code, resolved.resolved_by) == (
        "resolved",
        "REPLACE_SFP",
        "field",
    )
    assert resolved.resolution_notes == "swapped the SFP on port 3"
    assert resolved.resolved_at is not None

    closed = ticket_transition(ticket_id=ticket.pk, action="close", user=field)
    assert (closed.status, closed.revision) == ("closed", 5)

    history = list(TicketChange.objects.filter(ticket=ticket).values_list("action", "revision", "actor"))
    assert history == [
        ("acknowledge", 2, "field"),
        ("start", 3, "field"),
        ("resolve", 4, "field"),
        ("close", 5, "field"),
    ]
    resolve = TicketChange.objects.get(ticket=ticket, action="resolve")
    assert resolve.changes["status"] == {"from": "inProgress", "to": "resolved"}
    assert resolve.changes["resolution"] == {"from": None, "to": "REPLACE_SFP"}
    # The stored hash follows the document, so exporting and re-importing it changes nothing.
    assert Ticket.objects.get(pk=ticket.pk).content_hash == ticket_content_hash(
        ticket_detail().get(pk=ticket.pk)
    )


@pytest.mark.parametrize(
    ("setup", "action", "message"),
    [
        (
            ["start", "resolve", "close"],
            "start",
            "cannot start work on ticket NOC-7: it is closed (a final status)",
        ),
        (["cancel"], "resolve", "it is cancelled (a final status)"),
        ([], "close", "only a ticket that is resolved can be"),
        ([], "reopen", "it is acknowledged"),
        (["acknowledge"], "acknowledge", "was already acknowledged by field"),
        (["start"], "start", "it is in progress"),
    ],
)
def test_an_illegal_transition_is_refused_with_a_clear_message(ticket, field, setup, action, message):
    for step in setup:
        ticket_transition(
            ticket_id=ticket.pk, action=step, user=field, reason="because", resolution_code="REPLACE_SFP"
        )
    before = Ticket.objects.values("status", "revision").get(pk=ticket.pk)

    with pytest.raises(IllegalTransition) as refused:
        ticket_transition(ticket_id=ticket.pk, action=action, user=field, reason="because")

    assert message in str(refused.value)
    assert refused.value.errors == {"action": [str(refused.value)]}
    assert Ticket.objects.values("status", "revision").get(pk=ticket.pk) == before


@pytest.mark.parametrize("action", ["hold", "cancel"])
def test_hold_and_cancel_need_a_reason_kept_as_the_status_change_reason(ticket, field, action):
    with pytest.raises(WorkflowError) as missing:
        ticket_transition(ticket_id=ticket.pk, action=action, user=field, reason="  ")
    assert missing.value.field == "reason"

    done = ticket_transition(ticket_id=ticket.pk, action=action, user=field, reason="waiting for a spare SFP")

    assert done.status == {"hold": "held", "cancel": "cancelled"}[action]
    assert done.status_change_reason == "waiting for a spare SFP"
    assert TicketChange.objects.get(ticket=ticket, action=action).reason == "waiting for a spare SFP"


def test_a_held_ticket_resumes_and_a_resolved_one_reopens_with_a_reason(ticket, field):
    ticket_transition(ticket_id=ticket.pk, action="hold", user=field, reason="no access until 18:00")
    assert _status(ticket) == "held"
    ticket_transition(ticket_id=ticket.pk, action="start", user=field)
    ticket_transition(ticket_id=ticket.pk, action="resolve", user=field, resolution_code="REPLACE_SFP")

    reopened = ticket_transition(ticket_id=ticket.pk, action="reopen", user=field, reason="alarm came back")

    assert (reopened.status, reopened.resolved_at) == ("inProgress", None)


def test_resolving_needs_a_code_from_the_catalogue(ticket, field):
    with pytest.raises(WorkflowError) as missing:
        ticket_transition(ticket_id=ticket.pk, action="resolve", user=field)
    with pytest.raises(WorkflowError) as unknown:
        ticket_transition(ticket_id=ticket.pk, action="resolve", user=field, resolution_code="NO_SUCH_FIX")

    assert missing.value.field == unknown.value.field == "resolution"
    assert "not in the resolution catalogue" in str(unknown.value)
    assert _status(ticket) == "acknowledged"


def test_the_allowed_actions_follow_the_status(ticket, field):
    assert [t.action for t in allowed_actions(ticket)] == [
        "acknowledge",
        "start",
        "hold",
        "resolve",
        "cancel",
    ]
    ticket_transition(ticket_id=ticket.pk, action="start", user=field)
    started = Ticket.objects.get(pk=ticket.pk)
    assert [t.action for t in allowed_actions(started)] == ["hold", "resolve", "cancel"]
    ticket_transition(ticket_id=ticket.pk, action="resolve", user=field, resolution_code="REPLACE_SFP")
    assert [t.action for t in allowed_actions(Ticket.objects.get(pk=ticket.pk))] == ["close", "reopen"]


def test_a_stale_revision_changes_nothing(ticket, field):
    ticket_transition(ticket_id=ticket.pk, action="start", user=field, expected_revision=1)

    with pytest.raises(StaleRevision) as stale:
        ticket_transition(ticket_id=ticket.pk, action="hold", user=field, reason="x", expected_revision=1)

    assert (stale.value.expected, stale.value.current) == (1, 2)
    assert _status(ticket) == "inProgress"
    assert TicketChange.objects.filter(ticket=ticket).count() == 1


@pytest.mark.django_db(transaction=True)
def test_of_two_people_acting_on_the_same_revision_at_once_exactly_one_wins():
    SiteFactory(code="SITE-WF")
    [result] = tickets_upsert(documents=[DOC], source="noc")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def act(action: str, reason: str) -> None:
        try:
            barrier.wait()
            ticket_transition(ticket_id=result.id, action=action, reason=reason, expected_revision=1)
            outcomes.append("won")
        except StaleRevision:
            outcomes.append("stale")
        finally:
            connection.close()

    threads = [threading.Thread(target=act, args=a) for a in (("hold", "parts"), ("cancel", "duplicate"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["stale", "won"]
    ticket = Ticket.objects.get(pk=result.id)
    assert ticket.revision == 2
    assert TicketChange.objects.filter(ticket=ticket).count() == 1


def test_without_an_expected_revision_a_lost_race_is_decided_again(ticket, field):
    # The caller read revision 1; a source update lands before the write: the action is decided on
    # the new row instead of failing.
    tickets_upsert(documents=[{**DOC, "title": "CPRI link down, customers complain"}], source="noc")

    started = ticket_transition(ticket_id=ticket.pk, action="start", user=field)

    assert (started.status, started.revision, started.title) == (
        "inProgress",
        3,
        "CPRI link down, customers complain",
    )
