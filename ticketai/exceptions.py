"""The API's exception handler: DRF's, plus database refusals of the input answered as 400 and a
lost database connection answered as 503 (ticketai.database)."""

import logging

from django.db import DataError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from ticketai import database

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    if isinstance(exc, DataError):
        # The database refused a value no validator caught (a NUL byte in a lookup, a number out
        # of range): the request is at fault, not the server. The fuzzer found these.
        set_rollback()
        logger.info("input refused by the database: %s", exc)
        reason = str(exc).splitlines()[0] if str(exc) else "invalid value"
        return Response({"detail": f"Invalid input: {reason}."}, status=status.HTTP_400_BAD_REQUEST)
    if database.is_connection_failure(exc):
        database.outage_log.refused(exc)
        response = drf_exception_handler(database.DatabaseUnavailable(), context)
        response._has_been_logged = True  # logged once by outage_log, not once per request
        return response
    return drf_exception_handler(exc, context)
