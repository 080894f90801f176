"""Starting Celery tasks from web requests when the broker (Redis) may be down.

A view that starts work calls ``require_broker()`` before writing anything, or
``enqueue_or_503(task, ...)`` to publish; either answers 503 with a clear message and
``Retry-After`` instead of a 500 (DRF views through the exception, plain Django views through
``BrokerUnavailableMiddleware``, which also catches a publish that fails in an on_commit hook).
Requests that start nothing (reads, recommendations from the loaded model) are unaffected.

Services queue work by task name through ``enqueue`` and ``enqueue_on_commit``, so no service
imports a tasks module (the tasks import the services, never the other way round).
"""

import logging

from django.db import transaction
from django.http import HttpResponse, JsonResponse
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import status
from rest_framework.exceptions import APIException

from ticketai.celery import app

logger = logging.getLogger(__name__)
RETRY_AFTER_S = 30
# What publishing raises when Redis (or the embedded broker's folder) is not there.
BROKER_ERRORS = (OperationalError, OSError, RedisConnectionError, RedisTimeoutError)
MESSAGE = "The task queue is not answering, so nothing was started; the request was not saved. Retry later."


class BrokerUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = MESSAGE
    default_code = "broker_unavailable"

    def __init__(self, detail=None):
        super().__init__(detail)
        self.wait = RETRY_AFTER_S  # DRF turns this into Retry-After


def require_broker(timeout: float = 2.0) -> None:
    """Raise BrokerUnavailable unless the broker accepts a connection within ``timeout`` seconds."""
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
    except BROKER_ERRORS as e:
        logger.warning("broker unavailable: %s", e)
        raise BrokerUnavailable() from e


def enqueue_or_503(task, *, args=(), kwargs=None, **options):
    """``task.apply_async`` without blocking retries; BrokerUnavailable (503) when it cannot publish."""
    try:
        return task.apply_async(args=args, kwargs=kwargs or {}, retry=False, **options)
    except BROKER_ERRORS as e:
        logger.warning("could not enqueue %s: %s", task.name, e)
        raise BrokerUnavailable() from e


def task_named(name: str):
    """The task registered as ``name`` on our app, importing every app's tasks module on first use."""
    try:
        return app.tasks[name]
    except KeyError:
        # A web process has not imported the tasks modules yet: this runs autodiscover_tasks().
        app.loader.import_default_modules()
        return app.tasks[name]


def enqueue(name: str, *args, task_id: str | None = None, **kwargs):
    """Send task ``name`` with these arguments now.

    The task is looked up on the app rather than sent by name, so eager mode (tests, the embedded
    demo) still runs it in process and routing by name (CELERY_TASK_ROUTES) applies as before.
    """
    return task_named(name).apply_async(args=list(args), kwargs=kwargs, task_id=task_id)


def enqueue_on_commit(name: str, *args, task_id: str | None = None, **kwargs) -> None:
    """Send task ``name`` once the current transaction commits, so the worker sees the rows it reads."""
    transaction.on_commit(lambda: enqueue(name, *args, task_id=task_id, **kwargs))


def _unavailable_response(request=None) -> HttpResponse:
    """503 with Retry-After: the site's error page for a browser on a page, JSON otherwise."""
    wants_html = (
        request is not None
        and "text/html" in request.headers.get("Accept", "")
        and not request.path.startswith("/api/")
    )
    if wants_html:
        from ticketai.error_pages import unavailable_html

        response = HttpResponse(
            unavailable_html(MESSAGE), status=503, content_type="text/html; charset=utf-8"
        )
    else:
        response = JsonResponse({"detail": MESSAGE}, status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response


UNAVAILABLE = (BrokerUnavailable, OperationalError, RedisConnectionError, RedisTimeoutError)


class BrokerUnavailableMiddleware:
    """Turns a broker failure anywhere in a view into 503 with Retry-After (not a 500)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, UNAVAILABLE):
            logger.warning("answered 503: the task queue is unavailable (%s)", exception)
            return _unavailable_response(request)
        return None
