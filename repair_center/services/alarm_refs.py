"""The alarms a ticket names as its own (``models.TicketAlarm``).

A ticket that a fault-management desk opened from an alarm says which: TMF621 ``relatedEntity`` of
role alarm, or the canonical document's ``alarms``. Each name is the alarm's externalAlarmId as its
fault-management system sent it, or its path in TicketAI's TMF642 API
(``/tmf-api/alarm/v4/alarm/<id>``). Correlation always gives the ticket the alarms it names. A ticket
that names no element and no site takes those of the first named alarm stored.

An externalAlarmId may come before its alarm: it waits, and the alarm, once stored, is given to the
tickets that named it (``claim``, from the task that correlates new alarms). Should two
fault-management systems use one externalAlarmId, the name is read as the alarm raised last.
"""

from collections.abc import Iterable, Mapping, Sequence

from django.db import transaction
from django.db.models import Q

from repair_center.documents import OWN_ALARM_PATH, OWN_ALARM_RE
from repair_center.models import Alarm, Ticket, TicketAlarm, TicketErrorCode, TicketEvent
from repair_center.services import alarm_links
from repair_center.services.catalogue import CodeMapper

# (alarm id, element id, site id, the element's vendor) of the alarm a name stands for.
Found = tuple[int, int | None, int | None, str]


def _found(alarms: Q) -> dict[str, Found]:
    """These alarms by both their names (externalAlarmId and TMF642 path); of alarms sharing an
    externalAlarmId, the one raised last."""
    out: dict[str, Found] = {}
    for pk, external_id, element_id, site_id, vendor in (
        Alarm.objects.filter(alarms)
        .order_by("raised_at", "id")
        .values_list("id", "external_id", "element_id", "site_id", "element__vendor")
    ):
        out[external_id] = out[f"{OWN_ALARM_PATH}{pk}"] = (pk, element_id, site_id, vendor or "")
    return out


def resolve(refs: Iterable[str]) -> dict[str, Found]:
    """The stored alarm each of these names stands for; names of no stored alarm are left out."""
    refs = set(refs)
    if not refs:
        return {}
    own = {int(found.group(1)) for ref in refs if (found := OWN_ALARM_RE.match(ref))}
    found = _found(Q(pk__in=own) | Q(external_id__in=refs))
    return {ref: found[ref] for ref in refs if ref in found}


def place(refs: Sequence[str], found: Mapping[str, Found]) -> tuple[int | None, int | None, str]:
    """(element id, site id, vendor) of the first of these names that stands for a stored alarm."""
    for ref in refs:
        if ref in found:
            return found[ref][1:]
    return None, None, ""


def write(
    named: Mapping[int, Sequence[str]], found: Mapping[str, Found], *, replacing: Iterable[int] = ()
) -> None:
    """Store the names tickets give (ticket id -> names in order), after dropping those of the
    tickets ``replacing`` (updated ones) held before."""
    if replacing := list(replacing):
        TicketAlarm.objects.filter(ticket_id__in=replacing).delete()
    TicketAlarm.objects.bulk_create(
        [
            TicketAlarm(ticket_id=ticket_id, position=position, ref=ref, alarm_id=found.get(ref, (None,))[0])
            for ticket_id, refs in named.items()
            for position, ref in enumerate(refs)
        ],
        batch_size=2000,
    )


def named_alarms(ticket_ids: Iterable[int]) -> dict[int, frozenset[int]]:
    """The stored alarms each ticket names (ticket id -> alarm ids), for correlation.Span.of: those
    its source named with those their fault-management system links them with, and those of the
    alarm groups a rule opened it for (services/grouping.py)."""
    ticket_ids = list(ticket_ids)
    if not ticket_ids:
        return {}
    out: dict[int, set[int]] = {}
    for ticket_id, alarm_id in TicketAlarm.objects.filter(
        ticket_id__in=ticket_ids, alarm__isnull=False
    ).values_list("ticket_id", "alarm_id"):
        out.setdefault(ticket_id, set()).add(alarm_id)
    if out:  # and the alarms its fault-management system links with those (services/alarm_links.py)
        linked = alarm_links.linked_with(set().union(*out.values()))
        out = {ticket_id: set().union(*(linked[i] for i in ids)) for ticket_id, ids in out.items()}
    for ticket_id, alarm_id in Alarm.objects.filter(group__ticket_id__in=ticket_ids).values_list(
        "group__ticket_id", "id"
    ):
        out.setdefault(ticket_id, set()).add(alarm_id)
    return {ticket_id: frozenset(ids) for ticket_id, ids in out.items()}


