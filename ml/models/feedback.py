"""Engineers' verdicts on recommendations: accepted, rejected or corrected, and by whom."""

from django.conf import settings
from django.db import models

from repair_center.models import RESOLUTION_CODE_LENGTH


class Feedback(models.Model):
    """One engineer's verdict on a ticket's recommendation; accept and correct also label the ticket."""

    class Action(models.TextChoices):
        ACCEPT = "accept", "Accepted"
        REJECT = "reject", "Rejected"
        CORRECT = "correct", "Corrected"

    ticket = models.ForeignKey("repair_center.Ticket", on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150, help_text="Kept when the user is deleted.")
    action = models.CharField(max_length=16, choices=Action.choices)
    recommended_resolution = models.CharField(
        max_length=RESOLUTION_CODE_LENGTH,
        blank=True,
        help_text="The top recommendation the engineer saw (empty if none).",
    )
    chosen_resolution = models.ForeignKey(
        "repair_center.ResolutionCode", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    notes = models.TextField(blank=True)
    model_version = models.ForeignKey(
        "ml.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="feedback"
    )
    ticket_revision = models.PositiveIntegerField(help_text="The ticket's revision after the feedback.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "feedback"

    def __str__(self) -> str:
        chosen = f" -> {self.chosen_resolution.code}" if self.chosen_resolution_id else ""
        return f"{self.action}{chosen} on ticket #{self.ticket_id} by {self.username}"

    @property
    def labels_ticket(self) -> bool:
        return self.action in (self.Action.ACCEPT, self.Action.CORRECT)
