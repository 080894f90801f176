"""The ticket page's recommendation panel: what the model says, the evidence highlighted,
and the engineers' feedback. ml's modules are looked up when first needed, so the pages
keep working, with an honest "no model yet", while a deployment has no recommendation service."""

import importlib
import importlib.util
import logging
import re
from dataclasses import dataclass, field

from django.apps import apps
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from repair_center.models import Ticket

logger = logging.getLogger(__name__)


def _ml(module: str):
    if importlib.util.find_spec(module) is None:
        return None
    return importlib.import_module(module)


@dataclass(slots=True)
class Panel:
    state: str  # "ready", "abstained", "no_model" or "unavailable"
    payload: dict = field(default_factory=dict)
    error: str = ""
    label_set: str = ""  # which champion answered: resolution, or resolution:SOURCE

    @property
    def recommendations(self) -> list[dict]:
        return self.payload.get("recommendations") or []

    @property
    def top(self) -> dict | None:
        return self.recommendations[0] if self.recommendations else None

    @property
    def evidence(self) -> dict:
        return self.payload.get("evidence") or {}

    @property
    def evidence_items(self) -> list[dict]:
        """Codes, events and words as one list, strongest first (at most 5 are stored), each with
        its ``kind`` and ``direction``: "for" the recommendation or "against" it."""
        items = []
        for key, kind in (("codes", "code"), ("events", "event"), ("words", "word")):
            for entry in self.evidence.get(key) or []:
                weight = float(entry.get("weight") or 0.0)
                items.append(
                    {
                        **entry,
                        "kind": kind,
                        "event_kind": entry.get("kind", ""),
                        "weight": weight,
                        "direction": "for" if weight > 0 else "against",
                    }
                )
        return sorted(items, key=lambda item: -abs(item["weight"]))

    @property
    def evidence_patterns(self) -> list[dict]:
        return list(self.evidence.get("patterns") or [])

    def _decisive(self, key: str) -> list[dict]:
        # Only what speaks for the recommendation is highlighted on the ticket.
        return [item for item in self.evidence.get(key) or [] if float(item.get("weight") or 0.0) > 0]

    @property
    def evidence_codes(self) -> set[str]:
        return {str(item.get("code")) for item in self._decisive("codes")}

    @property
    def evidence_event_indexes(self) -> set[int]:
        return {item.get("index") for item in self._decisive("events")}

    @property
    def unsure(self) -> bool:
        return self.state == "abstained"

    @property
    def evidence_words(self) -> list[str]:
        return [str(item.get("word")) for item in self._decisive("words") if item.get("word")]


def panel_for(ticket: Ticket) -> Panel:
    """The recommendation for the ticket's current revision (cached by ml per revision and model)."""
    recommendations = _ml("ml.serving.recommendations")
    if recommendations is None:
        return Panel(state="no_model")
    try:
        payload = recommendations.recommendation_for_ticket(ticket)
    except Exception as e:  # a broken model must not take the ticket page down with it
        logger.exception("recommendation for ticket #%s failed", ticket.pk)
        return Panel(state="unavailable", error=f"{type(e).__name__}: {e}")
    if not payload or payload.get("model_version") is None:
        return Panel(state="no_model", payload=payload or {})
    return Panel(
        state="abstained" if payload.get("abstained") else "ready",
        payload=payload,
        label_set=_label_set(payload["model_version"]),
    )


def _label_set(version_id) -> str:
    try:
        model = apps.get_model("ml", "ModelVersion")
    except LookupError:
        return ""
    return model.objects.filter(pk=version_id).values_list("label_set_key", flat=True).first() or ""


def feedback_for(ticket: Ticket) -> list:
    try:
        model = apps.get_model("ml", "Feedback")
    except LookupError:
        return []
    return list(model.objects.filter(ticket=ticket).select_related("chosen_resolution", "model_version")[:20])


def trying(feedback: list, user) -> str:
    """The fix this user last said they would try on the ticket ("" when none, or when a later
    verdict of theirs replaced it): the page shows it instead of the "I'll try this" button."""
    for item in feedback:  # newest first
        if item.user_id == getattr(user, "pk", None):
            return (
                item.chosen_resolution.code if item.action == "accept" and item.chosen_resolution_id else ""
            )
    return ""


def planned(feedback: list, panel: Panel) -> str:
    """The fix resolving offers first: the newest accepted or corrected one on the ticket (feedback
    newest first, as feedback_for gives it), else the model's top answer when it recommends one."""
    for item in feedback:
        if item.action in ("accept", "correct") and item.chosen_resolution_id:
            return item.chosen_resolution.code
    if panel.state == "ready" and panel.top:
        return str(panel.top.get("resolution") or "")
    return ""


def feedback_record(*, ticket: Ticket, user, action: str, resolution_code: str | None, notes: str):
    module = _ml("ml.serving.feedback")
    if module is None:
        raise LookupError("feedback is not available in this deployment")
    return module.feedback_record(
        ticket=ticket, user=user, action=action, resolution_code=resolution_code, notes=notes
    )


def highlight(text: str, words: list[str]) -> SafeString:
    """The text escaped, line breaks kept, with each evidence word wrapped in <mark>."""
    words = sorted({w for w in words if w.strip()}, key=len, reverse=True)
    if not words:
        return mark_safe(escape(text).replace("\n", "<br>"))  # noqa: S308 - escaped
    pattern = re.compile(
        r"(?<![\w-])(" + "|".join(re.escape(w) for w in words) + r")(?![\w-])", flags=re.IGNORECASE
    )
    out, last = [], 0
    for match in pattern.finditer(text):
        out.append(escape(text[last : match.start()]))
        out.append(f'<mark class="evidence-word">{escape(match.group(0))}</mark>')
        last = match.end()
    out.append(escape(text[last:]))
    return mark_safe("".join(out).replace("\n", "<br>"))  # noqa: S308 - every piece escaped
