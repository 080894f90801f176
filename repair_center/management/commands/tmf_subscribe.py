from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from repair_center.models import Connector
from repair_center.services.connectors import PullError, credentials
from ticketai import outbound


def hub_of(connector: Connector) -> str:
    """The hub beside the API a connector pulls: a TMF621 root's ``/hub``, or a TMF642 alarm list's
    (``.../alarm/v4/alarm`` -> ``.../alarm/v4/hub``)."""
    parts = urlsplit(connector.base_url)
    path = parts.path.rstrip("/")
    if connector.kind == Connector.Kind.ALARMS and path.endswith("/alarm"):
        path = path.removesuffix("/alarm")
    elif path.endswith("/troubleTicket"):
        path = path.removesuffix("/troubleTicket")
    return urlunsplit(parts._replace(path=f"{path}/hub", query=""))


class Command(BaseCommand):
    help = (
        "Register TicketAI as a listener at a TMF642 (or TMF621) system's hub: POST HUB "
        '{"callback": CALLBACK, "query": QUERY}. The system then POSTs its events to '
        "CALLBACK/listener/<event>; for TMF642 alarms the callback is TicketAI's "
        "https://<host>/tmf-api/alarm/v4, for a TMF621 system the one of its connector, "
        "https://<host>/tmf-api/troubleTicket/v4/connector/<name>. Prints the subscription id, which "
        "--remove ID takes to unregister (DELETE HUB/ID). --connector NAME uses that connector's "
        "credentials (kept sealed in the database, never on the command line) and its hub."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "hub", nargs="?", help="The system's hub, e.g. https://fm.example/tmf-api/alarm/v4/hub"
        )
        parser.add_argument("--connector", help="Use this connector's credentials, and its system's hub.")
        parser.add_argument("--callback", help="TicketAI's listener base URL, as the system can reach it.")
        parser.add_argument("--query", default="", help="Which events, e.g. eventType=AlarmCreateEvent")
        parser.add_argument("--remove", metavar="ID", help="Unregister this subscription instead.")
        parser.add_argument("--token", help="Sent as 'Authorization: Bearer <token>' to the hub.")
        parser.add_argument("--user", help="Basic auth at the hub, with --password.")
        parser.add_argument("--password")

    def handle(self, *args, **options):
        headers, auth = {"Accept": "application/json"}, None
        hub = options["hub"]
        if options["connector"]:
            connector = Connector.objects.filter(name=options["connector"]).first()
            if connector is None:
                raise CommandError(f"no connector named {options['connector']!r}")
            try:
                headers, auth = credentials(connector)
            except PullError as e:
                raise CommandError(str(e)) from None
            hub = hub or hub_of(connector)
        elif options["user"]:
            auth = httpx.BasicAuth(options["user"], options["password"] or "")
        elif options["token"]:
            headers["Authorization"] = f"Bearer {options['token']}"
        if not hub:
            raise CommandError("give the hub's URL, or --connector NAME to use its system's hub")
        hub = hub.rstrip("/")
        try:
            outbound.check_url(hub)
        except outbound.OutboundRefused as e:
            raise CommandError(f"hub refused: {e}") from None
        timeout = httpx.Timeout(settings.TICKETAI_CONNECTOR_TIMEOUT_S)
        with outbound.client(headers=headers, auth=auth, timeout=timeout) as client:
            try:
                if options["remove"]:
                    self._remove(client, hub, options["remove"])
                else:
                    self._subscribe(client, hub, options["callback"], options["query"])
            except httpx.HTTPError as e:
                raise CommandError(f"{hub}: {type(e).__name__}: {e}") from None

    def _subscribe(self, client: httpx.Client, hub: str, callback: str | None, query: str) -> None:
        if not callback:
            raise CommandError("--callback is needed: the URL the system will POST its events under")
        body = {"callback": callback, **({"query": query} if query else {})}
        response = client.post(hub, json=body)
        if response.status_code not in (200, 201):
            raise CommandError(f"POST {hub} answered {outbound.describe_response(response)}")
        try:
            ident = response.json().get("id")
        except (ValueError, AttributeError):
            ident = None
        if ident in (None, ""):
            raise CommandError(f"POST {hub} answered no subscription id")
        self.stdout.write(str(ident))
        self.stderr.write(f"subscribed {callback} at {hub}: remove with --remove {ident}")

    def _remove(self, client: httpx.Client, hub: str, ident: str) -> None:
        response = client.delete(f"{hub}/{ident}")
        if response.status_code not in (200, 202, 204, 404):
            raise CommandError(f"DELETE {hub}/{ident} answered {outbound.describe_response(response)}")
        gone = "was not registered" if response.status_code == 404 else "removed"
        self.stderr.write(f"subscription {ident} {gone} at {hub}")
