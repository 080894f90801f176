"""What engineers do on a ticket page: status actions, assignment, notes and feedback.

Each POST calls the one service (repair_center.services.workflow, ml.feedback) and goes back to
the ticket, to the part of the page where the engineer acted, with what happened said there.
Actions that need more than a click (resolve with a code and notes, hold, cancel and reopen with a
reason) first show a page that asks for it and confirms; a form carries the revision it was shown
at, so a change someone made meanwhile is reported instead of overwritten.
"""

from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from frontend import recommendation_panel
from frontend.forms import NoteForm
from frontend.selectors import change_summary, changes_since
from frontend.views.access import RoleRequiredMixin
from frontend.views.tickets import FEEDBACK_ROLES, WORK_ROLES
from repair_center.models import ResolutionCode, Ticket, TicketChange
from repair_center.services import workflow
from repair_center.services.history import StaleRevision, WorkflowError
from ticketai.storable import text_problem

NOTES_MAX = 5000
# Where on the ticket page each kind of outcome is shown (an id in the page).
WORK, RECOMMENDATION, ACTIVITY = "work", "recommendation", "activity"


def _back(ticket_id: int, anchor: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("ticket-detail", args=[ticket_id]) + f"#{anchor}")


def _revision(request) -> int | None:
    value = request.POST.get("revision", "")
    return int(value) if value.isdigit() else None


def _refused(request, error: WorkflowError, anchor: str) -> None:
    if isinstance(error, StaleRevision):
        text = (
            f"Not saved: someone changed this ticket since you opened it (now revision {error.current}). "
            "Check what changed below and try again."
        )
    else:
        text = f"Not saved: {error.message}."  # as written: it may start with a user name
    messages.error(request, text, extra_tags=anchor)


DONE = {
    "acknowledge": "Acknowledged: the ticket is yours.",
    "start": "Work started: the ticket is in progress.",
    "hold": "Put on hold.",
    "resolve": "Resolved with {code}. Close it once the fix is confirmed.",
    "close": "Closed.",
    "cancel": "Cancelled.",
    "reopen": "Reopened: the ticket is in progress again.",
}


class TicketActionView(RoleRequiredMixin, TemplateView):
    """GET asks for what an action needs (and confirms); POST takes it. Actions without input
    (acknowledge, start, close) are one POST from the ticket page."""

    allowed_roles = WORK_ROLES
    template_name = "frontend/ticket_action.html"

    def get_context_data(self, **kwargs):
        ticket = get_object_or_404(Ticket.objects.select_related("resolution"), pk=self.kwargs["pk"])
        name = self.request.GET.get("action") or self.request.POST.get("action", "")
        transition = workflow.TRANSITIONS.get(name)
        if transition is None:
            raise Http404("No such action on a ticket")
        code = self.request.GET.get("resolution_code") or self.request.POST.get("resolution_code", "")
        refused = workflow.refusal(ticket, name)
        if name == "resolve" and not code and not refused:
            feedback = recommendation_panel.feedback_for(ticket)
            code = recommendation_panel.planned(feedback, recommendation_panel.panel_for(ticket))
        return super().get_context_data(
            ticket=ticket,
            transition=transition,
            # Checked against the ticket as it stands: a URL can name any action.
            refused=f"{refused[:1].upper()}{refused[1:]}." if refused else "",
            needs_reason=transition.needs_reason,
            becomes=Ticket.Status(transition.target).label,
            resolution_code=code,
            resolution_codes=ResolutionCode.objects.only("code", "title") if name == "resolve" else [],
            reason=self.request.POST.get("reason", ""),
            notes=self.request.POST.get("resolution_notes", ""),
            **kwargs,
        )

    def post(self, request, pk):
        name = request.POST.get("action", "")
        transition = workflow.TRANSITIONS.get(name)
        if transition is None:
            messages.error(request, "Choose one of the ticket's actions.", extra_tags=WORK)
            return _back(pk, WORK)
        needs_input = transition.needs_reason or name == "resolve"
        if needs_input and request.POST.get("confirmed") != "yes":
            return self.render_to_response(self.get_context_data())
        try:
            ticket = self._transition(request, pk, name)
        except StaleRevision as e:
            if not needs_input:
                _refused(request, e, WORK)
                return _back(pk, WORK)
            # The form comes back with what was typed, at the new revision, saying what changed.
            since = "; ".join(change_summary(c) for c in changes_since(ticket_id=pk, revision=e.expected))
            messages.error(
                request,
                f"Not saved: someone changed this ticket since you opened this form: {since}. "
                "What you entered is kept; check it and confirm again.",
                extra_tags="form",
            )
            return self.render_to_response(self.get_context_data(), status=409)
        except WorkflowError as e:
            if needs_input and e.field in ("reason", "resolution"):
                messages.error(request, f"{e.message[:1].upper()}{e.message[1:]}.", extra_tags="form")
                return self.render_to_response(self.get_context_data(), status=400)
            _refused(request, e, WORK)
        else:
            code = ticket.resolution.code if ticket.resolution_id else ""
            messages.success(request, DONE[name].format(code=code), extra_tags=WORK)
        return _back(pk, WORK)

    @staticmethod
    def _transition(request, pk: int, name: str) -> Ticket:
        def act(expected: int | None) -> Ticket:
            return workflow.ticket_transition(
                ticket_id=pk,
                action=name,
                user=request.user,
                reason=request.POST.get("reason", ""),
                resolution_code=request.POST.get("resolution_code", ""),
                resolution_notes=request.POST.get("resolution_notes", "")[:100_000],
                expected_revision=expected,
            )

        try:
            return act(_revision(request))
        except StaleRevision as e:
            since = changes_since(ticket_id=pk, revision=e.expected)
            # A colleague's work note changes neither status, assignment nor resolution: nothing
            # the engineer decided on moved, so the action is decided again on the new revision.
            # Anything else meanwhile (or another change racing this one) is reported.
            if not since or any(c.action != TicketChange.Action.NOTE for c in since):
                raise
            return act(e.current)

    def render_to_response(self, context, **kwargs):
        if context["refused"]:
            kwargs["status"] = 409  # nothing to confirm: the page only says why
        return super().render_to_response(context, **kwargs)


