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
# Each credential check first takes one attempt from the address's budget, atomically, and a check
# that succeeds gives it back: parallel guesses can no longer all read "under budget" and then
# overwrite each other's counts (22 of 60 parallel guesses were checked against a budget of 20 when
# the count was read with cache.get and written with cache.set). The window is fixed: it starts
# with the first attempt and the budget is whole again when it ends.

# INCR, and start the window on the first attempt; returns [attempts, seconds left in the window].
_TAKE = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""
# DECR only a live counter above zero: a window that ended meanwhile is not brought back.
_GIVE_BACK = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""


def _auth_key(request) -> str:
    return f"throttle_{AUTH}_{BaseThrottle().get_ident(request)}"


def _redis():
    client = getattr(getattr(cache, "_cache", None), "get_client", None)
    return None if client is None else client(write=True)


def _take(key: str, duration: int) -> tuple[int, int]:
    redis = _redis()
    if redis is not None:
        count, ttl = redis.eval(_TAKE, 1, cache.make_key(key), duration)
        return int(count), int(ttl)
    # The embedded file cache: one host, no Redis; add + incr is as atomic as that cache gets.
    now = time.time()
    cache.add(f"{key}_start", now, duration)
    cache.add(key, 0, duration)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, duration)
        count = 1
    started = cache.get(f"{key}_start", now)
    return count, max(1, math.ceil(duration - (now - started)))


def auth_attempt(request) -> None:
    """Take one attempt from the address's budget before checking credentials; 429 when it is spent.

    Over the budget, even correct credentials wait (the check is never made). Call
    ``auth_attempt_ok`` when the credentials turn out right: only failures stay counted.
    """
    limit, duration = _rate(AUTH)
    try:
        count, wait = _take(_auth_key(request), duration)
    except CACHE_ERRORS as e:
        logger.warning("authentication rate limit not checked, the cache is unavailable: %s", e)
        return
    if count > limit:
        THROTTLED.labels(AUTH).inc()
        wait = max(1, wait)
        raise exceptions.Throttled(wait=wait, detail=f"Too many failed authentications; retry in {wait} s.")


def auth_attempt_ok(request) -> None:
    """The credentials checked after ``auth_attempt`` were right (or never judged): give it back."""
    key = _auth_key(request)
    try:
        redis = _redis()
        if redis is not None:
            redis.eval(_GIVE_BACK, 1, cache.make_key(key))
        elif (cache.get(key) or 0) > 0:
            cache.decr(key)
    except (*CACHE_ERRORS, ValueError) as e:
        logger.warning("authentication attempt not given back, the cache is unavailable: %s", e)


def sign_in_refused(wait: int) -> HttpResponse:
    """429 for an address that may not submit a sign-in form yet (the admin's; /login/ renders its own)."""
    THROTTLED.labels(AUTH).inc()
    message = f"Too many failed sign-ins from your address; try again in {wait} seconds."
    response = HttpResponse(f"<!doctype html><title>Too many sign-ins</title><p>{message}</p>", status=429)
    response["Retry-After"] = str(wait)
    return response


class ThrottledLoginView(LoginView):
    """The sign-in page; every sign-in takes an attempt from the address's ``auth`` budget, and a
    good one gives it back."""

    def post(self, request, *args, **kwargs):
        try:
            auth_attempt(request)
        except exceptions.Throttled as refused:
            form = self.get_form()
            # Not validated: validating would check the password we are refusing to check.
            form._errors, form.cleaned_data = ErrorDict(), {}
            form.add_error(
                None, f"Too many failed sign-ins from your address; try again in {refused.wait} seconds."
            )
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(refused.wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        auth_attempt_ok(self.request)
        return super().form_valid(form)


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
