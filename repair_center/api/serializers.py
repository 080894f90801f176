"""Shapes of the REST API. Ticket writes are validated by repair_center.documents.parse_ticket (the
same code the importers run), so the ticket *document* serializers below describe the request for
the OpenAPI schema and the bulk envelope; they do not re-implement its rules."""

from typing import get_args

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from repair_center import sla
from repair_center.documents import _SOURCE_RE
from repair_center.models import (
    RESOLUTION_CODE_LENGTH,
    ErrorCode,
    ErrorCodeAlias,
    NetworkElement,
    RepairRecord,
    ResolutionCode,
    Site,
    Ticket,
    TicketErrorCode,
    TicketEvent,
    UnmappedCode,
)
from repair_center.services.tickets import Outcome

UPSERT_OUTCOMES = list(get_args(Outcome))

# --- Tickets: reading ---


class TicketErrorCodeSerializer(serializers.ModelSerializer):
    code = serializers.CharField(source="error_code.code", allow_null=True, default=None, read_only=True)
    description = serializers.CharField(
        source="error_code.description", allow_null=True, default=None, read_only=True
    )

    class Meta:
        model = TicketErrorCode
        fields = ["position", "raw_code", "code", "description"]


class TicketEventSerializer(serializers.ModelSerializer):
    code = serializers.CharField(source="error_code.code", allow_null=True, default=None, read_only=True)

    class Meta:
        model = TicketEvent
        fields = ["id", "ticket", "position", "at", "kind", "raw_code", "code", "attrs"]


class NestedNetworkElementSerializer(serializers.ModelSerializer):
    class Meta:
        model = NetworkElement
        fields = ["id", "serial", "name", "kind", "vendor", "model"]


class SlaSerializer(serializers.Serializer):
    due_at = serializers.DateTimeField(allow_null=True, help_text="Opened + the SLA target of its priority.")
    state = serializers.ChoiceField(
        choices=["breached", "due_soon", "on_track", "met", "missed", "none"],
        help_text="Open tickets: breached, due_soon or on_track; resolved and closed: met or missed.",
    )


class TicketBriefSerializer(serializers.ModelSerializer):
    """One row of the ticket list: no codes or events, so a page costs one query."""

    url = serializers.HyperlinkedIdentityField(view_name="api:ticket-detail")
    assignee = serializers.CharField(
        source="assignee.username", allow_null=True, default=None, read_only=True, help_text="User name."
    )
    assignment_group = serializers.CharField(
        source="assignment_group.name", allow_null=True, default=None, read_only=True
    )
    sla = serializers.SerializerMethodField()
    site = serializers.CharField(source="site.code", allow_null=True, default=None, read_only=True)
    element = serializers.CharField(source="element_ref", read_only=True)
    resolution = serializers.CharField(
        source="resolution.code", allow_null=True, default=None, read_only=True
    )

    class Meta:
        model = Ticket
        fields = [
            "id",
            "url",
            "source",
            "external_id",
            "title",
            "status",
            "priority",
            "opened_at",
            "resolved_at",
            "site",
            "element",
            "resolution",
            "assignee",
            "assignment_group",
            "sla",
            "revision",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(SlaSerializer)
    def get_sla(self, ticket: Ticket) -> dict:
        found = sla.state(ticket)
        return {"due_at": found.due_at, "state": found.state}


class TicketSerializer(TicketBriefSerializer):
    network_element = NestedNetworkElementSerializer(source="element", read_only=True, allow_null=True)
    error_codes = TicketErrorCodeSerializer(source="codes", many=True, read_only=True)
    events = TicketEventSerializer(many=True, read_only=True)
    alarms = serializers.SlugRelatedField(
        source="alarm_refs",
        slug_field="ref",
        many=True,
        read_only=True,
        help_text="The alarms the ticket names as its own, as it named them.",
    )

    class Meta(TicketBriefSerializer.Meta):
        fields = [
            "id",
            "url",
            "source",
            "external_id",
            "title",
            "description",
            "status",
            "priority",
            "opened_at",
            "resolved_at",
            "site",
            "element",
            "network_element",
            "error_codes",
            "events",
            "alarms",
            "attributes",
            "resolution",
            "resolution_notes",
            "assignee",
            "assignment_group",
            "acknowledged_at",
            "acknowledged_by",
            "status_changed_at",
            "status_change_reason",
            "sla",
            "revision",
            "content_hash",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# --- Tickets: the canonical document (request bodies) ---


class TicketDocumentEventSerializer(serializers.Serializer):
    at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Absent when only the order is known."
    )
    kind = serializers.CharField(
        max_length=64,
        help_text="A built-in kind (alarm_raised, alarm_cleared, config_change, software_upgrade, "
        "maintenance_visit, kpi_breach, weather, power, operator_note) or the source's own, kept as given.",
    )
    code = serializers.CharField(max_length=64, allow_null=True, required=False)
    attrs = serializers.DictField(required=False, help_text="Free-form, at most 4 levels and 4 KiB.")


class TicketDocumentSerializer(serializers.Serializer):
    """The canonical ticket document (see repair_center/documents.py); for the schema only."""

    source = serializers.CharField(max_length=64, required=False, help_text="Defaults to 'api'.")
    external_id = serializers.CharField(max_length=200)
    title = serializers.CharField(max_length=500, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=Ticket.Status.choices, required=False)
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices, required=False)
    opened_at = serializers.DateTimeField(required=False, allow_null=True)
    resolved_at = serializers.DateTimeField(required=False, allow_null=True)
    site = serializers.CharField(max_length=64, required=False, allow_null=True, help_text="Site code.")
    element = serializers.CharField(
        max_length=120, required=False, allow_null=True, help_text="Element serial or name."
    )
    error_codes = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
    events = TicketDocumentEventSerializer(many=True, required=False)
    alarms = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=64,
        help_text="Alarms the ticket names as its own (opened from them): each an externalAlarmId as the "
        "fault-management system sent it, or a path in TicketAI's TMF642 API (/tmf-api/alarm/v4/alarm/<id>). "
        "They join its events whatever their element and time; one not stored yet joins when it arrives.",
    )
    resolution = serializers.CharField(
        max_length=RESOLUTION_CODE_LENGTH, required=False, allow_null=True, help_text="Resolution code."
    )
    resolution_notes = serializers.CharField(required=False, allow_blank=True)
    attributes = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="Extra fields of the export: at most 32 names (letters, digits, '.', '_', '-'), "
        "each a string of at most 200 characters or a number.",
    )


