"""Webhook subscriptions API (admin only): /api/v1/webhooks/ and each one's delivery log."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ml.core import webhooks
from ml.models import WebhookDelivery, WebhookSubscription
from ml.models.webhooks import ALL_EVENTS
from repair_center import roles

ADMINS = frozenset({roles.ADMIN})


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    # TMF621 hubs (kind tmf621, registered at /tmf-api/troubleTicket/v4/hub) are listed here too.
    events = serializers.ListField(child=serializers.ChoiceField(choices=ALL_EVENTS), allow_empty=False)
    secret = serializers.CharField(
        required=False,
        write_only=True,
        min_length=16,
        max_length=200,
        help_text="Shared HMAC secret; generated when left out and shown once in the create response.",
    )

    class Meta:
        model = WebhookSubscription
        fields = (
            "id",
            "name",
            "url",
            "events",
            "kind",
            "query",
            "active",
            "secret",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "kind", "query", "created_at", "updated_at")

    def validate_url(self, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("must be an http:// or https:// URL")
        return value

    def validate_events(self, value: list[str]) -> list[str]:
        return sorted(set(value), key=ALL_EVENTS.index)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = (
            "id",
            "event",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "next_attempt_at",
            "delivered_at",
            "created_at",
            "payload",
        )
        read_only_fields = fields


class WebhookSubscriptionViewSet(viewsets.ModelViewSet):
    queryset = WebhookSubscription.objects.all().order_by("id")
    serializer_class = WebhookSubscriptionSerializer
    read_roles = ADMINS
    write_roles = ADMINS
    filterset_fields = ("active",)
    search_fields = ("name", "url")
    ordering_fields = ("id", "created_at")

    def create(self, request, *args, **kwargs):
        response = super().create(request, *args, **kwargs)
        # The only time the secret is shown: the receiver needs it to verify signatures.
        subscription = WebhookSubscription.objects.get(pk=response.data["id"])
        response.data["secret"] = subscription.secret
        return response

    @extend_schema(responses=WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def deliveries(self, request, pk=None):
        """The subscription's delivery log, newest first (filter ?status=)."""
        queryset = WebhookDelivery.objects.filter(subscription=self.get_object()).order_by(
            "-created_at", "-id"
        )
        if request.query_params.get("status"):
            queryset = queryset.filter(status=request.query_params["status"])
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>\d+)/redeliver")
    def redeliver(self, request, pk=None, delivery_id=None):
        """Queue one delivery of this subscription for another try now."""
        delivery = WebhookDelivery.objects.filter(subscription=self.get_object(), pk=delivery_id).first()
        if delivery is None:
            return Response({"detail": "No such delivery."}, status=404)
        if not webhooks.webhook_redeliver(delivery.pk):
            return Response({"detail": "The delivery is being sent right now."}, status=409)
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=202)
