"""Working tickets over the API: status actions, assignment, work notes and the change history.

The routes hang off ``tickets/{id}/``; each validates its body, calls the one service in
repair_center.services.workflow and answers with the ticket as it now stands. A status the
ticket's lifecycle does not allow, and a stale ``revision``, answer 409 with a ``code`` saying which.
"""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from repair_center import roles
from repair_center.api.serializers import TicketSerializer
from repair_center.models import RESOLUTION_CODE_LENGTH, AssignmentGroup, Ticket, TicketChange, WorkNote
from repair_center.selectors import ticket_detail
from repair_center.services import workflow
from repair_center.services.history import IllegalTransition, StaleRevision, WorkflowError

# Engineers work tickets in the pages and may do the same over the API; integrations act for
# the ticketing systems they connect.
WORKFLOW_ROLES = frozenset({roles.ENGINEER, roles.INTEGRATION, roles.ADMIN})


class WorkflowConflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"

    def __init__(self, error: WorkflowError):
        detail = {"detail": error.message, "code": error.code}
        if isinstance(error, StaleRevision):
            detail["current_revision"] = error.current
        super().__init__()
        self.detail = detail  # as given: DRF would turn the revision number into a string


def _raise(error: WorkflowError):
    if isinstance(error, IllegalTransition | StaleRevision):
        raise WorkflowConflict(error) from None
    raise exceptions.ValidationError(error.errors) from None


_revision = serializers.IntegerField(
    required=False,
    min_value=1,
    help_text="The revision you last read; if the ticket has moved on since, nothing changes and the "
    "answer is 409 with code stale_revision and current_revision.",
)


ACTION_CHOICES = list(workflow.TRANSITIONS)


class TransitionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=ACTION_CHOICES)
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=500, help_text="Required to hold, cancel or reopen."
    )
    resolution = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=RESOLUTION_CODE_LENGTH,
        help_text="Resolution code; required to resolve.",
    )
    resolution_notes = serializers.CharField(required=False, allow_blank=True, max_length=100_000)
    revision = _revision


class AssignSerializer(serializers.Serializer):
    assignee = serializers.CharField(
        required=False, allow_null=True, max_length=150, help_text="User name; null unassigns the person."
    )
    group = serializers.CharField(
        required=False, allow_null=True, max_length=100, help_text="Assignment group name; null clears it."
    )
    revision = _revision


class WorkNoteSerializer(serializers.ModelSerializer):
    """TMF621 Note: author, date, text (plus who may see it)."""

    date = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = WorkNote
        fields = ["id", "author", "date", "text", "visibility"]
        read_only_fields = ["id", "author", "date"]


class WorkNoteCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=workflow.MAX_NOTE)
    visibility = serializers.ChoiceField(
        choices=WorkNote.Visibility.choices, default=WorkNote.Visibility.INTERNAL
    )
    revision = _revision


class TicketChangeSerializer(serializers.ModelSerializer):
    changes = serializers.DictField(
        child=serializers.DictField(),
        help_text='{field: {"from": old, "to": new}}; status changes hold "status".',
    )

    class Meta:
        model = TicketChange
        fields = ["id", "revision", "action", "actor", "changes", "reason", "changed_at"]
        read_only_fields = fields


class AssignmentGroupSerializer(serializers.ModelSerializer):
    members = serializers.SlugRelatedField(
        slug_field="username",
        many=True,
        required=False,
        queryset=get_user_model().objects.all(),
        help_text="User names.",
    )

    class Meta:
        model = AssignmentGroup
        fields = ["id", "name", "description", "members", "created_at"]
        read_only_fields = ["id", "created_at"]


class AssignmentGroupViewSet(viewsets.ModelViewSet):
    """Teams tickets are assigned to; any role reads, admins manage them."""

    queryset = AssignmentGroup.objects.prefetch_related("members")
    serializer_class = AssignmentGroupSerializer
    search_fields = ["name"]
    ordering_fields = ["name"]
    filterset_fields = ["name"]


_conflict = OpenApiResponse(
    description="409: {detail, code}: code illegal_transition (the status does not allow it) or "
    "stale_revision (with current_revision)."
)
_bad = OpenApiResponse(description="Field errors: {field: [message, ...]}.")


