"""Reads for the ticket page, built on repair_center.selectors so the UI and API agree (the queue's
are in frontend/queue.py)."""

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import dateformat, timezone
from django.utils.dateparse import parse_datetime

from repair_center.models import Ticket, TicketChange, TicketEvent
from repair_center.selectors import ticket_detail


def ticket_page(*, ticket_id: int) -> Ticket:
    """One ticket with everything its page shows; raises Ticket.DoesNotExist."""
    return ticket_detail().prefetch_related("repair_records", "work_notes", "changes").get(pk=ticket_id)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    event: TicketEvent
    offset: str


def timeline(ticket: Ticket) -> list[TimelineEntry]:
    """The ticket's events, each placed relative to the moment the ticket was opened."""
    return [
        TimelineEntry(event=e, offset=relative_to_opening(e.at, ticket.opened_at))
        for e in ticket.events.all()
    ]


def relative_to_opening(at: datetime | None, opened_at: datetime | None) -> str:
    if at is None or opened_at is None:  # an untimed event says "time unknown" on its own
        return ""
    seconds = int((at - opened_at).total_seconds())
    if abs(seconds) < 60:
        return "when the ticket opened"
    minutes = abs(seconds) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    span = f"{days}d {hours:02d}h {minutes:02d}m" if days else f"{hours}h {minutes:02d}m"
    return f"-{span} before the ticket opened" if seconds < 0 else f"+{span} after the ticket opened"


# --- Activity: work notes, changes and feedback on one timeline ----------------------------------

ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")
FIELD_NAMES = {
    "status": "Status",
    "assignee": "Assignee",
    "assignment_group": "Group",
    "resolution": "Resolution",
    "resolution_notes": "Resolution notes",
    "resolved_at": "Resolved at",
    "resolved_by": "Resolved by",
    "acknowledged_by": "Acknowledged by",
    "priority": "Priority",
    "title": "Title",
    "site": "Site",
    "element_ref": "Element",
    "opened_at": "Opened at",
    "document": "Ticket",
}


@dataclass(slots=True)
class Activity:
    at: datetime
    kind: str  # "note", "change", "feedback"
    actor: str
    summary: str
    text: str = ""
    details: list[tuple[str, str, str]] = field(default_factory=list)  # (field, from, to)
    tag: str = ""


def _shown(name: str, value) -> str:
    if value in (None, ""):
        return "—"
    if name.endswith("_at") and isinstance(value, str) and ISO_TIME.match(value):
        # The history stores times as ISO 8601; the page shows them as it shows every other time.
        # Only time fields: a title may look like one ("2024-02-30T10:00" is no date at all).
        try:
            at = parse_datetime(value.replace("Z", "+00:00"))
        except ValueError:
            at = None
        if at is not None:
            return dateformat.format(timezone.localtime(at) if timezone.is_aware(at) else at, "Y-m-d H:i")
    if name == "status":
        try:
            return Ticket.Status(value).label
        except ValueError:
            return str(value)
    return str(value)


def activity(ticket: Ticket, feedback: list) -> list[Activity]:
    """The ticket's timeline, oldest first: every change (with each field before and after), every
    work note and every verdict on its recommendation. Expects ticket_page's prefetches."""
    entries = []
    for change in ticket.changes.all():
        if change.action == TicketChange.Action.NOTE:
            continue  # the note itself is on the timeline
        details = [
            (FIELD_NAMES.get(name, name), _shown(name, values.get("from")), _shown(name, values.get("to")))
            for name, values in (change.changes or {}).items()
        ]
        entries.append(
            Activity(
                change.changed_at,
                "change",
                change.actor,
                change.get_action_display(),
                change.reason,
                details,
                tag=change.action,
            )
        )
    for note in ticket.work_notes.all():
        entries.append(
            Activity(note.created_at, "note", note.author, "Work note", note.text, tag=note.visibility)
        )
    for item in feedback:
        chosen = f" {item.chosen_resolution.code}" if item.chosen_resolution_id else ""
        summary = {
            "accept": "Will try",
            "reject": "Rejected the recommendation",
            "correct": "Corrected to",
        }.get(item.action, item.get_action_display())
        entries.append(
            Activity(
                item.created_at, "feedback", item.username, summary + chosen, item.notes, tag=item.action
            )
        )
    return sorted(entries, key=lambda entry: entry.at)


def changes_since(*, ticket_id: int, revision: int) -> list[TicketChange]:
    """The ticket's changes after ``revision``, oldest first: what someone did meanwhile."""
    return list(TicketChange.objects.filter(ticket_id=ticket_id, revision__gt=revision).order_by("revision"))


def change_summary(change: TicketChange) -> str:
    """One change in words: "zed: Work started (Status: Acknowledged → In progress)"."""
    details = "; ".join(
        f"{FIELD_NAMES.get(name, name)}: {_shown(name, v.get('from'))} → {_shown(name, v.get('to'))}"
        for name, v in (change.changes or {}).items()
    )
    return f"{change.actor}: {change.get_action_display()}" + (f" ({details})" if details else "")
