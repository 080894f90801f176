from django.conf import settings
from django.db import models

from repair_center.models.catalogue import ErrorCode, ResolutionCode
from repair_center.models.sites import NetworkElement, Site
from repair_center.models.workflow import AssignmentGroup


class Ticket(models.Model):
    """A trouble ticket, keyed on (source system, external id) so upserts are idempotent."""

    class Status(models.TextChoices):
        # TM Forum TMF621 trouble-ticket lifecycle
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        IN_PROGRESS = "inProgress", "In progress"
        PENDING = "pending", "Pending"
        HELD = "held", "On hold"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"
        CANCELLED = "cancelled", "Cancelled"

    class Priority(models.TextChoices):
        CRITICAL = "critical", "Critical"
        HIGH = "high", "High"
        MEDIUM = "medium", "Medium"
        LOW = "low", "Low"

    # Not yet resolved, closed or cancelled: the tickets somebody still has to work on.
    OPEN_STATUSES = (Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.PENDING, Status.HELD)

    source = models.CharField(max_length=64)
    external_id = models.CharField(max_length=200)
    title = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACKNOWLEDGED)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.MEDIUM)
    opened_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="tickets")
    element = models.ForeignKey(
        NetworkElement, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    element_ref = models.CharField(
        max_length=120, blank=True, help_text="The element as the source named it (serial or name)."
    )
    resolution = models.ForeignKey(
        ResolutionCode, null=True, blank=True, on_delete=models.PROTECT, related_name="tickets"
    )
    resolution_notes = models.TextField(blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    # Extra fields of the source's export (category, service, customer impact, ...): flat
    # {name: string or number}, bounded by the canonical document (repair_center/documents.py).
    attributes = models.JSONField(default=dict, blank=True)
    # Who works on it (TMF621 relatedParty roles): a team and, once someone takes it, a person.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
    )
    assignment_group = models.ForeignKey(
        AssignmentGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    acknowledged_at = models.DateTimeField(
        null=True, blank=True, help_text="When a person acknowledged the ticket (took notice of it)."
    )
    acknowledged_by = models.CharField(max_length=150, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True, help_text="TMF621 statusChangeDate.")
    status_change_reason = models.CharField(
        max_length=500, blank=True, help_text="TMF621 statusChangeReason of the last status change."
    )
    source_status = models.CharField(
        max_length=16,
        blank=True,
        help_text="The status the source system last sent; a resend of it keeps the status engineers set.",
    )
    revision = models.PositiveIntegerField(default=1)
    content_hash = models.CharField(max_length=64, help_text="sha256 of the canonical document.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="unique_ticket_per_source")
        ]
        indexes = [
            models.Index(fields=["status", "priority"]),
            models.Index(fields=["opened_at"]),
            models.Index(fields=["site", "opened_at"]),
            # The web queue's default order (newest first, undated last): one index scan per page.
            models.Index(
                models.F("opened_at").desc(nulls_last=True),
                models.F("id").desc(),
                name="ticket_queue_newest_idx",
            ),
            # The queue's text search also has trigram indexes on UPPER(title), UPPER(description) and
            # UPPER(external_id), PostgreSQL only: see migration 0004_queue_filter_indexes.
        ]

    def __str__(self) -> str:
        return f"{self.source}/{self.external_id}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class TicketErrorCode(models.Model):
    """One error code raised on a ticket, in the order the source listed it."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="codes")
    position = models.PositiveSmallIntegerField()
    raw_code = models.CharField(max_length=64)
    error_code = models.ForeignKey(
        ErrorCode, null=True, blank=True, on_delete=models.PROTECT, related_name="ticket_codes"
    )

    class Meta:
        ordering = ["ticket", "position"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "position"], name="unique_ticket_code_position")
        ]
        # The queue's error-code filter reads ticket ids by curated and by raw code from the index
        # alone (index-only scans), never from the table.
        indexes = [
            models.Index(fields=["error_code", "ticket"], name="ticket_code_curated_idx"),
            models.Index(fields=["raw_code", "ticket"], name="ticket_code_raw_idx"),
        ]

    def __str__(self) -> str:
        return self.error_code.code if self.error_code_id else f"{self.raw_code} (unmapped)"

    @property
    def is_mapped(self) -> bool:
        return self.error_code_id is not None


class TicketEvent(models.Model):
    """One event of the ordered sequence that led up to (and through) the fault."""

    class Kind(models.TextChoices):
        ALARM_RAISED = "alarm_raised", "Alarm raised"
        ALARM_CLEARED = "alarm_cleared", "Alarm cleared"
        CONFIG_CHANGE = "config_change", "Configuration change"
        SOFTWARE_UPGRADE = "software_upgrade", "Software upgrade"
        MAINTENANCE_VISIT = "maintenance_visit", "Maintenance visit"
        KPI_BREACH = "kpi_breach", "KPI breach"
        WEATHER = "weather", "Weather"
        POWER = "power", "Power"
        OPERATOR_NOTE = "operator_note", "Operator note"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    position = models.PositiveSmallIntegerField()
    # Null when the source gave only the order of events (position keeps it).
    at = models.DateTimeField(null=True, blank=True)
    # The built-in kinds are the known ones; a source's own kinds are kept as given (curated in
    # UnmappedEventKind), so no choices constraint here.
    kind = models.CharField(max_length=64)
    raw_code = models.CharField(max_length=64, blank=True)
    error_code = models.ForeignKey(
        ErrorCode, null=True, blank=True, on_delete=models.PROTECT, related_name="ticket_events"
    )
    attrs = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["ticket", "position"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "position"], name="unique_ticket_event_position")
        ]

    def __str__(self) -> str:
        when = f"{self.at:%Y-%m-%d %H:%M}" if self.at else "(no time)"
        return f"{when} {self.kind} {self.raw_code}".strip()

    @property
    def kind_label(self) -> str:
        """The built-in kind's label, or the source's own kind as it was given."""
        return self.Kind(self.kind).label if self.kind in self.Kind.values else self.kind
