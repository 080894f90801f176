"""TMF642 routes, mounted at /tmf-api/alarm/v4/ (no trailing slashes, as TM Forum writes them)."""

from django.urls import path

from repair_center.tmf import alarm_listener, alarms

urlpatterns = [
    path("alarm", alarms.AlarmListView.as_view(), name="tmf642-alarm-list"),
    path("alarm/bulk", alarms.AlarmBulkView.as_view(), name="tmf642-alarm-bulk"),
    path("alarm/<int:pk>", alarms.AlarmDetailView.as_view(), name="tmf642-alarm-detail"),
    path("clearAlarms", alarms.ClearAlarmsView.as_view(), name="tmf642-clear-alarms"),
    path("ackAlarms", alarms.AckAlarmsView.as_view(), name="tmf642-ack-alarms"),
    # TicketAI as a listener of a TMF642 system's hub: {callback}/listener/<event>.
    path("listener/<str:event>", alarm_listener.AlarmListenerView.as_view(), name="tmf642-listener"),
]
