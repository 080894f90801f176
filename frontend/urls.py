from django.contrib.auth import views as auth_views
from django.urls import path

from frontend.views import fleet, models, profile, schedule, ticket_actions, tickets, training
from ticketai.throttling import ThrottledLoginView

urlpatterns = [
    path("", tickets.TicketListView.as_view(), name="ticket-list"),
    path("tickets/<int:pk>/", tickets.TicketDetailView.as_view(), name="ticket-detail"),
    path("tickets/<int:pk>/feedback/", ticket_actions.TicketFeedbackView.as_view(), name="ticket-feedback"),
    path("tickets/<int:pk>/action/", ticket_actions.TicketActionView.as_view(), name="ticket-action"),
    path("tickets/<int:pk>/assign/", ticket_actions.TicketAssignView.as_view(), name="ticket-assign"),
    path("tickets/<int:pk>/notes/", ticket_actions.TicketNoteView.as_view(), name="ticket-note"),
    path("profile/", profile.ProfileView.as_view(), name="profile"),
    path("models/", models.ModelListView.as_view(), name="model-list"),
    path("models/<int:pk>/", models.ModelDetailView.as_view(), name="model-detail"),
    path("models/<int:pk>/promote/", models.ModelPromoteView.as_view(), name="model-promote"),
    path("models/<int:pk>/rollback/", models.ModelRollbackView.as_view(), name="model-rollback"),
    path("training/", training.TrainingView.as_view(), name="training"),
    path("training/<int:pk>/", training.TrainingRunView.as_view(), name="training-run"),
    path(
        "training/<int:pk>/progress.json", training.TrainingProgressView.as_view(), name="training-progress"
    ),
    path("schedule/", schedule.ScheduleView.as_view(), name="schedule"),
    path("fleet/", fleet.FleetView.as_view(), name="fleet"),
    path("login/", ThrottledLoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
