"""Liveness and readiness probes (load balancers, docker-compose healthchecks) and /metrics.

``/readyz`` answers 503 when the database or Redis does not answer, and 200 with status
"degraded" when the service works but recommendations come from a fallback model (the champion's
files failed their checksums) or from no model at all because the champion is broken.
"""

import hmac
import importlib
import logging
import time

from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from rest_framework import exceptions

from repair_center import roles
from ticketai import metrics, throttling

logger = logging.getLogger(__name__)

# Re-hashing a model's files costs ~0.3 s for the teacher; probes come every few seconds.
_VERIFY_CACHE_S = 60.0
_verified: dict[int, tuple[float, str | None]] = {}


def healthz(request):
    return JsonResponse({"status": "ok"})


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as e:  # noqa: BLE001 - any failure means not ready
        return f"error: {e.__class__.__name__}"


def _redis() -> str:
    try:
        import redis

        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2).ping()
        return "ok"
    except Exception as e:  # noqa: BLE001
        return f"error: {e.__class__.__name__}"


def _verify_cached(version) -> str | None:
    """None when the version's files verify, else the reason; cached per version for a minute."""
    from ml.core import registry

    now = time.monotonic()
    cached = _verified.get(version.pk)
    if cached and now - cached[0] < _VERIFY_CACHE_S:
        return cached[1]
    try:
        registry.verify(version)
        problem = None
    except registry.ArtifactError as e:
        problem = str(e)
        logger.error("champion model v%s failed verification: %s", version.pk, problem)
    _verified[version.pk] = (now, problem)
    return problem


def champion_check() -> dict:
    """The model part of readiness: {"state": ok|none|fallback|broken, "detail": ..., ...}.

    Asks ``ml.serving.inference.champion_status()`` when inference provides it (it knows what it has loaded
    and whether it fell back); otherwise checks the champion rows and their files itself.
    """
    try:
        inference = importlib.import_module("ml.serving.inference")
    except ImportError:
        inference = None
    if inference is not None and hasattr(inference, "champion_status"):
        try:
            return dict(inference.champion_status())
        except Exception as e:  # a probe reports, it does not crash
            logger.exception("champion_status() failed")
            return {"state": "broken", "detail": f"champion_status failed: {e.__class__.__name__}"}

    from ml.models import ModelVersion

    champions = list(ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).order_by("pk"))
    if not champions:
        return {"state": "none", "detail": "no champion model yet; recommendations are off"}
    broken = {c.label_set_key: problem for c in champions if (problem := _verify_cached(c))}
    if not broken:
        for c in champions:
            metrics.MODEL_VERSION.labels(c.label_set_key).set(c.pk)
        return {"state": "ok", "versions": {c.label_set_key: c.pk for c in champions}}
    return {"state": "broken", "detail": "; ".join(broken.values())}


def readyz(request):
    checks: dict[str, str] = {"database": _database()}
    if settings.REDIS_URL:
        checks["redis"] = _redis()
    ready = all(v == "ok" for v in checks.values())
    body: dict = {"checks": checks}
    if checks["database"] == "ok":
        model = champion_check()
        checks["model"] = model["state"]
        # Details name files and versions: for admins, not for anonymous probes.
        body["model"] = model if roles.has_role(request.user, roles.ADMIN) else {"state": model["state"]}
    degraded = checks.get("model") in ("fallback", "broken")
    body["status"] = "not ready" if not ready else ("degraded" if degraded else "ready")
    return JsonResponse(body, status=200 if ready else 503)


def metrics_view(request):
    """Prometheus exposition; an admin's session or ``Authorization: Bearer <TICKETAI_METRICS_TOKEN>``."""
    header = request.headers.get("Authorization", "")
    expected = settings.TICKETAI_METRICS_TOKEN
    if header:
        # A token is a credential: guesses take from the address's budget, as every other one does.
        try:
            throttling.auth_attempt(request)
        except exceptions.Throttled as refused:
            response = JsonResponse({"detail": refused.detail}, status=429)
            response["Retry-After"] = str(refused.wait)
            return response
        scheme, _, given = header.partition(" ")
        # Compared as bytes: compare_digest refuses str with non-ASCII characters (a 500).
        if (
            scheme.lower() != "bearer"
            or not expected
            or not hmac.compare_digest(given.strip().encode(), expected.encode())
        ):
            return JsonResponse({"detail": "Invalid metrics token."}, status=403)
        throttling.auth_attempt_ok(request)
    elif not request.user.is_authenticated:
        response = JsonResponse({"detail": "Authentication credentials were not provided."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    elif not roles.has_role(request.user, roles.ADMIN):
        return JsonResponse({"detail": "Only admins may read metrics."}, status=403)
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)
