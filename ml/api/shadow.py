"""Shadow API: GET /api/v1/models/{id}/shadow/ shows how a candidate does beside the champion.

POST starts scoring live tickets with the version in shadow, DELETE stops it (admin only).
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ml.core import registry
from ml.models import ModelVersion
from ml.monitoring import shadow


class ModelShadowView(APIView):
    """Agreement with the champion and accuracy on engineer-resolved tickets of a candidate in shadow."""

    @extend_schema(
        responses={200: OpenApiResponse(description="The shadow report; shadow null if never run.")}
    )
    def get(self, request, pk: int):
        return Response(shadow.shadow_report(get_object_or_404(ModelVersion, pk=pk)))

    @extend_schema(request=None, responses={201: OpenApiResponse(description="Shadow started.")})
    def post(self, request, pk: int):
        version = get_object_or_404(ModelVersion, pk=pk)
        try:
            shadow.shadow_start(version, actor=request.user.get_username())
        except (ValueError, registry.ArtifactError) as e:
            raise exceptions.ValidationError({"model_version": [str(e)]}) from e
        return Response(shadow.shadow_report(version), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: OpenApiResponse(description="Shadow stopped.")})
    def delete(self, request, pk: int):
        version = get_object_or_404(ModelVersion, pk=pk)
        shadow.shadow_stop(version)
        return Response(shadow.shadow_report(version))
