"""/tmf-api/troubleTicket/v4/: TMF621 paths have no trailing slash. The hub routes are ml's
(ml/api/tmf_urls.py): they register signed webhook subscriptions."""

from django.urls import path

from repair_center.tmf.ticket_listener import TroubleTicketListenerView
from repair_center.tmf.views import TroubleTicketViewSet

app_name = "tmf621"
urlpatterns = [
    path(
        "troubleTicket",
        TroubleTicketViewSet.as_view({"get": "list", "post": "create"}),
        name="troubleticket-list",
    ),
    path(
        "troubleTicket/<str:pk>",
        TroubleTicketViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="troubleticket-detail",
    ),
    # TicketAI as a listener of the hub of a system a tmf621 connector pulls: {callback}/listener/<event>.
    path(
        "connector/<slug:name>/listener/<str:event>",
        TroubleTicketListenerView.as_view(),
        name="troubleticket-listener",
    ),
]
