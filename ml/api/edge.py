"""The edge API under /api/v1/edge/: agents authenticate with ``Authorization: Agent <token>``.

Views are thin: they validate the shape and call ml.fleet.edge.
"""

from django.http import FileResponse, HttpResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from ml.fleet import edge
from ml.fleet.predictions import InvalidBatch, WrongSite, predictions_ingest
from ml.models import EdgeAgent, EdgeBundle
from repair_center.documents import DocumentError, parse_ticket
from repair_center.models import RESOLUTION_CODE_LENGTH
from ticketai import storable, throttling


class AgentTokenAuthentication(BaseAuthentication):
    """``Authorization: Agent <token>``; request.user is the EdgeAgent."""

    keyword = "Agent"

    def __init__(self, lookup=edge.agent_for_token):
        self.lookup = lookup

    def authenticate(self, request):
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() != b"agent":
            return None
        if len(auth) != 2:
            raise exceptions.AuthenticationFailed("Invalid header: give 'Agent <token>'.")
        try:
            raw = auth[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid header: not ASCII.") from None
        throttling.auth_attempt(request)  # counted per address; a known agent gives it back
        try:
            agent = self.lookup(raw)
        except BaseException:
            throttling.auth_attempt_ok(request)
            raise
        if agent is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked agent token.")
        throttling.auth_attempt_ok(request)
        return (agent, None)

    def authenticate_header(self, request):
        return self.keyword


class AgentTokenScheme(OpenApiAuthenticationExtension):
    target_class = AgentTokenAuthentication
    name = "agentAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Agent")  # noqa: S106


class IsAgent(BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, EdgeAgent)


class AgentView(APIView):
    authentication_classes = [AgentTokenAuthentication]
    permission_classes = [IsAgent]


# --- serializers: shape only -------------------------------------------------------------------


# JSON an agent writes is bounded in depth and size (ticketai.storable): a heartbeat nested 900
# deep was stored once, and then broke the admin pages used to revoke its agent.
class EnrolSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200)
    name = serializers.CharField(max_length=200)
    capabilities = serializers.DictField(required=False, default=dict, validators=[storable.agent_json])


class EnrolAnswerSerializer(serializers.Serializer):
    agent_id = serializers.IntegerField()
    agent_token = serializers.CharField()
    site = serializers.DictField()
    public_key_pem = serializers.CharField()
    heartbeat_s = serializers.IntegerField()


class HeartbeatSerializer(serializers.Serializer):
    capabilities = serializers.DictField(required=False, default=dict, validators=[storable.agent_json])
    backlog = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)
    model_version = serializers.CharField(max_length=100, allow_blank=True, default="")
    status = serializers.DictField(
        required=False, allow_null=True, default=None, validators=[storable.agent_json]
    )


class AssignmentSerializer(serializers.Serializer):
    bundle_version = serializers.CharField()
    bundle_url = serializers.CharField()
    sha256 = serializers.CharField()
    bytes = serializers.IntegerField()
    # Present only when central has a delta from the version the agent reported to this bundle.
    base_version = serializers.CharField(required=False, help_text="The installed version the delta patches.")
    delta_version = serializers.CharField(required=False)
    delta_url = serializers.CharField(required=False)
    delta_sha256 = serializers.CharField(required=False)
    delta_bytes = serializers.IntegerField(required=False)


class HeartbeatAnswerSerializer(serializers.Serializer):
    placement = serializers.DictField(allow_null=True)
    assignment = AssignmentSerializer(allow_null=True)
    heartbeat_s = serializers.IntegerField()
    merged = serializers.DictField(
        child=serializers.CharField(),
        help_text="Labels of the bundle the agent runs that a merge has made aliases, and the code kept "
        "for each: the agent answers them as that code until it runs a bundle trained after the merge.",
    )


class PredictionSerializer(serializers.Serializer):
    idempotency_key = serializers.CharField(max_length=100)
    source = serializers.CharField(max_length=64)
    external_id = serializers.CharField(max_length=200)
    model_version = serializers.CharField(max_length=100)
    resolution = serializers.CharField(max_length=RESOLUTION_CODE_LENGTH)
    confidence = serializers.FloatField()
    latency_ms = serializers.FloatField()
    input_fingerprint = serializers.CharField(max_length=64, required=False)
    abstained = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Whether the agent abstained (edge_agent/abstention.py); false when not sent.",
    )
    abstain_reason = serializers.CharField(
        max_length=500,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Why, in central's words; only with abstained true. Null or absent when not.",
    )
    predicted_at = serializers.DateTimeField()
    site = serializers.CharField(required=False, help_text="If given, must be the agent's own site.")


class PredictionBatchSerializer(serializers.Serializer):
    predictions = PredictionSerializer(many=True)


class IngestAnswerSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField(help_text="Items refused one by one; the others were stored.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Item index -> why it was refused (fix it; sending it again cannot help).",
    )


class ReportSerializer(serializers.Serializer):
    kind = serializers.CharField(max_length=64)
    metrics = serializers.DictField(validators=[storable.agent_json])


class ReportAnswerSerializer(serializers.Serializer):
    id = serializers.IntegerField()


# The answer holds tickets x dims numbers, built in the web process: 20,000 tickets at the agents'
# 64 dimensions. 20,000 x 512 was about 10 million numbers, hundreds of MB per call.
ETL_MAX_VALUES = 20000 * 64


