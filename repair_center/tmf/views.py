"""/tmf-api/troubleTicket/v4/troubleTicket: TMF621 over the same tickets, services and roles as /api/v1/.

Errors answer TMF630's Error (code, reason, message, status) with the fields at fault in
``errors``; a status change the lifecycle does not allow and a stale ``If-Match`` revision answer
409. Lists are ordered by lastUpdate, then id, so ``lastUpdate.gt`` with ``offset``/``limit``
pages through changes without gaps.
"""

import re
import uuid

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.response import Response

from repair_center import roles
from repair_center.api.preconditions import etag, if_match_revision
from repair_center.api.workflow import WORKFLOW_ROLES
from repair_center.models import Ticket
from repair_center.services import workflow
from repair_center.services.history import Actor, IllegalTransition, StaleRevision, WorkflowError
from repair_center.services.resolution import ResolutionError
from repair_center.services.tickets import tickets_upsert
from repair_center.tmf import troubleticket as tt
from repair_center.tmf.serializers import (
    ErrorSerializer,
    TroubleTicketCreateSerializer,
    TroubleTicketSerializer,
    TroubleTicketUpdateSerializer,
)
from ticketai.exceptions import exception_handler
from ticketai.parsers import JSONParser

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 10**9
TICKET_WRITERS = frozenset({roles.INTEGRATION, roles.ADMIN})


