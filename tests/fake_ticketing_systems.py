"""Real HTTP servers on 127.0.0.1 that play ServiceNow, Jira and a TMF621 server for the connector presets.

Each answers its system's search the way the system does: ServiceNow's Table API
(``sysparm_query`` with ``sys_updated_on>=`` and ``ORDERBY``, ``sysparm_offset``/``sysparm_limit``,
only the ``sysparm_fields`` asked for, ``{"result": [...]}`` and ``X-Total-Count``); Jira Cloud's
``/rest/api/3/search/jql`` (JQL ``updated >= "yyyy-MM-dd HH:mm"`` compared by whole minutes,
``maxResults`` capped at the server's own maximum, ``{"issues": [...], "nextPageToken", "isLast"}``,
a token good only for the search it came from, only the ``fields`` asked for; the removed
``/rest/api/3/search`` answers 410 Gone); Jira Data Center's ``/rest/api/2/search`` (the same JQL,
``startAt``/``maxResults``, ``{"issues": [...], "total": n}``); and TMF621 (``lastUpdate.gt``,
``offset``/``limit``, a JSON array with ``X-Total-Count``). Failure modes are scripted per request
number (1-based): ``"429"`` (with ``retry_after``), ``"500"``/``"503"``; ``before_request(number,
system)`` may change the data between calls. Items are kept in the remote's own shape.
"""

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PATHS = {
    "servicenow": "/api/now/table/incident",
    "jira": "/rest/api/3/search/jql",
    "jira_dc": "/rest/api/2/search",
    "tmf621": "/tmf-api/troubleTicket/v4/troubleTicket",
}
REMOVED = {"/rest/api/3/search", "/rest/api/2/search"}  # from Jira Cloud, in 2025
TOKEN_PATH = "/oauth_token.do"  # ServiceNow's; a gateway's is elsewhere, and the connector is told where


@dataclass
class Request:
    number: int
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


def _when(kind: str, item: dict) -> datetime:
    value = {
        "servicenow": lambda i: i["sys_updated_on"],
        "jira": lambda i: i["fields"]["updated"],
        "jira_dc": lambda i: i["fields"]["updated"],
        "tmf621": lambda i: i["lastUpdate"],
    }[kind](item)
    value = value.replace("Z", "+00:00").replace(" ", "T")
    value = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", value)
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _tiebreak(kind: str, item: dict):
    if kind.startswith("jira"):
        project, number = item["key"].rsplit("-", 1)
        return (project, int(number))
    return str(item["sys_id" if kind == "servicenow" else "id"])


