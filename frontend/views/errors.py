"""Error pages in the site's layout (403, 404, 500, 503), phone-sized like every page.

403 and 404 use the normal layout with its navigation. 500 and 503 may be answering because the
database is gone, so they render without touching the session or the user: the plain layout.
"""

import logging

from django.http import HttpResponse, HttpResponseServerError
from django.template import loader

from repair_center import roles
from ticketai.error_pages import LINKS, PLAIN

logger = logging.getLogger(__name__)


def _page(template: str, context: dict, request=None) -> str:
    return loader.get_template(template).render({"error_links": LINKS, **context}, request)


def permission_denied(request, exception=None):
    if roles.user_roles(getattr(request, "user", None)):
        reason = "It is for admins (models, training, schedules, the fleet). Your work is in the queue."
    else:
        reason = "Your account has no TicketAI role yet; ask an admin to give you one."
    return HttpResponse(_page("403.html", {"reason": reason}, request), status=403)


def page_not_found(request, exception=None):
    return HttpResponse(_page("404.html", {}, request), status=404)


def server_error(request):
    try:
        body = _page("500.html", {})
    except Exception:  # the page that reports an error must not raise one
        logger.exception("the 500 page could not be rendered")
        body = PLAIN.format(title="Something went wrong", text="Try again in a moment.")
    return HttpResponseServerError(body)