class MergePatchParser(JSONParser):
    """RFC 7396 bodies (TMF630 asks PATCH to take application/merge-patch+json)."""

    media_type = "application/merge-patch+json"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def _flat(errors, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested field errors as {"note[0].text": [message, ...]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = f"{prefix}.{key}" if prefix and key != "non_field_errors" else (prefix or str(key))
            for k, v in _flat(value, name).items():
                flat.setdefault(k, []).extend(v)
    elif isinstance(errors, list) and any(isinstance(e, dict | list) for e in errors):
        for i, value in enumerate(errors):
            for k, v in _flat(value, f"{prefix}[{i}]").items():
                flat.setdefault(k, []).extend(v)
    else:
        flat[prefix or "non_field_errors"] = [
            str(e) for e in (errors if isinstance(errors, list) else [errors])
        ]
    return flat


def tmf_exception_handler(exc, context):
    """The project's handler, with the answer reshaped as a TMF630 Error."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    body = {"status": str(response.status_code)}
    if isinstance(data, dict) and "detail" in data and "code" in data:  # a Conflict we raised
        body.update(code=str(data["code"]), reason=str(data["detail"]))
    elif isinstance(data, dict) and set(data) == {"detail"}:
        detail = data["detail"]
        body.update(code=str(getattr(detail, "code", "error")), reason=str(detail))
    else:
        errors = _flat(data)
        first = next(iter(errors.items()))
        body.update(code="invalid", reason=f"{first[0]}: {first[1][0]}", errors=errors)
        if len(errors) > 1:
            body["message"] = f"{len(errors)} fields are at fault; see errors"
    response.data = body
    return response


def _raise(error: Exception):
    if isinstance(error, IllegalTransition | StaleRevision):
        raise Conflict({"detail": error.message, "code": error.code}) from None
    if isinstance(error, WorkflowError):
        raise exceptions.ValidationError(tt.tmf_errors(error.errors)) from None
    raise exceptions.ValidationError({"resolutionCode": [str(error)]}) from None


def _ticket_id(pk) -> int:
    if not str(pk).isdigit() or not 0 < int(pk) < 2**63 or not Ticket.objects.filter(pk=int(pk)).exists():
        raise exceptions.NotFound(f"No trouble ticket {str(pk)[:40]!r}.")
    return int(pk)


def _integer(params, name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    if not re.fullmatch(r"\d{1,12}", raw) or not minimum <= int(raw) <= maximum:
        raise exceptions.ValidationError({name: [f"must be a whole number from {minimum} to {maximum}"]})
    return int(raw)


def _base_url(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _answer(request, ticket_id: int, *, status_code: int = 200) -> Response:
    data = tt.troubleticket_get(ticket_id, base_url=_base_url(request))
    revision = Ticket.objects.values_list("revision", flat=True).get(pk=ticket_id)
    headers = {"ETag": etag(revision)}
    if status_code == 201:
        headers["Location"] = data["href"]
    return Response(data, status=status_code, headers=headers)


_errors = {
    400: OpenApiResponse(ErrorSerializer, description="Bad request: errors names each field."),
    404: OpenApiResponse(ErrorSerializer, description="No such trouble ticket."),
}
_conflict = OpenApiResponse(
    ErrorSerializer,
    description="code illegal_transition (the lifecycle does not allow it) or stale_revision.",
)
_list_params = [
    OpenApiParameter("fields", str, description="Comma-separated attributes to return (id and href always)."),
    OpenApiParameter("offset", int, description="Index of the first ticket to return (from 0)."),
    OpenApiParameter(
        "limit", int, description=f"How many to return (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})."
    ),
    OpenApiParameter("status", str, description="One status or several, comma-separated."),
    OpenApiParameter("severity", str, description="Critical, Major, Minor or Warning (comma-separated)."),
    OpenApiParameter("lastUpdate.gt", OpenApiTypes.DATETIME, description="Changed after this time."),
    OpenApiParameter("lastUpdate.gte", OpenApiTypes.DATETIME, description="Changed at or after this time."),
    OpenApiParameter("lastUpdate.lt", OpenApiTypes.DATETIME, description="Changed before this time."),
    OpenApiParameter("externalId", str, description="<source>:<external id>"),
]
_count_headers = [
    OpenApiParameter(
        "X-Total-Count", int, OpenApiParameter.HEADER, response=True, description="Matching tickets."
    ),
    OpenApiParameter(
        "X-Result-Count", int, OpenApiParameter.HEADER, response=True, description="In this answer."
    ),
]


class TroubleTicketViewSet(viewsets.ViewSet):
    """TMF621 TroubleTicket: list, create, read, and merge-patch (status, notes, resolution)."""

    parser_classes = [JSONParser, MergePatchParser]
    lookup_value_regex = "[^/]+"

    @property
    def write_roles(self):
        # Creating a ticket is what integrations and admins do (as in the bulk API); working one
        # (status, notes) also engineers.
        return WORKFLOW_ROLES if self.action == "partial_update" else TICKET_WRITERS

    def get_exception_handler(self):
        return tmf_exception_handler

    @extend_schema(
        operation_id="listTroubleTicket",
        parameters=_list_params + _count_headers,
        responses={200: TroubleTicketSerializer(many=True), 400: _errors[400]},
    )
    def list(self, request):
        params = request.query_params
        offset = _integer(params, "offset", 0, minimum=0, maximum=MAX_OFFSET)
        limit = _integer(params, "limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        tickets = tt.troubleticket_queryset().order_by("updated_at", "id")
        if params.get("status"):
            wanted = params["status"].split(",")
            unknown = [s for s in wanted if s not in Ticket.Status.values]
            if unknown:
                raise exceptions.ValidationError(
                    {"status": [f"not one of {', '.join(Ticket.Status.values)}"]}
                )
            tickets = tickets.filter(status__in=wanted)
        if params.get("severity"):
            priorities = [tt.priority_of(s) for s in params["severity"].split(",")]
            if None in priorities:
                raise exceptions.ValidationError({"severity": ["not one of Critical, Major, Minor, Warning"]})
            tickets = tickets.filter(priority__in=priorities)
        for name, lookup in (("lastUpdate.gt", "gt"), ("lastUpdate.gte", "gte"), ("lastUpdate.lt", "lt")):
            if params.get(name):
                try:
                    when = tt.parse_time_filter(params[name])
                except ValueError as e:
                    raise exceptions.ValidationError({name: [str(e)]}) from None
                tickets = tickets.filter(**{f"updated_at__{lookup}": when})
        if params.get("externalId"):
            source, external_id = tt.key_of(params["externalId"])
            tickets = tickets.filter(source=source, external_id=external_id)
        total = tickets.count()
        data = tt.representations(list(tickets[offset : offset + limit]), base_url=_base_url(request))
        if params.get("fields"):
            keep = {"id", "href"} | {f.strip() for f in params["fields"].split(",")}
            data = [{k: v for k, v in item.items() if k in keep} for item in data]
        return Response(data, headers={"X-Total-Count": str(total), "X-Result-Count": str(len(data))})

    @extend_schema(
        operation_id="createTroubleTicket",
        request=TroubleTicketCreateSerializer,
        responses={201: TroubleTicketSerializer, 400: _errors[400], 409: _conflict},
        description="Create a ticket (the same upsert as the bulk API); 409 when its externalId exists.",
    )
    def create(self, request):
        body = TroubleTicketCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        errors = {
            name: ["not one of Critical, Major, Minor, Warning (severity) or Critical, High, Medium, Low"]
            for name in ("severity", "priority")
            if data.get(name) and tt.priority_of(data[name]) is None
        }
        if errors:
            raise exceptions.ValidationError(errors)
        source, external_id = tt.key_of(data.get("externalId") or f"TT-{uuid.uuid4().hex[:12].upper()}")
        if Ticket.objects.filter(source=source, external_id=external_id).exists():
            raise Conflict(
                {"detail": f"a ticket with externalId {data.get('externalId')!r} exists", "code": "exists"}
            )
        document = {
            "source": source,
            "external_id": external_id,
            **tt.document_fields(data, own_base=_base_url(request)),
        }
        actor = Actor.of(request.user)
        with transaction.atomic():
            [result] = tickets_upsert(documents=[document], source=source)
            if result.status == "rejected":
                raise exceptions.ValidationError(tt.tmf_errors(result.errors))
            try:
                for note in data.get("note", []):
                    workflow.ticket_note_add(ticket_id=result.id, text=note["text"], actor=actor)
            except WorkflowError as e:
                _raise(e)
        return _answer(request, result.id, status_code=201)

    @extend_schema(
        operation_id="retrieveTroubleTicket",
        parameters=[OpenApiParameter("fields", str, description="Comma-separated attributes to return.")],
        responses={200: TroubleTicketSerializer, 404: _errors[404]},
    )
    def retrieve(self, request, pk=None):
        response = _answer(request, _ticket_id(pk))
        if request.query_params.get("fields"):
            keep = {"id", "href"} | {f.strip() for f in request.query_params["fields"].split(",")}
            response.data = {k: v for k, v in response.data.items() if k in keep}
        return response

    @extend_schema(
        operation_id="patchTroubleTicket",
        request={
            "application/merge-patch+json": TroubleTicketUpdateSerializer,
            "application/json": TroubleTicketUpdateSerializer,
        },
        parameters=[
            OpenApiParameter("If-Match", str, OpenApiParameter.HEADER, description="The ETag you last read.")
        ],
        responses={200: TroubleTicketSerializer, **_errors, 409: _conflict},
        description="JSON merge-patch: status (with statusChangeReason; resolved needs resolutionCode), new "
        "notes, resolutionCode/resolutionNotes. Other attributes belong to the ticket's source: 400.",
    )
    def partial_update(self, request, pk=None):
        ticket_id = _ticket_id(pk)
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["a merge-patch is a JSON object"]})
        refused = sorted(set(request.data) - set(tt.PATCHABLE))
        if refused:
            raise exceptions.ValidationError(
                {
                    name: [f"cannot be changed here; a PATCH may set {', '.join(tt.PATCHABLE)}"]
                    for name in refused
                }
            )
        body = TroubleTicketUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            tt.troubleticket_patch(
                ticket_id=ticket_id,
                patch=dict(body.validated_data),
                user=request.user,
                expected_revision=if_match_revision(request),
            )
        except (WorkflowError, ResolutionError) as e:
            _raise(e)
        return _answer(request, ticket_id)
