"""Alarms from fault-management systems (TMF642), kept on their own for a bounded time.

An alarm is keyed on (source system, external alarm id), so a system that sends it again, raises it
again or clears it changes one row. Tickets get the alarms of their element and site as events
(services/correlation.py); ``TICKETAI_ALARM_RETENTION_DAYS`` bounds how long the rows stay.
"""

from django.db import models

from repair_center.models.catalogue import ErrorCode
from repair_center.models.sites import NetworkElement, Site
from ticketai.storable import JsonLimits


class Alarm(models.Model):
    class State(models.TextChoices):
        RAISED = "raised", "Raised"
        UPDATED = "updated", "Updated"
        CLEARED = "cleared", "Cleared"

    class Severity(models.TextChoices):
        # ITU-T X.733 perceived severities, in the order of urgency.
        CRITICAL = "critical", "Critical"
        MAJOR = "major", "Major"
        MINOR = "minor", "Minor"
        WARNING = "warning", "Warning"
        INDETERMINATE = "indeterminate", "Indeterminate"
        CLEARED = "cleared", "Cleared"

    class AckState(models.TextChoices):
        UNACKNOWLEDGED = "unacknowledged", "Unacknowledged"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"

    source_system = models.CharField(max_length=64, help_text="TMF642 sourceSystemId.")
    external_id = models.CharField(max_length=200, help_text="TMF642 externalAlarmId.")
    alarmed_object = models.CharField(max_length=200, help_text="TMF642 alarmedObject.id as sent.")
    alarmed_object_type = models.CharField(max_length=100, blank=True)
    element = models.ForeignKey(
        NetworkElement, null=True, blank=True, on_delete=models.SET_NULL, related_name="alarms"
    )
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.SET_NULL, related_name="alarms")
    state = models.CharField(max_length=16, choices=State.choices, default=State.RAISED)
    ack_state = models.CharField(max_length=16, choices=AckState.choices, default=AckState.UNACKNOWLEDGED)
    perceived_severity = models.CharField(max_length=16, choices=Severity.choices)
    alarm_type = models.CharField(max_length=64)
    probable_cause = models.CharField(max_length=200)
    specific_problem = models.CharField(max_length=200, blank=True)
    raw_code = models.CharField(
        max_length=64,
        blank=True,
        help_text="The vendor code mapped to the catalogue (specific problem first).",
    )
    error_code = models.ForeignKey(
        ErrorCode, null=True, blank=True, on_delete=models.SET_NULL, related_name="alarms"
    )
    raised_at = models.DateTimeField()
    changed_at = models.DateTimeField(help_text="TMF642 alarmChangedTime: a stale change is ignored.")
    cleared_at = models.DateTimeField(null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    ack_user = models.CharField(max_length=150, blank=True)
    ack_system = models.CharField(max_length=150, blank=True)
    clear_user = models.CharField(max_length=150, blank=True)
    clear_system = models.CharField(max_length=150, blank=True)
    details = models.TextField(blank=True)
    service_affecting = models.BooleanField(null=True, blank=True)
    extra = models.JSONField(
        default=dict,
        blank=True,
        validators=[JsonLimits()],
        help_text="The other TMF642 attributes as sent (place, comment, affectedService, ...).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source_system", "external_id"], name="unique_alarm_per_source")
        ]
        indexes = [
            # Correlation reads the alarms of one element, or of one site, in a time window.
            models.Index(fields=["element", "raised_at"], name="alarm_element_time_idx"),
            models.Index(fields=["site", "raised_at"], name="alarm_site_time_idx"),
            # Connectors' and clients' alarmChangedTime.gt=, and the retention sweep.
            models.Index(fields=["changed_at"], name="alarm_changed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source_system}/{self.external_id} {self.probable_cause} ({self.state})"

    @property
    def is_cleared(self) -> bool:
        return self.state == self.State.CLEARED
