"""Outbound webhooks: POST TicketAI's events to subscribed systems, signed, retried with backoff.

``webhook_emit`` writes one WebhookDelivery per interested subscription in the caller's
transaction and enqueues ``ml.tasks.deliver_webhook`` on commit, so a rolled-back change never
announces anything. Each attempt first claims the delivery with a conditional UPDATE (status
open and due), so a duplicate task or the sweeper can never send the same attempt twice; a
claim is a lease that the sweeper takes back when a worker died holding it.

Receivers verify ``X-TicketAI-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` with the
subscription's secret and use ``X-TicketAI-Delivery`` (stable across retries) for idempotency.
Connection errors, timeouts, 429 and 5xx are retried with exponential backoff up to
TICKETAI_WEBHOOK_MAX_ATTEMPTS; any other answer outside 2xx is final.
"""

import email.utils
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ml.models.webhooks import (
    ALL_EVENTS,
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    WebhookDelivery,
    WebhookSubscription,
    sign,
)
from ticketai import outbound
from ticketai.broker import enqueue
from ticketai.sealed import Unopenable

logger = logging.getLogger(__name__)

MAX_BACKOFF_S = 3600.0
# The sweeper leaves a due delivery this long to its own scheduled task before enqueueing it again.
SWEEP_GRACE_S = 60
_RETRY_STATUSES = {429} | set(range(500, 600))
Status = WebhookDelivery.Status


def webhook_emit(event: str, payload: dict) -> list[int]:
    """Create a delivery of ``event`` for every active subscription that wants it; sent after commit."""
    if event not in ALL_EVENTS:
        raise ValueError(f"unknown webhook event {event!r}; choose from {', '.join(ALL_EVENTS)}")
    # Few subscriptions, and JSON list containment differs between databases: filter in Python.
    subscriptions = [s for s in WebhookSubscription.objects.filter(active=True) if s.wants(event)]
    if not subscriptions:
        return []
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(subscription=s, event=event, payload=payload, next_attempt_at=now)
            for s in subscriptions
        ]
    )
    ids = [d.pk for d in deliveries]
    transaction.on_commit(lambda: _enqueue(ids))
    return ids


def _enqueue(ids: list[int]) -> None:
    for delivery_id in ids:
        enqueue("ml.tasks.deliver_webhook", delivery_id)


def backoff_s(attempts: int) -> float:
    """Delay before the next try after ``attempts`` failed ones: the base delay doubled each time."""
    return min(settings.TICKETAI_WEBHOOK_BACKOFF_S * 2 ** max(attempts - 1, 0), MAX_BACKOFF_S)


@dataclass(frozen=True, slots=True)
class AttemptResult:
    delivery_id: int
    status: str  # the delivery's status after this attempt, or "skipped" when there was nothing to do
    attempts: int = 0
    status_code: int | None = None
    error: str = ""
    retry_in: float | None = None  # seconds until the next try, when one is scheduled

    def to_json(self) -> dict:
        return {
            "delivery": self.delivery_id,
            "status": self.status,
            "attempts": self.attempts,
            "status_code": self.status_code,
            "error": self.error,
            "retry_in": self.retry_in,
        }


