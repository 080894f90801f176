from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from ticketai.outbound import validate_url
from ticketai.sealed import SealedField
from ticketai.storable import agent_json


def bearer_problem(token: str) -> str:
    """Why ``token`` cannot go in an ``Authorization: Bearer`` header, or "" when it can.

    Sent as it is, a line break or a pasted curly quote fails inside the HTTP library, whose error
    quotes the header: the token would end up in the run's error, the admin and the logs.
    """
    if all("!" <= c <= "~" for c in token):
        return ""
    return "holds a space, line break, control or non-ASCII character, which a bearer token cannot"


class Connector(models.Model):
    """An external ticketing or repair-centre system that TicketAI pulls from on a schedule."""

    class Kind(models.TextChoices):
        TICKETS = "tickets", "Tickets"
        REPAIRS = "repairs", "Repair records"
        # A TMF642 alarm list: GET base_url?alarmChangedTime.gt=<cursor>&offset=&limit= (alarm_pull.py).
        ALARMS = "tmf642-alarms", "TMF642 alarms"

    class Preset(models.TextChoices):
        # How to page through the remote system and read its fields (docs/connect.md, "Pull connectors").
        GENERIC = "generic", "Paginated JSON (updated_since, page, next)"
        SERVICENOW = "servicenow", "ServiceNow Table API"
        JIRA = "jira", "Jira Cloud REST (search with JQL, page tokens)"
        JIRA_DC = "jira_dc", "Jira Data Center / Server REST (search with JQL, startAt)"
        TMF621 = "tmf621", "TMF621 Trouble Ticket API v4"

    # What a pull reads: changed, the cursor is a position in something else (another server's
    # times, a narrower query's), and the admin clears it.
    PULL_SCOPE = ("kind", "base_url", "preset", "query")

    name = models.SlugField(max_length=64, unique=True, help_text="Also the ticket source name.")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TICKETS)
    # Checked against the outbound guard on save and again on every connection (ticketai/outbound.py).
    base_url = models.URLField(
        max_length=500,
        validators=[validate_url],
        help_text="Paginated JSON endpoint (see docs/connect.md).",
    )
    preset = models.CharField(max_length=16, choices=Preset.choices, default=Preset.GENERIC)
    auth_username = models.CharField(
        max_length=200, blank=True, help_text="Set for basic auth (user name, the token is the password)."
    )
    # Secrets TicketAI sends on: stored sealed (ticketai/sealed.py), read open.
    auth_token = SealedField(
        max_length=500,
        blank=True,
        help_text="Sent as 'Authorization: Bearer …' (basic auth with a user name).",
    )
    # OAuth 2.0 client credentials (services/connector_auth.py): a fresh access token for each pull.
    oauth_token_url = models.URLField(
        max_length=500,
        blank=True,
        validators=[validate_url],
        help_text="OAuth 2.0 token endpoint (client credentials), e.g. "
        "https://acme.service-now.com/oauth_token.do; set it instead of a user name and token.",
    )
    oauth_client_id = models.CharField(max_length=200, blank=True)
    oauth_client_secret = SealedField(max_length=500, blank=True)
    oauth_scope = models.CharField(max_length=500, blank=True, help_text="Optional, as the provider asks.")
    query = models.CharField(
        max_length=1000,
        blank=True,
        help_text="Presets: a filter ANDed to the incremental one (ServiceNow encoded query, Jira JQL, "
        "TMF621 query string).",
    )
    page_size = models.PositiveIntegerField(
        default=100,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Presets: items per request.",
    )
    field_mapping = models.JSONField(
        default=dict,
        blank=True,
        validators=[agent_json],
        help_text="Canonical field -> the remote system's field name.",
    )
    # 0 would make beat queue a pull on every tick it makes.
    interval_minutes = models.PositiveIntegerField(
        default=15, validators=[MinValueValidator(1)], help_text="How often to pull, in minutes."
    )
    enabled = models.BooleanField(default=True)
    create_missing = models.BooleanField(
        default=False, help_text="Add unknown resolution codes and sites to the catalogue, flagged."
    )
    cursor = models.CharField(
        max_length=64, blank=True, help_text="updated_since of the next pull (ISO 8601); empty pulls all."
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.cursor:
            from repair_center.documents import parse_timestamp  # documents imports the models

            try:
                parse_timestamp(self.cursor)
            except ValueError as e:
                hint = "like 2026-01-01T08:00:00Z, or empty to pull everything"
                raise ValidationError({"cursor": f"{e}; {hint}"}) from None
        if isinstance(self.auth_token, str) and self.auth_token and not self.auth_username:
            problem = bearer_problem(self.auth_token)
            if problem:
                raise ValidationError({"auth_token": f"the token {problem}: enter it again"})
        if not self.oauth_token_url:
            if self.oauth_client_id or self.oauth_client_secret or self.oauth_scope:
                raise ValidationError({"oauth_token_url": "the OAuth client needs its token endpoint"})
            return
        errors = {
            name: "needed with an OAuth token endpoint"
            for name in ("oauth_client_id", "oauth_client_secret")
            if not getattr(self, name)
        }
        if self.auth_username or self.auth_token:
            errors["auth_token"] = "OAuth gives the pull its token: leave the user name and token blank"  # noqa: S105
        if errors:
            raise ValidationError(errors)


class ConnectorRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cursor_before = models.CharField(max_length=64, blank=True)
    cursor_after = models.CharField(max_length=64, blank=True)
    pages = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    rejects = models.JSONField(default=list, blank=True, help_text="First rejected items with reasons.")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.connector} {self.started_at:%Y-%m-%d %H:%M} {self.status}"
