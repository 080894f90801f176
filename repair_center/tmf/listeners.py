"""What TicketAI's TMF listeners (client side) share: the event envelope TM Forum notifications
carry, and the answer. Each API's listener adds its resource (alarm_listener.py, ticket_listener.py)."""

import uuid

from rest_framework import serializers


class EventSerializer(serializers.Serializer):
    """A TMF notification; a subclass adds ``event``, the payload holding the resource."""

    eventId = serializers.CharField(required=False)
    eventTime = serializers.DateTimeField(required=False)
    eventType = serializers.CharField(required=False)


class ListenerAnswerSerializer(serializers.Serializer):
    """TMF answers a listener's 201 with an EventSubscription; a subclass adds, as a TicketAI
    extension, what became of the resource."""

    id = serializers.CharField(help_text="The event's eventId (or one made up when it had none).")
    callback = serializers.CharField(help_text="This listener's path.")


def answer(body: object, callback: str) -> dict:
    """The listener's answer to ``body``, before the resource is added: its eventId and path."""
    event_id = body.get("eventId") if isinstance(body, dict) else None
    return {"id": str(event_id or uuid.uuid4()), "callback": callback}
