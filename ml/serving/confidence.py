"""How sure the model is, in words a person can act on, and the one rule for when it abstains.

Every place that shows or serves a recommendation goes through here: the queue (a band per row,
and "Needs an expert" as a database filter), the ticket page, the API and ``predict``. The rule
reads the top recommendation's served probability, so calibrating those probabilities
(ml/training/calibration.py) changes what the rule decides without changing the rule, and whether
the ticket is unfamiliar (Predictor.unfamiliar): the payload's ``unfamiliar``.

The rule: the model recommends a fix only when its top answer is at least Medium confidence
(``TICKETAI_CONFIDENCE_MEDIUM``, 50% by default) and the ticket holds at least one word or code that
tells the tickets it learnt from apart. Otherwise it says it is unsure and the ticket needs an
expert. Calibration was fitted on validation tickets like the ones learnt from; about a ticket that
shares nothing with them (gibberish, another language, alarm codes never seen) its probabilities say
nothing, however high.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

# The words and the way of writing a probability are the edge agent's too (it cannot import ml).
from edge_agent.abstention import NO_RECOMMENDATION, UNFAMILIAR, percent

HIGH, MEDIUM, LOW = "high", "medium", "low"
# Other resolutions shown by similar tickets count as "another way it was fixed" from this share.
SIMILAR_MIN = 2


@dataclass(frozen=True, slots=True)
class Band:
    key: str  # "high", "medium", "low"
    label: str  # "High", ...
    percent: str  # "87%": shown on hover or tap, never "100%"


def band(confidence: float) -> Band:
    """The confidence band of a served probability."""
    if confidence >= settings.TICKETAI_CONFIDENCE_HIGH:
        key = HIGH
    elif confidence >= settings.TICKETAI_CONFIDENCE_MEDIUM:
        key = MEDIUM
    else:
        key = LOW
    return Band(key, key.capitalize(), percent(confidence))


def abstains(confidence: float, *, unfamiliar: bool = False) -> bool:
    """The rule: below Medium confidence, or about an unfamiliar ticket, the model does not
    recommend; an expert decides."""
    return unfamiliar or float(confidence) < settings.TICKETAI_CONFIDENCE_MEDIUM


def abstains_q(field: str = "top_confidence", payload: str = "payload") -> Q:
    """The rule as a database filter on a stored recommendation's top confidence and payload."""
    return Q(**{f"{field}__lt": settings.TICKETAI_CONFIDENCE_MEDIUM}) | Q(**{f"{payload}__unfamiliar": True})


def rule_text() -> str:
    """The rule in plain words, as the ticket page and the API state it."""
    return (
        f"The model recommends a fix only when it is at least {percent(settings.TICKETAI_CONFIDENCE_MEDIUM)} "
        "sure (Medium or High confidence) and the ticket shares words or codes with the tickets it learnt "
        "from. Otherwise it says it is unsure, and the ticket needs an expert."
    )


def reason(recommendations: list[dict], similar: list[dict], *, unfamiliar: bool = False) -> str | None:
    """Why the model abstains, in plain words; None when it does not."""
    if not recommendations:
        return NO_RECOMMENDATION
    if unfamiliar:
        return UNFAMILIAR
    top = recommendations[0]
    if not abstains(top.get("confidence", 0.0)):
        return None
    ways = {s.get("resolution") for s in similar if s.get("resolution")}
    guess = f"its best guess, {top.get('resolution')}, is only {percent(top.get('confidence', 0.0))} likely"
    if len(ways) >= SIMILAR_MIN:
        ways_text = f"similar past tickets were fixed in {len(ways)} different ways"
        return f"The model is unsure: {guess}, and {ways_text}."
    return f"The model is unsure: {guess}."


def apply(payload: dict) -> dict:
    """The payload with the rule applied: ``abstained``, ``abstain_reason``, ``abstain_rule`` and a
    ``band`` per recommendation, from the probabilities and ``unfamiliar`` in it. Cached payloads go
    through this when they are served, so a changed threshold applies everywhere at once (payloads
    stored before ``unfamiliar`` existed have none until the ticket is answered again)."""
    if payload.get("model_version") is None:
        return payload
    recommendations = [
        {**r, "band": band(r.get("confidence", 0.0)).key} for r in payload.get("recommendations") or []
    ]
    why = reason(recommendations, payload.get("similar") or [], unfamiliar=bool(payload.get("unfamiliar")))
    return {
        **payload,
        "recommendations": recommendations,
        "abstained": why is not None,
        "abstain_reason": why,
        "abstain_rule": rule_text(),
    }