@dataclass
class FakeSystem:
    kind: str  # servicenow, jira, jira_dc or tmf621
    items: list[dict] = field(default_factory=list)
    max_page: int = 1000  # the server's own cap on a page (Jira answers at most this many)
    user_zone: tzinfo = UTC  # Jira reads JQL times in the integration user's time zone
    faults: dict[int, str] = field(default_factory=dict)
    retry_after: str = "1"
    expect_authorization: str | None = None  # the exact Authorization header, else 401
    # OAuth 2.0 client credentials at TOKEN_PATH: the (client id, secret) it takes; a token it issues is
    # good for ``token_uses`` GETs and then answered 401, as an expired or revoked one.
    oauth: tuple[str, str] | None = None
    token_uses: int = 1000
    token_delay: float = 0.0  # seconds the token endpoint takes to answer
    token_requests: list[dict] = field(default_factory=list)
    before_request: Callable[[int, "FakeSystem"], None] | None = None
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.RLock()
        self._tokens: dict[str, int] = {}
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """What an admin enters: the server, or for TMF621 the API root."""
        host, port = self._httpd.server_address[:2]
        root = f"http://{host}:{port}"
        return root + "/tmf-api/troubleTicket/v4" if self.kind == "tmf621" else root

    def __enter__(self) -> "FakeSystem":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def replace(self, key: str, item: dict) -> None:
        """Store a new version of the item whose key (number, key or id) is ``key``."""
        name = {"servicenow": "number", "jira": "key", "jira_dc": "key", "tmf621": "id"}[self.kind]
        with self._lock:
            self.items = [i for i in self.items if i[name] != key] + [item]

    # --- searching, as each system does ------------------------------------------------------

    def _sorted(self, selected: list[dict]) -> list[dict]:
        return sorted(selected, key=lambda i: (_when(self.kind, i), _tiebreak(self.kind, i)))

    def _servicenow(self, q: dict) -> tuple[int, object, dict]:
        selected = list(self.items)
        for condition in q.get("sysparm_query", "").split("^"):
            if not condition or condition.startswith("ORDERBY"):
                continue
            match = re.fullmatch(r"sys_updated_on(>=|>)(.+)", condition)
            if match:
                since = datetime.fromisoformat(match.group(2).replace(" ", "T")).replace(tzinfo=UTC)
                op = match.group(1)
                selected = [
                    i
                    for i in selected
                    if (_when(self.kind, i) >= since if op == ">=" else _when(self.kind, i) > since)
                ]
                continue
            name, _, value = condition.partition("=")
            selected = [i for i in selected if str(i.get(name)) == value]
        ordered = self._sorted(selected)
        offset, limit = (
            int(q.get("sysparm_offset", 0)),
            min(int(q.get("sysparm_limit", 10000)), self.max_page),
        )
        fields = q.get("sysparm_fields", "").split(",") if q.get("sysparm_fields") else None
        page = [
            {k: v for k, v in i.items() if fields is None or k in fields}
            for i in ordered[offset : offset + limit]
        ]
        return 200, {"result": page}, {"X-Total-Count": str(len(ordered))}

    def _jira_search(self, q: dict) -> list[dict]:
        jql = q.get("jql", "")
        selected = list(self.items)
        project = re.search(r"project\s*=\s*(\w+)", jql)
        if project:
            selected = [i for i in selected if i["key"].startswith(project.group(1) + "-")]
        updated = re.search(r'updated\s*>=\s*"(\d{4}-\d\d-\d\d \d\d:\d\d)"', jql)
        if updated:
            since = datetime.strptime(updated.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=self.user_zone)
            selected = [i for i in selected if _when(self.kind, i).replace(second=0, microsecond=0) >= since]
        # Only the fields asked for (none: Jira Cloud answers the id alone).
        wanted = set(filter(None, q.get("fields", "").split(",")))
        return [
            {**i, "fields": {k: v for k, v in i["fields"].items() if k in wanted}}
            for i in self._sorted(selected)
        ]

    def _jira(self, q: dict) -> tuple[int, object, dict]:
        """Jira Cloud: the token is the next position of the search it came from (a position, as
        an offset would be: a change between calls moves items under it)."""
        start = 0
        if "nextPageToken" in q:
            try:
                token = json.loads(base64.b64decode(q["nextPageToken"]))
            except ValueError:
                return 400, {"errorMessages": ["Invalid nextPageToken"]}, {}
            if token["jql"] != q.get("jql", ""):
                return 400, {"errorMessages": ["The nextPageToken belongs to another search"]}, {}
            start = token["at"]
        ordered = self._jira_search(q)
        size = min(int(q.get("maxResults", 50)), self.max_page)
        body: dict = {
            "issues": [{k: i[k] for k in ("id", "key", "fields")} for i in ordered[start : start + size]]
        }
        if start + size < len(ordered):
            next_page = json.dumps({"jql": q.get("jql", ""), "at": start + size})
            body["nextPageToken"] = base64.b64encode(next_page.encode()).decode()
        body["isLast"] = "nextPageToken" not in body
        return 200, body, {}

    def _jira_dc(self, q: dict) -> tuple[int, object, dict]:
        ordered = self._jira_search(q)
        start, wanted = int(q.get("startAt", 0)), int(q.get("maxResults", 50))
        size = min(wanted, self.max_page)
        body = {
            "startAt": start,
            "maxResults": size,
            "total": len(ordered),
            "issues": ordered[start : start + size],
        }
        return 200, body, {}

    def _tmf621(self, q: dict) -> tuple[int, object, dict]:
        selected = list(self.items)
        if "lastUpdate.gt" in q:
            since = datetime.fromisoformat(q["lastUpdate.gt"].replace("Z", "+00:00"))
            selected = [i for i in selected if _when(self.kind, i) > since]
        if "status" in q:
            selected = [i for i in selected if i.get("status") in q["status"].split(",")]
        ordered = self._sorted(selected)
        offset, limit = int(q.get("offset", 0)), min(int(q.get("limit", 100)), self.max_page)
        page = ordered[offset : offset + limit]
        return 200, page, {"X-Total-Count": str(len(ordered)), "X-Result-Count": str(len(page))}

    def _answer(self, number: int, path: str, query: dict, authorization: str) -> tuple[int, object, dict]:
        fault = self.faults.get(number)
        if fault == "429":
            return 429, {"error": "rate limited"}, {"Retry-After": self.retry_after}
        if fault in ("500", "503"):
            return int(fault), {"error": "unavailable"}, {}
        if self.expect_authorization is not None and authorization != self.expect_authorization:
            return 401, {"error": "unauthorized"}, {}
        if self.oauth is not None:
            token = authorization.removeprefix("Bearer ")
            if self._tokens.get(token, 0) <= 0:
                return 401, {"error": "invalid_token"}, {}
            self._tokens[token] -= 1
        if self.kind == "jira" and path in REMOVED:
            message = "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."
            return 410, {"errorMessages": [message]}, {}
        if path != PATHS[self.kind]:
            return 404, {"error": "not found"}, {}
        with self._lock:
            return getattr(self, f"_{self.kind}")(query)

    def _token(self, path: str, form: dict) -> tuple[int, dict]:
        if path != TOKEN_PATH or self.oauth is None:
            return 404, {"error": "not found"}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if (form.get("client_id"), form.get("client_secret")) != self.oauth:
            return 401, {"error": "invalid_client"}
        token = f"tok-{len(self._tokens) + 1}"
        self._tokens[token] = self.token_uses
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 1799,
            "scope": form.get("scope"),
        }

    def _handler_class(self):
        system = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                form = {k: v[-1] for k, v in form.items()}
                time.sleep(system.token_delay)
                with system._lock:
                    system.token_requests.append(form)
                    status, body = system._token(urlsplit(self.path).path, form)
                self._send(status, body, {})

            def do_GET(self):
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                with system._lock:
                    number = len(system.requests) + 1
                    system.requests.append(
                        Request(number, parts.path, query, dict(self.headers.items()), time.monotonic())
                    )
                    if system.before_request is not None:
                        system.before_request(number, system)
                status, body, headers = system._answer(
                    number, parts.path, query, self.headers.get("Authorization", "")
                )
                self._send(status, body, headers)

            def _send(self, status: int, body: object, headers: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format, *args):
                pass

        return Handler


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- Items in each system's shape ------------------------------------------------------------------

