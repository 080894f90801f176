"""TMF621 notifications to registered hubs, through the signed, retried webhooks (ml/core/webhooks.py).

repair_center says which tickets changed (tickets_changed, ticket_workflow_changed, after commit);
the history rows of the new revisions say what changed: a ticket at revision 1 with no history is
new (TroubleTicketCreateEvent), a change of status is a TroubleTicketStatusChangeEvent (and a
TroubleTicketResolvedEvent when it is now resolved), anything else (notes, assignment, content) a
TroubleTicketAttributeValueChangeEvent. A fresh recommendation is a TicketAIRecommendationReadyEvent
(TicketAI's extension). The body is the TMF621 event with the ticket as GET answers it.
"""

import logging
import uuid
from collections.abc import Iterable

from django.utils import timezone

from ml.core.webhooks import webhook_emit
from ml.models.recommendations import Recommendation
from ml.models.webhooks import WebhookSubscription
from repair_center.models import Ticket, TicketChange
from repair_center.tmf import troubleticket as tt

logger = logging.getLogger(__name__)

CREATE = "TroubleTicketCreateEvent"
STATUS_CHANGE = "TroubleTicketStatusChangeEvent"
ATTRIBUTE_CHANGE = "TroubleTicketAttributeValueChangeEvent"
RESOLVED = "TroubleTicketResolvedEvent"
RECOMMENDATION_READY = "TicketAIRecommendationReadyEvent"


def hubs_listening() -> bool:
    return WebhookSubscription.objects.filter(kind=WebhookSubscription.Kind.TMF621, active=True).exists()


def event_body(event_type: str, ticket: dict, **extra) -> dict:
    """A TMF621 notification: eventId, eventTime, eventType and the ticket under event.troubleTicket."""
    return {
        "eventId": uuid.uuid4().hex,
        "eventTime": timezone.now().isoformat().replace("+00:00", "Z"),
        "eventType": event_type,
        "event": {"troubleTicket": ticket},
        **extra,
    }


def _events_of(changes: list[TicketChange]) -> list[str]:
    events = []
    for change in changes:
        status = change.changes.get("status")
        if status is not None:
            events.append(STATUS_CHANGE)
            if status.get("to") == Ticket.Status.RESOLVED:
                events.append(RESOLVED)
        else:
            events.append(ATTRIBUTE_CHANGE)
    return list(dict.fromkeys(events))  # one of each per ticket and batch, in order


def _emit(events_by_ticket: dict[int, list[str]]) -> int:
    wanted = [pk for pk, events in events_by_ticket.items() if events]
    if not wanted:
        return 0
    tickets = list(tt.troubleticket_queryset().filter(pk__in=wanted).order_by("id"))
    emitted = 0
    for ticket, body in zip(tickets, tt.representations(tickets), strict=True):
        for event in events_by_ticket[ticket.pk]:
            emitted += len(webhook_emit(event, event_body(event, body)))
    return emitted


def tmf_announce_changed(ticket_ids: Iterable[int]) -> int:
    """Notify hubs of tickets a source created or updated (tickets_changed); returns deliveries made.

    A ticket no source has updated yet was created (work on it in the same request, such as the
    notes of a TMF621 POST, is announced by tmf_announce_worked); else its newest source update
    says what changed."""
    if not hubs_listening():
        return 0
    ids = sorted(set(ticket_ids))
    updates: dict[int, TicketChange] = {}
    for change in TicketChange.objects.filter(ticket_id__in=ids, action=TicketChange.Action.UPDATE).order_by(
        "ticket_id", "revision", "id"
    ):
        updates[change.ticket_id] = change  # the newest wins
    present = Ticket.objects.filter(pk__in=ids).values_list("id", flat=True)
    return _emit({pk: _events_of([updates[pk]]) if pk in updates else [CREATE] for pk in present})


def tmf_announce_worked(revisions: dict[int, tuple[int, int]]) -> int:
    """Notify hubs of status actions, notes, assignment and labels (ticket_workflow_changed)."""
    if not hubs_listening():
        return 0
    changes: dict[int, list[TicketChange]] = {}
    for change in TicketChange.objects.filter(ticket_id__in=list(revisions)).order_by("revision", "id"):
        old, new = revisions[change.ticket_id]
        if old < change.revision <= new:
            changes.setdefault(change.ticket_id, []).append(change)
    return _emit({pk: _events_of(rows) for pk, rows in changes.items()})


def tmf_announce_recommendation(ticket_id: int, payload: dict) -> int:
    """Notify hubs that the ticket has a fresh recommendation (the TicketAI extension event)."""
    if not hubs_listening():
        return 0
    ticket = tt.troubleticket_queryset().filter(pk=ticket_id).first()
    if ticket is None:
        return 0
    [body] = tt.representations([ticket])
    extension = {
        "recommendation": {k: payload.get(k) for k in ("model_version", "abstained", "recommendations")}
    }
    return len(webhook_emit(RECOMMENDATION_READY, event_body(RECOMMENDATION_READY, body, **extension)))


# --- The recommendation as a TMF621 note -----------------------------------------------------------


def recommendation_note(recommendation: Recommendation) -> dict:
    """The recommendation of a ticket's current revision as a TMF621 Note by RECOMMENDATION_AUTHOR."""
    payload = recommendation.payload or {}
    ranked = payload.get("recommendations") or []
    if recommendation.abstained or not ranked:
        text = "TicketAI has no confident recommendation for this ticket: it needs an expert."
    else:
        lines = [f"{r.get('resolution')} ({float(r.get('confidence', 0.0)):.0%})" for r in ranked[:3]]
        text = "Recommended resolution: " + "; then ".join(lines)
        top = ranked[0]
        if (top.get("record") or {}).get("held_out") == 0 and top.get("record_statement"):
            text += f". {top.get('resolution')}: {top['record_statement']}"  # a rare fix says so
    return {
        "id": f"recommendation-{recommendation.ticket_revision}",
        "author": tt.RECOMMENDATION_AUTHOR,
        "date": recommendation.created_at.isoformat().replace("+00:00", "Z"),
        "text": text,
        "@type": tt.RECOMMENDATION_NOTE_TYPE,
    }


def recommendation_notes(sender, tickets, **kwargs) -> dict[int, list[dict]]:
    """repair_center.tmf's ticket_notes: each ticket's newest recommendation for its current revision."""
    revisions = {t.pk: t.revision for t in tickets}
    newest: dict[int, Recommendation] = {}
    for row in Recommendation.objects.filter(
        ticket_id__in=list(revisions), ticket_revision__in=set(revisions.values())
    ).order_by("created_at", "id"):
        if row.ticket_revision == revisions[row.ticket_id]:
            newest[row.ticket_id] = row
    return {pk: [recommendation_note(row)] for pk, row in newest.items()}
