"""Optimistic concurrency over HTTP: a ticket's ETag is its revision ("7"), and a write sent with
``If-Match`` goes through only while the ticket is still at that revision (RFC 9110 section 13.1.1).
Shared by /api/v1/tickets/ and TMF621's troubleTicket."""

import re

from rest_framework import exceptions, status

from repair_center.services.history import StaleRevision


def if_match_revision(request) -> int | None:
    """The revision an If-Match ETag ("7" or W/"7") names; None without one, or for ``*``."""
    value = request.headers.get("If-Match", "").strip()
    if not value or value == "*":
        return None
    match = re.fullmatch(r'(?:W/)?"?(\d{1,9})"?', value)
    if not match:
        raise exceptions.ValidationError({"If-Match": ['must be an ETag this API answered, like "7"']})
    return int(match.group(1))


def etag(revision: int) -> str:
    return f'"{revision}"'


class PreconditionFailed(exceptions.APIException):
    """412: the ticket moved on since the revision the client's If-Match names; nothing changed."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "stale_revision"

    def __init__(self, error: StaleRevision):
        super().__init__()
        # as given: DRF would turn the revision number into a string
        self.detail = {"detail": error.message, "code": error.code, "current_revision": error.current}
