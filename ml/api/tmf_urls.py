"""The hub routes of /tmf-api/troubleTicket/v4/ (the troubleTicket routes are repair_center.tmf.urls)."""

from django.urls import path

from ml.api.tmf_hubs import TroubleTicketHubViewSet

app_name = "tmf621-hub"
urlpatterns = [
    path("hub", TroubleTicketHubViewSet.as_view({"post": "create"}), name="hub-list"),
    path("hub/<str:pk>", TroubleTicketHubViewSet.as_view({"delete": "destroy"}), name="hub-detail"),
]
