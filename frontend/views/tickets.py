"""Server-rendered pages for field engineers; thin: they read through frontend.selectors."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from frontend import recommendation_panel
from frontend.forms import QueueFilterForm
from frontend.pagination import CappedCountPaginator
from frontend.selectors import queue_rows, region_choices, ticket_page, ticket_queue, timeline
from frontend.views.access import RoleRequiredMixin
from repair_center import roles
from repair_center.models import ResolutionCode, Ticket
from ticketai.storable import text_problem

NOTES_MAX = 5000

FEEDBACK_ROLES = frozenset({roles.ENGINEER, roles.ADMIN})
# The queue counts matches up to this many (20 pages); past it, it says "more than" and narrower
# filters are the way in, rather than a COUNT(*) over every ticket on each page view.
QUEUE_COUNT_CAP = 1000


class TicketListView(RoleRequiredMixin, TemplateView):
    template_name = "frontend/ticket_list.html"

    def get_context_data(self, **kwargs):
        form = QueueFilterForm(self.request.GET, regions=region_choices())
        filters = form.filters()
        number = self.request.GET.get("page")
        paginator = CappedCountPaginator(
            ticket_queue(filters=filters),
            settings.TICKETAI_PAGE_SIZE,
            cap=QUEUE_COUNT_CAP,
            page_number=number,
        )
        page = paginator.get_page(number)
        tickets = queue_rows(list(page.object_list))
        return super().get_context_data(form=form, filters=filters, page=page, tickets=tickets, **kwargs)


class TicketDetailView(RoleRequiredMixin, TemplateView):
    template_name = "frontend/ticket_detail.html"

    def get_context_data(self, **kwargs):
        try:
            ticket = ticket_page(ticket_id=self.kwargs["pk"])
        except Ticket.DoesNotExist:
            raise Http404("No such ticket") from None
        panel = recommendation_panel.panel_for(ticket)
        return super().get_context_data(
            ticket=ticket,
            timeline=timeline(ticket),
            panel=panel,
            description=recommendation_panel.highlight(ticket.description, panel.evidence_words),
            feedback=recommendation_panel.feedback_for(ticket),
            can_give_feedback=roles.has_role(self.request.user, *FEEDBACK_ROLES),
            resolution_codes=ResolutionCode.objects.only("code", "title")
            if panel.state != "no_model"
            else [],
            **kwargs,
        )


class TicketFeedbackView(RoleRequiredMixin, View):
    """Accept, reject or correct the recommendation in one POST; stored as feedback and shown at once."""

    allowed_roles = FEEDBACK_ROLES

    def post(self, request, pk):
        ticket = get_object_or_404(Ticket, pk=pk)
        action = request.POST.get("action", "")
        code = request.POST.get("resolution_code", "").strip() or None
        notes = request.POST.get("notes", "").strip()
        # Refused with a reason rather than cut or stored: a NUL was a 500 (PostgreSQL refuses it).
        problem = text_problem(notes) or text_problem(code or "")
        if problem or len(notes) > NOTES_MAX:
            messages.error(
                request, f"Feedback not stored: the notes {problem or f'are over {NOTES_MAX} characters'}."
            )
        elif action not in ("accept", "reject", "correct") or (action != "reject" and not code):
            messages.error(request, "Choose accept, reject, or a resolution to correct it to.")
        else:
            try:
                recommendation_panel.feedback_record(
                    ticket=ticket, user=request.user, action=action, resolution_code=code, notes=notes
                )
            except (LookupError, ValueError) as e:
                messages.error(request, f"Feedback not stored: {e}")
            else:
                done = {"accept": "Accepted", "reject": "Rejected", "correct": f"Corrected to {code}"}[action]
                messages.success(request, f"{done}. Thank you: this feedback trains the next model.")
        return HttpResponseRedirect(reverse("ticket-detail", args=[ticket.pk]) + "#feedback-heading")
