from django.conf import settings
from django.http import JsonResponse


class RequestSizeLimitMiddleware:
    """Answer 413 before reading a body larger than TICKETAI_MAX_REQUEST_BYTES.

    Django itself would raise RequestDataTooBig (a 400) only once the body is read; clients deserve
    the precise status so they split the batch instead of retrying it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Malformed Content-Length header."}, status=400)
        limit = settings.TICKETAI_MAX_REQUEST_BYTES
        if length > limit:
            return JsonResponse(
                {"detail": f"Request body of {length} bytes is over the limit of {limit} bytes."}, status=413
            )
        return self.get_response(request)
