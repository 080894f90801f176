from django import template
from django.urls import reverse

from frontend.navigation import MAIN_NAV
from repair_center import roles

register = template.Library()


@register.inclusion_tag("frontend/includes/nav.html", takes_context=True)
def main_nav(context):
    request = context["request"]
    user = request.user
    current = request.resolver_match.url_name if request.resolver_match else None
    admin = roles.has_role(user, roles.ADMIN)
    items = [
        {"label": item.label, "url": reverse(item.url_name), "current": current in item.section}
        for item in MAIN_NAV
        if admin or not item.admin_only
    ]
    return {"items": items, "user": user, "request": request}
