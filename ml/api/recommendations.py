"""Recommendation endpoints: for a stored ticket (cached per revision and model) and for a draft.

Until a model has been trained and promoted both answer 200 with no recommendations: abstained,
``model_version`` null and the reason. No model yet is a state the system is expected to be in,
not an outage; a 503 made clients retry it as one (and the fuzzer count it as a server error).
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ml.serving import inference
from ml.serving.recommendations import recommendation_for_ticket
from repair_center import roles
from repair_center.api.serializers import TicketDocumentSerializer
from repair_center.documents import DocumentError, parse_ticket
from repair_center.models import Ticket

NO_MODEL = (
    "No model serves recommendations yet: train one (`python manage.py train`, or the admin) and "
    "it becomes the champion when it passes evaluation."
)


class TrackRecordSerializer(serializers.Serializer):
    learnt_from = serializers.IntegerField(
        help_text="Past tickets fixed this way that the model learnt from."
    )
    held_out = serializers.IntegerField(
        help_text="Held-out tickets fixed this way when the model was evaluated; 0: none was held out (too "
        "few to set any aside, or none among the newest a time split holds out), so how often this fix is "
        "right has not been measured."
    )
    recommended = serializers.IntegerField(help_text="Held-out tickets where the model put this fix first.")
    right = serializers.IntegerField(help_text="Of those, the tickets that were fixed this way.")


class RecommendedResolutionSerializer(serializers.Serializer):
    resolution = serializers.CharField()
    title = serializers.CharField()
    steps = serializers.ListField(child=serializers.CharField())
    confidence = serializers.FloatField(help_text="Calibrated probability, 0-1.")
    band = serializers.ChoiceField(
        choices=["high", "medium", "low"],
        help_text="Confidence band (TICKETAI_CONFIDENCE_HIGH, _MEDIUM); pages show it, the number on demand.",
    )
    record = TrackRecordSerializer(
        required=False,
        help_text="How much history stands behind this fix (absent from answers cached before it was added, "
        "until the ticket changes or refresh=1, and for a version evaluated without a confusion matrix).",
    )
    record_statement = serializers.CharField(required=False, help_text="The record in plain words.")


_WEIGHT = (
    "How much the top resolution's log-odds fall without it: positive speaks for the recommendation, "
    "negative against. At most 5 codes, events and words in all, the strongest kept."
)


class CodeEvidenceSerializer(serializers.Serializer):
    code = serializers.CharField()
    weight = serializers.FloatField(help_text=_WEIGHT)


class EventEvidenceSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position in the ticket's events.")
    kind = serializers.CharField()
    code = serializers.CharField(allow_null=True)
    weight = serializers.FloatField(help_text=_WEIGHT)


class WordEvidenceSerializer(serializers.Serializer):
    word = serializers.CharField(help_text="A word of the title or description; never a stop word.")
    weight = serializers.FloatField(help_text=_WEIGHT)


class PatternEvidenceSerializer(serializers.Serializer):
    statement = serializers.CharField(help_text="The fact in words, e.g. 'SFP_RX_LOW 4 min before ...'.")
    pattern = serializers.CharField(help_text="code:<CODE> or pair:<FIRST>><THEN>.")
    codes = serializers.ListField(child=serializers.CharField())
    gap_minutes = serializers.IntegerField(allow_null=True, help_text="Between the pair's events here.")
    resolution = serializers.CharField()
    tickets = serializers.IntegerField(help_text="Training tickets with this pattern.")
    fixed = serializers.IntegerField(help_text="Of those, fixed by the resolution.")
    share = serializers.FloatField()


class EvidenceSerializer(serializers.Serializer):
    unit = serializers.CharField(required=False, help_text="The weights' unit: log-odds.")
    codes = CodeEvidenceSerializer(many=True)
    events = EventEvidenceSerializer(many=True)
    words = WordEvidenceSerializer(many=True)
    patterns = PatternEvidenceSerializer(
        many=True, required=False, help_text="What past training tickets with these codes were fixed by."
    )


class SimilarTicketSerializer(serializers.Serializer):
    ticket_id = serializers.IntegerField()
    external_id = serializers.CharField()
    title = serializers.CharField()
    resolution = serializers.CharField()
    similarity = serializers.FloatField(help_text="Cosine similarity of the model's ticket embeddings.")


class RecommendationSerializer(serializers.Serializer):
    model_version = serializers.IntegerField(
        allow_null=True,
        help_text="null: no model serves yet; then abstained, with the reason, and no recommendations.",
    )
    abstained = serializers.BooleanField(
        help_text="True when the top confidence is below Medium or the ticket is unfamiliar: the model is "
        "unsure and an expert decides."
    )
    unfamiliar = serializers.BooleanField(
        required=False,
        help_text="True when no word or code of the ticket was in the tickets the model learnt from "
        "(absent in answers cached before it was added).",
    )
    abstain_reason = serializers.CharField(allow_null=True, help_text="Why, in plain words; null when not.")
    abstain_rule = serializers.CharField(help_text="The abstention rule in plain words.")
    recommendations = RecommendedResolutionSerializer(many=True)
    evidence = EvidenceSerializer()
    similar = SimilarTicketSerializer(many=True)


_ANSWER = OpenApiResponse(
    RecommendationSerializer,
    "The recommendations; before any model is promoted, none: abstained with model_version null and "
    "the reason in abstain_reason.",
)


def _no_model_response() -> Response:
    return Response({**inference.no_model_payload(), "abstain_reason": NO_MODEL})


class TicketRecommendationView(APIView):
    read_roles = roles.ALL

    @extend_schema(
        operation_id="tickets_recommendation_retrieve",
        parameters=[
            OpenApiParameter(
                "refresh", OpenApiTypes.BOOL, description="Recompute instead of the cached answer."
            )
        ],
        responses={200: _ANSWER, 404: OpenApiResponse(description="No such ticket.")},
        description="Top resolutions for the ticket's current revision, with evidence and similar resolved "
        "tickets; cached per (ticket revision, model version).",
    )
    def get(self, request, ticket_id: int):
        ticket = get_object_or_404(Ticket.objects.all(), pk=ticket_id)
        refresh = request.query_params.get("refresh", "").lower() in ("1", "true", "yes")
        payload = recommendation_for_ticket(ticket, refresh=refresh)
        if payload.get("model_version") is None:
            return _no_model_response()
        return Response(payload)


class DraftRecommendationView(APIView):
    read_roles = roles.ALL
    write_roles = roles.ALL

    @extend_schema(
        operation_id="recommendations_create",
        request=TicketDocumentSerializer,
        responses={200: _ANSWER, 400: OpenApiResponse(description="Field errors: {field: [message, ...]}.")},
        description="Recommend for a canonical ticket document that is not stored (nothing is written).",
    )
    def post(self, request):
        data = request.data
        if isinstance(data, dict) and not data.get("external_id"):
            data = {**data, "external_id": "draft"}
        try:
            document = parse_ticket(data).to_json()
        except DocumentError as e:
            return Response(e.errors, status=status.HTTP_400_BAD_REQUEST)
        predictor = inference.load_for_source(document["source"])
        if predictor is None:
            return _no_model_response()
        return Response(inference.recommend(document, predictor=predictor))
