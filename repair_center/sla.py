"""Ticket age and SLA: each priority has a target time from opening to resolution (settings).

The due time is computed when read, from ``opened_at`` (or, for a ticket the source sent without
one, the time it was stored) and the target of its priority, so a changed target applies to every
ticket at once. The same rules exist as Python (one ticket) and as SQL (the queue's filters and
its most-urgent-first order).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Case, DateTimeField, ExpressionWrapper, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from repair_center.models import Ticket


def target(priority: str) -> timedelta:
    """The SLA target of a priority (an unknown one gets medium's)."""
    hours = settings.TICKETAI_SLA_HOURS
    return timedelta(hours=hours.get(priority, hours["medium"]))


def _start(ticket: Ticket) -> datetime | None:
    return ticket.opened_at or ticket.created_at


def due_at(ticket: Ticket) -> datetime | None:
    start = _start(ticket)
    return start + target(ticket.priority) if start else None


def _warning(priority: str) -> timedelta:
    """How long before the due time a ticket counts as due soon."""
    return target(priority) * (100 - settings.TICKETAI_SLA_DUE_SOON_PERCENT) / 100


@dataclass(frozen=True, slots=True)
class SlaState:
    state: str  # "breached", "due_soon", "on_track", "met", "missed", "none"
    label: str
    due_at: datetime | None
    age: timedelta | None

    @property
    def urgent(self) -> bool:
        return self.state in ("breached", "due_soon")

    @property
    def running(self) -> bool:
        """The ticket is open, so its clock still runs (its age is how long it has been open)."""
        return self.state in ("breached", "due_soon", "on_track")


def state(ticket: Ticket, *, now: datetime | None = None) -> SlaState:
    """Where the ticket stands against its SLA: open tickets are breached, due soon or on track;
    resolved and closed ones met or missed it; cancelled ones have none."""
    now = now or timezone.now()
    start, due = _start(ticket), due_at(ticket)
    if start is None or due is None or ticket.status == Ticket.Status.CANCELLED:
        return SlaState("none", "No SLA", due, None)
    if not ticket.is_open:
        finished = ticket.resolved_at or ticket.status_changed_at or now
        if finished <= due:
            return SlaState("met", "SLA met", due, finished - start)
        return SlaState("missed", f"SLA missed by {duration(finished - due)}", due, finished - start)
    age = now - start
    if now >= due:
        return SlaState("breached", f"Breached {duration(now - due)} ago", due, age)
    if now >= due - _warning(ticket.priority):
        return SlaState("due_soon", f"Due in {duration(due - now)}", due, age)
    return SlaState("on_track", f"Due in {duration(due - now)}", due, age)


def duration(delta: timedelta) -> str:
    """A short human duration: "40 s", "45 min", "3 h 20 min", "2 d 4 h"."""
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


# --- The same rules in SQL ---------------------------------------------------------------------


def due_expression():
    """The due time as a database expression (for ordering: most urgent first)."""
    start = Coalesce(F("opened_at"), F("created_at"))
    return ExpressionWrapper(
        start
        + Case(
            *(When(priority=p, then=Value(target(p))) for p in Ticket.Priority.values),
            default=Value(target(Ticket.Priority.MEDIUM)),
        ),
        output_field=DateTimeField(),
    )


def urgent_q(*, now: datetime | None = None, due_soon: bool = True) -> Q:
    """Open tickets past their due time (and, with ``due_soon``, inside its warning window).

    Written per priority as ``opened_at < now - target`` so the database compares a column with a
    constant instead of computing every ticket's due time."""
    now = now or timezone.now()
    condition = Q()
    for priority in Ticket.Priority.values:
        limit = now - target(priority) + (_warning(priority) if due_soon else timedelta(0))
        opened = Q(opened_at__lt=limit) | Q(opened_at__isnull=True, created_at__lt=limit)
        condition |= Q(priority=priority) & opened
    return Q(status__in=Ticket.OPEN_STATUSES) & condition
