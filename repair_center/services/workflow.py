"""Working a ticket: TMF621 status actions, assignment to a team and a person, and work notes.

The web pages, the REST API (and a TMF621 API later) all call these services; they take plain
values and a user, never a request or a serializer. Each change is one transaction: the ticket row
is updated only if its revision is the one the change was decided on (see services/history.py),
and ``expected_revision`` lets a caller insist on the revision it last read (409 in the API).

The lifecycle (TMF621 TroubleTicketStatusType; "rejected" is not used here):

    acknowledged --start--> inProgress --resolve--> resolved --close--> closed
         |  \\--hold--> held <--hold-- |    ^            |
         |              \\--start------+    +--reopen----+
         +--cancel (from any open status)--> cancelled

"acknowledge" keeps the status acknowledged and records who took notice, and when; resolving
takes a resolution code from the catalogue; hold, cancel and reopen need a reason.
"""

import copy
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from repair_center import roles
from repair_center.models import AssignmentGroup, ResolutionCode, Ticket, TicketChange, WorkNote
from repair_center.selectors import ticket_detail
from repair_center.services.history import (
    Actor,
    IllegalTransition,
    StaleRevision,
    WorkflowError,
    check_revision,
    ticket_change_save,
)
from repair_center.services.resolution import ticket_content_hash
from ticketai.storable import text_problem

S = Ticket.Status
OPEN = frozenset(Ticket.OPEN_STATUSES)
MAX_REASON = 500
MAX_NOTE = 20_000
ATTEMPTS = 3  # without expected_revision, a change that lost a race is decided again on the new row


@dataclass(frozen=True, slots=True)
class Transition:
    action: str
    label: str
    sources: frozenset[str]
    target: str
    needs_reason: bool = False
    verb: str = ""  # "start work on": how a refusal names it

    @property
    def doing(self) -> str:
        return self.verb or self.label.lower()


TRANSITIONS = {
    t.action: t
    for t in (
        Transition("acknowledge", "Acknowledge", frozenset({S.ACKNOWLEDGED}), S.ACKNOWLEDGED),
        Transition(
            "start",
            "Start work",
            frozenset({S.ACKNOWLEDGED, S.PENDING, S.HELD}),
            S.IN_PROGRESS,
            verb="start work on",
        ),
        Transition(
            "hold", "Put on hold", frozenset({S.ACKNOWLEDGED, S.IN_PROGRESS, S.PENDING}), S.HELD, True, "put"
        ),
        Transition("resolve", "Resolve", OPEN, S.RESOLVED),
        Transition("close", "Close", frozenset({S.RESOLVED}), S.CLOSED),
        Transition("cancel", "Cancel", OPEN, S.CANCELLED, True),
        Transition("reopen", "Reopen", frozenset({S.RESOLVED}), S.IN_PROGRESS, True),
    )
}


def _refusal(ticket: Ticket, transition: Transition) -> str | None:
    """Why the transition cannot be made on this ticket now (None: it can)."""
    status = ticket.get_status_display().lower()
    if ticket.status not in transition.sources:
        names = [Ticket.Status(s).label.lower() for s in Ticket.Status.values if s in transition.sources]
        allowed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        final = " (a final status)" if ticket.status in (S.CLOSED, S.CANCELLED) else ""
        doing = "put ticket {} on hold" if transition.action == "hold" else f"{transition.doing} ticket {{}}"
        return (
            f"cannot {doing.format(ticket.external_id)}: it is {status}{final}; "
            f"only a ticket that is {allowed} can be"
        )
    if transition.action == "acknowledge" and ticket.acknowledged_at is not None:
        return (
            f"ticket {ticket.external_id} was already acknowledged by {ticket.acknowledged_by or 'someone'} "
            f"at {ticket.acknowledged_at:%Y-%m-%d %H:%M} UTC"
        )
    return None


def refusal(ticket: Ticket, action: str) -> str | None:
    """Why ``action`` cannot be taken on the ticket as it stands, in words (None: it can)."""
    return _refusal(ticket, TRANSITIONS[action])


def allowed_actions(ticket: Ticket) -> list[Transition]:
    """The status actions that can be taken on the ticket as it stands, in lifecycle order."""
    return [t for t in TRANSITIONS.values() if _refusal(ticket, t) is None]


def can_be_assignee(user) -> bool:
    return bool(user and user.is_active and roles.has_role(user, roles.ENGINEER, roles.ADMIN))


def _load(ticket_id: int) -> Ticket:
    try:
        return ticket_detail().get(pk=ticket_id)
    except Ticket.DoesNotExist:
        raise WorkflowError(f"ticket #{ticket_id} does not exist", field="ticket") from None


