"""Requests while PostgreSQL is unreachable: 503 with Retry-After and a clear message, not a 500.

Only connection failures count (refused, dropped, server shutting down): a deadlock or a statement
timeout is still a 500, because retrying the same request will not obviously help. DRF views get
the answer through ``ticketai.exceptions`` (so it is rendered like any API error), every other
view through ``DatabaseUnavailableMiddleware``. Django reconnects by itself once the server is
back (CONN_HEALTH_CHECKS), so nothing here needs resetting.

The outage is logged once, then at most once every RETRY_AFTER_S with the number of requests
refused meanwhile, instead of an error and a traceback per request.
"""

import logging
import threading
import time

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from rest_framework import status
from rest_framework.exceptions import APIException

logger = logging.getLogger(__name__)
RETRY_AFTER_S = 10
MESSAGE = "The database is not answering, so this request could not be completed. Retry in a little while."
# SQLSTATE classes of a lost server: 08 connection exception, 57P01-57P03 shutdown or starting up.
_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03")


class DatabaseUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = MESSAGE
    default_code = "database_unavailable"

    def __init__(self, detail=None):
        super().__init__(detail)
        self.wait = RETRY_AFTER_S  # DRF turns this into Retry-After


def is_connection_failure(exc: BaseException) -> bool:
    """True for a database error that means the server cannot be reached, not that a query failed."""
    if isinstance(exc, InterfaceError):  # Django's "connection already closed"
        return True
    if not isinstance(exc, OperationalError):
        return False
    # psycopg errors carry a sqlstate, None when the client failed to talk to the server at all;
    # SQLite's have no sqlstate and are left alone ("database is locked" is not an outage).
    sqlstate = getattr(exc.__cause__, "sqlstate", "-")
    return sqlstate is None or sqlstate.startswith(_CONNECTION_STATES)


class _OutageLog:
    """Logs the first refusal of an outage, then a summary at most every RETRY_AFTER_S."""

    def __init__(self):
        self._lock = threading.Lock()
        self._last = 0.0
        self._suppressed = 0

    def refused(self, exc: BaseException) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last < RETRY_AFTER_S:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        since = f" ({suppressed} more refused since the last report)" if suppressed else ""
        logger.warning("database unavailable, answering 503: %s%s", reason, since)


outage_log = _OutageLog()


def unavailable_response(request) -> HttpResponse:
    """503 with Retry-After: a small HTML page for browsers, JSON for everything else."""
    wants_html = "text/html" in request.headers.get("Accept", "") and not request.path.startswith("/api/")
    if wants_html:
        from ticketai.error_pages import unavailable_html  # the site's layout, without the database

        response = HttpResponse(
            unavailable_html(MESSAGE), status=503, content_type="text/html; charset=utf-8"
        )
    else:
        response = JsonResponse({"detail": MESSAGE}, status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    # Logged (once) by outage_log: keep Django from adding an error line per refused request.
    response._has_been_logged = True
    return response


class DatabaseUnavailableMiddleware:
    """Turns a lost database connection anywhere in a view into 503 with Retry-After (not a 500)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_connection_failure(exception):
            outage_log.refused(exception)
            return unavailable_response(request)
        return None
