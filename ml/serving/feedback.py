"""Engineers' feedback on recommendations: accept, reject or correct.

On an open ticket feedback is a verdict and a plan, never a status change: accepting means "I'll
try this" and correcting "the fix is this other one"; the ticket is resolved later, as a separate
confirmed step (repair_center.services.workflow), with the chosen fix offered there. On a ticket
that is already resolved or closed, accept and correct label it at once through repair_center's
ticket_resolve (so queues, pages and the next training see the engineer's resolution without
waiting for a retrain). Reject only records that the recommendation was wrong. Every verdict is
announced to webhook subscribers as ``feedback.recorded``.
"""

from django.db import transaction

from ml.core.webhooks import webhook_emit
from ml.models import Feedback, ModelVersion, Recommendation
from ml.models.webhooks import FEEDBACK_RECORDED
from repair_center.models import Ticket
from repair_center.services.catalogue import find_resolution, resolution_id, resolution_names
from repair_center.services.resolution import ticket_resolve


class FeedbackError(ValueError):
    """The feedback does not make sense; ``errors`` maps field names to messages (DRF's shape)."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def current_recommendation(ticket: Ticket) -> tuple[str, ModelVersion | None, list[str] | None]:
    """(top resolution, model version, recommended codes) of the newest recommendation stored.

    The codes are None when nothing was stored for the ticket, and empty when the model abstained.
    """
    recommendation = (
        Recommendation.objects.filter(ticket_id=ticket.pk)
        .select_related("model_version")
        .order_by("-ticket_revision", "-created_at", "-id")
        .first()
    )
    if recommendation is None:
        return "", None, None
    if recommendation.abstained:
        return "", recommendation.model_version, []
    codes = [r.get("resolution") for r in (recommendation.payload or {}).get("recommendations", [])]
    return recommendation.top_resolution or "", recommendation.model_version, [c for c in codes if c]


def _offered(code: str, offered: list[str]) -> bool:
    """Whether ``code`` names a fix that was offered: as offered, or by another of its names (the
    code kept by a merge since, an alias, a spelling of it)."""
    if code in offered:
        return True
    names = resolution_names()
    chosen = resolution_id(code, names)
    return chosen is not None and any(resolution_id(c, names) == chosen for c in offered)


@transaction.atomic
def feedback_record(
    *, ticket: Ticket, user, action: str, resolution_code: str | None = None, notes: str = ""
) -> Feedback:
    """Store an engineer's verdict; on a resolved or closed ticket accept and correct also set its
    resolution label. An open ticket's status is never changed here."""
    if action not in Feedback.Action.values:
        raise FeedbackError({"action": [f"{action!r} is not one of {', '.join(Feedback.Action.values)}"]})
    recommended, model_version, offered = current_recommendation(ticket)
    code = resolution_code or ""
    if action == Feedback.Action.REJECT and code:
        raise FeedbackError(
            {"resolution": ["a rejection takes no resolution; use correct to give the right one"]}
        )
    if action == Feedback.Action.CORRECT and not code:
        raise FeedbackError({"resolution": ["a correction needs the right resolution code"]})
    if action == Feedback.Action.ACCEPT:
        if not code and not recommended:
            raise FeedbackError(
                {"action": ["there is no recommendation to accept; use correct with a resolution"]}
            )
        # Nothing stored (a recommendation shown from elsewhere): take the engineer's word for it.
        if code and offered is not None and not _offered(code, offered):
            raise FeedbackError({"resolution": [f"{code!r} was not recommended; use correct instead"]})
        code = code or recommended

    chosen = None
    if code:
        chosen = find_resolution(code)
        if chosen is None:
            raise FeedbackError({"resolution": [f"{code!r} is not in the resolution catalogue"]})

    username = user.get_username() if user is not None else "system"
    ticket.refresh_from_db()
    _refuse_replacing_by_accept(ticket, action, chosen)
    if chosen is not None and not ticket.is_open:
        ticket_resolve(
            ticket_id=ticket.pk,
            resolution_code=chosen.code,
            notes=notes,
            resolved_by=username,
            user=user if user is not None and user.is_authenticated else None,
        )
        ticket.refresh_from_db()
    feedback = Feedback.objects.create(
        ticket=ticket,
        user=user if user is not None and user.is_authenticated else None,
        username=username,
        action=action,
        recommended_resolution=recommended,
        chosen_resolution=chosen,
        notes=notes,
        model_version=model_version,
        ticket_revision=ticket.revision,
    )
    webhook_emit(FEEDBACK_RECORDED, feedback_payload(feedback))
    return feedback


def _refuse_replacing_by_accept(ticket: Ticket, action: str, chosen) -> None:
    """A resolved or closed ticket's resolution is the engineer's recorded fix and the next model's
    label: accepting a recommendation labels a ticket that has none, and never replaces one. Only a
    correction, which names the fix, changes it."""
    if action != Feedback.Action.ACCEPT or chosen is None or ticket.is_open or not ticket.resolution_id:
        return
    if ticket.resolution_id != chosen.pk:
        raise FeedbackError(
            {
                "action": [
                    f"this ticket is {ticket.get_status_display().lower()} with the resolution "
                    f"{ticket.resolution.code!r}; accepting {chosen.code!r} would replace the recorded fix: "
                    "send correct with the resolution to change it"
                ]
            }
        )


def feedback_payload(feedback: Feedback) -> dict:
    """The JSON announced to webhook subscribers (and shown by the API)."""
    ticket = feedback.ticket
    return {
        "feedback_id": feedback.pk,
        "ticket": {
            "id": ticket.pk,
            "source": ticket.source,
            "external_id": ticket.external_id,
            "revision": feedback.ticket_revision,
            "resolution": ticket.resolution.code if ticket.resolution_id else None,
        },
        "action": feedback.action,
        "recommended_resolution": feedback.recommended_resolution or None,
        "chosen_resolution": feedback.chosen_resolution.code if feedback.chosen_resolution_id else None,
        "notes": feedback.notes,
        "model_version": feedback.model_version_id,
        "user": feedback.username,
        "created_at": feedback.created_at.isoformat().replace("+00:00", "Z"),
    }


def planned_resolution(ticket: Ticket) -> str:
    """The fix the newest accept or correct on the ticket chose ("" when none): what resolving offers."""
    code = (
        Feedback.objects.filter(ticket=ticket, chosen_resolution__isnull=False)
        .exclude(action=Feedback.Action.REJECT)
        .order_by("-created_at", "-id")
        .values_list("chosen_resolution__code", flat=True)
        .first()
    )
    return code or ""
