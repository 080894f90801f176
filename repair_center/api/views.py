"""REST API of repair_center. Viewsets stay declarative; pagination, filtering and permissions are
set once in settings.REST_FRAMEWORK. Ticket writes all go through services.tickets.tickets_upsert."""

from django.db.models import ProtectedError
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from repair_center import filtersets, roles
from repair_center.api import serializers
from repair_center.api.preconditions import PreconditionFailed, etag, if_match_revision
from repair_center.api.search import SearchFilter
from repair_center.api.workflow import TicketWorkflowMixin
from repair_center.documents import DocumentError
from repair_center.models import (
    ErrorCode,
    ErrorCodeAlias,
    NetworkElement,
    RepairRecord,
    ResolutionCode,
    Site,
    Ticket,
    TicketEvent,
    UnmappedCode,
)
from repair_center.selectors import ticket_list, ticket_with_names
from repair_center.services import repairs
from repair_center.services.history import StaleRevision
from repair_center.services.ticket_edits import ticket_edit
from repair_center.services.tickets import ItemResult, UpsertSummary, tickets_upsert

TICKET_WRITERS = frozenset({roles.INTEGRATION, roles.ADMIN})


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object is still referenced."
    default_code = "conflict"


class ProtectedDestroyMixin:
    """Catalogue rows referenced by tickets are protected; say so with 409 instead of a 500."""

    def perform_destroy(self, instance):
        try:
            instance.delete()
        except ProtectedError as e:
            raise Conflict(
                f"{instance} is still referenced by {len(e.protected_objects)} object(s); "
                "reassign or delete those first."
            ) from None


_document_errors = OpenApiResponse(description="Field errors: {field: [message, ...]}.")
_if_match = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    description='The ETag you last read ("7"): the write goes through only if the ticket is still at that '
    "revision.",
)
_stale = OpenApiResponse(
    description="The ticket changed since the If-Match revision; nothing was written. "
    "{detail, code: stale_revision, current_revision}."
)


