from rest_framework.routers import DefaultRouter

from repair_center.api import views, workflow

# Namespaced: the frontend owns the plain names (ticket-list, ticket-detail).
app_name = "api"
router = DefaultRouter()
router.register("tickets", views.TicketViewSet, basename="ticket")
router.register("events", views.TicketEventViewSet, basename="ticketevent")
router.register("error-codes", views.ErrorCodeViewSet, basename="errorcode")
router.register("error-code-aliases", views.ErrorCodeAliasViewSet, basename="errorcodealias")
router.register("resolution-codes", views.ResolutionCodeViewSet, basename="resolutioncode")
router.register("unmapped-codes", views.UnmappedCodeViewSet, basename="unmappedcode")
router.register("sites", views.SiteViewSet, basename="site")
router.register("elements", views.NetworkElementViewSet, basename="networkelement")
router.register("repair-records", views.RepairRecordViewSet, basename="repairrecord")
router.register("assignment-groups", workflow.AssignmentGroupViewSet, basename="assignmentgroup")
urlpatterns = router.urls
