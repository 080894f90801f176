"""TicketAI as a TMF621 listener of another system's trouble tickets.

A ticketing system that serves TMF621 notifies the listeners registered at its ``/hub`` by POSTing
events to ``{callback}/listener/<event>``. The callback names the TMF621 pull connector
(services/connectors.py, preset ``tmf621``) of that system,
``https://ticketai.example/tmf-api/troubleTicket/v4/connector/<name>``, so an event is read as that
connector's pull reads the same TroubleTicket: its ``id`` is the external id, the connector's name
is the source, its ``field_mapping`` and ``create_missing`` apply. Tickets arrive as they change;
the connector's scheduled pull stays the backstop for notifications lost while TicketAI was down,
and re-reads what the events brought as unchanged.

A create or resolved event carries the whole TroubleTicket; an attribute-value-change or
status-change event about a ticket stored here may carry only what changed (with the ticket's
``id``), and is laid over the stored ticket. A ticket without ``lastUpdate`` is as new as the
event's ``eventTime``. A delete or an information-required event changes nothing here.
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from repair_center import selectors
from repair_center.documents import FIELDS
from repair_center.ingestion import presets
from repair_center.models import Connector
from repair_center.services.connectors import connector_upsert
from repair_center.tmf import listeners
from repair_center.tmf.alarms import tmf_error
from repair_center.tmf.serializers import ErrorSerializer
from repair_center.tmf.views import TICKET_WRITERS, tmf_exception_handler
from ticketai.parsers import JSONParser

BASE = "/tmf-api/troubleTicket/v4"
WRITES = (
    "troubleTicketCreateEvent",
    "troubleTicketAttributeValueChangeEvent",
    "troubleTicketStatusChangeEvent",
    "troubleTicketResolvedEvent",
)
IGNORED = ("troubleTicketDeleteEvent", "troubleTicketInformationRequiredEvent")
CHANGES = ("troubleTicketAttributeValueChangeEvent", "troubleTicketStatusChangeEvent")  # may be partial
EVENTS = WRITES + IGNORED


class TroubleTicketEventPayloadSerializer(serializers.Serializer):
    troubleTicket = serializers.DictField(help_text="The TroubleTicket as the notifying system holds it.")


class TroubleTicketEventSerializer(listeners.EventSerializer):
    """A TMF621 notification about a TroubleTicket."""

    event = TroubleTicketEventPayloadSerializer()


class TroubleTicketListenerAnswerSerializer(listeners.ListenerAnswerSerializer):
    """TMF621 answers a listener's 201 with an EventSubscription; ``troubleTicket`` is TicketAI's."""

    troubleTicket = serializers.DictField(
        required=False, help_text="What became of the ticket: id, href, status (created, updated, unchanged)."
    )


def take(connector: Connector, event: str, body: object):
    """Write the event's TroubleTicket as the connector's pull would: its ItemResult, or the errors.

    A change event about a stored ticket may carry only what changed: it is laid over the stored
    ticket. A ticket without ``lastUpdate`` is as new as the event (``eventTime``)."""
    payload = body.get("event") if isinstance(body, dict) else None
    item = payload.get("troubleTicket") if isinstance(payload, dict) else None
    if not isinstance(item, dict):
        return None, {"event": ['must hold the ticket: {"event": {"troubleTicket": {...}}}']}
    if item.get("lastUpdate") is None:
        if not isinstance(body, dict) or body.get("eventTime") is None:
            return None, {
                "lastUpdate": ["is missing, and so is the event's eventTime: one orders the changes"]
            }
        item = {**item, "lastUpdate": body["eventTime"]}
    preset = presets.PRESETS["tmf621"]
    mapping = connector.field_mapping if isinstance(connector.field_mapping, dict) else {}
    try:
        document, _ = preset.document(item, mapping, tuple(FIELDS))
    except ValueError as e:
        return None, e.args[0]
    document["source"] = connector.name
    if event in CHANGES and isinstance(document.get("external_id"), str | int):
        stored = (
            selectors.ticket_with_names()
            .filter(source=connector.name, external_id=str(document["external_id"]))
            .first()
        )
        if stored is not None:
            base = selectors.ticket_document(stored)
            # The status the source last sent, not one engineers set since: theirs is kept as a
            # source's resend keeps it (history.keep_workflow_status).
            base["status"] = stored.source_status or base["status"]
            document = {**base, **document}
    [result] = connector_upsert(connector, [document])
    return result, result.errors if result.status == "rejected" else None


class TroubleTicketListenerView(APIView):
    """POST {callback}/listener/<event>: a TroubleTicket event from a system a connector pulls."""

    write_roles = TICKET_WRITERS
    parser_classes = [JSONParser]

    def get_exception_handler(self):
        return tmf_exception_handler

    @extend_schema(
        operation_id="listenToTroubleTicketEvent",
        parameters=[OpenApiParameter("event", str, OpenApiParameter.PATH, enum=list(EVENTS))],
        request=TroubleTicketEventSerializer,
        responses={
            201: TroubleTicketListenerAnswerSerializer,
            400: OpenApiResponse(ErrorSerializer, "The event is not one this listener can use."),
            404: OpenApiResponse(ErrorSerializer, "No TMF621 connector of that name, or no such event."),
        },
        description="TicketAI as a TMF621 listener (client side) of the system the named tmf621 "
        "connector pulls: create, attribute-value-change, status-change and resolved events write the "
        "ticket as that connector's pull does; delete and information-required events change nothing.",
    )
    def post(self, request, name: str, event: str):
        connector = Connector.objects.filter(
            name=name, kind=Connector.Kind.TICKETS, preset=Connector.Preset.TMF621
        ).first()
        if connector is None:
            return tmf_error(
                404, "Not Found", {"connector": [f"no TMF621 ticket connector named {name[:64]!r}"]}
            )
        if event not in EVENTS:
            return tmf_error(404, "Not Found", {"event": [f"TicketAI listens to {', '.join(EVENTS)}"]})
        body = request.data
        answer = listeners.answer(body, f"{BASE}/connector/{connector.name}/listener/{event}")
        if event in WRITES:
            result, errors = take(connector, event, body)
            if errors:
                return tmf_error(400, "Bad Request", errors)
            answer["troubleTicket"] = {
                "id": str(result.id),
                "href": f"{BASE}/troubleTicket/{result.id}",
                "status": result.status,
            }
        return Response(answer, status=status.HTTP_201_CREATED)