class EtlSerializer(serializers.Serializer):
    # Each ticket is a canonical document: nothing in it may be text we cannot store or answer with.
    tickets = serializers.ListField(
        child=serializers.DictField(validators=[storable.JsonLimits(max_bytes=1024 * 1024)]),
        min_length=2,
        max_length=20000,
    )
    dims = serializers.IntegerField(min_value=1, max_value=512, default=64)

    def validate_tickets(self, tickets: list[dict]) -> list[dict]:
        # Canonical documents, judged as the bulk API judges them (a ticket needs no id here).
        errors = {}
        for i, ticket in enumerate(tickets):
            try:
                parse_ticket(
                    {**ticket, "external_id": ticket.get("external_id") or f"etl-{i}"}, default_source="edge"
                )
            except DocumentError as e:
                errors[str(i)] = e.errors
        if errors:
            raise serializers.ValidationError(errors)
        return tickets

    def validate(self, data: dict) -> dict:
        if len(data["tickets"]) * data["dims"] > ETL_MAX_VALUES:
            why = f"tickets x dims may be at most {ETL_MAX_VALUES}; send fewer tickets or dimensions"
            raise serializers.ValidationError({"dims": [why]})
        return data


class EtlAnswerSerializer(serializers.Serializer):
    transform = serializers.DictField()
    data = serializers.ListField(child=serializers.ListField(child=serializers.FloatField()))
    labels = serializers.ListField(child=serializers.CharField(allow_null=True))
    explained_variance = serializers.FloatField()


# --- views -------------------------------------------------------------------------------------


class EdgeEnrolView(APIView):
    authentication_classes = []
    permission_classes = []

    @extend_schema(request=EnrolSerializer, responses={201: EnrolAnswerSerializer}, auth=[])
    def post(self, request):
        data = _valid(EnrolSerializer, request.data)
        # An enrolment token is a credential: guesses count against the address's budget too.
        throttling.auth_attempt(request)
        try:
            agent, raw = edge.agent_enrol(
                token=data["token"], name=data["name"], capabilities=data["capabilities"]
            )
        except edge.EnrolmentError as e:
            raise exceptions.PermissionDenied(str(e)) from None
        throttling.auth_attempt_ok(request)
        answer = edge.enrolment_answer(agent)
        answer["agent_token"] = raw
        return Response(answer, status=status.HTTP_201_CREATED)


class EdgeHeartbeatView(AgentView):
    @extend_schema(request=HeartbeatSerializer, responses=HeartbeatAnswerSerializer)
    def post(self, request):
        data = _valid(HeartbeatSerializer, request.data)
        return Response(edge.agent_heartbeat(agent=request.user, **data))


class EdgeBundleView(AgentView):
    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiTypes.BINARY,
            304: OpenApiResponse(description="The agent already has this version (If-None-Match)."),
        }
    )
    def get(self, request, version: str):
        bundle = EdgeBundle.objects.filter(version=version, active=True).first()
        if bundle is None:
            raise exceptions.NotFound("no such bundle")
        if not edge.bundle_readable_by(bundle, request.user):
            raise exceptions.PermissionDenied("this bundle is meant for another site")
        etag = f'"{bundle.sha256}"'
        if_none_match = request.headers.get("If-None-Match", "")
        if etag in if_none_match or bundle.sha256 in if_none_match:
            response = HttpResponse(status=304)
            response["ETag"] = etag
            return response
        path = bundle.file
        if not path.is_file():
            raise exceptions.NotFound("the bundle file is missing on the server")
        response = FileResponse(
            path.open("rb"),
            content_type="application/zip",
            as_attachment=True,
            filename=f"{bundle.version}.zip",
        )
        response["ETag"] = etag
        response["X-Bundle-Version"] = bundle.version
        return response


class EdgePredictionsView(AgentView):
    def get_authenticators(self):
        # Prediction posts, the hot path, need only the agent's id and site: the agent is remembered
        # per process for TICKETAI_EDGE_AUTH_CACHE_S seconds. Every other edge route looks it up.
        return [AgentTokenAuthentication(lookup=edge.agent_for_token_cached)]

    @extend_schema(request=PredictionBatchSerializer, responses=IngestAnswerSerializer)
    def post(self, request):
        predictions = request.data.get("predictions") if isinstance(request.data, dict) else None
        try:
            result = predictions_ingest(agent=request.user, predictions=predictions)
        except WrongSite as e:
            raise exceptions.PermissionDenied(str(e)) from None
        except InvalidBatch as e:
            raise exceptions.ValidationError({"predictions": e.errors}) from None
        return Response(
            {
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": result.rejected,
                "errors": {str(index): messages for index, messages in result.errors.items()},
            }
        )


class EdgeReportsView(AgentView):
    @extend_schema(request=ReportSerializer, responses={201: ReportAnswerSerializer})
    def post(self, request):
        data = _valid(ReportSerializer, request.data)
        report = edge.report_record(agent=request.user, kind=data["kind"], metrics=data["metrics"])
        return Response({"id": report.pk}, status=status.HTTP_201_CREATED)


class EdgeEtlView(AgentView):
    @extend_schema(request=EtlSerializer, responses=EtlAnswerSerializer)
    def post(self, request):
        data = _valid(EtlSerializer, request.data)
        return Response(edge.etl_fit(documents=data["tickets"], dims=data["dims"]))


def _valid(serializer_class, data) -> dict:
    if not isinstance(data, dict):
        raise exceptions.ValidationError({"non_field_errors": ["expected a JSON object"]})
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