class TicketBulkSerializer(serializers.Serializer):
    """The envelope of ``POST /api/v1/tickets/bulk/``; each item is judged on its own later."""

    source = serializers.RegexField(_SOURCE_RE, max_length=64, required=False, default="api")
    create_missing = serializers.BooleanField(required=False, default=False)
    tickets = serializers.ListField(child=serializers.JSONField(), allow_empty=True)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(str(key) for key in set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {"non_field_errors": [f"unknown fields: {', '.join(unknown)}"]}
                )
        return super().to_internal_value(data)

    def validate_tickets(self, value: list) -> list:
        limit = settings.TICKETAI_BULK_MAX_ITEMS
        if len(value) > limit:
            raise serializers.ValidationError(f"at most {limit} tickets per call; split the batch")
        return value


class TicketBulkRequestSerializer(TicketBulkSerializer):
    """The same envelope with typed items, for the schema."""

    tickets = TicketDocumentSerializer(many=True)


class TicketBulkItemSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=UPSERT_OUTCOMES)
    id = serializers.IntegerField(required=False, help_text="Absent when rejected.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field name -> messages; only when rejected.",
    )


class TicketBulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = TicketBulkItemSerializer(many=True)


# --- Catalogue ---

# Free text in the catalogue is bounded like a ticket's description: a body of 20 MiB is
# accepted, a single description of that size is not something anyone writes.
TEXT_MAX = 100_000


class ErrorCodeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ErrorCode
        fields = [
            "id",
            "code",
            "domain",
            "severity",
            "description",
            "recommended_checks",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "description": {"max_length": TEXT_MAX},
            "recommended_checks": {"max_length": TEXT_MAX},
        }


class ErrorCodeAliasSerializer(serializers.ModelSerializer):
    code = serializers.SlugRelatedField(
        source="error_code", slug_field="code", queryset=ErrorCode.objects.all(), help_text="Curated code."
    )

    class Meta:
        model = ErrorCodeAlias
        fields = ["id", "vendor", "raw_code", "code"]


class ResolutionCodeSerializer(serializers.ModelSerializer):
    step_list = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = ResolutionCode
        fields = [
            "id",
            "code",
            "title",
            "steps",
            "step_list",
            "needs_site_visit",
            "typical_duration_minutes",
            "needs_curation",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"steps": {"max_length": TEXT_MAX}}


class UnmappedCodeSerializer(serializers.ModelSerializer):
    class Meta:
        model = UnmappedCode
        fields = ["id", "vendor", "raw_code", "occurrences", "first_seen", "last_seen"]
        read_only_fields = fields


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = [
            "id",
            "code",
            "name",
            "region",
            "climate",
            "tier",
            "latitude",
            "longitude",
            "address",
            "access_notes",
            "needs_curation",
            "created_at",
            "updated_at",
        ]
        # On the globe, not 1e308: the pages and the placement read them as coordinates.
        extra_kwargs = {
            "latitude": {"min_value": -90, "max_value": 90},
            "longitude": {"min_value": -180, "max_value": 180},
        }


class NetworkElementSerializer(serializers.ModelSerializer):
    site = serializers.SlugRelatedField(
        slug_field="code", queryset=Site.objects.all(), help_text="Site code."
    )

    class Meta:
        model = NetworkElement
        fields = [
            "id",
            "serial",
            "site",
            "name",
            "kind",
            "vendor",
            "model",
            "software_version",
            "installed_on",
            "created_at",
            "updated_at",
        ]


class RepairRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = RepairRecord
        fields = [
            "id",
            "rma_id",
            "unit_kind",
            "unit_serial",
            "ticket",
            "ticket_source",
            "ticket_external_id",
            "reported_fault_code",
            "finding",
            "repair_action",
            "received_on",
            "closed_on",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["ticket", "created_at", "updated_at"]
