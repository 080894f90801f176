"""TMF642 Alarm Management v4 at /tmf-api/alarm/v4/: raise, change and clear alarms, clear and
acknowledge several at once, list them. Fault-management systems (the fault_management role)
write here and nowhere else; writes go through repair_center.services.alarms."""

import uuid

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from repair_center import roles
from repair_center.alarm_documents import AlarmError, render_alarm
from repair_center.documents import parse_timestamp
from repair_center.models import Alarm
from repair_center.services import alarms
from repair_center.services.tickets import UpsertSummary
from repair_center.tmf import alarm_serializers as shapes
from ticketai.parsers import JSONParser

BASE = "/tmf-api/alarm/v4"
ALARM_READERS = roles.ALL
ALARM_WRITERS = frozenset({roles.FAULT_MANAGEMENT, roles.INTEGRATION, roles.ADMIN})
MAX_LIMIT = 1000


class MergePatchParser(JSONParser):
    """TMF APIs PATCH with JSON merge patch (RFC 7386); plain application/json is accepted too."""

    media_type = "application/merge-patch+json"


def tmf_error(http_status: int, reason: str, errors: dict | None = None) -> Response:
    body = {"code": str(http_status), "reason": reason, "status": str(http_status), "@type": "Error"}
    if errors:
        body["message"] = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())[:2000]
        body["errors"] = errors
    return Response(body, status=http_status)


_400 = OpenApiResponse(shapes.TmfErrorSerializer, "The body or a parameter is invalid.")
_404 = OpenApiResponse(shapes.TmfErrorSerializer, "No such alarm.")


class AlarmView(APIView):
    read_roles = ALARM_READERS
    write_roles = ALARM_WRITERS
    parser_classes = [JSONParser]

    def handle_exception(self, exc):
        """A body that is not JSON (DRF's 400) is answered as a TMF Error too, as the schema says."""
        response = super().handle_exception(exc)
        if (
            response.status_code in (400, 404)
            and isinstance(response.data, dict)
            and "code" not in response.data
        ):
            reason = "Bad Request" if response.status_code == 400 else "Not Found"
            errors = {k: v if isinstance(v, list) else [str(v)] for k, v in response.data.items()}
            response.data = tmf_error(response.status_code, reason, errors).data
        return response


# Query parameter -> (lookup, kind); kind "time" parses ISO 8601.
FILTERS = {
    "state": ("state", "text"),
    "ackState": ("ack_state", "text"),
    "perceivedSeverity": ("perceived_severity", "text"),
    "alarmType": ("alarm_type", "text"),
    "probableCause": ("probable_cause", "text"),
    "specificProblem": ("specific_problem", "text"),
    "sourceSystemId": ("source_system", "text"),
    "externalAlarmId": ("external_id", "text"),
    "alarmedObject.id": ("alarmed_object", "text"),
    "alarmChangedTime.gt": ("changed_at__gt", "time"),
    "alarmChangedTime.lt": ("changed_at__lt", "time"),
    "alarmRaisedTime.gt": ("raised_at__gt", "time"),
    "alarmRaisedTime.lt": ("raised_at__lt", "time"),
}
_LIST_PARAMETERS = [
    OpenApiParameter(
        "X-Total-Count",
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        response=[200],
        description="Alarms matching the filters.",
    ),
    OpenApiParameter(
        "X-Result-Count",
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        response=[200],
        description="Alarms in this answer.",
    ),
    OpenApiParameter("offset", OpenApiTypes.INT, description="Index of the first alarm to return."),
    OpenApiParameter(
        "limit", OpenApiTypes.INT, description=f"How many to return (1-{MAX_LIMIT}, default 100)."
    ),
    OpenApiParameter("fields", OpenApiTypes.STR, description="Comma-separated attributes to return."),
    *[
        OpenApiParameter(name, OpenApiTypes.DATETIME if kind == "time" else OpenApiTypes.STR)
        for name, (_, kind) in FILTERS.items()
    ],
]