START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def servicenow_incident(n: int, when: datetime, **overrides) -> dict:
    item = {
        "sys_id": f"{n:032x}",
        "number": f"INC{n:07d}",
        "short_description": f"Incident {n}",
        "description": "RRU alarm on sector 1",
        "state": "2",
        "priority": "1",
        "opened_at": "2026-01-01 07:00:00",
        "resolved_at": "",
        "location.name": "SITE-P1",
        "cmdb_ci.name": "RRU-P1",
        "close_code": "",
        "close_notes": "",
        "sys_updated_on": f"{when:%Y-%m-%d %H:%M:%S}",
    }
    item.update(overrides)
    return item


def jira_issue(n: int, when: datetime, **fields) -> dict:
    return {
        "id": str(10000 + n),
        "key": f"NOC-{n}",
        "fields": {
            "summary": f"Issue {n}",
            "description": {
                "type": "doc",
                "version": 1,
                "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": f"CPRI down on RRU {n}"}]}
                ],
            },
            "status": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
            "priority": {"name": "Highest"},
            "created": "2026-01-01T07:00:00.000+0000",
            "resolutiondate": None,
            "resolution": None,
            "updated": f"{when:%Y-%m-%dT%H:%M:%S}.000+0000",
            **fields,
        },
    }


def tmf621_ticket(n: int, when: datetime, **overrides) -> dict:
    item = {
        "id": f"TT-{n}",
        "href": f"https://oss.example/tmf-api/troubleTicket/v4/troubleTicket/TT-{n}",
        "name": f"Trouble {n}",
        "description": "Loss of signal on the backhaul",
        "severity": "Critical",
        "ticketType": "incident",
        "status": "inProgress",
        "creationDate": "2026-01-01T07:00:00Z",
        "lastUpdate": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "relatedEntity": [{"id": "SITE-P1", "role": "site", "@referredType": "GeographicSite"}],
    }
    item.update(overrides)
    return item


MAKERS = {
    "servicenow": servicenow_incident,
    "jira": jira_issue,
    "jira_dc": jira_issue,
    "tmf621": tmf621_ticket,
}
# Jira's filter has whole minutes: its items are a minute apart, the others a second.
MINUTE, SECOND = timedelta(minutes=1), timedelta(seconds=1)
STEPS = {"servicenow": SECOND, "jira": MINUTE, "jira_dc": MINUTE, "tmf621": SECOND}
KEYS = {"servicenow": "INC{:07d}", "jira": "NOC-{}", "jira_dc": "NOC-{}", "tmf621": "TT-{}"}


def remote_items(kind: str, count: int, *, same_time: bool = False) -> list[dict]:
    step = timedelta(0) if same_time else STEPS[kind]
    return [MAKERS[kind](n, START + n * step) for n in range(1, count + 1)]
