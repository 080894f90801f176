"""Confidence as people read it: a band, with the number on hover or tap (ml/serving/confidence.py)."""

from django import template

from ml.serving import confidence

register = template.Library()


@register.inclusion_tag("frontend/includes/band.html")
def band(value, resolution=""):
    """``{% band rec.confidence rec.resolution %}``: High / Medium / Low; hover or tap shows the number."""
    if value is None:
        return {"band": None}
    return {"band": confidence.band(float(value)), "resolution": resolution}


@register.simple_tag
def abstain_rule() -> str:
    return confidence.rule_text()
