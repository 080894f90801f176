"""Reads for the server-rendered pages, built on repair_center.selectors so the UI and API agree."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from repair_center.models import Site, Ticket, TicketErrorCode, TicketEvent
from repair_center.selectors import ticket_detail, ticket_list

# Most urgent first; a CASE keeps the sort in the database, where pagination happens.
_PRIORITY_RANK = Case(
    *(When(priority=value, then=Value(rank)) for rank, value in enumerate(Ticket.Priority.values)),
    default=Value(len(Ticket.Priority.values)),
    output_field=IntegerField(),
)
SORTS = {
    "newest": ("Newest first", [F("opened_at").desc(nulls_last=True), "-id"]),
    "oldest": ("Oldest first", [F("opened_at").asc(nulls_last=True), "id"]),
    "priority": ("Priority, then oldest", ["priority_rank", F("opened_at").asc(nulls_last=True), "id"]),
}
DEFAULT_SORT = "newest"


@dataclass(frozen=True, slots=True)
class QueueFilters:
    site: str = ""
    region: str = ""
    status: str = ""
    priority: str = ""
    error_code: str = ""
    q: str = ""
    sort: str = DEFAULT_SORT


def ticket_queue(*, filters: QueueFilters) -> QuerySet[Ticket]:
    """Tickets for the queue page, filtered and sorted, each with its first error code annotated.

    The first code comes from a subquery, not a prefetch, so a page costs the same queries
    however many tickets or codes it holds."""
    first_code = TicketErrorCode.objects.filter(ticket=OuterRef("pk")).order_by("position")
    # The queue never shows the long text fields; leave them in the database.
    tickets = (
        ticket_list()
        .defer("description", "resolution_notes")
        .annotate(
            top_code=Subquery(
                first_code.annotate(shown=Coalesce("error_code__code", "raw_code")).values("shown")[:1]
            ),
            top_code_id=Subquery(first_code.values("error_code_id")[:1]),
            priority_rank=_PRIORITY_RANK,
        )
    )
    if filters.site:
        tickets = tickets.filter(site__code__iexact=filters.site)
    if filters.region:
        tickets = tickets.filter(site__region=filters.region)
    if filters.status:
        tickets = tickets.filter(status=filters.status)
    if filters.priority:
        tickets = tickets.filter(priority=filters.priority)
    if filters.error_code:
        # Either the raw vendor code or the curated code it maps to finds the ticket.
        code = filters.error_code
        tickets = tickets.filter(
            Exists(
                TicketErrorCode.objects.filter(ticket=OuterRef("pk")).filter(
                    Q(raw_code__iexact=code) | Q(error_code__code__iexact=code)
                )
            )
        )
    if filters.q:
        tickets = tickets.filter(
            Q(title__icontains=filters.q)
            | Q(description__icontains=filters.q)
            | Q(external_id__icontains=filters.q)
        )
    _, ordering = SORTS.get(filters.sort, SORTS[DEFAULT_SORT])
    return tickets.order_by(*ordering)


def region_choices() -> list[str]:
    return list(
        Site.objects.exclude(region="").order_by("region").values_list("region", flat=True).distinct()
    )


def ticket_page(*, ticket_id: int) -> Ticket:
    """One ticket with everything its page shows; raises Ticket.DoesNotExist."""
    return ticket_detail().prefetch_related("repair_records").get(pk=ticket_id)


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


def relative_to_opening(at: datetime, opened_at: datetime | None) -> str:
    if opened_at is None:
        return ""
    seconds = int((at - opened_at).total_seconds())
    if abs(seconds) < 60:
        return "when the ticket opened"
    minutes = abs(seconds) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    span = f"{days}d {hours:02d}h {minutes:02d}m" if days else f"{hours}h {minutes:02d}m"
    return f"-{span} before the ticket opened" if seconds < 0 else f"+{span} after the ticket opened"
