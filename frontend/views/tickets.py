"""The queue and the ticket page; thin: they read through frontend.queue and frontend.selectors."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import Http404
from django.urls import reverse
from django.views.generic import TemplateView

from frontend import recommendation_panel
from frontend.forms import NoteForm, QueueFilterForm
from frontend.pagination import CappedCountPaginator
from frontend.queue import VIEWS, queue_rows, region_choices, ticket_queue
from frontend.selectors import activity, ticket_page, timeline
from frontend.views.access import RoleRequiredMixin, is_admin
from repair_center import roles, sla
from repair_center.models import AssignmentGroup, ResolutionCode, Ticket
from repair_center.selectors import ticket_alarm_groups, ticket_waiting_alarms
from repair_center.services.workflow import allowed_actions, can_be_assignee

WORK_ROLES = frozenset({roles.ENGINEER, roles.ADMIN})
FEEDBACK_ROLES = WORK_ROLES
# The queue counts matches up to this many (20 pages); past it, it says "more than" and narrower
# filters are the way in, rather than a COUNT(*) over every ticket on each page view.
QUEUE_COUNT_CAP = 1000
QUEUE_SESSION_KEY = "queue_query"


def queue_url(request) -> str:
    """The queue as the user last left it (view, filters, page), for "back to the queue" links."""
    query = request.session.get(QUEUE_SESSION_KEY, "")
    return reverse("ticket-list") + (f"?{query}" if query else "")


class TicketListView(RoleRequiredMixin, TemplateView):
    template_name = "frontend/ticket_list.html"

    def get_context_data(self, **kwargs):
        form = QueueFilterForm(self.request.GET, regions=region_choices())
        filters = form.filters()
        number = self.request.GET.get("page")
        paginator = CappedCountPaginator(
            ticket_queue(filters=filters, user=self.request.user),
            settings.TICKETAI_PAGE_SIZE,
            cap=QUEUE_COUNT_CAP,
            page_number=number,
        )
        page = paginator.get_page(number)
        tickets = queue_rows(list(page.object_list))
        query = self.request.GET.urlencode()
        if self.request.session.get(QUEUE_SESSION_KEY) != query:  # a session write only when it changes
            self.request.session[QUEUE_SESSION_KEY] = query
        return super().get_context_data(
            form=form,
            filters=filters,
            view=VIEWS[filters.view],
            views=VIEWS.values(),
            page=page,
            tickets=tickets,
            **kwargs,
        )


class TicketDetailView(RoleRequiredMixin, TemplateView):
    template_name = "frontend/ticket_detail.html"

    def get_context_data(self, **kwargs):
        try:
            ticket = ticket_page(ticket_id=self.kwargs["pk"])
        except Ticket.DoesNotExist:
            raise Http404("No such ticket") from None
        user = self.request.user
        panel = recommendation_panel.panel_for(ticket)
        feedback = recommendation_panel.feedback_for(ticket)
        can_work = roles.has_role(user, *WORK_ROLES)
        return super().get_context_data(
            ticket=ticket,
            sla=sla.state(ticket),
            timeline=timeline(ticket),
            alarm_groups=ticket_alarm_groups(ticket),
            waiting_alarms=ticket_waiting_alarms(ticket),
            activity=activity(ticket, feedback),
            panel=panel,
            description=recommendation_panel.highlight(ticket.description, panel.evidence_words),
            feedback=feedback,
            trying=recommendation_panel.trying(feedback, user),
            planned=recommendation_panel.planned(feedback, panel),
            can_give_feedback=roles.has_role(user, *FEEDBACK_ROLES),
            can_work=can_work,
            is_admin=is_admin(user),
            actions=allowed_actions(ticket) if can_work else [],
            note_form=NoteForm(),
            back_url=queue_url(self.request),
            **self._assignment(ticket, user, can_work),
            resolution_codes=ResolutionCode.objects.only("code", "title") if can_work else [],
            **kwargs,
        )

    @staticmethod
    def _assignment(ticket: Ticket, user, can_work: bool) -> dict:
        if not (can_work and ticket.is_open):
            return {"groups": [], "teams": [], "can_take": False}
        # Who may be assigned (services.workflow.can_be_assignee), listed under each team they are
        # in, so the form shows who belongs to the group chosen before it is saved: one row per
        # (person, team) in one query.
        rows = (
            get_user_model()
            .objects.filter(is_active=True)
            .filter(Q(is_superuser=True) | Q(groups__name__in=[roles.ENGINEER, roles.ADMIN]))
            .values_list("pk", "username", "assignment_groups")
            .distinct()
            .order_by("username")
        )
        members: dict[int | None, list[tuple[int, str]]] = {}
        for pk, username, group_id in rows:
            members.setdefault(group_id, []).append((pk, username))
        groups = list(AssignmentGroup.objects.order_by("name"))
        teams = [(group.name, group.pk, members[group.pk]) for group in groups if group.pk in members]
        if None in members:
            teams.append(("In no team", None, members[None]))
        return {
            "groups": groups,
            "teams": _options(ticket, teams),
            "can_take": can_be_assignee(user) and ticket.assignee_id != user.pk,
        }


def _options(ticket: Ticket, teams: list) -> list[tuple[str, list[tuple[str, bool]]]]:
    """(team label, [(username, selected)]): the assignee is selected once, under the ticket's group
    when they are in it, else under their first team."""
    holding = [pk for _, pk, people in teams if ticket.assignee_id in {p for p, _ in people}]
    chosen = ticket.assignment_group_id if ticket.assignment_group_id in holding else next(iter(holding), 0)
    return [
        (label, [(name, p == ticket.assignee_id and pk == chosen) for p, name in people])
        for label, pk, people in teams
    ]
