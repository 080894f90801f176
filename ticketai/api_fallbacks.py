"""404 and 500 for requests no API view answered: JSON under /api/ and /tmf-api/, the site's pages
elsewhere.

An integrator's typo (/api/v1/ticket/) or a TMF642 alarm id that is not a number reached
Django's URL resolver, whose 404 was the site's HTML page: a client parsing JSON failed on it.
Answers keep each API's error shape: DRF's ``detail``, TMF630's ``code``/``reason``/``status``."""

from django.http import JsonResponse
from django.utils.module_loading import import_string

PAGES = "frontend.views.errors"


def _api_error(request, http_status: int, code: str, reason: str) -> JsonResponse | None:
    if request.path.startswith("/tmf-api/"):
        return JsonResponse({"code": code, "reason": reason, "status": str(http_status)}, status=http_status)
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": reason}, status=http_status)
    return None


def not_found(request, exception=None):
    answer = _api_error(request, 404, "not_found", f"No API resource at {request.path}.")
    return answer or import_string(f"{PAGES}.page_not_found")(request, exception)


def server_error(request):
    answer = _api_error(request, 500, "server_error", "Server error; the request id is in X-Request-ID.")
    return answer or import_string(f"{PAGES}.server_error")(request)
