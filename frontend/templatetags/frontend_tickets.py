from django import template

from repair_center import sla

register = template.Library()


@register.filter
def duration(value) -> str:
    """A timedelta as people say it: "45 min", "3 h 20 min", "2 d 4 h"."""
    return sla.duration(value) if value is not None else ""
