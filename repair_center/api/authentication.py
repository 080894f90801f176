from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from repair_center.models import ApiToken
from repair_center.models.access import hash_token
from ticketai import throttling


class HashedTokenAuthentication(BaseAuthentication):
    """``Authorization: Token <key>``; keys are stored as sha256 only (see ApiToken)."""

    keyword = "Token"

    def authenticate(self, request):
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() not in (b"token", b"bearer"):
            return None
        # Each check takes an attempt from the client address's budget and a good key gives it
        # back, so only failures count; too many and even a good key waits (429).
        throttling.auth_attempt(request)
        try:
            authenticated = self._authenticate_key(auth)
        except exceptions.AuthenticationFailed:
            raise
        except BaseException:
            throttling.auth_attempt_ok(request)  # not judged (the database failed): not a failure
            raise
        throttling.auth_attempt_ok(request)
        return authenticated

    def _authenticate_key(self, auth: list[bytes]):
        if len(auth) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header: give 'Token <key>'.")
        try:
            raw = auth[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token header: not ASCII.") from None
        token = (
            ApiToken.objects.select_related("user")
            .filter(key_hash=hash_token(raw), revoked_at__isnull=True)
            .first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return (token.user, token)

    def authenticate_header(self, request):
        return self.keyword


class HashedTokenScheme(OpenApiAuthenticationExtension):
    """Describes HashedTokenAuthentication in the OpenAPI schema (``Authorization: Token <key>``)."""

    target_class = HashedTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")  # noqa: S106 (a scheme name)
