"""/tmf-api/troubleTicket/v4/hub: TMF621 listeners register here and are sent events as signed webhooks.

A hub is a WebhookSubscription of kind tmf621: the same outbound guard on its callback, the same
signature (X-TicketAI-Signature with the secret answered once, a TicketAI extension), the same
retries and delivery log as every webhook. ``query`` chooses events: empty for all of them, or
``eventType=TroubleTicketStatusChangeEvent,TroubleTicketResolvedEvent``.
"""

from urllib.parse import parse_qsl

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.response import Response

from ml.models.webhooks import TMF621_EVENTS, WebhookSubscription
from repair_center import roles
from repair_center.tmf.serializers import (
    ErrorSerializer,
    EventSubscriptionInputSerializer,
    EventSubscriptionSerializer,
)
from repair_center.tmf.views import tmf_exception_handler
from ticketai import outbound

HUB_ROLES = frozenset({roles.INTEGRATION, roles.ADMIN})
# Every ticket event is sent to every listener: one account registering thousands would make each
# change thousands of deliveries. A system needs a few.
MAX_HUBS_PER_OWNER = 20


def hub_events(query: str) -> list[str]:
    """The events a hub's query asks for; raises ValueError naming what is not understood."""
    if not query.strip():
        return list(TMF621_EVENTS)
    events: list[str] = []
    for name, value in parse_qsl(query.strip(), keep_blank_values=True):
        if name != "eventType":
            raise ValueError(f"only eventType can be queried (got {name[:40]!r})")
        for event in value.split(","):
            event = event.strip()
            if event not in TMF621_EVENTS:
                raise ValueError(f"{event[:60]!r} is not one of {', '.join(TMF621_EVENTS)}")
            events.append(event)
    if not events:
        raise ValueError("give eventType=... or leave query empty for every event")
    return list(dict.fromkeys(events))


class TroubleTicketHubViewSet(viewsets.ViewSet):
    """Register (POST /hub) and unregister (DELETE /hub/{id}) TMF621 listeners."""

    read_roles = HUB_ROLES
    write_roles = HUB_ROLES

    def get_exception_handler(self):
        return tmf_exception_handler

    @extend_schema(
        operation_id="registerListener",
        request=EventSubscriptionInputSerializer,
        responses={201: EventSubscriptionSerializer, 400: OpenApiResponse(ErrorSerializer)},
    )
    def create(self, request):
        body = EventSubscriptionInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        callback, query = body.validated_data["callback"], body.validated_data.get("query", "")
        errors = {}
        try:
            outbound.check_url(callback)
        except outbound.OutboundRefused as e:
            errors["callback"] = [str(e)]
        try:
            events = hub_events(query)
        except ValueError as e:
            errors["query"] = [str(e)]
        owned = WebhookSubscription.objects.filter(kind=WebhookSubscription.Kind.TMF621, owner=request.user)
        if owned.count() >= MAX_HUBS_PER_OWNER:
            errors["callback"] = [
                f"you have {MAX_HUBS_PER_OWNER} listeners registered, the most one account may have; "
                "unregister one first"
            ]
        if errors:
            raise exceptions.ValidationError(errors)
        hub = WebhookSubscription.objects.create(
            name=f"TMF621 hub of {request.user.get_username()}"[:100],
            url=callback,
            events=events,
            kind=WebhookSubscription.Kind.TMF621,
            query=query,
            owner=request.user,
        )
        data = {"id": str(hub.pk), "callback": hub.url, "query": hub.query, "secret": hub.secret}
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="unregisterListener",
        responses={204: None, 404: OpenApiResponse(ErrorSerializer)},
    )
    def destroy(self, request, pk=None):
        hub = None
        hubs = WebhookSubscription.objects.filter(kind=WebhookSubscription.Kind.TMF621)
        if not roles.has_role(request.user, roles.ADMIN):
            # Another integration's listener is not there for this one: 404, as for no listener.
            hubs = hubs.filter(owner=request.user)
        if str(pk).isdigit() and 0 < int(pk) < 2**63:
            hub = hubs.filter(pk=int(pk)).first()
        if hub is None:
            raise exceptions.NotFound(f"No listener {str(pk)[:40]!r}.")
        hub.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
