"""A user's own page: who they are, their roles and teams, and the way into their queue."""

from django.urls import reverse
from django.views.generic import TemplateView

from frontend.views.access import RoleRequiredMixin
from repair_center import roles
from repair_center.models import Ticket


class ProfileView(RoleRequiredMixin, TemplateView):
    template_name = "frontend/profile.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        mine = Ticket.objects.filter(assignee=user, status__in=Ticket.OPEN_STATUSES)
        return super().get_context_data(
            roles=sorted(roles.user_roles(user)),
            groups=user.assignment_groups.prefetch_related("members").order_by("name"),
            open_count=mine.count(),
            my_open_url=reverse("ticket-list") + "?view=my_open",
            **kwargs,
        )
