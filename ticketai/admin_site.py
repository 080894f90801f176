"""The admin site: Django's, with sign-ins counted against the same failed-authentication budget as /login/.

Without this, /admin/login/ would be an unthrottled password oracle beside the throttled /login/.
"""

from django.contrib import admin
from rest_framework import exceptions

from ticketai import throttling


class TicketAIAdminSite(admin.AdminSite):
    def login(self, request, extra_context=None):
        if request.method == "POST":
            try:
                throttling.auth_attempt(request)
            except exceptions.Throttled as refused:
                return throttling.sign_in_refused(refused.wait)
        response = super().login(request, extra_context)
        # A refused form is re-rendered with 200; a good sign-in redirects and gives the attempt back.
        if request.method == "POST" and response.status_code != 200:
            throttling.auth_attempt_ok(request)
        return response
