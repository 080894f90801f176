"""TicketAI as a TMF642 listener: a fault-management system that serves TMF642 itself notifies the
listeners registered at its ``/hub`` by POSTing events to ``{callback}/listener/<event>``. With the
callback ``https://ticketai.example/tmf-api/alarm/v4`` (``manage.py tmf_subscribe``), its alarms
arrive here as they are raised, changed and cleared, with no pull interval between them.

An event carries the alarm resource as that system holds it (``event.alarm``). Its key here is
``sourceSystemId`` (else the posting system's user name) with ``externalAlarmId`` (else the alarm's
``id`` on that system, the id its AlarmRefs name it by). A new alarm needs every Alarm_Create
attribute; an event about a stored one may carry only what changed. A delete event (the system
dropped the alarm from its list, usually long after the clear) changes nothing here: the alarm's
history stays for correlation until retention removes it.
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from repair_center.alarm_documents import REQUIRED, AlarmError, keyed_by_id
from repair_center.models import Alarm
from repair_center.services import alarms
from repair_center.tmf import listeners
from repair_center.tmf.alarm_serializers import TmfErrorSerializer
from repair_center.tmf.alarms import BASE, AlarmView, tmf_error

# The listener paths this side takes (TMF642 v4 "notification listeners (client side)").
WRITES = ("alarmCreateEvent", "alarmAttributeValueChangeEvent", "alarmStateChangeEvent")
IGNORED = ("alarmDeleteEvent",)
EVENTS = WRITES + IGNORED
# An event about a stored alarm may repeat its identity; it cannot change it.
IDENTITY = ("id", "href", "sourceSystemId", "externalAlarmId")


class AlarmEventPayloadSerializer(serializers.Serializer):
    alarm = serializers.DictField(
        help_text="The TMF642 Alarm as the notifying system holds it; about a stored alarm, what changed "
        "is enough (with its id or externalAlarmId)."
    )


class AlarmEventSerializer(listeners.EventSerializer):
    """A TMF642 notification about an alarm."""

    event = AlarmEventPayloadSerializer()


class AlarmListenerAnswerSerializer(listeners.ListenerAnswerSerializer):
    """TMF642 answers a listener's 201 with an EventSubscription; ``alarm`` is a TicketAI extension."""

    alarm = serializers.DictField(
        required=False, help_text="What became of the alarm: id, href, status (created, updated, unchanged)."
    )


def _alarm_of(body: object) -> dict:
    event = body.get("event") if isinstance(body, dict) else None
    alarm = event.get("alarm") if isinstance(event, dict) else None
    if not isinstance(alarm, dict):
        raise AlarmError({"event": ['must hold the alarm: {"event": {"alarm": {...}}}']})
    alarm = keyed_by_id(alarm)
    if not alarm.get("externalAlarmId"):
        raise AlarmError({"event": ["the alarm has neither an externalAlarmId nor an id"]})
    return alarm


def _stored(alarm: dict, poster: str) -> Alarm | None:
    """The stored alarm the event is about. Without a sourceSystemId, an event names it by its id
    alone: the posting system's alarm of that id, else the only one."""
    found = Alarm.objects.filter(external_id=str(alarm["externalAlarmId"]))
    if alarm.get("sourceSystemId"):
        return found.filter(source_system=str(alarm["sourceSystemId"])).first()
    candidates = list(found[:2])
    own = [a for a in candidates if a.source_system == poster]
    return own[0] if own else (candidates[0] if len(candidates) == 1 else None)


def take(body: object, *, poster: str) -> tuple[str, int | None]:
    """Write the event's alarm: (created, updated or unchanged; the alarm's id). Raises AlarmError.

    ``poster``: the posting system's user name, the source of a new alarm that names none."""
    alarm = _alarm_of(body)
    stored = _stored(alarm, poster)
    if stored is None:
        alarm.setdefault("sourceSystemId", poster)
        missing = [name for name in REQUIRED if alarm.get(name) in (None, "", {})]
        if missing:
            key = f"{alarm['sourceSystemId']}/{alarm['externalAlarmId']}"
            message = (
                f"no alarm {key} is stored: an event about a new alarm needs every Alarm_Create attribute"
            )
            raise AlarmError({"event": [message], **{name: ["is required"] for name in missing}})
    if stored is None or all(alarm.get(name) not in (None, "", {}) for name in REQUIRED):
        [result] = alarms.alarms_upsert(documents=[alarm])
    else:
        change = {name: value for name, value in alarm.items() if name not in IDENTITY}
        change.pop("alarmRaisedTime", None)  # an event repeats it; it identifies the alarm here
        result = alarms.alarm_change(alarm=stored, data=change)
    if result.status == "rejected":
        raise AlarmError(result.errors)
    return result.status, result.id


class AlarmListenerView(AlarmView):
    """POST {callback}/listener/<event>: an alarm event from a TMF642 system TicketAI listens to."""

    @extend_schema(
        operation_id="listenToAlarmEvent",
        parameters=[OpenApiParameter("event", str, OpenApiParameter.PATH, enum=list(EVENTS))],
        request=AlarmEventSerializer,
        responses={
            201: AlarmListenerAnswerSerializer,
            400: OpenApiResponse(TmfErrorSerializer, "The event is not one this listener can use."),
            404: OpenApiResponse(TmfErrorSerializer, "Not an event TicketAI listens to."),
        },
        description="TicketAI as a TMF642 listener (client side): alarmCreateEvent, "
        "alarmAttributeValueChangeEvent and alarmStateChangeEvent write the event's alarm; "
        "alarmDeleteEvent is taken and changes nothing.",
        tags=["TMF642 alarm"],
    )
    def post(self, request, event: str):
        if event not in EVENTS:
            return tmf_error(404, "Not Found", {"event": [f"TicketAI listens to {', '.join(EVENTS)}"]})
        body = request.data
        answer = listeners.answer(body, f"{BASE}/listener/{event}")
        if event in WRITES:
            try:
                outcome, alarm_id = take(body, poster=request.user.get_username())
            except AlarmError as e:
                return tmf_error(400, "Bad Request", e.errors)
            answer["alarm"] = {"id": alarm_id, "href": f"{BASE}/alarm/{alarm_id}", "status": outcome}
        return Response(answer, status=status.HTTP_201_CREATED)
