"""Reading tickets: querysets shaped for the API and UI, and export back to the canonical document."""

from collections.abc import Collection, Iterator

from django.db.models import Prefetch, Q, QuerySet
from django.db.models.functions import Left

from repair_center.documents import _iso
from repair_center.models import AlarmGroup, RepairRecord, Ticket, TicketAlarm, TicketErrorCode, TicketEvent


def ticket_list() -> QuerySet[Ticket]:
    return Ticket.objects.select_related("site", "element", "resolution", "assignee", "assignment_group")


def ticket_detail() -> QuerySet[Ticket]:
    return ticket_list().prefetch_related(
        Prefetch("codes", queryset=TicketErrorCode.objects.select_related("error_code").order_by("position")),
        Prefetch("events", queryset=TicketEvent.objects.select_related("error_code").order_by("position")),
    )


def ticket_with_names() -> QuerySet[Ticket]:
    """ticket_detail with the alarms each ticket names, for its canonical document (ticket_document)."""
    return ticket_detail().prefetch_related(
        Prefetch("alarm_refs", queryset=TicketAlarm.objects.order_by("position"))
    )


def ticket_document(ticket: Ticket) -> dict:
    """The canonical document of a stored ticket (raw codes as ingested, so a re-import is unchanged).

    Expects ``codes``, ``events`` and ``alarm_refs`` prefetched (see ticket_with_names)."""
    document = {
        "source": ticket.source,
        "external_id": ticket.external_id,
        "title": ticket.title,
        "description": ticket.description,
        "status": ticket.status,
        "priority": ticket.priority,
        "opened_at": _iso(ticket.opened_at),
        "resolved_at": _iso(ticket.resolved_at),
        "site": ticket.site.code if ticket.site_id else None,
        "element": ticket.element_ref or None,
        "error_codes": [c.raw_code for c in ticket.codes.all()],
        "events": [
            {"at": _iso(e.at), "kind": e.kind, "code": e.raw_code or None, "attrs": e.attrs}
            for e in ticket.events.all()
        ],
        "resolution": ticket.resolution.code if ticket.resolution_id else None,
        "resolution_notes": ticket.resolution_notes,
        "attributes": dict(ticket.attributes or {}),
    }
    if alarms := [r.ref for r in ticket.alarm_refs.all()]:
        document["alarms"] = alarms  # only when named, as the document's content hash has it
    return document


def ticket_documents(queryset: QuerySet[Ticket], *, chunk_size: int = 1000) -> Iterator[dict]:
    """Stream canonical documents for export in constant memory."""
    queryset = queryset.order_by("id")
    last_id = 0
    while True:
        ids = list(queryset.filter(id__gt=last_id).values_list("id", flat=True)[:chunk_size])
        if not ids:
            return
        chunk = list(ticket_with_names().filter(pk__in=ids).order_by("id"))
        if not chunk:
            return
        for ticket in chunk:
            yield ticket_document(ticket)
        last_id = chunk[-1].id


def labelled_tickets(*, sources: Collection[str] = ()) -> QuerySet[Ticket]:
    """Tickets with a resolution label, shaped for building training sets (codes and events in order)."""
    queryset = ticket_detail().filter(resolution__isnull=False).exclude(status=Ticket.Status.CANCELLED)
    if sources:
        queryset = queryset.filter(source__in=list(sources))
    return queryset.order_by("opened_at", "id")


def ticket_count(*, sources: Collection[str] = ()) -> int:
    queryset = Ticket.objects.exclude(status=Ticket.Status.CANCELLED)
    if sources:
        queryset = queryset.filter(source__in=list(sources))
    return queryset.count()


def repair_findings_by_ticket() -> dict[int, set[str]]:
    """Repair-centre findings per ticket id, matching records linked by id or by (source, external id)."""
    findings: dict[int, set[str]] = {}
    records = RepairRecord.objects.exclude(finding=RepairRecord.Finding.PENDING)
    for ticket_id, finding in records.filter(ticket__isnull=False).values_list("ticket_id", "finding"):
        findings.setdefault(ticket_id, set()).add(finding)
    # A record imported before its ticket stays unlinked; match it on the ticket's key instead.
    unlinked = records.filter(ticket__isnull=True).exclude(ticket_external_id="")
    keys: dict[tuple[str, str], set[str]] = {}
    for source, external_id, finding in unlinked.values_list(
        "ticket_source", "ticket_external_id", "finding"
    ):
        keys.setdefault((source, external_id), set()).add(finding)
    if keys:
        by_external_id = Ticket.objects.filter(external_id__in={ext for _, ext in keys})
        for pk, source, external_id in by_external_id.values_list("id", "source", "external_id"):
            for finding in keys.get((source, external_id), ()) | keys.get(("", external_id), set()):
                findings.setdefault(pk, set()).add(finding)
    return findings


SUMMARY_DESCRIPTION = 200


def ticket_summaries(ids: Collection[int]) -> dict[int, dict]:
    """{id: {"external_id", "title", "description", "resolution"}} for the given ticket ids that still
    exist; the description cut to its first SUMMARY_DESCRIPTION characters."""
    rows = Ticket.objects.filter(pk__in=list(ids)).values(
        "id", "external_id", "title", "resolution__code", head=Left("description", SUMMARY_DESCRIPTION)
    )
    return {
        r["id"]: {
            "external_id": r["external_id"],
            "title": r["title"],
            "description": r["head"],
            "resolution": r["resolution__code"],
        }
        for r in rows
    }


def ticket_sites(keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], int | None]:
    """{(source, external_id): site id or None} for the keys that name a stored ticket."""
    by_source: dict[str, set[str]] = {}
    for source, external_id in keys:
        by_source.setdefault(source, set()).add(external_id)
    sites: dict[tuple[str, str], int | None] = {}
    for source, ids in by_source.items():
        rows = Ticket.objects.filter(source=source, external_id__in=ids).values_list("external_id", "site_id")
        sites.update(((source, external_id), site_id) for external_id, site_id in rows)
    return sites


def ticket_waiting_alarms(ticket: Ticket) -> list[str]:
    """The names of alarms the ticket names that are not stored (not received yet, or deleted)."""
    waiting = TicketAlarm.objects.filter(ticket=ticket, alarm__isnull=True).order_by("position")
    return list(waiting.values_list("ref", flat=True))


def ticket_alarm_groups(ticket: Ticket) -> list:
    """The alarm groups of a ticket: the one a rule opened it for, and those of its correlated alarms."""
    alarm_ids = [
        e.attrs["alarm"] for e in ticket.events.all() if isinstance(e.attrs, dict) and "alarm" in e.attrs
    ]
    if not alarm_ids:  # a ticket a rule opened holds its group's alarms; without any, no query
        return []
    return list(
        AlarmGroup.objects.filter(Q(ticket=ticket) | Q(alarms__id__in=alarm_ids))
        .distinct()
        .select_related("root__error_code")
        .order_by("opened_at", "id")
    )
