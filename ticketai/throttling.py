"""Rate limits, kept in the Django cache (Redis in production) so every web process shares them.

Scopes and their settings (``"N/s|min|hour|day"``):

- ``auth`` (TICKETAI_THROTTLE_AUTH): failed sign-ins and failed token authentications per client
  address. Once over, even correct credentials get 429 until the window passes.
- ``bulk`` (TICKETAI_THROTTLE_BULK): bulk ticket pushes per user.
- ``recommendation`` (TICKETAI_THROTTLE_RECOMMENDATION): recommendation requests per user.
- ``edge`` (TICKETAI_THROTTLE_EDGE): edge agent calls per agent.

``RouteThrottle`` is the one DRF throttle class; a view picks its scope with ``throttle_scope``,
or gets it from its path, so endpoints other modules add are covered without touching them.
A refused request gets 429 with ``Retry-After`` (DRF adds the header from the wait).
"""

import logging
import math
import time

from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.forms.utils import ErrorDict
from django.http import HttpResponse
from redis.exceptions import RedisError
from rest_framework import exceptions
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from ticketai.metrics import THROTTLED

logger = logging.getLogger(__name__)
CACHE_ERRORS = (RedisError, OSError)

AUTH = "auth"
BULK = "bulk"
RECOMMENDATION = "recommendation"
EDGE = "edge"


def scope_for(request, view) -> str | None:
    explicit = getattr(view, "throttle_scope", None)
    if explicit:
        return explicit
    path = request.path
    if path.startswith("/api/v1/edge/"):
        return EDGE
    if path.endswith("/bulk/") and request.method == "POST":
        return BULK
    if "recommend" in path:
        return RECOMMENDATION
    return None


def _rate(scope: str) -> tuple[int, int]:
    # Read at call time, not import time, so override_settings in tests takes effect.
    return SimpleRateThrottle.parse_rate(None, api_settings.DEFAULT_THROTTLE_RATES[scope])


def _history(key: str, duration: int, now: float) -> list[float]:
    return [t for t in cache.get(key, []) if t > now - duration]


class RouteThrottle(SimpleRateThrottle):
    """Per-scope sliding window; users and agents are counted by id, anonymous callers by address."""

    def __init__(self):  # the scope is known only per request
        self.scope = None

    def get_cache_key(self, request, view):
        # request.user is a User, an EdgeAgent (edge API) or anonymous (None / AnonymousUser).
        principal = getattr(request, "user", None)
        pk = getattr(principal, "pk", None)
        ident = f"{principal._meta.label_lower}:{pk}" if pk is not None else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view):
        self.scope = scope_for(request, view)
        if self.scope is None or self.scope not in api_settings.DEFAULT_THROTTLE_RATES:
            return True
        self.rate = api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS as e:
            # Fail open: a Redis outage must not take the API down with it (RELIABILITY.md).
            logger.warning("rate limit %s not checked, the cache is unavailable: %s", self.scope, e)
            return True

    def throttle_failure(self):
        THROTTLED.labels(self.scope).inc()
        return False


# --- Failed authentication, per client address --------------------------------------------------


def _auth_key(request) -> str:
    return f"throttle_{AUTH}_{BaseThrottle().get_ident(request)}"


def auth_wait(request) -> int:
    """Seconds this address must wait before trying credentials again (0: it may try now)."""
    limit, duration = _rate(AUTH)
    now = time.time()
    try:
        history = _history(_auth_key(request), duration, now)
    except CACHE_ERRORS as e:
        logger.warning("authentication rate limit not checked, the cache is unavailable: %s", e)
        return 0
    if len(history) < limit:
        return 0
    return max(1, math.ceil(duration - (now - min(history))))


def refuse_if_too_many_failures(request) -> None:
    """Raise 429 (with Retry-After) for an address that failed authentication too often."""
    wait = auth_wait(request)
    if wait:
        THROTTLED.labels(AUTH).inc()
        raise exceptions.Throttled(wait=wait, detail=f"Too many failed authentications; retry in {wait} s.")


def record_auth_failure(request) -> None:
    _, duration = _rate(AUTH)
    now = time.time()
    key = _auth_key(request)
    try:
        cache.set(key, [*_history(key, duration, now), now], duration)
    except CACHE_ERRORS as e:
        logger.warning("authentication failure not counted, the cache is unavailable: %s", e)


def sign_in_refused(wait: int) -> HttpResponse:
    """429 for an address that may not submit a sign-in form yet (the admin's; /login/ renders its own)."""
    THROTTLED.labels(AUTH).inc()
    message = f"Too many failed sign-ins from your address; try again in {wait} seconds."
    response = HttpResponse(f"<!doctype html><title>Too many sign-ins</title><p>{message}</p>", status=429)
    response["Retry-After"] = str(wait)
    return response


class ThrottledLoginView(LoginView):
    """The sign-in page; failed sign-ins count against the address's ``auth`` budget."""

    def post(self, request, *args, **kwargs):
        wait = auth_wait(request)
        if wait:
            THROTTLED.labels(AUTH).inc()
            form = self.get_form()
            # Not validated: validating would check the password we are refusing to check.
            form._errors, form.cleaned_data = ErrorDict(), {}
            form.add_error(None, f"Too many failed sign-ins from your address; try again in {wait} seconds.")
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        record_auth_failure(self.request)
        return super().form_invalid(form)


def clear_all() -> int:
    """Forget every rate-limit counter (tests; an operator lifting a lock-out). Returns how many."""
    client = getattr(getattr(cache, "_cache", None), "get_client", None)
    if client is None:  # not Redis: the file cache holds nothing but counters worth keeping
        return 0
    redis = client(write=True)
    keys = list(redis.scan_iter(match="*throttle_*", count=1000))
    if keys:
        redis.delete(*keys)
    return len(keys)
