"""Server-rendered pages for field engineers; thin: they read through frontend.selectors."""

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.core.paginator import Paginator
from django.http import Http404
from django.views.generic import TemplateView

from frontend.forms import QueueFilterForm
from frontend.selectors import region_choices, ticket_page, ticket_queue, timeline
from repair_center import roles
from repair_center.models import Ticket


class RoleRequiredMixin(LoginRequiredMixin, UserPassesTestMixin):
    """Anonymous visitors go to sign in; a signed-in user with no TicketAI role gets 403, as in the API."""

    allowed_roles = roles.ALL

    def test_func(self):
        return roles.has_role(self.request.user, *self.allowed_roles)


class TicketListView(RoleRequiredMixin, TemplateView):
    template_name = "frontend/ticket_list.html"

    def get_context_data(self, **kwargs):
        form = QueueFilterForm(self.request.GET, regions=region_choices())
        filters = form.filters()
        paginator = Paginator(ticket_queue(filters=filters), settings.TICKETAI_PAGE_SIZE)
        page = paginator.get_page(self.request.GET.get("page"))
        return super().get_context_data(
            form=form, filters=filters, page=page, tickets=page.object_list, **kwargs
        )


class TicketDetailView(RoleRequiredMixin, TemplateView):
    template_name = "frontend/ticket_detail.html"

    def get_context_data(self, **kwargs):
        try:
            ticket = ticket_page(ticket_id=self.kwargs["pk"])
        except Ticket.DoesNotExist:
            raise Http404("No such ticket") from None
        return super().get_context_data(ticket=ticket, timeline=timeline(ticket), **kwargs)
