"""Error pages in the site's layout (403, 404, 500, 503), phone-sized like every page.

403 and 404 use the normal layout with its navigation. 500 and 503 may be answering because the
database is gone, so they render without touching the session or the user: the plain layout.
"""

import logging

from django.http import HttpResponse, HttpResponseServerError
from django.template import loader

from repair_center import roles

logger = logging.getLogger(__name__)
LINKS = [("/", "Back to the tickets")]
# The last resort when even the template cannot be rendered.
PLAIN = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
    "<meta name='viewport' content='width=device-width, initial-scale=1'></head>"
    "<body><h1>{title}</h1><p>{text}</p></body></html>"
)


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


def unavailable_html(message: str) -> str:
    """The 503 page's HTML, for the database and broker outage answers (ticketai/)."""
    try:
        return _page("503.html", {"message": message})
    except Exception:
        logger.exception("the 503 page could not be rendered")
        return PLAIN.format(title="Service unavailable", text=message)