def _ticket_id(pk) -> int:
    """The ticket's id from the path, or 404: the route takes any text there, and a text or a number no
    id column holds must not reach the database (the fuzzer found a 500 with "null")."""
    if not str(pk).isdigit() or not 0 < int(pk) < 2**63:
        raise exceptions.NotFound("No such ticket.")
    if not Ticket.objects.filter(pk=int(pk)).exists():
        raise exceptions.NotFound("No such ticket.")
    return int(pk)


def _ticket_response(view, ticket_id: int) -> Response:
    ticket = ticket_detail().get(pk=ticket_id)
    return Response(TicketSerializer(ticket, context=view.get_serializer_context()).data)


class TicketWorkflowMixin:
    """The TicketViewSet's work routes."""

    @extend_schema(
        request=TransitionSerializer,
        responses={200: TicketSerializer, 400: _bad, 409: _conflict},
        description="Take a TMF621 status action: acknowledge, start (inProgress), hold (held, with a "
        "reason), resolve (with a resolution code), close, cancel (with a reason) or reopen (with a reason).",
    )
    @action(
        detail=True, methods=["post"], filter_backends=[], pagination_class=None, write_roles=WORKFLOW_ROLES
    )
    def transition(self, request, pk=None, format=None):
        ticket_id = _ticket_id(pk)
        body = TransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            workflow.ticket_transition(
                ticket_id=ticket_id,
                action=data["action"],
                user=request.user,
                reason=data.get("reason", ""),
                resolution_code=data.get("resolution", ""),
                resolution_notes=data.get("resolution_notes", ""),
                expected_revision=data.get("revision"),
            )
        except WorkflowError as e:
            _raise(e)
        return _ticket_response(self, ticket_id)

    @extend_schema(
        request=AssignSerializer,
        responses={200: TicketSerializer, 400: _bad, 409: _conflict},
        description="Assign an open ticket to a person (a member of its group) and/or a group; a field "
        "left out stays as it is, null clears it.",
    )
    @action(
        detail=True, methods=["post"], filter_backends=[], pagination_class=None, write_roles=WORKFLOW_ROLES
    )
    def assign(self, request, pk=None, format=None):
        ticket_id = _ticket_id(pk)
        body = AssignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            workflow.ticket_assign(
                ticket_id=ticket_id,
                assignee=data.get("assignee", workflow.UNCHANGED),
                group=data.get("group", workflow.UNCHANGED),
                user=request.user,
                expected_revision=data.get("revision"),
            )
        except WorkflowError as e:
            _raise(e)
        return _ticket_response(self, ticket_id)

    @extend_schema(
        methods=["GET"],
        responses={200: WorkNoteSerializer(many=True)},
        description="The ticket's work notes, oldest first.",
    )
    @extend_schema(
        methods=["POST"],
        request=WorkNoteCreateSerializer,
        responses={201: WorkNoteSerializer, 400: _bad, 409: _conflict},
        description="Add a work note (TMF621 note: the author is the caller, the date now).",
    )
    @action(
        detail=True,
        methods=["get", "post"],
        filter_backends=[],
        pagination_class=None,
        write_roles=WORKFLOW_ROLES,
    )
    def notes(self, request, pk=None, format=None):
        ticket_id = _ticket_id(pk)
        if request.method == "GET":
            notes = WorkNote.objects.filter(ticket_id=ticket_id).order_by("created_at", "id")
            return Response(WorkNoteSerializer(notes, many=True).data)
        body = WorkNoteCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            note = workflow.ticket_note_add(
                ticket_id=ticket_id,
                text=data["text"],
                visibility=data["visibility"],
                user=request.user,
                expected_revision=data.get("revision"),
            )
        except WorkflowError as e:
            _raise(e)
        return Response(WorkNoteSerializer(note).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={200: TicketChangeSerializer(many=True)},
        description="Every change to the ticket, oldest first: who, when, the action and each field before "
        "and after (source updates, status actions, assignment, notes, labels).",
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def history(self, request, pk=None, format=None):
        ticket_id = _ticket_id(pk)
        changes = TicketChange.objects.filter(ticket_id=ticket_id).order_by("changed_at", "id")
        return Response(TicketChangeSerializer(changes, many=True).data)
