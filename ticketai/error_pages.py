"""The 503 page's HTML for outage answers (database, broker), rendered without the database.

The template lives with the other pages (``503.html``, in the site's layout); it is found by name,
so the project package imports nothing of the apps.
"""

import logging

from django.template import loader

logger = logging.getLogger(__name__)
LINKS = [("/", "Back to the tickets")]
PLAIN = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
    "<meta name='viewport' content='width=device-width, initial-scale=1'></head>"
    "<body><h1>{title}</h1><p>{text}</p></body></html>"
)


def unavailable_html(message: str) -> str:
    try:
        return loader.get_template("503.html").render({"message": message, "error_links": LINKS})
    except Exception:  # the page that reports an outage must not fail with another error
        logger.exception("the 503 page could not be rendered")
        return PLAIN.format(title="Service unavailable", text=message)
