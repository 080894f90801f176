"""Outbound HTTP to URLs that people configure: webhooks, connectors, TMF event hubs and presets.

Such a URL is a server-side request forgery waiting to happen: ``http://127.0.0.1:6379/`` talks to
our Redis, ``http://169.254.169.254/`` to a cloud's metadata service, a private address to the
operator's internal network, and a connector sends its bearer token wherever the URL says
(SECURITY.md, finding 6). So a URL is accepted only when it is ``http`` or ``https`` and every
address its host resolves to is public, and refused when one is loopback, link-local, private,
shared (carrier-grade NAT), multicast, reserved or unspecified. TICKETAI_OUTBOUND_ALLOW lists the
on-premises exceptions: addresses, networks (CIDR) or host names.

The check runs twice: when the URL is saved (``validate_url``, a validator for model and
serializer fields) and again when a connection is made (``client()``), on the very address the
socket connects to, so a name that resolved to a public address at save time and to a private one
later (DNS rebinding) is still refused. Answers are never echoed back (``describe_response``):
what a refused or failing target said stays out of ``last_error``.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings
from django.core.exceptions import ValidationError

SCHEMES = ("http", "https")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundRefused(httpcore.ConnectError):
    """The URL or the address a connection would reach is not allowed.

    A ConnectError, so httpx reports it as ``httpx.ConnectError`` with this message when it is
    raised at connect time; callers that check first catch it by name.
    """


class Unresolved(OutboundRefused):
    """The host does not resolve (now): there is nothing to judge yet, and nothing to connect to."""


def _allow_list() -> tuple[list[ipaddress.IPv4Network | ipaddress.IPv6Network], set[str]]:
    networks, hosts = [], set()
    for entry in settings.TICKETAI_OUTBOUND_ALLOW:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return networks, hosts


def _host_allowed(host: str) -> bool:
    _, hosts = _allow_list()
    host = host.lower().rstrip(".")
    return host in hosts or any(h.startswith(".") and host.endswith(h) for h in hosts)


def address_problem(address: Address) -> str:
    """Why connecting to ``address`` is refused, or '' when it may be reached."""
    networks, _ = _allow_list()
    if any(address in network for network in networks):
        return ""
    # An IPv4 address inside an IPv6 one (::ffff:a.b.c.d, or 6to4's 2002:AABB:CCDD::) is judged as
    # the IPv4 address it reaches.
    embedded = getattr(address, "ipv4_mapped", None) or getattr(address, "sixtofour", None)
    if embedded is not None:
        return address_problem(embedded)
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified or address.is_reserved:
        return "reserved"
    if address.is_private or not address.is_global:
        return "private"
    return ""


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise Unresolved(f"{host} does not resolve ({e})") from None
    # Scope ids (fe80::1%eth0) are not part of the address.
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def check_url(url: str) -> None:
    """Raise OutboundRefused unless ``url`` is http(s) and its host resolves to allowed addresses only.

    A name that does not resolve now passes: it cannot be judged, and the connect-time check
    judges whatever it resolves to when a connection is made.
    """
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as e:
        raise OutboundRefused(f"not a valid URL: {e}") from None
    if parts.scheme.lower() not in SCHEMES:
        raise OutboundRefused("only http:// and https:// URLs are allowed")
    host = parts.hostname
    if not host:
        raise OutboundRefused("the URL names no host")
    if parts.username or parts.password:
        raise OutboundRefused("credentials in the URL are not allowed; use the token field")
    if _host_allowed(host):
        return
    try:
        addresses = resolve(host, port)
    except Unresolved:
        return
    for address in addresses:
        problem = address_problem(address)
        if problem:
            where = f"{host} is" if host == str(address) else f"{host} resolves to {address},"
            raise OutboundRefused(
                f"{where} a {problem} address; allow it in TICKETAI_OUTBOUND_ALLOW if it is an "
                "on-premises target"
            )


def validate_url(value: str) -> None:
    """A field validator: the save-time check."""
    try:
        check_url(value)
    except OutboundRefused as e:
        raise ValidationError(str(e), code="outbound") from None


class _GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses the guard allows: the connect-time check."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        if _host_allowed(host):
            addresses = [host]
        else:
            resolved = resolve(host, port)
            problems = {str(a): address_problem(a) for a in resolved}
            addresses = [a for a, problem in problems.items() if not problem]
            if not addresses:
                refused = ", ".join(f"{a} ({p})" for a, p in problems.items())
                raise OutboundRefused(f"refused to connect to {host}: it resolves to {refused}")
        last: Exception | None = None
        for address in addresses:  # the checked address itself, never the name resolved again
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as e:
                last = e
        raise last or OutboundRefused(f"cannot connect to {host}")


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self):
        super().__init__(trust_env=False)
        # A proxy from the environment would make the proxy's address the only one checked.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), network_backend=_GuardedBackend()
        )


def client(**kwargs) -> httpx.Client:
    """An httpx.Client for configured URLs: guarded connections, redirects never followed."""
    return httpx.Client(transport=_GuardedTransport(), follow_redirects=False, trust_env=False, **kwargs)


def describe_response(response: httpx.Response) -> str:
    """What to record about a failed answer: its status and type, never its body."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
    return f"HTTP {response.status_code} ({kind}, {len(response.content)} bytes; body not kept)"
