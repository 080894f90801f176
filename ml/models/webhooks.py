"""Outbound webhooks: who wants which events, and the log of every delivery with its attempts."""

import hashlib
import hmac
import json
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from ticketai.outbound import validate_url
from ticketai.sealed import SealedField

RECOMMENDATION_READY = "recommendation.ready"
FEEDBACK_RECORDED = "feedback.recorded"
EVENTS = (RECOMMENDATION_READY, FEEDBACK_RECORDED)
# TMF621 hubs (/tmf-api/troubleTicket/v4/hub) get these, as TMF621 event bodies; the last is a
# TicketAI extension (docs/connect.md).
TMF621_EVENTS = (
    "TroubleTicketCreateEvent",
    "TroubleTicketStatusChangeEvent",
    "TroubleTicketAttributeValueChangeEvent",
    "TroubleTicketResolvedEvent",
    "TicketAIRecommendationReadyEvent",
)
ALL_EVENTS = EVENTS + TMF621_EVENTS
SIGNATURE_HEADER = "X-TicketAI-Signature"
EVENT_HEADER = "X-TicketAI-Event"
DELIVERY_HEADER = "X-TicketAI-Delivery"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def sign(secret: str, body: bytes) -> str:
    """The X-TicketAI-Signature value: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def validate_events(value) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError(f"give a list of one or more of: {', '.join(ALL_EVENTS)}")
    unknown = [str(v) for v in value if v not in ALL_EVENTS]
    if unknown:
        raise ValidationError(f"unknown events {', '.join(unknown)}; choose from {', '.join(ALL_EVENTS)}")


class WebhookSubscription(models.Model):
    """An external system that wants TicketAI's events POSTed to its URL, signed with a shared secret.

    A TMF621 hub (``kind`` tmf621, registered with POST /tmf-api/troubleTicket/v4/hub) gets each
    event as the TMF621 event itself; a TicketAI webhook gets TicketAI's envelope around it."""

    class Kind(models.TextChoices):
        TICKETAI = "ticketai", "TicketAI webhook"
        TMF621 = "tmf621", "TMF621 hub"

    name = models.CharField(max_length=100, blank=True)
    # Checked against the outbound guard on save and again on every connection (ticketai/outbound.py).
    url = models.URLField(
        max_length=2000, validators=[validate_url], help_text="http(s) URL that receives the POSTs."
    )
    # Stored sealed (ticketai/sealed.py): TicketAI signs with it, so it is kept, but not in the clear.
    secret = SealedField(default=new_secret, help_text="Shared secret for the HMAC-SHA256 signature.")
    events = models.JSONField(default=list, validators=[validate_events], help_text=", ".join(ALL_EVENTS))
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TICKETAI)
    query = models.CharField(max_length=500, blank=True, help_text="A TMF621 hub's query, as registered.")
    # Who registered a TMF621 hub: only they (or an admin) may unregister it. Kept when the user is
    # deleted, so the hub goes on until an admin removes it.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name or self.url

    def wants(self, event: str) -> bool:
        return self.active and event in self.events


class WebhookDelivery(models.Model):
    """One event for one subscription: its payload, how often it was tried and how it ended."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Waiting to retry"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    # A delivery in one of these may still be (re)tried; the others are final.
    OPEN = (Status.PENDING, Status.SENDING, Status.RETRYING)

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When it may be tried next (while sending: when the try is lost)."
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.event} -> {self.subscription_id} ({self.status})"

    def body(self) -> bytes:
        """The exact bytes POSTed (and signed); the same on every attempt."""
        if self.subscription.kind == WebhookSubscription.Kind.TMF621:
            return json.dumps(
                self.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode()
        envelope = {
            "id": self.pk,
            "event": self.event,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "data": self.payload,
        }
        return json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
