"""Working on tickets, shaped after TMF621: teams, work notes and the history of every change."""

from django.conf import settings
from django.db import models


class AssignmentGroup(models.Model):
    """A team tickets are assigned to (field crew, NOC shift, transport team); admins manage members."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="assignment_groups")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WorkNote(models.Model):
    """A note on a ticket (TMF621 Note: author, date, text), internal to the team or shared."""

    class Visibility(models.TextChoices):
        INTERNAL = "internal", "Internal"
        PUBLIC = "public", "Shared with the customer"

    ticket = models.ForeignKey("repair_center.Ticket", on_delete=models.CASCADE, related_name="work_notes")
    author = models.CharField(max_length=150, help_text="Kept when the user is deleted.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.INTERNAL)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="worknote_ticket_time_idx")]

    def __str__(self) -> str:
        return f"note on #{self.ticket_id} by {self.author}"


class TicketChange(models.Model):
    """One change to a ticket: who, when, which action, and each field's value before and after.

    Status changes are the rows whose ``changes`` hold "status" (TMF621 statusChange, with
    ``reason`` as its changeReason)."""

    class Action(models.TextChoices):
        UPDATE = "update", "Updated by the source"
        ACKNOWLEDGE = "acknowledge", "Acknowledged"
        START = "start", "Work started"
        HOLD = "hold", "Put on hold"
        RESOLVE = "resolve", "Resolved"
        CLOSE = "close", "Closed"
        CANCEL = "cancel", "Cancelled"
        REOPEN = "reopen", "Reopened"
        ASSIGN = "assign", "Assigned"
        NOTE = "note", "Note added"
        LABEL = "label", "Resolution label set"

    ticket = models.ForeignKey("repair_center.Ticket", on_delete=models.CASCADE, related_name="changes")
    revision = models.PositiveIntegerField(help_text="The ticket's revision after the change.")
    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.CharField(max_length=150, help_text="User name, or source:<name> for a source system.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changes = models.JSONField(default=dict, blank=True, help_text='{field: {"from": old, "to": new}}')
    reason = models.CharField(max_length=500, blank=True)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["changed_at", "id"]
        indexes = [models.Index(fields=["ticket", "changed_at"], name="ticketchange_ticket_time_idx")]

    def __str__(self) -> str:
        return f"#{self.ticket_id} r{self.revision} {self.action} by {self.actor}"
