"""OAuth 2.0 client credentials for connectors (RFC 6749, section 4.4).

ServiceNow (``/oauth_token.do``), API gateways in front of TMF621 and TMF642 servers, and most
identity providers issue short-lived access tokens to a client that sends its id and secret. A
pasted bearer token (``auth_token``) expires within the hour, and the pulls after that fail. With
``oauth_token_url`` set, each pull asks for a token, sends it as ``Authorization: Bearer``, asks
again shortly before it expires, and once more when the remote answers 401 (revoked, or its clock
runs ahead of ours).

The token request goes through the connector's own guarded client (ticketai/outbound.py), so the
token URL passes the same outbound checks as ``base_url``. The client id and secret go in the form
body (``client_secret_post``): ServiceNow and the common gateways read them there.
"""

import math
import time
from collections.abc import Generator

import httpx

from repair_center.models.connectors import bearer_problem
from ticketai import outbound

# Ask again this long before the token's stated expiry: a request in flight must not carry a token
# that expires on the way.
EARLY_S = 60.0


class TokenError(Exception):
    """The token endpoint refused the client or answered something that is not a token."""


class ClientCredentials(httpx.Auth):
    # False: the pull reads the remote's answers itself, with a size limit (remote_answers.fetch); the
    # flow reads only the token endpoint's.

    def __init__(
        self, token_url: str, client_id: str, client_secret: str, scope: str = "", *, timeout: httpx.Timeout
    ):
        self.token_url = token_url
        # A request an auth flow yields does not take the client's timeout: it is given its own.
        self.timeout = timeout
        self.form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        }
        if scope:
            self.form["scope"] = scope
        self.token: str | None = None
        self.expires_at = 0.0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.token is None or time.monotonic() >= self.expires_at:
            self._take((yield self._token_request()))
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:
            self._take((yield self._token_request()))
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request

    def _token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.token_url,
            data=self.form,
            headers={"Accept": "application/json"},
            extensions={"timeout": self.timeout.as_dict()},
        )

    def _take(self, response: httpx.Response) -> None:
        response.read()
        if response.status_code != 200:
            raise TokenError(f"POST {self.token_url} answered {outbound.describe_response(response)}")
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise TokenError(f"POST {self.token_url} answered no access_token")
        if bearer_problem(token):
            raise TokenError(f"POST {self.token_url} answered an access_token that {bearer_problem(token)}")
        try:
            lifetime = float(body.get("expires_in"))  # some providers send it as a string
        except (TypeError, ValueError):
            lifetime = 3600.0  # RFC 6749: absent, the server says it some other way; an hour is usual
        if not math.isfinite(lifetime) or lifetime <= 0:
            lifetime = 3600.0
        self.token = token
        self.expires_at = time.monotonic() + max(lifetime - EARLY_S, lifetime / 2)
