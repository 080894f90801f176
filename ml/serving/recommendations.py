"""Recommendations for stored tickets, cached per (ticket revision, model version).

A ticket's recommendation is computed once per revision and champion: an edited ticket (new
revision) or a new champion gives a new row; asking again reads the row. New and changed tickets
get theirs in the background (ml.tasks.recommend_tickets, after repair_center's tickets_changed).
"""

import logging
from collections.abc import Iterable

from django.db import IntegrityError, transaction

from ml.core.dataset import ticket_code_map, ticket_context
from ml.models.recommendations import Recommendation
from ml.serving import confidence, inference
from repair_center import selectors

logger = logging.getLogger(__name__)


def ticket_input(ticket) -> tuple[dict, dict]:
    """(canonical document, context with code map) exactly as training saw such a ticket."""
    context = ticket_context(ticket)
    context["code_map"] = ticket_code_map(ticket)
    return selectors.ticket_document(ticket), context


def recommendation_for_ticket(ticket, *, refresh: bool = False) -> dict:
    """The recommendation payload for the ticket's current revision from the current champion.

    Without a champion: a payload whose model_version is None. ``refresh`` recomputes and replaces
    the cached row.
    """
    predictor = inference.load_for_source(ticket.source)
    if predictor is None:
        return inference.no_model_payload()
    if not refresh:
        cached = Recommendation.objects.filter(
            ticket_id=ticket.pk, ticket_revision=ticket.revision, model_version_id=predictor.version_id
        ).first()
        if cached is not None:
            return confidence.apply(cached.payload)
    if not hasattr(ticket, "_prefetched_objects_cache") or "codes" not in ticket._prefetched_objects_cache:
        ticket = selectors.ticket_detail().get(pk=ticket.pk)
    document, context = ticket_input(ticket)
    payload = inference.recommend(document, predictor=predictor, context=context, exclude_ticket_id=ticket.pk)
    _store(ticket, predictor.version_id, payload)
    return payload


def _store(ticket, version_id: int, payload: dict) -> Recommendation:
    top = (payload.get("recommendations") or [{}])[0]
    fields = {
        "payload": payload,
        "abstained": payload["abstained"],
        "top_resolution": top.get("resolution", ""),
        "top_confidence": top.get("confidence", 0.0),
    }
    key = {"ticket_id": ticket.pk, "ticket_revision": ticket.revision, "model_version_id": version_id}
    try:
        with transaction.atomic():
            row, _ = Recommendation.objects.update_or_create(**key, defaults=fields)
            _announce(ticket, payload)
    except IntegrityError:  # a worker stored the same revision meanwhile; the last answer wins
        Recommendation.objects.filter(**key).update(**fields)
        row = Recommendation.objects.get(**key)
    return row


def _announce(ticket, payload: dict) -> None:
    """Tell subscribed ticketing systems (webhook recommendation.ready) about a fresh answer."""
    try:
        from ml.core.webhooks import webhook_emit
    except ImportError:  # webhooks not part of this build
        return
    from ml.serving.tmf_events import tmf_announce_recommendation

    tmf_announce_recommendation(ticket.pk, payload)
    webhook_emit(
        "recommendation.ready",
        {
            "ticket_id": ticket.pk,
            "source": ticket.source,
            "external_id": ticket.external_id,
            "ticket_revision": ticket.revision,
            **payload,
        },
    )


def recommend_tickets(ticket_ids: Iterable[int]) -> dict:
    """Compute missing recommendations for these tickets, each with the champion of its source's
    label set (or the default's); a no-op without one."""
    ids = sorted(set(ticket_ids))
    tickets = list(selectors.ticket_detail().filter(pk__in=ids))
    predictors = {source: inference.load_for_source(source) for source in {t.source for t in tickets}}
    served = sorted({p.version_id for p in predictors.values() if p is not None})
    if not served:
        return {"model_version": None, "computed": 0, "cached": 0, "missing": 0}
    done = set(
        Recommendation.objects.filter(ticket_id__in=ids, model_version_id__in=served).values_list(
            "ticket_id", "ticket_revision", "model_version_id"
        )
    )
    computed = cached = 0
    for ticket in tickets:
        predictor = predictors[ticket.source]
        if predictor is None:
            continue
        if (ticket.pk, ticket.revision, predictor.version_id) in done:
            cached += 1
            continue
        recommendation_for_ticket(ticket)
        computed += 1
    return {
        "model_version": served[0] if len(served) == 1 else served,
        "computed": computed,
        "cached": cached,
        "missing": len(ids) - len(tickets),
    }


def refresh_listing(code: str) -> int:
    """Open tickets whose recommendation for their current revision lists ``code``, a code merged
    into another since, are answered again: the fix then shows once, as the code kept. Returns how
    many."""
    from ml.models import ModelVersion
    from repair_center.models import Ticket

    rows = Recommendation.objects.filter(
        ticket__status__in=Ticket.OPEN_STATUSES, model_version__status=ModelVersion.Status.CHAMPION
    ).values_list("ticket_id", "ticket_revision", "ticket__revision", "payload")
    ids = {
        ticket_id
        for ticket_id, revision, current, payload in rows.iterator()
        if revision == current and code in {r.get("resolution") for r in payload.get("recommendations") or []}
    }
    for ticket in selectors.ticket_detail().filter(pk__in=ids):
        recommendation_for_ticket(ticket, refresh=True)
    return len(ids)


def carry_forward(revisions: dict[int, tuple[int, int]]) -> int:
    """Copy each ticket's recommendations from an old revision to its new one.

    For changes that leave what the model reads alone (status actions, assignment, notes, a
    resolution label): the answer for the new revision is the same, so it is copied rather than
    computed again. Returns the rows written."""
    if not revisions:
        return 0
    rows = Recommendation.objects.filter(
        ticket_id__in=list(revisions), ticket_revision__in={old for old, _ in revisions.values()}
    )
    copies = [
        Recommendation(
            ticket_id=row.ticket_id,
            ticket_revision=revisions[row.ticket_id][1],
            model_version_id=row.model_version_id,
            payload=row.payload,
            abstained=row.abstained,
            top_resolution=row.top_resolution,
            top_confidence=row.top_confidence,
        )
        for row in rows
        if row.ticket_revision == revisions[row.ticket_id][0]
    ]
    return len(Recommendation.objects.bulk_create(copies, ignore_conflicts=True))


def latest_for_tickets(ticket_ids: Iterable[int]) -> dict[int, Recommendation]:
    """The newest stored recommendation per ticket (for queues), whatever revision or version."""
    rows = Recommendation.objects.filter(ticket_id__in=list(ticket_ids)).order_by(
        "ticket_id", "-ticket_revision", "-created_at", "-id"
    )
    out: dict[int, Recommendation] = {}
    for row in rows:
        out.setdefault(row.ticket_id, row)
    return out