def _retrying(decide, *, ticket_id: int, expected_revision: int | None):
    """Run ``decide(ticket)`` on a fresh read; on a lost race, decide again unless the caller
    pinned the revision (then the race is theirs to resolve: StaleRevision)."""
    for attempt in range(ATTEMPTS):
        ticket = _load(ticket_id)
        check_revision(ticket, expected_revision)
        try:
            with transaction.atomic():
                return decide(ticket)
        except StaleRevision:
            if expected_revision is not None or attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _storable(value: str, field: str) -> str:
    """A NUL or an unpaired surrogate would be a 500 from PostgreSQL; it is the caller's error."""
    problem = text_problem(value or "")
    if problem:
        raise WorkflowError(f"the {field.replace('_', ' ')} {problem}", field=field)
    return value or ""


def _reason(reason: str, transition: Transition) -> str:
    reason = _storable(reason, "reason").strip()
    if transition.needs_reason and not reason:
        raise WorkflowError(f"give a reason to {transition.label.lower()}", field="reason")
    if len(reason) > MAX_REASON:
        raise WorkflowError(f"at most {MAX_REASON} characters (got {len(reason)})", field="reason")
    return reason


def ticket_transition(
    *,
    ticket_id: int,
    action: str,
    user=None,
    actor: Actor | None = None,
    reason: str = "",
    resolution_code: str = "",
    resolution_notes: str = "",
    expected_revision: int | None = None,
) -> Ticket:
    """Take a status action (acknowledge, start, hold, resolve, close, cancel, reopen) on a ticket.

    Refuses an action the ticket's status does not allow (IllegalTransition) and a stale
    ``expected_revision`` (StaleRevision). Resolving needs ``resolution_code``.
    """
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise WorkflowError(f"{action!r} is not one of {', '.join(TRANSITIONS)}", field="action")
    reason = _reason(reason, transition)
    resolution_notes = _storable(resolution_notes, "resolution_notes")
    resolution_code = _storable(resolution_code, "resolution")
    actor = actor or Actor.of(user)

    def decide(ticket: Ticket) -> Ticket:
        refusal = _refusal(ticket, transition)
        if refusal:
            raise IllegalTransition(refusal, field="action")
        resolution = _resolution(resolution_code) if action == "resolve" else None
        now = timezone.now()
        fields: dict[str, Any] = {}
        if transition.target != ticket.status:
            fields.update(status=transition.target, status_changed_at=now, status_change_reason=reason)
        if ticket.acknowledged_at is None and action in ("acknowledge", "start"):
            fields.update(acknowledged_at=now, acknowledged_by=actor.name)
            if ticket.assignee_id is None and can_be_assignee(actor.user):
                # Who acknowledges or starts an unassigned ticket takes it.
                fields.update(_assignment(ticket, actor.user, ticket.assignment_group))
        if resolution is not None:
            fields.update(
                resolution=resolution,
                resolution_notes=resolution_notes.strip() or ticket.resolution_notes,
                resolved_by=actor.name,
                resolved_at=max(now, ticket.opened_at) if ticket.opened_at else now,
            )
        if action == "reopen":
            fields["resolved_at"] = None
        return _save(ticket, fields, action=action, actor=actor, reason=reason, now=now)

    return _retrying(decide, ticket_id=ticket_id, expected_revision=expected_revision)


def _resolution(code: str) -> ResolutionCode:
    code = (code or "").strip()
    if not code:
        raise WorkflowError("resolving needs the resolution code", field="resolution")
    resolution = ResolutionCode.objects.filter(code=code).first()
    if resolution is None:
        raise WorkflowError(f"{code!r} is not in the resolution catalogue", field="resolution")
    return resolution


def _save(ticket: Ticket, fields: dict, *, action: str, actor: Actor, reason: str, now) -> Ticket:
    """Record the changed fields (and the new content hash when the canonical document changed)."""
    changes = {}
    for name, value in fields.items():
        before = getattr(ticket, name)
        if before != value:
            changes[name.removesuffix("_id")] = (_shown(before), _shown(value))
    document_fields = {"status", "resolved_at", "resolution", "resolution_notes"}
    if document_fields & set(fields):
        # The stored hash is that of the document as it now stands, so exporting and re-importing
        # it, or a source echoing it back, is "unchanged" (as for labels, services/resolution.py).
        draft = copy.copy(ticket)  # shares the prefetched codes and events; the ticket stays as read
        for name, value in fields.items():
            setattr(draft, name, value)
        fields = {**fields, "content_hash": ticket_content_hash(draft)}
    # Times are the change's own time, and the reason is kept as the change's reason.
    changes = {
        k: v
        for k, v in changes.items()
        if k not in ("status_changed_at", "acknowledged_at", "status_change_reason")
    }
    return ticket_change_save(
        ticket, fields=fields, action=action, actor=actor, changes=changes, reason=reason, now=now
    )


