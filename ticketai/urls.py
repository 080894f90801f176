from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from ticketai import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("repair_center.api.urls")),
    path("api/v1/", include("ml.api.urls")),
    # TM Forum Open APIs (docs/connect.md): TMF621 trouble tickets and their event hub,
    # TMF642 alarms.
    path("tmf-api/troubleTicket/v4/", include("repair_center.tmf.urls")),
    path("tmf-api/troubleTicket/v4/", include("ml.api.tmf_urls")),
    path("tmf-api/alarm/v4/", include("repair_center.tmf.alarm_urls")),
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[]), name="schema"),
    # The split view: its set-up script is a file of its own, not inline (Content-Security-Policy).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", permission_classes=[]),
        name="docs",
    ),
    path("", include("frontend.urls")),
]

# Error pages in the site's layout (frontend/views/errors.py).
handler403 = "frontend.views.errors.permission_denied"
handler404 = "ticketai.api_fallbacks.not_found"
handler500 = "ticketai.api_fallbacks.server_error"
