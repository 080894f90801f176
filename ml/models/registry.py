"""The model registry: trained versions, the training runs that made them, and an audit of promotions."""

from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q

from ml.models import locations


class ModelVersion(models.Model):
    """One trained model: its lineage, metrics, artifact checksums and why it has its status."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        CHAMPION = "champion", "Champion"
        ARCHIVED = "archived", "Archived"
        FAILED = "failed", "Failed"

    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        help_text="The champion when this version was trained.",
    )
    label_set_key = models.CharField(max_length=200, default="resolution", db_index=True)
    base_model = models.CharField(max_length=500)
    data_fingerprint = models.CharField(max_length=64, db_index=True)
    row_counts = models.JSONField(default=dict, blank=True)
    split = models.JSONField(default=dict, blank=True, help_text="Split method, cutoff and sizes.")
    label_set = models.JSONField(default=list, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="On the held-out split.")
    baselines = models.JSONField(default=dict, blank=True, help_text="Runbook and TF-IDF on the same split.")
    artifact_path = models.CharField(max_length=1000, help_text="Relative to TICKETAI_MODEL_DIR.")
    artifact_sha256 = models.JSONField(default=dict, blank=True, help_text="File name -> sha256.")
    format_version = models.PositiveIntegerField()
    serialization_version = models.PositiveIntegerField()
    code_version = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE)
    status_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Inference asks for "the champion"; two would make the answer depend on row order.
            models.UniqueConstraint(
                fields=["label_set_key"], condition=Q(status="champion"), name="one_champion_per_label_set"
            )
        ]

    def __str__(self) -> str:
        return f"v{self.pk} ({self.status})"

    @property
    def artifact_dir(self) -> Path:
        """The version's folder under the current TICKETAI_MODEL_DIR."""
        return locations.resolved(self.artifact_path, settings.TICKETAI_MODEL_DIR)

    @property
    def macro_f1(self) -> float | None:
        return self.metrics.get("macro_f1")


class TrainingRun(models.Model):
    """One request to train, from queued to its outcome, with live progress while it runs."""

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULE = "schedule", "Schedule"
        NEW_DATA = "new_data", "New labelled data"
        DRIFT = "drift", "Drift"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    reason = models.TextField(blank=True, help_text="Why it was triggered, skipped or failed.")
    label_set_key = models.CharField(max_length=200, default="resolution")
    config = models.JSONField(default=dict, blank=True)
    progress = models.JSONField(default=dict, blank=True, help_text="{epoch, step, total_steps, loss, eta_s}")
    quality_report = models.JSONField(default=dict, blank=True)
    data_fingerprint = models.CharField(max_length=64, blank=True)
    celery_task_id = models.CharField(max_length=255, blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_runs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The one-at-a-time lock lives in the database, so two workers racing to start the same
            # label set cannot both win, whatever they believe the other is doing.
            models.UniqueConstraint(
                fields=["label_set_key"],
                condition=Q(status="running"),
                name="one_running_training_per_label_set",
            )
        ]

    def __str__(self) -> str:
        return f"run #{self.pk} {self.trigger} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED, self.Status.SKIPPED)


class AuditLog(models.Model):
    """Who changed which model serves recommendations, and why."""

    class Action(models.TextChoices):
        PROMOTE = "promote", "Promote"
        ROLLBACK = "rollback", "Roll back"
        KEEP_CANDIDATE = "keep_candidate", "Kept as candidate"
        MARK_FAILED = "mark_failed", "Marked failed"

    action = models.CharField(max_length=16, choices=Action.choices)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="audit_entries")
    previous_champion = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(max_length=150, help_text="A username, or 'system' for automatic decisions.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} v{self.model_version_id} by {self.actor}"