def webhook_attempt(delivery_id: int) -> AttemptResult:
    """Make one attempt at a due delivery and record its outcome; does nothing if it is not due."""
    now = timezone.now()
    # A subscription switched off since the event was emitted gets nothing more.
    WebhookDelivery.objects.filter(pk=delivery_id, status__in=WebhookDelivery.OPEN).filter(
        subscription__active=False
    ).update(status=Status.FAILED, last_error="the subscription is inactive", next_attempt_at=None)
    lease = settings.TICKETAI_WEBHOOK_TIMEOUT_S + 30
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status__in=WebhookDelivery.OPEN, next_attempt_at__lte=now
    ).update(
        status=Status.SENDING,
        attempts=F("attempts") + 1,
        next_attempt_at=now + timedelta(seconds=lease),
        updated_at=now,
    )
    if not claimed:
        return AttemptResult(delivery_id, "skipped")
    delivery = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    refused = _unsigned(delivery.subscription) or _refused(delivery.subscription.url)
    status_code, error, retry_after = (None, refused, None) if refused else _post(delivery)

    fields: dict = {"last_status_code": status_code, "last_error": error[:2000], "updated_at": timezone.now()}
    retry_in = None
    if status_code is not None and 200 <= status_code < 300:
        fields.update(status=Status.DELIVERED, delivered_at=timezone.now(), next_attempt_at=None)
    elif refused or (status_code is not None and status_code not in _RETRY_STATUSES):
        fields.update(status=Status.FAILED, next_attempt_at=None)
    elif delivery.attempts >= settings.TICKETAI_WEBHOOK_MAX_ATTEMPTS:
        fields.update(
            status=Status.FAILED,
            next_attempt_at=None,
            last_error=f"gave up after {delivery.attempts} attempts; last: {error}"[:2000],
        )
    else:
        retry_in = backoff_s(delivery.attempts)
        if retry_after is not None:
            retry_in = min(max(retry_in, retry_after), MAX_BACKOFF_S)
        fields.update(status=Status.RETRYING, next_attempt_at=timezone.now() + timedelta(seconds=retry_in))
    # Conditional on still holding the claim: a lease the sweeper took back is no longer ours.
    WebhookDelivery.objects.filter(pk=delivery_id, status=Status.SENDING, attempts=delivery.attempts).update(
        **fields
    )
    log = logger.info if fields["status"] != Status.FAILED else logger.warning
    log(
        "webhook delivery #%s (%s to %s) attempt %s: %s %s",
        delivery_id,
        delivery.event,
        delivery.subscription.url,
        delivery.attempts,
        status_code or "-",
        fields["status"],
    )
    return AttemptResult(delivery_id, fields["status"], delivery.attempts, status_code, error, retry_in)


def _unsigned(subscription: WebhookSubscription) -> str:
    """Why the delivery cannot be signed, or '': a secret sealed under a key this server lacks."""
    if isinstance(subscription.secret, Unopenable):
        return (
            "the subscription's secret was sealed under a SECRET_KEY this server does not have: "
            "add that key to SECRET_KEY_FALLBACKS and deliver again, or give the subscription a new secret"
        )
    return ""


def _refused(url: str) -> str:
    """Why the URL may not be reached now (the outbound guard, at send time), or ''."""
    try:
        outbound.check_url(url)
    except outbound.OutboundRefused as e:
        return f"refused: {e}"
    return ""


def _post(delivery: WebhookDelivery) -> tuple[int | None, str, float | None]:
    """POST the delivery once: (status code or None, error text, Retry-After seconds or None)."""
    body = delivery.body()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "TicketAI-Webhooks/1",
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.pk),
        SIGNATURE_HEADER: sign(delivery.subscription.secret, body),
    }
    try:
        # Redirects are not followed: the signed body goes only to the URL the admin configured;
        # every connection is checked again by the guard (DNS may have changed since the check).
        with outbound.client(timeout=settings.TICKETAI_WEBHOOK_TIMEOUT_S) as client:
            response = client.post(delivery.subscription.url, content=body, headers=headers)
    except httpx.TimeoutException as e:
        return None, f"timeout: {e}", None
    except httpx.HTTPError as e:
        return None, f"{type(e).__name__}: {e}", None
    if 200 <= response.status_code < 300:
        return response.status_code, "", None
    error = outbound.describe_response(response)  # never the body: the receiver's words stay there
    if 300 <= response.status_code < 400:
        error = f"HTTP {response.status_code}: redirects are not followed; fix the URL"
    return response.status_code, error, _retry_after(response.headers.get("Retry-After"))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def webhook_due_ids(*, limit: int = 1000) -> list[int]:
    """Open deliveries whose next try (or lost lease) is overdue: their task was lost or never sent."""
    cutoff = timezone.now() - timedelta(seconds=SWEEP_GRACE_S)
    return list(
        WebhookDelivery.objects.filter(status__in=WebhookDelivery.OPEN, next_attempt_at__lte=cutoff)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )


def webhook_redeliver(delivery_id: int) -> bool:
    """Queue a finished (or waiting) delivery for another try now, with a fresh attempt budget."""
    now = timezone.now()
    updated = (
        WebhookDelivery.objects.filter(pk=delivery_id)
        .exclude(status=Status.SENDING)
        .update(status=Status.PENDING, attempts=0, next_attempt_at=now, delivered_at=None, updated_at=now)
    )
    if updated:
        transaction.on_commit(lambda: _enqueue([delivery_id]))
    return bool(updated)
