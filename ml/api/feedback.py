"""Feedback API: engineers accept, reject or correct a ticket's recommendation.

POST /api/v1/tickets/{id}/feedback/ {action, resolution?, notes?} records it (engineer, admin);
GET lists the ticket's feedback, newest first (any role).
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response

from ml.models import Feedback
from ml.serving.feedback import FeedbackError, feedback_record
from repair_center import roles
from repair_center.models import RESOLUTION_CODE_LENGTH, Ticket

FEEDBACK_WRITERS = frozenset({roles.ENGINEER, roles.ADMIN})


class FeedbackSerializer(serializers.ModelSerializer):
    ticket = serializers.IntegerField(source="ticket_id", read_only=True)
    user = serializers.CharField(source="username", read_only=True)
    chosen_resolution = serializers.SlugRelatedField(slug_field="code", read_only=True)
    model_version = serializers.IntegerField(source="model_version_id", read_only=True, allow_null=True)

    class Meta:
        model = Feedback
        fields = (
            "id",
            "ticket",
            "ticket_revision",
            "action",
            "recommended_resolution",
            "chosen_resolution",
            "notes",
            "model_version",
            "user",
            "created_at",
        )
        read_only_fields = fields


class FeedbackRequestSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=Feedback.Action.choices)
    resolution = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=RESOLUTION_CODE_LENGTH,
        help_text="Required to correct; optional to accept.",
    )
    notes = serializers.CharField(required=False, allow_blank=True, max_length=100_000, default="")


class TicketFeedbackView(generics.ListCreateAPIView):
    serializer_class = FeedbackSerializer
    write_roles = FEEDBACK_WRITERS
    filter_backends: list = []

    def get_ticket(self) -> Ticket:
        return get_object_or_404(Ticket.objects.select_related("resolution"), pk=self.kwargs["ticket_id"])

    def get_queryset(self):
        return (
            Feedback.objects.filter(ticket_id=self.kwargs["ticket_id"])
            .select_related("chosen_resolution")
            .order_by("-created_at", "-id")
        )

    def list(self, request, *args, **kwargs):
        self.get_ticket()  # 404 for a ticket that does not exist, not an empty list
        return super().list(request, *args, **kwargs)

    # On post, not create: the schema is read from the method handler, and on create it was lost
    # (no request body documented, so the fuzzer never sent one).
    @extend_schema(
        request=FeedbackRequestSerializer,
        responses={201: FeedbackSerializer, 400: OpenApiResponse(description="{field: [message, ...]}")},
        description="Accept (the top recommendation, or one of the recommended resolutions), correct "
        "(give the right resolution) or reject. On an open ticket this is a verdict that changes nothing "
        "else (accept: 'I will try this'; resolve with tickets/{id}/transition/); on a resolved or closed "
        "ticket accept and correct also set its resolution label.",
    )
    def post(self, request, *args, **kwargs):
        return self.create(request, *args, **kwargs)

    def create(self, request, *args, **kwargs):
        ticket = self.get_ticket()
        data = FeedbackRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            feedback = feedback_record(
                ticket=ticket,
                user=request.user,
                action=data.validated_data["action"],
                resolution_code=data.validated_data.get("resolution") or None,
                notes=data.validated_data.get("notes", ""),
            )
        except FeedbackError as e:
            raise exceptions.ValidationError(e.errors) from None
        return Response(FeedbackSerializer(feedback).data, status=status.HTTP_201_CREATED)