def _filtered(params) -> QuerySet[Alarm]:
    """Alarms matching the query's attribute filters, oldest change first; raises AlarmError."""
    query, errors = {}, {}
    severity = Q()
    for name, (lookup, kind) in FILTERS.items():
        value = params.get(name)
        if value is None:
            continue
        if "\x00" in value or len(value) > 200:
            errors[name] = ["is not a value an alarm holds"]
        elif name == "perceivedSeverity":
            severity = alarms.severity_query(value)
        elif kind == "time":
            try:
                query[lookup] = parse_timestamp(value)
            except ValueError as e:
                errors[name] = [str(e)]
        else:
            query[lookup] = value
    if errors:
        raise AlarmError(errors)
    return Alarm.objects.filter(severity, **query).order_by("changed_at", "id")


def _bounded_int(params, name: str, default: int, low: int, high: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise AlarmError({name: [f"must be a whole number from {low} to {high}"]})
    return int(value)


class AlarmListView(AlarmView):
    @extend_schema(
        operation_id="listAlarm",
        parameters=_LIST_PARAMETERS,
        responses={200: shapes.AlarmSerializer(many=True), 400: _400},
        description="List alarms, oldest change first, with X-Total-Count and X-Result-Count.",
        tags=["TMF642 alarm"],
    )
    def get(self, request):
        try:
            alarms_ = _filtered(request.query_params)
            offset = _bounded_int(request.query_params, "offset", 0, 0, 2**31)
            limit = _bounded_int(request.query_params, "limit", 100, 1, MAX_LIMIT)
        except AlarmError as e:
            return tmf_error(400, "Bad Request", e.errors)
        total = alarms_.count()
        page = list(alarms_[offset : offset + limit])
        body = [render_alarm(a) for a in page]
        fields = request.query_params.get("fields")
        if fields:
            wanted = {f.strip() for f in fields.split(",")} | {"id", "href"}
            body = [{k: v for k, v in item.items() if k in wanted} for item in body]
        response = Response(body)
        response["X-Total-Count"] = str(total)
        response["X-Result-Count"] = str(len(body))
        return response

    @extend_schema(
        operation_id="createAlarm",
        request=shapes.AlarmCreateSerializer,
        responses={
            201: shapes.AlarmSerializer,
            200: OpenApiResponse(shapes.AlarmSerializer, "The alarm existed: changed, or the same again."),
            400: _400,
        },
        description="Raise an alarm, keyed on sourceSystemId + externalAlarmId; sending it again is "
        "harmless.",
        tags=["TMF642 alarm"],
    )
    def post(self, request):
        [result] = alarms.alarms_upsert(documents=[request.data])
        if result.status == "rejected":
            return tmf_error(400, "Bad Request", result.errors)
        code = status.HTTP_201_CREATED if result.status == "created" else status.HTTP_200_OK
        return Response(render_alarm(Alarm.objects.get(pk=result.id)), status=code)


class AlarmBulkView(AlarmView):
    @extend_schema(
        operation_id="createAlarmsInBulk",
        request=shapes.AlarmBulkSerializer,
        responses={200: shapes.AlarmBulkResultSerializer, 400: _400},
        description="TicketAI extension for alarm storms: many Alarm_Create bodies in one call, each "
        "judged on its own and the good ones written together.",
        tags=["TMF642 alarm"],
    )
    def post(self, request):
        body = request.data
        items = body.get("alarms") if isinstance(body, dict) else None
        if not isinstance(items, list):
            return tmf_error(400, "Bad Request", {"alarms": ["must be a list of Alarm_Create bodies"]})
        if len(items) > settings.TICKETAI_BULK_MAX_ITEMS:
            limit = settings.TICKETAI_BULK_MAX_ITEMS
            return tmf_error(400, "Bad Request", {"alarms": [f"at most {limit} per call (got {len(items)})"]})
        results = alarms.alarms_upsert(documents=items)
        summary = UpsertSummary()
        summary.add(results)
        return Response({**summary.counts(), "results": [r.to_json() for r in results]})


class AlarmDetailView(AlarmView):
    parser_classes = [MergePatchParser, JSONParser]

    def _alarm(self, pk: int) -> Alarm | None:
        return Alarm.objects.filter(pk=pk).first() if pk < 2**63 else None

    @extend_schema(
        operation_id="retrieveAlarm",
        responses={200: shapes.AlarmSerializer, 404: _404},
        tags=["TMF642 alarm"],
    )
    def get(self, request, pk: int):
        alarm = self._alarm(pk)
        if alarm is None:
            return tmf_error(404, "Not Found")
        return Response(render_alarm(alarm))

    @extend_schema(
        operation_id="patchAlarm",
        request=shapes.AlarmUpdateSerializer,
        responses={200: shapes.AlarmSerializer, 400: _400, 404: _404},
        description="Change or clear the alarm (state cleared, or perceivedSeverity cleared).",
        tags=["TMF642 alarm"],
    )
    def patch(self, request, pk: int):
        alarm = self._alarm(pk)
        if alarm is None:
            return tmf_error(404, "Not Found")
        try:
            result = alarms.alarm_change(alarm=alarm, data=request.data)
        except AlarmError as e:
            return tmf_error(400, "Bad Request", e.errors)
        if result.status == "rejected":
            return tmf_error(400, "Bad Request", result.errors)
        return Response(render_alarm(Alarm.objects.get(pk=alarm.pk)))


def _task_time(data: dict, name: str, *, required: bool):
    value = data.get(name)
    if value is None:
        if required:
            raise AlarmError({name: ["is required"]})
        return timezone.now()
    try:
        return parse_timestamp(value)
    except ValueError as e:
        raise AlarmError({name: [str(e)]}) from None


def _task_text(data: dict, name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > 150 or "\x00" in value:
        raise AlarmError({name: ["is required: at most 150 characters"]})
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AlarmError({name: ["must be valid Unicode"]}) from None
    return value.strip()


class _PatternTaskView(AlarmView):
    """POST of a TMF642 task resource that acts on the alarms its alarmPatterns match, at once."""

    task = ""  # the resource name in the path
    done = ""  # the attribute listing the alarms it acted on

    def act(self, data: dict) -> tuple[dict, list[Alarm]]:
        raise NotImplementedError

    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        try:
            fields, found = self.act(data)
        except AlarmError as e:
            return tmf_error(400, "Bad Request", e.errors)
        task = str(uuid.uuid4())
        body = {
            "id": task,
            "href": f"{BASE}/{self.task}/{task}",
            "state": "done",
            **fields,
            "alarmPattern": data["alarmPattern"],
            self.done: [{"id": a.pk, "href": f"{BASE}/alarm/{a.pk}"} for a in found],
        }
        return Response(body, status=status.HTTP_201_CREATED)


def _iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


@extend_schema_view(
    post=extend_schema(
        operation_id="createClearAlarms",
        request=shapes.ClearAlarmsCreateSerializer,
        responses={201: shapes.ClearAlarmsSerializer, 400: _400},
        description="Clear every raised alarm that one of the patterns matches.",
        tags=["TMF642 alarm"],
    )
)
class ClearAlarmsView(_PatternTaskView):
    task, done = "clearAlarms", "clearedAlarm"

    def act(self, data):
        cleared_at = _task_time(data, "alarmClearedTime", required=True)
        user, system = _task_text(data, "clearUserId"), _task_text(data, "clearSystemId")
        found = alarms.alarms_clear(
            patterns=data.get("alarmPattern"), cleared_at=cleared_at, user=user, system=system
        )
        return {"alarmClearedTime": _iso(cleared_at), "clearUserId": user, "clearSystemId": system}, found


@extend_schema_view(
    post=extend_schema(
        operation_id="createAckAlarms",
        request=shapes.AckAlarmsCreateSerializer,
        responses={201: shapes.AckAlarmsSerializer, 400: _400},
        description="Acknowledge every unacknowledged alarm that one of the patterns matches.",
        tags=["TMF642 alarm"],
    )
)
class AckAlarmsView(_PatternTaskView):
    task, done = "ackAlarms", "ackedAlarm"

    def act(self, data):
        acked_at = _task_time(data, "ackTime", required=False)
        user, system = _task_text(data, "ackUserId"), _task_text(data, "ackSystemId")
        found = alarms.alarms_ack(
            patterns=data.get("alarmPattern"), acked_at=acked_at, user=user, system=system
        )
        return {"ackTime": _iso(acked_at), "ackUserId": user, "ackSystemId": system}, found
