"""Watching models in service: drift checks, and candidates scored in shadow beside the champion."""

from django.db import models

from repair_center.models import RESOLUTION_CODE_LENGTH


class DriftReport(models.Model):
    """One drift check of the champion against freshly labelled tickets, and whether it fired a retrain."""

    computed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    label_set_key = models.CharField(max_length=200, default="resolution")
    model_version = models.ForeignKey(
        "ml.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="drift_reports"
    )
    window = models.JSONField(
        default=dict, blank=True, help_text="Which tickets were compared: counts, time range, since."
    )
    scores = models.JSONField(
        default=dict,
        blank=True,
        help_text="label_js, unseen_code_rate, mean_confidence (+ baseline), accuracy (+ baseline).",
    )
    thresholds = models.JSONField(default=dict, blank=True)
    fired = models.BooleanField(default=False)
    reasons = models.JSONField(default=list, blank=True, help_text="Why it fired, one line per signal.")
    note = models.TextField(blank=True, help_text="Why the check could not judge, when it could not.")
    training_run = models.ForeignKey(
        "ml.TrainingRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="drift_reports"
    )

    class Meta:
        ordering = ["-computed_at", "-id"]

    def __str__(self) -> str:
        return f"drift {self.computed_at:%Y-%m-%d %H:%M} {'FIRED' if self.fired else 'ok'}"


class ShadowDeployment(models.Model):
    """A candidate scored beside the champion on live tickets, without serving its answers."""

    model_version = models.OneToOneField(
        "ml.ModelVersion", on_delete=models.CASCADE, related_name="shadow_deployment"
    )
    active = models.BooleanField(default=True)
    started_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    started_by = models.CharField(max_length=150, blank=True)
    summary = models.JSONField(
        default=dict, blank=True, help_text="Agreement with the champion, accuracy on confirmed fixes."
    )
    summarised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"shadow of v{self.model_version_id} ({'active' if self.active else 'stopped'})"


class ShadowPrediction(models.Model):
    """What the candidate and the champion said about one revision of one ticket."""

    deployment = models.ForeignKey(ShadowDeployment, on_delete=models.CASCADE, related_name="predictions")
    ticket = models.ForeignKey("repair_center.Ticket", on_delete=models.CASCADE, related_name="+")
    ticket_revision = models.PositiveIntegerField()
    champion_version = models.ForeignKey(
        "ml.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    candidate_resolution = models.CharField(max_length=RESOLUTION_CODE_LENGTH)
    candidate_confidence = models.FloatField()
    champion_resolution = models.CharField(max_length=RESOLUTION_CODE_LENGTH, blank=True)
    champion_confidence = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "ticket", "ticket_revision"], name="one_shadow_prediction_per_revision"
            )
        ]

    def __str__(self) -> str:
        return f"shadow v{self.deployment_id} ticket #{self.ticket_id} r{self.ticket_revision}"

    @property
    def agrees(self) -> bool:
        return self.candidate_resolution == self.champion_resolution
