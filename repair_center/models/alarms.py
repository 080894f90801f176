"""Alarms from fault-management systems (TMF642), kept on their own for a bounded time.

An alarm is keyed on (source system, external alarm id), so a system that sends it again, raises it
again or clears it changes one row. Tickets get the alarms of their element and site as events
(services/correlation.py); ``TICKETAI_ALARM_RETENTION_DAYS`` bounds how long the rows stay.

``perceived_severity`` keeps the severity the alarm was raised (or last changed) with. A clear,
whether sent as the state or as X.733's severity "cleared", changes the state only, and the TMF642
resource shows a cleared alarm's severity as "cleared" (services/alarms.severity_query filters so).
An alarm first seen already cleared, with the severity "cleared", keeps that.
"""

from django.db import models
from django.utils import timezone

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
    group = models.ForeignKey(
        "repair_center.AlarmGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="alarms"
    )
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


class AlarmGroup(models.Model):
    """Alarms of one site (or element) close in time and of one probable-cause family: one incident."""

    class RootReason(models.TextChoices):
        EARLIEST = "earliest", "The earliest alarm"
        HISTORY = "history", "The alarm the others usually follow"
        SOURCE = "source", "The parent the fault-management system named"

    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.CASCADE, related_name="alarm_groups"
    )
    element = models.ForeignKey(
        NetworkElement,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Set while every alarm of the group is on this element.",
    )
    family = models.CharField(max_length=64, help_text="The curated code's domain, else the probable cause.")
    opened_at = models.DateTimeField(help_text="The first alarm's raise.")
    last_at = models.DateTimeField(help_text="The last alarm's raise.")
    size = models.PositiveIntegerField(default=0)
    severity = models.CharField(max_length=16, choices=Alarm.Severity.choices, default=Alarm.Severity.WARNING)
    root = models.ForeignKey(Alarm, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    root_reason = models.CharField(max_length=16, choices=RootReason.choices, default=RootReason.EARLIEST)
    root_support = models.FloatField(
        null=True, blank=True, help_text="Share of past incidents in which the root came before the others."
    )
    root_history = models.PositiveIntegerField(default=0, help_text="Past incidents that support measures.")
    ticket = models.ForeignKey(
        "repair_center.Ticket",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alarm_groups",
        help_text="The ticket a rule opened for the group.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["site", "family", "last_at"], name="alarmgroup_site_family_idx")]

    def __str__(self) -> str:
        return self.summary()

    def root_label(self) -> str:
        root = self.root
        if root is None:
            return "unknown"
        if root.error_code_id and root.error_code.description:
            return root.error_code.description.rstrip(".")
        return root.specific_problem or root.probable_cause

    def summary(self) -> str:
        """ "14 alarms grouped; probable root: mains failure at 09:55"."""
        # In TICKETAI_TIME_ZONE, as the ticket page's timeline shows the same alarm's raise.
        when = f" at {timezone.localtime(self.root.raised_at):%H:%M}" if self.root_id else ""
        return f"{self.size} alarms grouped; probable root: {self.root_label()}{when}"

    def support_label(self) -> str:
        if self.root_reason == self.RootReason.SOURCE:
            return "the parent alarm the fault-management system named"
        if self.root_reason == self.RootReason.HISTORY and self.root_support is not None:
            return f"the others followed it in {self.root_support:.0%} of {self.root_history} past cases"
        return "the earliest alarm (no history to go by)"


class AlarmGroupRule(models.Model):
    """Open a ticket for every alarm group of at least this severity and size (admin)."""

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    min_severity = models.CharField(
        max_length=16,
        choices=[(v, label) for v, label in Alarm.Severity.choices if v not in ("indeterminate", "cleared")],
        default=Alarm.Severity.CRITICAL,
    )
    min_alarms = models.PositiveIntegerField(default=2)
    source = models.SlugField(max_length=64, default="alarm-groups", help_text="The tickets' source name.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def matches(self, group: AlarmGroup) -> bool:
        rank = {"critical": 4, "major": 3, "minor": 2, "warning": 1}
        return group.size >= self.min_alarms and rank.get(group.severity, 0) >= rank[self.min_severity]


class TicketAlarm(models.Model):
    """An alarm a ticket names as its own (TMF621 ``relatedEntity`` of role alarm; the canonical
    document's ``alarms``). Correlation always gives the ticket a named alarm, wherever and whenever
    it was raised, and never marks it as another incident's (services/correlation.py).

    ``ref`` is the name as sent: the fault-management system's externalAlarmId, or the alarm's path in
    TicketAI's TMF642 API. ``alarm`` is set once an alarm of that name is stored: a ticket may name
    an alarm that has not arrived yet."""

    ticket = models.ForeignKey("repair_center.Ticket", on_delete=models.CASCADE, related_name="alarm_refs")
    position = models.PositiveSmallIntegerField()
    ref = models.CharField(max_length=200)
    alarm = models.ForeignKey(
        Alarm, null=True, blank=True, on_delete=models.SET_NULL, related_name="ticket_refs"
    )

    class Meta:
        ordering = ["ticket", "position"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "position"], name="unique_ticket_alarm_position")
        ]
        indexes = [
            # A new alarm looks for the tickets that named it before it arrived.
            models.Index(
                fields=["ref"], condition=models.Q(alarm__isnull=True), name="ticket_alarm_pending_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} names {self.ref}"
