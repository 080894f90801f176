"""A site's compute, link and data policy, and the placement decided for it (rules: ml/fleet/placement.py)."""

from django.core.validators import MinValueValidator
from django.db import models

_non_negative = [MinValueValidator(0)]


class SiteComputeProfile(models.Model):
    """Hardware and link (reported by the site's agent or entered by hand) plus the operator's policy."""

    site = models.OneToOneField(
        "repair_center.Site", on_delete=models.CASCADE, related_name="compute_profile"
    )
    # Hardware and link: an edge agent's heartbeat overwrites these.
    cpu_cores = models.PositiveIntegerField(default=2)
    cpu_ghz = models.FloatField(default=2.0, validators=_non_negative)
    memory_mb = models.PositiveIntegerField(default=2048)
    accelerator = models.CharField(max_length=64, blank=True, help_text="Empty: none; e.g. gpu, npu.")
    storage_gb = models.FloatField(default=16.0, validators=_non_negative)
    uplink_mbps = models.FloatField(
        default=20.0, validators=_non_negative, help_text="0: no link to central."
    )
    rtt_ms = models.FloatField(default=60.0, validators=_non_negative, help_text="Round trip to central.")
    # Policy: set by operators, never by an agent.
    latency_budget_ms = models.FloatField(
        default=1000.0, validators=_non_negative, help_text="What the consuming application tolerates."
    )
    tickets_per_day = models.PositiveIntegerField(default=200)
    data_must_stay_local = models.BooleanField(default=False)
    batch_data_mb_per_day = models.FloatField(
        default=0.0,
        validators=_non_negative,
        help_text="Raw batch data (logs, telemetry) the site's training data is extracted from, per day.",
    )
    reported_at = models.DateTimeField(
        null=True, blank=True, help_text="Last capabilities report by an agent."
    )
    decision = models.JSONField(default=dict, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    PROFILE_FIELDS = (
        "cpu_cores",
        "cpu_ghz",
        "memory_mb",
        "accelerator",
        "storage_gb",
        "uplink_mbps",
        "rtt_ms",
        "latency_budget_ms",
        "tickets_per_day",
        "data_must_stay_local",
        "batch_data_mb_per_day",
    )

    class Meta:
        ordering = ["site__code"]

    def __str__(self) -> str:
        return f"compute profile of {self.site}"

    def profile_values(self) -> dict:
        """The PROFILE_FIELDS as the placement rules take them (ml.fleet.placement.SiteProfile)."""
        # to_python: a fresh row holds what it was given (16), a loaded one what the column gives (16.0).
        get = self._meta.get_field
        return {name: get(name).to_python(getattr(self, name)) for name in self.PROFILE_FIELDS}

    @property
    def pattern(self) -> int | None:
        return self.decision.get("pattern")

    @property
    def artefact(self) -> str | None:
        return self.decision.get("artefact")