def _shown(value):
    if isinstance(value, ResolutionCode | AssignmentGroup):
        return str(value)
    if value is not None and hasattr(value, "get_username"):
        return value.get_username()
    return value


# --- Assignment -------------------------------------------------------------------------------


def _assignment(ticket: Ticket, assignee, group: AssignmentGroup | None) -> dict:
    """The assignee and group fields to store; a person must belong to the ticket's group, and a
    person in exactly one group brings that group to a ticket that has none."""
    if assignee is not None:
        if not can_be_assignee(assignee):
            raise WorkflowError(
                f"{assignee.get_username()} cannot be assigned tickets (needs the engineer or admin role)",
                field="assignee",
            )
        if group is None:
            groups = list(assignee.assignment_groups.all()[:2])
            group = groups[0] if len(groups) == 1 else None
        elif not group.members.filter(pk=assignee.pk).exists():
            raise WorkflowError(
                f"{assignee.get_username()} is not a member of {group.name}; "
                "choose a member or another group",
                field="assignee",
            )
    return {"assignee": assignee, "assignment_group": group}


UNCHANGED: Any = object()


def ticket_assign(
    *,
    ticket_id: int,
    assignee=UNCHANGED,
    group=UNCHANGED,
    user=None,
    actor: Actor | None = None,
    expected_revision: int | None = None,
) -> Ticket:
    """Assign an open ticket to a person and/or a group (None clears; leave out to keep).

    ``assignee`` is a user or a user name, ``group`` an AssignmentGroup or its name.
    """
    actor = actor or Actor.of(user)
    if assignee is UNCHANGED and group is UNCHANGED:
        raise WorkflowError("give an assignee, a group or both", field="non_field_errors")
    if isinstance(assignee, str):
        _storable(assignee, "assignee")
        found = get_user_model().objects.filter(username=assignee).first()
        if found is None:
            raise WorkflowError(f"no user {assignee!r}", field="assignee")
        assignee = found
    if isinstance(group, str):
        _storable(group, "group")
        found_group = AssignmentGroup.objects.filter(name=group).first()
        if found_group is None:
            raise WorkflowError(f"no assignment group {group!r}", field="group")
        group = found_group

    def decide(ticket: Ticket) -> Ticket:
        if not ticket.is_open:
            raise IllegalTransition(
                f"ticket {ticket.external_id} is {ticket.get_status_display().lower()}; "
                "only open tickets are assigned (reopen it first)",
                field="action",
            )
        new_assignee = ticket.assignee if assignee is UNCHANGED else assignee
        new_group = ticket.assignment_group if group is UNCHANGED else group
        moved = group is not UNCHANGED and assignee is UNCHANGED and new_assignee is not None and new_group
        if moved and not new_group.members.filter(pk=new_assignee.pk).exists():
            # Moving a ticket to another team leaves a person who is not in it unassigned.
            new_assignee = None
        fields = _assignment(ticket, new_assignee, new_group)
        if (fields["assignee"], fields["assignment_group"]) == (ticket.assignee, ticket.assignment_group):
            return ticket  # nothing changes: no new revision
        now = timezone.now()
        return _save(ticket, fields, action=TicketChange.Action.ASSIGN, actor=actor, reason="", now=now)

    return _retrying(decide, ticket_id=ticket_id, expected_revision=expected_revision)


# --- Work notes -------------------------------------------------------------------------------


def ticket_note_add(
    *,
    ticket_id: int,
    text: str,
    visibility: str = WorkNote.Visibility.INTERNAL,
    user=None,
    actor: Actor | None = None,
    expected_revision: int | None = None,
) -> WorkNote:
    """Add a work note (TMF621 note: author, date, text) to a ticket in any status."""
    actor = actor or Actor.of(user)
    text = _storable(text, "text").strip()
    if not text:
        raise WorkflowError("a note needs some text", field="text")
    if len(text) > MAX_NOTE:
        raise WorkflowError(f"at most {MAX_NOTE} characters (got {len(text)})", field="text")
    if visibility not in WorkNote.Visibility.values:
        raise WorkflowError(
            f"{visibility!r} is not one of {', '.join(WorkNote.Visibility.values)}", field="visibility"
        )

    def decide(ticket: Ticket) -> WorkNote:
        now = timezone.now()
        ticket_change_save(
            ticket,
            fields={},
            action=TicketChange.Action.NOTE,
            actor=actor,
            changes={"note": (None, text[:200])},
            now=now,
        )
        return WorkNote.objects.create(
            ticket=ticket,
            author=actor.name,
            user=actor.user,
            text=text,
            visibility=visibility,
            created_at=now,
        )

    return _retrying(decide, ticket_id=ticket_id, expected_revision=expected_revision)
