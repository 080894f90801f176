"""Saving a change to one ticket: a conditional update on its revision, and a row in its history.

Every change made by a person or an integration (status actions, assignment, notes, a resolution
label) goes through ``ticket_change_save``: the row is updated only if its revision is still the
one the change was decided on (``UPDATE ... WHERE revision = read``), so two people acting at once
cannot both win, and the caller learns which revision it lost to.
"""

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from repair_center.models import Ticket, TicketChange
from repair_center.signals import ticket_workflow_changed


class WorkflowError(ValueError):
    """A change that cannot be made; ``field`` names the input at fault, ``code`` the kind."""

    code = "invalid"

    def __init__(self, message: str, *, field: str = "non_field_errors"):
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def errors(self) -> dict[str, list[str]]:
        return {self.field: [self.message]}


class IllegalTransition(WorkflowError):
    code = "illegal_transition"


class StaleRevision(WorkflowError):
    """The ticket changed since the caller read it."""

    code = "stale_revision"

    def __init__(self, *, ticket_id: int, expected: int, current: int):
        super().__init__(
            f"ticket #{ticket_id} is at revision {current}, not {expected}: it changed since you read it; "
            "read it again and retry",
            field="revision",
        )
        self.expected, self.current = expected, current


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change: a user, or a named system (``source:noc``) without one."""

    name: str
    user: Any = None

    @classmethod
    def of(cls, user) -> "Actor":
        if user is None or not getattr(user, "is_authenticated", False):
            return cls("system")
        return cls(user.get_username(), user)


def check_revision(ticket: Ticket, expected: int | None) -> None:
    if expected is not None and expected != ticket.revision:
        raise StaleRevision(ticket_id=ticket.pk, expected=expected, current=ticket.revision)


def json_value(value: Any) -> Any:
    """A field value as the history stores it (times as ISO 8601, model rows as their name)."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@transaction.atomic
def ticket_change_save(
    ticket: Ticket,
    *,
    fields: dict[str, Any],
    action: str,
    actor: Actor,
    changes: dict[str, tuple[Any, Any]],
    reason: str = "",
    now: datetime,
) -> Ticket:
    """Write ``fields`` and bump the revision if the row is still at ``ticket.revision``.

    Raises StaleRevision when another change got there first. ``changes`` maps field names to
    (before, after) for the history; ``ticket`` is updated in place and returned.
    """
    read = ticket.revision
    updated = Ticket.objects.filter(pk=ticket.pk, revision=read).update(
        **fields, revision=read + 1, updated_at=now
    )
    if not updated:
        current = Ticket.objects.filter(pk=ticket.pk).values_list("revision", flat=True).first()
        raise StaleRevision(ticket_id=ticket.pk, expected=read, current=current or 0)
    for name, value in fields.items():
        setattr(ticket, name, value)
    ticket.revision, ticket.updated_at = read + 1, now
    TicketChange.objects.create(
        ticket=ticket,
        revision=ticket.revision,
        action=action,
        actor=actor.name,
        user=actor.user,
        changes={k: {"from": json_value(a), "to": json_value(b)} for k, (a, b) in changes.items()},
        reason=reason,
        changed_at=now,
    )
    revisions = {ticket.pk: (read, ticket.revision)}
    # After commit: listeners (ml carries the ticket's recommendation over) never see a rolled-back row.
    transaction.on_commit(lambda: ticket_workflow_changed.send(sender=Ticket, revisions=revisions))
    return ticket


# --- Changes a source system makes through tickets_upsert --------------------------------------

# Columns tickets_upsert reads from the stored row: to keep an engineer's status and to record what
# a source changed.
TRACKED = (
    "title",
    "status",
    "source_status",
    "priority",
    "site_id",
    "element_ref",
    "resolution_id",
    "opened_at",
    "resolved_at",
)
CHANGE_COLUMNS = ("ticket_id", "revision", "action", "actor", "user_id", "changes", "reason", "changed_at")


def keep_workflow_status(doc, stored: dict | None):
    """The document with the stored status when the source sends the status it sent last time.

    Engineers move tickets through the lifecycle here; a source that resends (or updates) a ticket
    without changing its own status has not seen that work and must not undo it. A status the source
    has changed wins."""
    if stored is None or doc.status != stored["source_status"] or doc.status == stored["status"]:
        return doc
    return dataclasses.replace(doc, status=stored["status"])


def source_change_rows(pairs: list[tuple[dict, Ticket]], *, now: datetime) -> list[tuple]:
    """History rows (CHANGE_COLUMNS) of tickets a source updated, from (stored row, new ticket)
    pairs: the tracked fields that changed, or "document" when only the text, codes or events did."""
    from repair_center.models import ResolutionCode, Site

    site_ids = {p[0]["site_id"] for p in pairs} | {p[1].site_id for p in pairs}
    resolution_ids = {p[0]["resolution_id"] for p in pairs} | {p[1].resolution_id for p in pairs}
    shown = {
        "site_id": dict(Site.objects.filter(pk__in=site_ids - {None}).values_list("id", "code")),
        "resolution_id": dict(
            ResolutionCode.objects.filter(pk__in=resolution_ids - {None}).values_list("id", "code")
        ),
    }
    rows = []
    for before, ticket in pairs:
        changes = {}
        for name in TRACKED:
            old, new = before[name], getattr(ticket, name)
            if name == "source_status" or old == new:
                continue
            if name in shown:
                old, new = shown[name].get(old, old), shown[name].get(new, new)
            changes[name.removesuffix("_id")] = {"from": json_value(old), "to": json_value(new)}
        if not changes:
            changes["document"] = {"from": None, "to": "description, codes or events changed"}
        actor = f"source:{ticket.source}"
        rows.append((ticket.id, ticket.revision, TicketChange.Action.UPDATE, actor, None, changes, "", now))
    return rows
