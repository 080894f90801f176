from django import template
from django.urls import reverse

from frontend.navigation import MAIN_NAV

register = template.Library()


@register.inclusion_tag("frontend/includes/nav.html", takes_context=True)
def main_nav(context):
    request = context["request"]
    user = request.user
    current = request.resolver_match.url_name if request.resolver_match else None
    items = [
        {"label": item.label, "url": reverse(item.url_name), "current": current in item.section}
        for item in MAIN_NAV
        if not item.staff_only or user.is_staff
    ]
    return {"items": items, "user": user, "request": request}
