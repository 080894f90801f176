"""ML routes under /api/v1/; each area keeps its views in its own module and adds its routes here."""

urlpatterns = []

from django.urls import path  # noqa: E402

from ml.api import edge as edge_views  # noqa: E402

urlpatterns += [
    path("edge/enrol/", edge_views.EdgeEnrolView.as_view(), name="edge-enrol"),
    path("edge/heartbeat/", edge_views.EdgeHeartbeatView.as_view(), name="edge-heartbeat"),
    path("edge/bundles/<str:version>/", edge_views.EdgeBundleView.as_view(), name="edge-bundle"),
    path("edge/predictions/", edge_views.EdgePredictionsView.as_view(), name="edge-predictions"),
    path("edge/reports/", edge_views.EdgeReportsView.as_view(), name="edge-reports"),
    path("edge/etl/", edge_views.EdgeEtlView.as_view(), name="edge-etl"),
]

from rest_framework.routers import SimpleRouter  # noqa: E402

from ml.api import webhooks as webhook_views  # noqa: E402
from ml.api.feedback import TicketFeedbackView  # noqa: E402

_webhooks = SimpleRouter()
_webhooks.register("webhooks", webhook_views.WebhookSubscriptionViewSet, basename="webhook")
urlpatterns += [
    path("tickets/<int:ticket_id>/feedback/", TicketFeedbackView.as_view(), name="api-ticket-feedback"),
    *_webhooks.urls,
]

from ml.api import placement as placement_views  # noqa: E402

urlpatterns += [
    path("sites/<int:pk>/placement/", placement_views.SitePlacementView.as_view(), name="site-placement"),
    path("placement/what-if/", placement_views.PlacementWhatIfView.as_view(), name="placement-what-if"),
]

from ml.api.shadow import ModelShadowView  # noqa: E402

urlpatterns += [path("models/<int:pk>/shadow/", ModelShadowView.as_view(), name="model-shadow")]

from ml.api import recommendations as recommendation_views  # noqa: E402

urlpatterns += [
    path(
        "tickets/<int:ticket_id>/recommendation/",
        recommendation_views.TicketRecommendationView.as_view(),
        name="ticket-recommendation",
    ),
    path("recommendations/", recommendation_views.DraftRecommendationView.as_view(), name="recommendations"),
]
