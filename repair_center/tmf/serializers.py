"""TMF621 bodies as DRF serializers: they validate the shape of what comes in and describe, in the
OpenAPI schema, what goes out. The representation itself is built by tmf/troubleticket.py."""

from rest_framework import serializers

from repair_center.models import RESOLUTION_CODE_LENGTH, Ticket
from repair_center.services.workflow import MAX_NOTE, MAX_REASON

_text = {"required": False, "allow_blank": True}


class ErrorSerializer(serializers.Serializer):
    """TMF630 Error; ``errors`` (TicketAI extension) names each field at fault."""

    code = serializers.CharField(help_text="A short code: invalid, not_found, stale_revision, ...")
    reason = serializers.CharField()
    message = serializers.CharField(required=False)
    status = serializers.CharField(required=False, help_text="The HTTP status.")
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class NoteSerializer(serializers.Serializer):
    id = serializers.CharField(required=False)
    author = serializers.CharField(required=False)
    date = serializers.DateTimeField(required=False)
    text = serializers.CharField(required=False, max_length=MAX_NOTE)


class NoteInputSerializer(serializers.Serializer):
    id = serializers.CharField(required=False, max_length=64, help_text="A note we already hold is kept.")
    author = serializers.CharField(
        required=False, max_length=150, help_text="Ignored: the caller is the author."
    )
    date = serializers.CharField(
        required=False, max_length=64, help_text="Ignored: notes are dated when added."
    )
    text = serializers.CharField(max_length=MAX_NOTE)


class RelatedEntitySerializer(serializers.Serializer):
    id = serializers.CharField(max_length=200)
    href = serializers.CharField(required=False, max_length=2000)
    name = serializers.CharField(required=False, max_length=200)
    role = serializers.CharField(max_length=64, help_text="site, networkElement or alarm")


class StatusChangeSerializer(serializers.Serializer):
    status = serializers.CharField(required=False)
    changeDate = serializers.DateTimeField(required=False)
    changeReason = serializers.CharField(required=False)


class RelatedPartySerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField(required=False)
    role = serializers.CharField(required=False)


class TroubleTicketSerializer(serializers.Serializer):
    """TMF621 TroubleTicket as TicketAI answers it (docs/connect.md has the mapping)."""

    id = serializers.CharField()
    href = serializers.CharField()
    externalId = serializers.CharField(required=False, help_text="<source>:<external id>")
    name = serializers.CharField(required=False)
    description = serializers.CharField(required=False)
    ticketType = serializers.CharField(required=False)
    severity = serializers.CharField(required=False, help_text="Critical, Major, Minor or Warning")
    priority = serializers.CharField(required=False, help_text="Critical, High, Medium or Low")
    status = serializers.ChoiceField(choices=Ticket.Status.choices, required=False)
    creationDate = serializers.DateTimeField(required=False)
    lastUpdate = serializers.DateTimeField(required=False)
    statusChangeDate = serializers.DateTimeField(required=False)
    statusChangeReason = serializers.CharField(required=False)
    resolutionDate = serializers.DateTimeField(required=False)
    statusChange = StatusChangeSerializer(many=True, required=False)
    note = NoteSerializer(many=True, required=False)
    relatedEntity = RelatedEntitySerializer(many=True, required=False)
    relatedParty = RelatedPartySerializer(many=True, required=False)
    resolutionCode = serializers.CharField(required=False, help_text="TicketAI extension")
    resolutionNotes = serializers.CharField(required=False, help_text="TicketAI extension")


class TroubleTicketCreateSerializer(serializers.Serializer):
    """TMF621 TroubleTicket_Create: the attributes TicketAI keeps (others are accepted and ignored)."""

    description = serializers.CharField(max_length=100_000, allow_blank=True)
    severity = serializers.CharField(max_length=32, help_text="Critical, Major, Minor or Warning")
    ticketType = serializers.CharField(max_length=64, help_text="Accepted, not kept.")
    externalId = serializers.CharField(
        required=False, max_length=265, help_text="<source>:<external id>, or an id of the tmf621 source"
    )
    name = serializers.CharField(max_length=500, **_text)
    priority = serializers.CharField(max_length=32, required=False, help_text="Wins over severity.")
    status = serializers.ChoiceField(choices=Ticket.Status.choices, required=False)
    creationDate = serializers.CharField(max_length=64, required=False)
    resolutionDate = serializers.CharField(max_length=64, required=False)
    note = NoteInputSerializer(many=True, required=False)
    relatedEntity = RelatedEntitySerializer(many=True, required=False)
    resolutionCode = serializers.CharField(max_length=RESOLUTION_CODE_LENGTH, **_text)
    resolutionNotes = serializers.CharField(max_length=100_000, **_text)


class TroubleTicketUpdateSerializer(serializers.Serializer):
    """A TMF621 merge-patch: what a PATCH may change (other attributes are refused with 400)."""

    status = serializers.ChoiceField(choices=Ticket.Status.choices, required=False)
    statusChangeReason = serializers.CharField(max_length=MAX_REASON, **_text)
    note = NoteInputSerializer(
        many=True, required=False, help_text="Notes without an id we hold are added; none is removed."
    )
    resolutionCode = serializers.CharField(max_length=RESOLUTION_CODE_LENGTH, **_text)
    resolutionNotes = serializers.CharField(max_length=100_000, **_text)


class EventSubscriptionInputSerializer(serializers.Serializer):
    callback = serializers.URLField(max_length=2000)
    query = serializers.CharField(
        required=False, allow_blank=True, max_length=500, help_text="eventType=A,B to choose events"
    )


class EventSubscriptionSerializer(serializers.Serializer):
    id = serializers.CharField()
    callback = serializers.CharField()
    query = serializers.CharField(required=False)
    secret = serializers.CharField(
        required=False, help_text="TicketAI extension: the HMAC secret of X-TicketAI-Signature, shown once."
    )