class TicketAssignView(RoleRequiredMixin, View):
    allowed_roles = WORK_ROLES

    def post(self, request, pk):
        get_object_or_404(Ticket.objects.only("pk"), pk=pk)
        try:
            if request.POST.get("take") == "me":
                ticket = workflow.ticket_assign(
                    ticket_id=pk,
                    assignee=request.user,
                    user=request.user,
                    expected_revision=_revision(request),
                )
            else:
                group = request.POST.get("group", "")
                person = request.POST.get("assignee", "")
                ticket = workflow.ticket_assign(
                    ticket_id=pk,
                    group=group or None,
                    assignee=person or None,
                    user=request.user,
                    expected_revision=_revision(request),
                )
        except WorkflowError as e:
            _refused(request, e, WORK)
        else:
            who = ticket.assignee.get_username() if ticket.assignee_id else "nobody yet"
            team = f" in {ticket.assignment_group.name}" if ticket.assignment_group_id else ""
            messages.success(request, f"Assigned to {who}{team}.", extra_tags=WORK)
        return _back(pk, WORK)


class TicketNoteView(RoleRequiredMixin, View):
    allowed_roles = WORK_ROLES

    def post(self, request, pk):
        get_object_or_404(Ticket.objects.only("pk"), pk=pk)
        form = NoteForm(request.POST)
        if not form.is_valid():
            why = " ".join(message for errors in form.errors.values() for message in errors)
            messages.error(request, f"Not saved: {why}", extra_tags=ACTIVITY)
            return _back(pk, ACTIVITY)
        try:
            workflow.ticket_note_add(
                ticket_id=pk,
                text=form.cleaned_data["text"],
                visibility=form.cleaned_data["visibility"],
                user=request.user,
            )
        except WorkflowError as e:
            _refused(request, e, ACTIVITY)
        else:
            messages.success(request, "Note added.", extra_tags=ACTIVITY)
        return _back(pk, ACTIVITY)


def _feedback_refusal(ticket: Ticket, action: str, code: str | None, relabel: bool) -> str:
    """Why feedback on a ticket that is no longer open is refused: its resolution is the engineer's
    recorded fix and the next model's label, so it changes only by a confirmed correction."""
    if ticket.is_open:
        return ""
    status = ticket.get_status_display().lower()
    if action == "accept":
        return f"this ticket is {status}, so there is no fix left to try."
    recorded = ticket.resolution.code if ticket.resolution_id else "none"
    if action == "correct" and not relabel:
        return f"tick to confirm that {code} replaces the recorded resolution, {recorded}."
    return ""


class TicketFeedbackView(RoleRequiredMixin, View):
    """I'll try this (accept), reject, or correct the recommendation: stored as feedback, shown at
    once in the recommendation panel. It never changes an open ticket's status; on a ticket that
    is no longer open only a confirmed correction (relabel) is taken."""

    allowed_roles = FEEDBACK_ROLES

    def post(self, request, pk):
        ticket = get_object_or_404(Ticket, pk=pk)
        action = request.POST.get("action", "")
        code = request.POST.get("resolution_code", "").strip() or None
        notes = request.POST.get("notes", "").strip()
        # Refused with a reason rather than cut or stored: a NUL was a 500 (PostgreSQL refuses it).
        problem = text_problem(notes) or text_problem(code or "")
        if problem or len(notes) > NOTES_MAX:
            why = problem or f"are over {NOTES_MAX} characters"
            messages.error(request, f"Feedback not stored: the notes {why}.", extra_tags=RECOMMENDATION)
            return _back(pk, RECOMMENDATION)
        if action not in ("accept", "reject", "correct") or (action != "reject" and not code):
            messages.error(
                request, "Choose accept, reject, or a resolution to correct it to.", extra_tags=RECOMMENDATION
            )
            return _back(pk, RECOMMENDATION)
        refusal = _feedback_refusal(ticket, action, code, request.POST.get("relabel") == "yes")
        if refusal:
            messages.error(request, f"Not stored: {refusal}", extra_tags=RECOMMENDATION)
            return _back(pk, RECOMMENDATION)
        try:
            recommendation_panel.feedback_record(
                ticket=ticket, user=request.user, action=action, resolution_code=code, notes=notes
            )
        except (LookupError, ValueError) as e:
            messages.error(request, f"Feedback not stored: {e}", extra_tags=RECOMMENDATION)
            return _back(pk, RECOMMENDATION)
        ticket.refresh_from_db()
        status = ticket.get_status_display().lower()
        if action == "accept":
            text = f"Noted: you'll try {code}. The ticket stays {status}; resolve it once the fix works."
        elif action == "correct":
            tail = "" if ticket.is_open else " The ticket's resolution is updated."
            text = f"Corrected to {code}. Thank you: this feedback trains the next model.{tail}"
        else:
            text = "Rejected. Thank you: this feedback trains the next model."
        messages.success(request, text, extra_tags=RECOMMENDATION)
        return _back(pk, RECOMMENDATION)