@transaction.atomic
def claim(alarm_ids: Iterable[int]) -> list[int]:
    """Give these (new or changed) alarms to the tickets that named them before they were stored;
    a ticket with no element and no site takes the alarm's. Returns every ticket naming one of them."""
    alarm_ids = list(alarm_ids)
    by_ref = _found(Q(pk__in=alarm_ids))
    # Only an externalAlarmId waits for its alarm: a TMF642 path names an alarm stored already (the
    # id is ours), so one naming no alarm (deleted by retention) must not be given a later one.
    external = [ref for ref in by_ref if not OWN_ALARM_RE.match(ref)]
    _give(list(TicketAlarm.objects.filter(alarm__isnull=True, ref__in=external)), by_ref)
    return sorted(set(TicketAlarm.objects.filter(alarm_id__in=alarm_ids).values_list("ticket_id", flat=True)))


def waiting_names(docs: Iterable[tuple[int, Sequence[str]]], found: Mapping[str, Found]) -> list[int]:
    """Of these (ticket id, names) just written, the tickets with an externalAlarmId no stored alarm had."""
    return [
        ticket_id
        for ticket_id, refs in docs
        if any(ref not in found and not OWN_ALARM_RE.match(ref) for ref in refs)
    ]


@transaction.atomic
def claim_for(ticket_ids: Iterable[int]) -> list[int]:
    """Give these tickets' waiting names the alarms stored since; returns the tickets given one.

    Run once a ticket write has committed: an alarm and the ticket naming it are often sent at the
    same moment, and an alarm stored while the ticket's write was open saw no name to give itself to
    (``claim``), as the write saw no alarm."""
    waiting = [
        row
        for row in TicketAlarm.objects.filter(ticket_id__in=list(ticket_ids), alarm__isnull=True)
        if not OWN_ALARM_RE.match(row.ref)
    ]
    by_ref = _found(Q(external_id__in={row.ref for row in waiting}))
    waiting = [row for row in waiting if row.ref in by_ref]
    _give(waiting, by_ref)
    return sorted({row.ticket_id for row in waiting})


def _give(waiting: list[TicketAlarm], by_ref: Mapping[str, Found]) -> None:
    """Point these waiting names at their alarms; a ticket with no element and no site takes the
    alarm's, and its codes are mapped again for that element's vendor."""
    for row in waiting:
        row.alarm_id = by_ref[row.ref][0]
    TicketAlarm.objects.bulk_update(waiting, ["alarm"], batch_size=2000)
    placed = []
    for row in waiting:
        _, element_id, site_id, _ = by_ref[row.ref]
        if (element_id or site_id) and Ticket.objects.filter(
            pk=row.ticket_id, element__isnull=True, element_ref="", site__isnull=True
        ).update(element_id=element_id, site_id=site_id):
            placed.append(row.ticket_id)
    if placed:
        _map_codes(placed)


def _map_codes(ticket_ids: list[int]) -> None:
    """Map these tickets' unmapped codes and events for their element's vendor (they were written
    without an element, so without a vendor)."""
    mapper = CodeMapper()
    for model in (TicketErrorCode, TicketEvent):
        for pk, raw_code, vendor in (
            model.objects.filter(ticket_id__in=ticket_ids, error_code__isnull=True)
            .exclude(raw_code="")
            .values_list("pk", "raw_code", "ticket__element__vendor")
        ):
            if (code_id := mapper.map(raw_code, vendor or "")) is not None:
                model.objects.filter(pk=pk).update(error_code_id=code_id)