@extend_schema_view(
    create=extend_schema(
        request=serializers.TicketDocumentSerializer,
        responses={
            201: serializers.TicketSerializer,
            200: OpenApiResponse(serializers.TicketSerializer, "The ticket existed; updated or unchanged."),
            400: _document_errors,
        },
        description="Upsert one canonical ticket document, keyed on (source, external_id).",
    ),
    retrieve=extend_schema(
        description="One ticket; its ETag header is its revision, for If-Match on PUT and PATCH."
    ),
    update=extend_schema(
        request=serializers.TicketDocumentSerializer,
        parameters=[_if_match],
        responses={200: serializers.TicketSerializer, 400: _document_errors, 412: _stale},
        description="Replace the ticket's document; fields left out are cleared. source and external_id "
        "identify the ticket and cannot change.",
    ),
    partial_update=extend_schema(
        request=serializers.TicketDocumentSerializer,
        parameters=[_if_match],
        responses={200: serializers.TicketSerializer, 400: _document_errors, 412: _stale},
        description="Merge the given fields into the stored document and upsert it.",
    ),
)
class TicketViewSet(TicketWorkflowMixin, viewsets.ModelViewSet):
    queryset = Ticket.objects.all()
    serializer_class = serializers.TicketSerializer
    filterset_class = filtersets.TicketFilterSet
    # Ordering lives in TicketFilterSet, which ranks priorities by urgency; DRF's OrderingFilter
    # would sort them alphabetically.
    filter_backends = [DjangoFilterBackend, SearchFilter]
    search_fields = ["title", "description", "external_id"]
    write_roles = TICKET_WRITERS

    def get_queryset(self):
        return ticket_list() if self.action == "list" else ticket_with_names()

    def get_serializer_class(self):
        return serializers.TicketBriefSerializer if self.action == "list" else serializers.TicketSerializer

    def create(self, request, *args, **kwargs):
        return self._upsert(request.data, source="api")

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        response["ETag"] = etag(response.data["revision"])
        return response

    def update(self, request, *args, partial=False, **kwargs):
        ticket = self.get_object()
        expected = if_match_revision(request)
        try:
            result = ticket_edit(
                ticket_id=ticket.pk, body=request.data, partial=partial, expected_revision=expected
            )
        except DocumentError as e:
            raise exceptions.ValidationError(e.errors) from None
        except StaleRevision as e:
            raise PreconditionFailed(e) from None
        return self._answer(result)

    def _upsert(self, document, *, source: str) -> Response:
        [result] = tickets_upsert(documents=[document], source=source)
        return self._answer(result)

    def _answer(self, result: ItemResult) -> Response:
        if result.status == "rejected":
            raise exceptions.ValidationError(result.errors)
        ticket = ticket_with_names().get(pk=result.id)
        data = serializers.TicketSerializer(ticket, context=self.get_serializer_context()).data
        code = status.HTTP_201_CREATED if result.status == "created" else status.HTTP_200_OK
        return Response(data, status=code, headers={"ETag": etag(ticket.revision)})

    @extend_schema(
        request=serializers.TicketBulkRequestSerializer,
        responses={200: serializers.TicketBulkResultSerializer, 400: _document_errors},
        description="Upsert up to TICKETAI_BULK_MAX_ITEMS canonical ticket documents; each item is "
        "created, updated, unchanged or rejected on its own.",
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def bulk(self, request):
        envelope = serializers.TicketBulkSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        results = tickets_upsert(
            documents=envelope.validated_data["tickets"],
            source=envelope.validated_data["source"],
            create_missing=envelope.validated_data["create_missing"],
        )
        summary = UpsertSummary()
        summary.add(results)
        return Response({**summary.counts(), "results": [r.to_json() for r in results]})


class TicketEventViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = TicketEvent.objects.select_related("error_code").order_by("ticket_id", "position")
    serializer_class = serializers.TicketEventSerializer
    filterset_class = filtersets.TicketEventFilterSet
    ordering_fields = ["at"]


class ErrorCodeViewSet(ProtectedDestroyMixin, viewsets.ModelViewSet):
    queryset = ErrorCode.objects.all()
    serializer_class = serializers.ErrorCodeSerializer
    filterset_class = filtersets.ErrorCodeFilterSet
    search_fields = ["code", "description"]
    ordering_fields = ["code", "domain", "severity", "updated_at"]


class ErrorCodeAliasViewSet(viewsets.ModelViewSet):
    queryset = ErrorCodeAlias.objects.select_related("error_code")
    serializer_class = serializers.ErrorCodeAliasSerializer
    filterset_class = filtersets.ErrorCodeAliasFilterSet
    ordering_fields = ["vendor", "raw_code"]


class ResolutionCodeViewSet(ProtectedDestroyMixin, viewsets.ModelViewSet):
    queryset = ResolutionCode.objects.all()
    serializer_class = serializers.ResolutionCodeSerializer
    filterset_class = filtersets.ResolutionCodeFilterSet
    search_fields = ["code", "title"]
    ordering_fields = ["code", "updated_at"]


class UnmappedCodeViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = UnmappedCode.objects.all()
    serializer_class = serializers.UnmappedCodeSerializer
    filterset_class = filtersets.UnmappedCodeFilterSet
    ordering_fields = ["occurrences", "last_seen", "raw_code"]


class SiteViewSet(ProtectedDestroyMixin, viewsets.ModelViewSet):
    queryset = Site.objects.all()
    serializer_class = serializers.SiteSerializer
    filterset_class = filtersets.SiteFilterSet
    search_fields = ["code", "name"]
    ordering_fields = ["code", "region", "tier"]


class NetworkElementViewSet(viewsets.ModelViewSet):
    queryset = NetworkElement.objects.select_related("site")
    serializer_class = serializers.NetworkElementSerializer
    filterset_class = filtersets.NetworkElementFilterSet
    search_fields = ["serial", "name", "model"]
    ordering_fields = ["serial", "installed_on"]


@extend_schema_view(
    create=extend_schema(
        responses={
            201: serializers.RepairRecordSerializer,
            200: OpenApiResponse(
                serializers.RepairRecordSerializer, "The rma_id existed; updated or unchanged."
            ),
            400: _document_errors,
        },
        description="Upsert one repair record keyed on rma_id; linked to its ticket when known.",
    ),
    update=extend_schema(
        responses={200: serializers.RepairRecordSerializer, 400: _document_errors},
        description="Replace the record; fields left out are cleared. rma_id cannot change.",
    ),
    partial_update=extend_schema(
        responses={200: serializers.RepairRecordSerializer, 400: _document_errors},
        description="Merge the given fields into the stored record.",
    ),
)
class RepairRecordViewSet(viewsets.ModelViewSet):
    queryset = RepairRecord.objects.all()
    serializer_class = serializers.RepairRecordSerializer
    filterset_class = filtersets.RepairRecordFilterSet
    ordering_fields = ["received_on", "closed_on", "updated_at"]

    def create(self, request, *args, **kwargs):
        return self._upsert(request.data)

    def update(self, request, *args, partial=False, **kwargs):
        record = self.get_object()
        body = request.data
        if not isinstance(body, dict):
            raise exceptions.ValidationError({"non_field_errors": ["a repair record must be a JSON object"]})
        try:
            result = repairs.repair_edit(record_id=record.pk, body=body, partial=partial)
        except repairs.RepairIdentityError as e:
            raise exceptions.ValidationError(e.errors) from None
        return self._answer(result)

    def _upsert(self, row) -> Response:
        [result] = repairs.repairs_upsert(rows=[row])
        return self._answer(result)

    def _answer(self, result: ItemResult) -> Response:
        if result.status == "rejected":
            raise exceptions.ValidationError(result.errors)
        data = self.get_serializer(RepairRecord.objects.get(pk=result.id)).data
        code = status.HTTP_201_CREATED if result.status == "created" else status.HTTP_200_OK
        return Response(data, status=code)
