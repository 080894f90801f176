"""Request ids, structured logs and request metrics.

Every request gets an id (the caller's ``X-Request-ID`` when it is a sane token, else a new one),
echoed in the response header, attached to every log record made while handling it, and sent
with any Celery task it enqueues so the worker's log lines carry the same id.
"""

import contextlib
import contextvars
import json
import logging
import re
import time
import traceback
import uuid
from datetime import UTC, datetime

from celery import signals

from ticketai.metrics import REQUEST_LATENCY

HEADER = "X-Request-ID"
TASK_HEADER = "ticketai_request_id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("ticketai_request_id", default=None)
access_log = logging.getLogger("ticketai.request")


def current_request_id() -> str | None:
    return _current.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextlib.contextmanager
def bound_request_id(request_id: str | None = None):
    """Log (and enqueue tasks) under one request id outside a request: commands, scripts, tests."""
    token = _current.set(request_id or new_request_id())
    try:
        yield _current.get()
    finally:
        _current.reset(token)


class RequestIdMiddleware:
    """Binds a request id for the request's duration, times it by route and logs one line for it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(HEADER, "")
        request_id = incoming if _SAFE_ID.match(incoming) else new_request_id()
        request.request_id = request_id
        token = _current.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            elapsed = time.perf_counter() - started
            match = getattr(request, "resolver_match", None)
            # The view name, not the path: ids in paths would make one series per ticket.
            route = (match.view_name or match.route) if match else "unmatched"
            REQUEST_LATENCY.labels(route, request.method, f"{response.status_code // 100}xx").observe(elapsed)
            response[HEADER] = request_id
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            return response
        finally:
            _current.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts the current request id (or "-") on every record, for both formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = _current.get() or "-"
        return True


# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or _current.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(entry, default=str)


# --- Celery: carry the id from the enqueuing request into the task ------------------------------


@signals.before_task_publish.connect
def _attach_request_id(headers=None, **kwargs):
    request_id = _current.get()
    if request_id and headers is not None:
        headers[TASK_HEADER] = request_id


_task_tokens: dict[str, contextvars.Token] = {}


@signals.task_prerun.connect
def _bind_task_request_id(task_id=None, task=None, **kwargs):
    request = getattr(task, "request", None)
    headers = getattr(request, "headers", None) or {}
    carried = getattr(request, TASK_HEADER, None) or headers.get(TASK_HEADER)
    # Tasks started by beat have no request; their own id still ties their lines together.
    _task_tokens[task_id] = _current.set(carried or f"task-{task_id}")


@signals.task_postrun.connect
def _unbind_task_request_id(task_id=None, **kwargs):
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        try:
            _current.reset(token)
        except ValueError:  # reset from another context (eager tasks inside a request)
            _current.set(None)
