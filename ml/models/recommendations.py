"""Cached recommendations: one row per (ticket, ticket revision, model version)."""

from django.db import models

from repair_center.models import RESOLUTION_CODE_LENGTH


class Recommendation(models.Model):
    """What a model version recommended for one revision of a ticket; queues read the top fields."""

    ticket = models.ForeignKey(
        "repair_center.Ticket", on_delete=models.CASCADE, related_name="recommendations"
    )
    ticket_revision = models.PositiveIntegerField()
    model_version = models.ForeignKey(
        "ml.ModelVersion", on_delete=models.CASCADE, related_name="recommendations"
    )
    payload = models.JSONField(default=dict)
    abstained = models.BooleanField(default=False)
    top_resolution = models.CharField(max_length=RESOLUTION_CODE_LENGTH, blank=True)
    top_confidence = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "ticket_revision", "model_version"],
                name="one_recommendation_per_revision_and_model",
            )
        ]
        # "Needs an expert" in the queue: the abstained rows alone, a tenth of the table or less.
        indexes = [
            models.Index(
                fields=["ticket", "ticket_revision"],
                condition=models.Q(abstained=True),
                name="recommendation_abstained_idx",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.ticket_id} r{self.ticket_revision} v{self.model_version_id}: {self.top_resolution}"
