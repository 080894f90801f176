"""Editing one stored ticket's document (the API's PUT and PATCH).

The stored document is read, merged and written under the ticket's row lock: two edits at once
(one PATCHing the title, another the description) then both land, where reading before the lock
let the later one write back the other's field as it was."""

from typing import Any

from django.db import transaction

from repair_center.documents import DocumentError
from repair_center.models import Ticket
from repair_center.selectors import ticket_document, ticket_with_names
from repair_center.services.history import StaleRevision
from repair_center.services.tickets import ItemResult, tickets_upsert

IDENTITY_FIELDS = ("source", "external_id")


def ticket_edit(
    *, ticket_id: int, body: Any, partial: bool, expected_revision: int | None = None
) -> ItemResult:
    """Merge ``body`` into the stored document (partial) or replace it; source and external_id stay.

    Raises DocumentError for a body that is not an object or that changes the ticket's identity, and
    StaleRevision when ``expected_revision`` is given and the ticket is no longer at it."""
    if not isinstance(body, dict):
        raise DocumentError({"non_field_errors": ["a ticket document must be a JSON object"]})
    with transaction.atomic():
        current = Ticket.objects.select_for_update().values_list("revision", flat=True).get(pk=ticket_id)
        if expected_revision is not None and expected_revision != current:
            raise StaleRevision(ticket_id=ticket_id, expected=expected_revision, current=current)
        stored = ticket_document(ticket_with_names().get(pk=ticket_id))
        changed = {
            field: ["cannot be changed; it identifies the ticket"]
            for field in IDENTITY_FIELDS
            if field in body and body[field] != stored[field]
        }
        if changed:
            raise DocumentError(changed)
        identity = {field: stored[field] for field in IDENTITY_FIELDS}
        document = {**stored, **body} if partial else {**body, **identity}
        [result] = tickets_upsert(documents=[document], source=stored["source"])
    return result
