"""Reading a remote system's answers to a connector's pull: whole but within a size limit, and what
an operator most likely has to change when the remote refuses."""

from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings


class TooLarge(Exception):
    """The answer passed TICKETAI_CONNECTOR_MAX_PAGE_BYTES."""


def fetch(client: httpx.Client, url: str) -> httpx.Response:
    """GET ``url`` and read its answer, refusing one larger than TICKETAI_CONNECTOR_MAX_PAGE_BYTES
    as it arrives (a remote that ignores the page size, or a compressed bomb), not after."""
    limit = settings.TICKETAI_CONNECTOR_MAX_PAGE_BYTES
    with client.stream("GET", url) as streamed:
        body = bytearray()
        for chunk in streamed.iter_bytes():
            body += chunk
            if len(body) > limit:
                raise TooLarge(
                    f"GET {url[:200]} answered more than {limit} bytes (TICKETAI_CONNECTOR_MAX_PAGE_BYTES): "
                    "lower the connector's page_size"
                )
    # The body is decoded already: the answer no longer carries its transfer headers.
    headers = [(k, v) for k, v in streamed.headers.multi_items() if k not in _TRANSFER_HEADERS]
    return httpx.Response(
        streamed.status_code, headers=headers, content=bytes(body), request=streamed.request
    )


_TRANSFER_HEADERS = {"content-encoding", "content-length", "transfer-encoding"}

# What an operator most likely has to change, by status; a preset's own hints come first.
_HINTS = {
    401: "the remote refused the credentials: check auth_token (and auth_username), or the OAuth client",
    403: "the credentials were taken but may not read this: give the integration user read access",
    404: "nothing there: check base_url (and, for a preset, that it names the server or the API root)",
}


def hint(response: httpx.Response) -> str:
    if response.is_redirect:
        # Only where it points, not its query: a sign-in redirect may carry state or tokens.
        where = urlsplit(response.headers.get("Location", ""))
        target = urlunsplit((where.scheme, where.netloc, where.path, "", "")) or "elsewhere"
        return f"redirects are not followed (credentials go only to base_url); it points to {target[:200]}"
    return _HINTS.get(response.status_code, "")
