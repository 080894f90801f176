from django.core.exceptions import ValidationError
from django.db import models


class ErrorCode(models.Model):
    """The curated error-code catalogue; raw vendor codes map onto it through aliases."""

    class Domain(models.TextChoices):
        RAN = "ran", "RAN"
        TRANSPORT = "transport", "Transport"
        POWER = "power", "Power"
        ENVIRONMENT = "environment", "Environment"
        SYNC = "sync", "Synchronisation"
        SOFTWARE = "software", "Software"
        OTHER = "other", "Other"

    class Severity(models.TextChoices):
        CRITICAL = "critical", "Critical"
        MAJOR = "major", "Major"
        MINOR = "minor", "Minor"
        WARNING = "warning", "Warning"

    code = models.CharField(max_length=64, unique=True)
    domain = models.CharField(max_length=16, choices=Domain.choices, default=Domain.OTHER)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.MAJOR)
    description = models.TextField(blank=True)
    recommended_checks = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class ErrorCodeAlias(models.Model):
    """One vendor's raw alarm code for a curated code."""

    vendor = models.CharField(max_length=64)
    raw_code = models.CharField(max_length=64)
    error_code = models.ForeignKey(ErrorCode, on_delete=models.CASCADE, related_name="aliases")

    class Meta:
        ordering = ["vendor", "raw_code"]
        constraints = [models.UniqueConstraint(fields=["vendor", "raw_code"], name="unique_alias_per_vendor")]
        verbose_name_plural = "error code aliases"

    def __str__(self) -> str:
        return f"{self.vendor}:{self.raw_code} -> {self.error_code.code}"


class UnmappedCode(models.Model):
    """A raw code seen in ingested data that neither the catalogue nor an alias knows; kept for curation."""

    vendor = models.CharField(max_length=64, blank=True)
    raw_code = models.CharField(max_length=64)
    occurrences = models.PositiveIntegerField(default=0)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-occurrences", "raw_code"]
        constraints = [models.UniqueConstraint(fields=["vendor", "raw_code"], name="unique_unmapped_code")]

    def __str__(self) -> str:
        return f"{self.vendor or '?'}:{self.raw_code}"


class UnmappedEventKind(models.Model):
    """An event kind seen in ingested data that is not one of the built-in kinds; kept for curation."""

    kind = models.CharField(max_length=64, unique=True)
    occurrences = models.PositiveIntegerField(default=0)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-occurrences", "kind"]

    def __str__(self) -> str:
        return self.kind


# A resolution code's length. Exports label tickets with whatever their desk calls a fix, and a
# category path ("Hardware > Radio > Replace RRU after VSWR alarm") is longer than a short code.
RESOLUTION_CODE_LENGTH = 200


class ResolutionCode(models.Model):
    """The catalogue of fixes: the labels the model learns to recommend."""

    code = models.CharField(max_length=RESOLUTION_CODE_LENGTH, unique=True)
    title = models.CharField(max_length=200)
    steps = models.TextField(blank=True, help_text="One step per line.")
    needs_site_visit = models.BooleanField(default=False)
    typical_duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    needs_curation = models.BooleanField(
        default=False, help_text="Created by an import with --create-missing; give it a title and steps."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    @property
    def step_list(self) -> list[str]:
        return [line.strip() for line in self.steps.splitlines() if line.strip()]


class ResolutionAlias(models.Model):
    """Another name of a fix: what a merged-away code was called, or how a source spells it. Imports,
    the API and an engineer's resolve action read it as its resolution (``merge_resolutions``)."""

    alias = models.CharField(max_length=RESOLUTION_CODE_LENGTH, unique=True)
    resolution = models.ForeignKey(ResolutionCode, on_delete=models.CASCADE, related_name="aliases")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["alias"]
        verbose_name_plural = "resolution aliases"

    def __str__(self) -> str:
        return f"{self.alias} -> {self.resolution.code}"

    def clean(self) -> None:
        if ResolutionCode.objects.filter(code=self.alias).exists():
            raise ValidationError({"alias": f"{self.alias!r} is a resolution code itself; merge it instead"})
