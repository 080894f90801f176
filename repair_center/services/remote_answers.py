"""What an operator most likely has to change when a remote system refuses a connector's pull."""

from urllib.parse import urlsplit, urlunsplit

import httpx

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
