"""Edge agents, how they enrol, the bundles they run and what they report back."""

import hashlib
import secrets
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone

from ml.models import locations
from repair_center.models import RESOLUTION_CODE_LENGTH
from ticketai.storable import agent_json


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class EnrolmentToken(models.Model):
    """A one-time token that lets one agent join one site; only its sha256 is stored."""

    site = models.ForeignKey("repair_center.Site", on_delete=models.CASCADE, related_name="enrolment_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    agent = models.ForeignKey("EdgeAgent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"enrolment for {self.site} ({'used' if self.used_at else 'unused'})"

    @classmethod
    def issue(cls, *, site, ttl: timedelta, note: str = "") -> tuple["EnrolmentToken", str]:
        """Create a token; the raw value is returned once and never stored."""
        raw = "enr_" + secrets.token_urlsafe(32)
        token = cls.objects.create(
            site=site, token_hash=hash_token(raw), note=note, expires_at=timezone.now() + ttl
        )
        return token, raw


class EdgeAgent(models.Model):
    """One enrolled agent; its token acts only for its own site."""

    site = models.ForeignKey("repair_center.Site", on_delete=models.CASCADE, related_name="edge_agents")
    name = models.CharField(max_length=200)
    token_hash = models.CharField(max_length=64, unique=True)
    # What an agent writes is bounded (ticketai.storable), so its admin page always renders.
    capabilities = models.JSONField(default=dict, blank=True, validators=[agent_json])
    model_version = models.CharField(max_length=100, blank=True, help_text="Bundle version it serves.")
    backlog = models.PositiveIntegerField(default=0, help_text="Predictions waiting in its outbox.")
    last_seen = models.DateTimeField(null=True, blank=True)
    last_status = models.JSONField(
        default=dict, blank=True, validators=[agent_json], help_text="Its last heartbeat's extra fields."
    )
    enrolled_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["site__code", "name"]

    def __str__(self) -> str:
        return f"{self.name} @ {self.site}"

    @property
    def is_authenticated(self) -> bool:  # DRF treats request.user as a user-like object
        return True


class EdgeBundle(models.Model):
    """A signed bundle file an agent can download (ml.core.bundles)."""

    class Kind(models.TextChoices):
        FULL = "full", "Full"
        DELTA = "delta", "Delta"

    model_version = models.ForeignKey(
        "ml.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="edge_bundles"
    )
    version = models.CharField(max_length=100, unique=True)
    path = models.CharField(max_length=1000, help_text="Relative to TICKETAI_EDGE_BUNDLE_DIR.")
    sha256 = models.CharField(max_length=64)
    bytes = models.PositiveBigIntegerField(default=0)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.FULL)
    base_version = models.CharField(max_length=100, blank=True, help_text="Delta: the bundle it patches.")
    metrics = models.JSONField(default=dict, blank=True)
    intended_tier = models.CharField(max_length=16, blank=True, help_text="Empty: any tier.")
    intended_site = models.ForeignKey(
        "repair_center.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    active = models.BooleanField(default=True, help_text="Offered to agents.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.version

    @property
    def file(self) -> Path:
        """The bundle's zip under the current TICKETAI_EDGE_BUNDLE_DIR."""
        return locations.resolved(self.path, settings.TICKETAI_EDGE_BUNDLE_DIR)


class EdgePrediction(models.Model):
    """One prediction made at the edge, delivered exactly once (idempotency_key is unique per agent)."""

    # The unique (agent, idempotency_key) index below serves lookups by agent; no index of its own.
    agent = models.ForeignKey(EdgeAgent, on_delete=models.CASCADE, related_name="predictions", db_index=False)
    # Indexed by (site, model_version) below; a second index on site alone only slows inserts.
    site = models.ForeignKey("repair_center.Site", on_delete=models.CASCADE, related_name="+", db_index=False)
    idempotency_key = models.CharField(max_length=100)  # unique per agent: see Meta.constraints
    source = models.CharField(max_length=64)
    external_id = models.CharField(max_length=200)
    ticket = models.ForeignKey(
        "repair_center.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_version = models.CharField(max_length=100)
    resolution = models.CharField(max_length=RESOLUTION_CODE_LENGTH)
    confidence = models.FloatField()
    latency_ms = models.FloatField()
    input_fingerprint = models.CharField(max_length=64, blank=True)
    # The agent's abstention (edge_agent/abstention.py); an agent older than these sends neither.
    abstained = models.BooleanField(default=False)
    abstain_reason = models.CharField(max_length=500, blank=True, default="")
    predicted_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-predicted_at"]
        indexes = [
            models.Index(fields=["source", "external_id"]),
            models.Index(fields=["site", "model_version"]),
        ]
        # A constraint rather than unique=True, which on PostgreSQL also builds a LIKE index on the
        # key (varchar_pattern_ops) that no query uses and every insert maintains.
        # Per agent: one agent's key never hides another agent's prediction as a "duplicate".
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "idempotency_key"], name="edgeprediction_agent_idempotency_key_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}/{self.external_id} -> {self.resolution}"


class EdgeReport(models.Model):
    """Metrics an agent reports (a local retraining, a refused bundle, ...), never raw tickets."""

    agent = models.ForeignKey(EdgeAgent, on_delete=models.CASCADE, related_name="reports")
    kind = models.CharField(max_length=64)
    metrics = models.JSONField(default=dict, blank=True, validators=[agent_json])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.agent} {self.kind}"
