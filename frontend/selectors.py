"""Reads for the server-rendered pages, built on repair_center.selectors so the UI and API agree."""

from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.db.models import Case, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from repair_center.models import ErrorCode, ErrorCodeAlias, Site, Ticket, TicketErrorCode, TicketEvent
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
    needs_expert: str = ""
    sort: str = DEFAULT_SORT


def recommendation_model():
    """ml's cached Recommendation rows (contract C1), or None before that model exists."""
    try:
        return apps.get_model("ml", "Recommendation")
    except LookupError:
        return None


def _recommendation_annotations() -> dict:
    """Each ticket's stored recommendation: read from ml's rows, never inferred in a page request."""
    model = recommendation_model()
    if model is None:
        return {}
    # The newest row whatever its revision (as ml.serving.recommendations.latest_for_tickets): a ticket just
    # relabelled by feedback keeps showing what was recommended until its new revision is scored.
    newest = model.objects.filter(ticket=OuterRef("pk")).order_by("-ticket_revision", "-created_at", "-id")
    return {
        "rec_resolution": Subquery(newest.values("top_resolution")[:1]),
        "rec_confidence": Subquery(newest.values("top_confidence")[:1]),
        "rec_abstained": Subquery(newest.values("abstained")[:1]),
    }


def _error_code_filter(code: str) -> Q:
    """Tickets carrying the code, raw (any vendor's spelling) or curated, using indexed columns."""
    curated = ErrorCode.objects.filter(
        Q(code__iexact=code)
        | Q(pk__in=ErrorCodeAlias.objects.filter(raw_code__iexact=code).values("error_code_id"))
    ).values("pk")
    spellings = {code, code.upper(), code.lower()}
    # Two uncorrelated id lists, each hashed once, rather than an EXISTS per ticket.
    return Q(pk__in=TicketErrorCode.objects.filter(error_code_id__in=curated).values("ticket_id")) | Q(
        pk__in=TicketErrorCode.objects.filter(raw_code__in=spellings).values("ticket_id")
    )


def ticket_queue(*, filters: QueueFilters) -> QuerySet[Ticket]:
    """The ids of the tickets the queue shows, filtered and sorted.

    Only the narrow ticket row takes part in filtering, sorting and counting; the joins and
    subqueries a row needs for display run for the one page (queue_rows), so a page costs the
    same with 100 or 100,000 tickets behind it."""
    tickets = Ticket.objects.all()
    if filters.site:
        tickets = tickets.filter(site__code__iexact=filters.site)
    if filters.region:
        tickets = tickets.filter(site__region=filters.region)
    if filters.status:
        tickets = tickets.filter(status=filters.status)
    if filters.priority:
        tickets = tickets.filter(priority=filters.priority)
    if filters.error_code:
        tickets = tickets.filter(_error_code_filter(filters.error_code))
    if filters.q:
        tickets = tickets.filter(
            Q(title__icontains=filters.q)
            | Q(description__icontains=filters.q)
            | Q(external_id__icontains=filters.q)
        )
    if filters.needs_expert:
        model = recommendation_model()
        if model is None:
            return tickets.none().values_list("pk", flat=True)
        # Needs an expert: the model abstained on the ticket as it stands (its current revision).
        tickets = tickets.filter(
            Exists(
                model.objects.filter(
                    ticket=OuterRef("pk"), ticket_revision=OuterRef("revision"), abstained=True
                )
            )
        )
    _, ordering = SORTS.get(filters.sort, SORTS[DEFAULT_SORT])
    if filters.sort == "priority":
        tickets = tickets.annotate(priority_rank=_PRIORITY_RANK)
    return tickets.order_by(*ordering).values_list("pk", flat=True)


def queue_rows(ids: list[int]) -> list[Ticket]:
    """One page of the queue, in the given order, with first error code and recommendation."""
    first_code = TicketErrorCode.objects.filter(ticket=OuterRef("pk")).order_by("position")
    rows = (
        ticket_list()
        .filter(pk__in=ids)
        # The queue never shows the long text fields; leave them in the database.
        .defer("description", "resolution_notes")
        .annotate(
            top_code=Subquery(
                first_code.annotate(shown=Coalesce("error_code__code", "raw_code")).values("shown")[:1]
            ),
            top_code_id=Subquery(first_code.values("error_code_id")[:1]),
            **_recommendation_annotations(),
        )
    )
    by_id = {row.pk: row for row in rows}
    return [by_id[pk] for pk in ids if pk in by_id]


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
