"""Labelling a ticket's resolution by hand (an engineer accepting or correcting a recommendation).

Who wins when the source system sends the ticket again: the engineer's label is kept while the
source sends no resolution of its own (a re-import of the same document is ``unchanged``, and
other changes are taken around the label); a source that sends a resolution wins, and when it
differs from the engineer's the ticket stops counting as engineer-labelled. An engineer-labelled
ticket is one with ``resolved_by`` set: nothing else writes that field.

After a hand label the stored ``content_hash`` is the hash of the ticket's current canonical
document, so exporting and re-importing it (or a source echoing the label back) is unchanged.
"""

import dataclasses
import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from repair_center.documents import DocumentError, TicketDoc, parse_ticket
from repair_center.models import ResolutionCode, Ticket, TicketChange
from repair_center.selectors import ticket_detail, ticket_document
from repair_center.services.catalogue import (
    find_resolution,
    resolution_key,
    resolution_names,
    several_codes_error,
    spelled_like_several,
)
from repair_center.services.history import Actor, StaleRevision, ticket_change_save

OPEN_STATUSES = Ticket.OPEN_STATUSES


class ResolutionError(ValueError):
    """The resolution cannot be applied (unknown code, missing ticket)."""


def ticket_content_hash(ticket: Ticket) -> str:
    """The content hash tickets_upsert would compute for this ticket's canonical document."""
    document = ticket_document(ticket)
    try:
        return parse_ticket(document, default_source=ticket.source).content_hash()
    except DocumentError:
        # A row written outside the upsert (admin, fixtures) may not be a valid document; hash it
        # the same way so the value stays deterministic.
        payload = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()


def ticket_resolve(
    *, ticket_id: int, resolution_code: str, notes: str = "", resolved_by: str, user=None
) -> Ticket:
    """Set a ticket's resolution label by hand; bumps its revision and content hash when anything changed.

    An open ticket becomes resolved (resolved now, unless it already had a time). Empty ``notes``
    keep the notes already there. The change is kept in the ticket's history.
    """
    resolution = find_resolution(resolution_code)
    if resolution is None:
        several = spelled_like_several([resolution_code], resolution_names()).get(resolution_code)
        raise ResolutionError(
            several_codes_error(resolution_code, several)
            if several
            else f"{resolution_code!r} is not in the resolution catalogue"
        )
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _label(ticket_id, resolution, notes, Actor(resolved_by, user))
        except StaleRevision:
            if attempt == 2:  # another change landed between our read and our write, three times
                raise
    raise AssertionError("unreachable")


def _label(ticket_id: int, resolution: ResolutionCode, notes: str, actor: Actor) -> Ticket:
    try:
        ticket = ticket_detail().get(pk=ticket_id)
    except Ticket.DoesNotExist:
        raise ResolutionError(f"ticket #{ticket_id} does not exist") from None
    before = {name: getattr(ticket, name) for name in _LABEL_FIELDS}
    ticket.resolution = resolution
    if notes:
        ticket.resolution_notes = notes
    ticket.resolved_by = actor.name
    if ticket.status in OPEN_STATUSES:
        ticket.status = Ticket.Status.RESOLVED
    if ticket.status == Ticket.Status.RESOLVED and ticket.resolved_at is None:
        now = timezone.now()
        ticket.resolved_at = max(now, ticket.opened_at) if ticket.opened_at else now
    content_hash = ticket_content_hash(ticket)
    stored = Ticket.objects.values_list("content_hash", "resolved_by").get(pk=ticket_id)
    if stored == (content_hash, actor.name):
        return ticket  # the same label again: nothing changed, no new revision
    after = {name: getattr(ticket, name) for name in _LABEL_FIELDS}
    for name, value in before.items():  # written by ticket_change_save, on the row as it was read
        setattr(ticket, name, value)
    changes = {
        name: (str(before[name]) if name == "resolution" and before[name] else before[name], value)
        for name, value in after.items()
        if value != before[name]
    }
    if "resolution" in changes:
        changes["resolution"] = (changes["resolution"][0], resolution.code)
    now = timezone.now()
    fields = {**after, "content_hash": content_hash}
    action = TicketChange.Action.LABEL
    if "status" in changes:
        action = TicketChange.Action.RESOLVE
        fields.update(status_changed_at=now, status_change_reason="")
    return ticket_change_save(ticket, fields=fields, action=action, actor=actor, changes=changes, now=now)


_LABEL_FIELDS = ("resolution", "resolution_notes", "resolved_by", "status", "resolved_at")


# --- Keeping the engineer's label when the source sends the ticket again ------------------------


@dataclass(frozen=True, slots=True)
class EngineerLabel:
    resolution: str
    notes: str
    status: str
    resolved_at: datetime | None
    resolved_by: str


def engineer_labels(ticket_ids: Collection[int]) -> dict[int, EngineerLabel]:
    """The hand-set labels of these tickets, by ticket id (tickets without one are left out)."""
    if not ticket_ids:
        return {}
    rows = (
        Ticket.objects.filter(pk__in=list(ticket_ids), resolution__isnull=False)
        .exclude(resolved_by="")
        .values_list("id", "resolution__code", "resolution_notes", "status", "resolved_at", "resolved_by")
    )
    return {pk: EngineerLabel(*rest) for pk, *rest in rows}


def keep_engineer_label(
    doc: TicketDoc, label: EngineerLabel | None, names: Mapping[str, int] | None = None
) -> tuple[TicketDoc, str]:
    """The document to store for an incoming source document, and the ``resolved_by`` to keep.

    A source document without a resolution takes the engineer's label, notes and the resolved
    status it implied (unless the source itself closed or cancelled the ticket); one with a resolution
    wins, keeping ``resolved_by`` only when it names the engineer's fix (by ``names``: resolution ids
    by code, alias and spelling, as the write path reads them).
    """
    if label is None:
        return doc, ""
    if doc.resolution:
        return doc, label.resolved_by if _same_fix(doc.resolution, label.resolution, names) else ""
    status = doc.status
    if status in OPEN_STATUSES and label.status not in OPEN_STATUSES:
        status = label.status
    merged = dataclasses.replace(
        doc,
        resolution=label.resolution,
        resolution_notes=label.notes or doc.resolution_notes,
        status=status,
        resolved_at=doc.resolved_at or label.resolved_at,
    )
    return merged, label.resolved_by


def _same_fix(a: str, b: str, names: Mapping[str, int] | None) -> bool:
    if names and a in names and b in names:
        return names[a] == names[b]
    return resolution_key(a) == resolution_key(b)
