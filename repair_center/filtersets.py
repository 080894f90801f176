"""Query filters of the REST API, one FilterSet per model (NetBox style: Site -> SiteFilterSet)."""

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django_filters.fields import IsoDateTimeField

from repair_center.models import (
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


class UtcIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 turned into UTC before it reaches the database: PostgreSQL refuses offsets beyond
    ±15:59 (a 500 the fuzzer found); a time that leaves the calendar in UTC is a 400."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ValidationError(f"{value!r} is out of range in UTC", code="invalid") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class IdFilter(django_filters.NumberFilter):
    """A row id: a whole number a database column can hold, else 400. NumberFilter's decimals took
    ``1.26e+44``, which SQLite cannot bind (OverflowError, a 500 the fuzzer found)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


# Most urgent first, so ``?ordering=priority`` lists critical tickets at the top.
PRIORITY_RANK = Case(
    *(When(priority=value, then=Value(rank)) for rank, value in enumerate(Ticket.Priority.values)),
    default=Value(len(Ticket.Priority.values)),
    output_field=IntegerField(),
)


class TicketOrderingFilter(django_filters.OrderingFilter):
    """Orders by urgency rather than by the alphabet of priority names, with id as tie-breaker so
    pages never overlap."""

    def filter(self, qs: QuerySet, value):
        if not value:
            return qs
        if any(term.lstrip("-") == "priority" for term in value):
            qs = qs.annotate(priority_rank=PRIORITY_RANK)
        ordering = [self.get_ordering_value(term) for term in value]
        return qs.order_by(*ordering, "-id")


class TicketFilterSet(django_filters.FilterSet):
    site = django_filters.CharFilter(field_name="site__code", help_text="Site code.")
    region = django_filters.CharFilter(field_name="site__region")
    status = django_filters.MultipleChoiceFilter(choices=Ticket.Status.choices)
    priority = django_filters.MultipleChoiceFilter(choices=Ticket.Priority.choices)
    error_code = django_filters.CharFilter(
        method="filter_error_code", help_text="A curated error code or a raw code as ingested."
    )
    element = django_filters.CharFilter(
        field_name="element_ref", help_text="The element as the source named it."
    )
    resolution = django_filters.CharFilter(field_name="resolution__code", help_text="Resolution code.")
    assignee = django_filters.CharFilter(field_name="assignee__username", help_text="Assignee's user name.")
    assignment_group = django_filters.CharFilter(
        field_name="assignment_group__name", help_text="Name of the assignment group."
    )
    opened_after = UtcIsoDateTimeFilter(field_name="opened_at", lookup_expr="gte")
    opened_before = UtcIsoDateTimeFilter(field_name="opened_at", lookup_expr="lt")
    updated_since = UtcIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    ordering = TicketOrderingFilter(
        fields=(("opened_at", "opened_at"), ("priority_rank", "priority"), ("updated_at", "updated_at"))
    )

    class Meta:
        model = Ticket
        fields = ["source"]

    def filter_error_code(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # EXISTS rather than a join: a ticket carrying the code twice must still be listed once.
        codes = TicketErrorCode.objects.filter(ticket=OuterRef("pk")).filter(
            Q(raw_code=value) | Q(error_code__code=value)
        )
        return queryset.filter(Exists(codes))


class TicketEventFilterSet(django_filters.FilterSet):
    ticket = IdFilter(field_name="ticket_id", help_text="Ticket id.")
    kind = django_filters.CharFilter(
        max_length=64, help_text="A built-in kind (alarm_raised, ...) or a source's own, as given."
    )
    code = django_filters.CharFilter(method="filter_code", help_text="A curated or a raw code.")

    class Meta:
        model = TicketEvent
        fields = ["ticket", "kind"]

    def filter_code(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(raw_code=value) | Q(error_code__code=value))


class ErrorCodeFilterSet(django_filters.FilterSet):
    class Meta:
        model = ErrorCode
        fields = ["code", "domain", "severity"]


class ErrorCodeAliasFilterSet(django_filters.FilterSet):
    code = django_filters.CharFilter(field_name="error_code__code", help_text="Curated code.")

    class Meta:
        model = ErrorCodeAlias
        fields = ["vendor", "raw_code", "code"]


class ResolutionCodeFilterSet(django_filters.FilterSet):
    class Meta:
        model = ResolutionCode
        fields = ["code", "needs_site_visit", "needs_curation"]


class UnmappedCodeFilterSet(django_filters.FilterSet):
    class Meta:
        model = UnmappedCode
        fields = ["vendor", "raw_code"]


class SiteFilterSet(django_filters.FilterSet):
    class Meta:
        model = Site
        fields = ["code", "region", "tier", "climate", "needs_curation"]


class NetworkElementFilterSet(django_filters.FilterSet):
    site = django_filters.CharFilter(field_name="site__code", help_text="Site code.")

    class Meta:
        model = NetworkElement
        fields = ["site", "serial", "kind", "vendor"]


class RepairRecordFilterSet(django_filters.FilterSet):
    ticket = IdFilter(field_name="ticket_id", help_text="Ticket id.")
    received_after = django_filters.DateFilter(field_name="received_on", lookup_expr="gte")
    received_before = django_filters.DateFilter(field_name="received_on", lookup_expr="lt")

    class Meta:
        model = RepairRecord
        fields = ["rma_id", "unit_serial", "finding", "ticket", "ticket_source", "ticket_external_id"]
