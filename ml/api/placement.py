"""Placement API: a site's decided placement, and a what-if decision for a profile sent in.

GET /api/v1/sites/{id}/placement/ and POST /api/v1/placement/what-if/, any role. The rules are in
ml/fleet/placement.py, the database side in ml/fleet/placement_service.py.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ml.fleet import placement_service
from ml.fleet.placement import CandidateModel
from repair_center import roles
from repair_center.models import Site

# --- Serializers: shapes only -------------------------------------------------------------------


class SiteProfileSerializer(serializers.Serializer):
    cpu_cores = serializers.IntegerField(min_value=0, max_value=100_000)
    cpu_ghz = serializers.FloatField(min_value=0, max_value=100)
    memory_mb = serializers.IntegerField(min_value=0, max_value=1_000_000_000)
    accelerator = serializers.CharField(max_length=64, allow_blank=True)
    storage_gb = serializers.FloatField(min_value=0, max_value=1e9)
    uplink_mbps = serializers.FloatField(min_value=0, max_value=1e7, help_text="0: no link to central.")
    rtt_ms = serializers.FloatField(min_value=0, max_value=1e7, help_text="Round trip to central.")
    latency_budget_ms = serializers.FloatField(min_value=0, max_value=1e9)
    tickets_per_day = serializers.IntegerField(min_value=0, max_value=1_000_000_000)
    data_must_stay_local = serializers.BooleanField()
    batch_data_mb_per_day = serializers.FloatField(min_value=0, max_value=1e12)


class CandidateModelSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(choices=["teacher", "student"])
    precision = serializers.ChoiceField(choices=["fp32", "int8"])
    size_bytes = serializers.IntegerField(min_value=0)
    latency_ms = serializers.FloatField(
        min_value=0, max_value=1e9, help_text="Batch 1 on the reference machine."
    )
    accuracy = serializers.FloatField(min_value=0, max_value=1)
    serve_memory_mb = serializers.FloatField(min_value=0, max_value=1e9)
    full_train_examples_per_s = serializers.FloatField(min_value=0, max_value=1e9)
    full_train_memory_mb = serializers.FloatField(min_value=0, max_value=1e9)
    head_train_examples_per_s = serializers.FloatField(min_value=0, max_value=1e9)


class CandidateEvaluationSerializer(serializers.Serializer):
    name = serializers.CharField()
    role = serializers.CharField()
    precision = serializers.CharField()
    version = serializers.CharField()
    source = serializers.CharField(help_text="default, registry (measured) or what-if")
    size_bytes = serializers.IntegerField()
    accuracy = serializers.FloatField()
    site_latency_ms = serializers.FloatField(allow_null=True)
    full_training_s = serializers.FloatField(allow_null=True)
    head_training_s = serializers.FloatField(allow_null=True)
    update_transfer_s = serializers.FloatField(allow_null=True)
    serve_problems = serializers.ListField(child=serializers.CharField())
    over_budget = serializers.BooleanField()
    full_training_problems = serializers.ListField(child=serializers.CharField())
    head_training_problems = serializers.ListField(child=serializers.CharField())
    transfer_problems = serializers.ListField(child=serializers.CharField())


class PlacementDecisionSerializer(serializers.Serializer):
    pattern = serializers.IntegerField(
        allow_null=True, help_text="1-4 of the reference design; null: none fits."
    )
    pattern_name = serializers.CharField()
    artefact = serializers.CharField(allow_null=True)
    predicted_edge_latency_ms = serializers.FloatField(allow_null=True)
    central_round_trip_ms = serializers.FloatField(allow_null=True)
    model_update_bytes = serializers.IntegerField()
    model_update_seconds = serializers.FloatField(allow_null=True, help_text="null: no uplink to send it.")
    model_update_bytes_per_month = serializers.IntegerField()
    model_update_seconds_per_month = serializers.FloatField(allow_null=True)
    data_uplink_bytes_per_day = serializers.IntegerField()
    data_uplink_seconds_per_day = serializers.FloatField(allow_null=True)
    reasons = serializers.ListField(child=serializers.CharField())
    rejected = serializers.DictField(child=serializers.CharField(), help_text="Pattern number -> why not.")
    warnings = serializers.ListField(child=serializers.CharField())
    candidates = CandidateEvaluationSerializer(many=True)


class PlacementSiteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    tier = serializers.CharField()


class StoredProfileSerializer(SiteProfileSerializer):
    reported_at = serializers.DateTimeField(allow_null=True)


class SitePlacementSerializer(serializers.Serializer):
    site = PlacementSiteSerializer()
    profile = StoredProfileSerializer()
    decision = PlacementDecisionSerializer()
    decided_at = serializers.DateTimeField(allow_null=True)


class WhatIfProfileSerializer(SiteProfileSerializer):
    """Every field optional: only the ones sent change the starting profile."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class WhatIfRequestSerializer(serializers.Serializer):
    site = serializers.PrimaryKeyRelatedField(
        queryset=Site.objects.all(),
        required=False,
        allow_null=True,
        help_text="Start from this site's profile; fields given override it.",
    )
    profile = WhatIfProfileSerializer(required=False, help_text="Fields to set; the rest as the site's.")
    candidates = CandidateModelSerializer(
        many=True, required=False, help_text="Candidate artefacts; default: the registry's."
    )


class WhatIfResponseSerializer(serializers.Serializer):
    profile = SiteProfileSerializer()
    decision = PlacementDecisionSerializer()


# --- Views --------------------------------------------------------------------------------------


class SitePlacementView(APIView):
    read_roles = roles.ALL

    @extend_schema(
        operation_id="site_placement",
        parameters=[
            OpenApiParameter(
                "recompute", OpenApiTypes.BOOL, description="Decide again even if nothing changed."
            )
        ],
        responses={200: SitePlacementSerializer, 404: OpenApiResponse(description="No such site.")},
        description="Where this site's models are trained and served (patterns 1-4), the artefact, the "
        "predicted latencies and transfer volumes, and why each other pattern was rejected.",
    )
    def get(self, request, pk: int):
        site = get_object_or_404(Site, pk=pk)
        recompute = request.query_params.get("recompute", "").lower() in ("1", "true", "yes")
        return Response(
            SitePlacementSerializer(placement_service.site_placement(site, recompute=recompute)).data
        )


class PlacementWhatIfView(APIView):
    write_roles = roles.ALL  # computes an answer, stores nothing

    @extend_schema(
        operation_id="placement_what_if",
        request=WhatIfRequestSerializer,
        responses={
            200: WhatIfResponseSerializer,
            400: OpenApiResponse(description="Field errors: {field: [message, ...]}."),
        },
        description="The decision for a hypothetical profile: a site's (or the defaults) with the given "
        "fields changed, optionally with other candidate artefacts. Nothing is stored.",
    )
    def post(self, request):
        body = WhatIfRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        candidates = [CandidateModel(**c, source="what-if") for c in data.get("candidates") or []] or None
        result = placement_service.placement_what_if(
            fields=data.get("profile") or {}, site=data.get("site"), candidates=candidates
        )
        return Response(WhatIfResponseSerializer(result).data)
