"""The ticket queue: saved views, filters and sorts, as reads built on repair_center's selectors.

Filtering, sorting and counting touch only the narrow ticket row (ticket_queue returns ids); the
joins and subqueries a row shows run for the one page (queue_rows), so a page costs about the same
with 100 or 100,000 tickets behind it.
"""

from dataclasses import dataclass

from django.apps import apps
from django.db.models import Case, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from ml.serving import confidence
from repair_center import search, sla
from repair_center.models import ErrorCode, ErrorCodeAlias, Site, Ticket, TicketErrorCode
from repair_center.selectors import ticket_list

# Most urgent first; a CASE keeps the sort in the database, where pagination happens.
_PRIORITY_RANK = Case(
    *(When(priority=value, then=Value(rank)) for rank, value in enumerate(Ticket.Priority.values)),
    default=Value(len(Ticket.Priority.values)),
    output_field=IntegerField(),
)
SORTS = {
    "urgent": ("Most urgent first (SLA due, then priority)", ["sla_due", "priority_rank", "id"]),
    "newest": ("Newest first", [F("opened_at").desc(nulls_last=True), "-id"]),
    "oldest": ("Oldest first", [F("opened_at").asc(nulls_last=True), "id"]),
    "priority": ("Priority, then oldest", ["priority_rank", F("opened_at").asc(nulls_last=True), "id"]),
}


@dataclass(frozen=True, slots=True)
class View:
    key: str
    label: str
    description: str
    only_open: bool = True
    sort: str = "urgent"


VIEWS = {
    v.key: v
    for v in (
        View("my_open", "My open", "Open tickets assigned to you or to one of your groups."),
        View("my_groups", "My groups", "Open tickets of your groups, whoever has them."),
        View("unassigned", "Unassigned", "Open tickets nobody has taken yet."),
        View("needs_expert", "Needs an expert", "Open tickets where the model is unsure."),
        View("breaching", "Breaching SLA", "Open tickets past their SLA or due soon."),
        View("all", "All", "Every ticket, in any status.", only_open=False, sort="newest"),
    )
}
DEFAULT_VIEW = "my_open"
OPEN = "open"  # the status filter's "any open status"


@dataclass(frozen=True, slots=True)
class QueueFilters:
    view: str = DEFAULT_VIEW
    site: str = ""
    region: str = ""
    status: str = ""
    priority: str = ""
    error_code: str = ""
    q: str = ""
    sort: str = ""

    @property
    def active(self) -> int:
        """How many filters narrow the view (shown on the collapsed filter button)."""
        return sum(
            bool(getattr(self, name)) for name in ("site", "region", "status", "priority", "error_code", "q")
        )

    @property
    def sort_key(self) -> str:
        return self.sort if self.sort in SORTS else VIEWS[self.view].sort


def recommendation_model():
    """ml's cached Recommendation rows, or None before that model exists."""
    try:
        return apps.get_model("ml", "Recommendation")
    except LookupError:
        return None


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


def _view_filter(tickets: QuerySet, view: str, user) -> QuerySet:
    if view in ("my_open", "my_groups"):
        groups = list(user.assignment_groups.values_list("pk", flat=True)) if user else []
        mine = Q(assignment_group_id__in=groups)
        if view == "my_open" and user is not None:
            mine |= Q(assignee_id=user.pk)
        return tickets.filter(mine) if groups or view == "my_open" else tickets.none()
    if view == "unassigned":
        return tickets.filter(assignee__isnull=True)
    if view == "breaching":
        return tickets.filter(sla.urgent_q())
    if view == "needs_expert":
        model = recommendation_model()
        if model is None:
            return tickets.none()
        # The model is unsure about the ticket as it stands (its current revision): the one rule.
        unsure = model.objects.filter(
            confidence.abstains_q(), ticket=OuterRef("pk"), ticket_revision=OuterRef("revision")
        )
        return tickets.filter(Exists(unsure))
    return tickets


def ticket_queue(*, filters: QueueFilters, user=None) -> QuerySet[Ticket]:
    """The ids of the tickets the queue shows, filtered and sorted."""
    view = VIEWS.get(filters.view, VIEWS[DEFAULT_VIEW])
    tickets = Ticket.objects.all()
    if view.only_open or filters.status == OPEN:
        tickets = tickets.filter(status__in=Ticket.OPEN_STATUSES)
    if filters.status and filters.status != OPEN:
        tickets = tickets.filter(status=filters.status)
    tickets = _view_filter(tickets, view.key, user)
    if filters.site:
        # As people type it: a prefix finds CS-COAST-001 from "cs-coast".
        tickets = tickets.filter(site__code__istartswith=filters.site)
    if filters.region:
        tickets = tickets.filter(site__region=filters.region)
    if filters.priority:
        tickets = tickets.filter(priority=filters.priority)
    if filters.error_code:
        tickets = tickets.filter(_error_code_filter(filters.error_code))
    if filters.q:
        tickets = tickets.filter(search.ticket_text_q(filters.q))
    sort = filters.sort_key
    if sort in ("urgent", "priority"):
        tickets = tickets.annotate(priority_rank=_PRIORITY_RANK)
    if sort == "urgent":
        tickets = tickets.annotate(sla_due=sla.due_expression())
    return tickets.order_by(*SORTS[sort][1]).values_list("pk", flat=True)


def _recommendation_annotations() -> dict:
    """Each ticket's stored recommendation: read from ml's rows, never inferred in a page request."""
    model = recommendation_model()
    if model is None:
        return {}
    # The newest row whatever its revision (as ml.serving.recommendations.latest_for_tickets): a ticket just
    # changed keeps showing what was recommended until its new revision is scored.
    newest = model.objects.filter(ticket=OuterRef("pk")).order_by("-ticket_revision", "-created_at", "-id")
    return {
        "rec_resolution": Subquery(newest.values("top_resolution")[:1]),
        "rec_confidence": Subquery(newest.values("top_confidence")[:1]),
        "rec_unfamiliar": Subquery(newest.values("payload__unfamiliar")[:1]),
    }


def queue_rows(ids: list[int]) -> list[Ticket]:
    """One page of the queue, in the given order, with SLA, first error code and recommendation."""
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
    out = [by_id[pk] for pk in ids if pk in by_id]
    for row in out:
        row.sla = sla.state(row)
        rec = getattr(row, "rec_confidence", None)
        row.rec_band = confidence.band(rec) if rec is not None else None
        unfamiliar = getattr(row, "rec_unfamiliar", None) is True
        row.rec_unsure = rec is not None and confidence.abstains(rec, unfamiliar=unfamiliar)
    return out


def region_choices() -> list[str]:
    return list(
        Site.objects.exclude(region="").order_by("region").values_list("region", flat=True).distinct()
    )
