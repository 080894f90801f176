"""A real HTTP server on 127.0.0.1 that plays an external ticketing system for connector tests.

It serves ``items`` (remote-shaped dicts) by the connector contract: ``?updated_since=&page=``,
``{"results": [...], "next": ...}``, ordered by the updated field ascending. Faults are scripted
per request number (1-based, counted over all requests) or per page, so tests are deterministic.
"""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass
class Request:
    number: int
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeTicketingServer:
    items: list[dict] = field(default_factory=list)
    page_size: int = 3
    updated_field: str = "modified"
    path: str = "/api/tickets"
    # Scripted faults: request number -> "503", "429", "hang" (no answer until the client gives up)
    # or "drop" (connection closed without an answer). Every n-th request can also answer 503.
    faults: dict[int, str] = field(default_factory=dict)
    fail_every: int = 0
    failing_pages: set[int] = field(default_factory=set)  # these pages always answer 503
    retry_after: str | None = None
    hang_s: float = 2.0
    requests: list[Request] = field(default_factory=list)
    # Set to hold every page request until released (to keep a pull running).
    gate: threading.Event | None = None
    # Set to make "next" point at another origin (a remote that tries to leak the token).
    next_base: str | None = None

    def __post_init__(self):
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    def __enter__(self) -> "FakeTicketingServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self.gate is not None:
            self.gate.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def upsert(self, item: dict) -> None:
        with self._lock:
            self.items = [i for i in self.items if i["id"] != item["id"]] + [item]

    def page_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == self.path]

    def _answer(self, number: int, query: dict[str, str]) -> tuple[int, dict, dict]:
        fault = self.faults.get(number)
        page = int(query.get("page", "1"))
        if (
            fault == "503"
            or (self.fail_every and number % self.fail_every == 0)
            or page in self.failing_pages
        ):
            return 503, {"detail": "maintenance"}, {}
        if fault == "429":
            return (
                429,
                {"detail": "slow down"},
                ({"Retry-After": self.retry_after} if self.retry_after else {}),
            )
        with self._lock:
            since = query.get("updated_since")
            selected = sorted(
                (i for i in self.items if since is None or i[self.updated_field] >= since),
                key=lambda i: (i[self.updated_field], str(i["id"])),
            )
        start = (page - 1) * self.page_size
        results = selected[start : start + self.page_size]
        following = None
        if start + self.page_size < len(selected):
            params = {**query, "page": str(page + 1)}
            following = f"{self.next_base or self.url}?{urlencode(params)}"
        return 200, {"results": results, "next": following}, {}

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                with server._lock:
                    number = len(server.requests) + 1
                    server.requests.append(Request(number, parts.path, query, dict(self.headers.items())))
                if parts.path != server.path:
                    self._send(404, {"detail": "not found"}, {})
                    return
                fault = server.faults.get(number)
                if fault == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault == "hang":
                    server._stop.wait(server.hang_s)
                    return
                if server.gate is not None:
                    server.gate.wait()
                self._send(*server._answer(number, query))

            def _send(self, status: int, body: dict, headers: dict) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout), as the test intended

            def log_message(self, format, *args):
                pass

        return Handler


def remote_ticket(number: int, *, updated: str, **overrides) -> dict:
    """A ticket as the fake remote system names its fields (see REMOTE_MAPPING)."""
    item = {
        "id": f"EXT-{number:04d}",
        "summary": f"Remote ticket {number}",
        "body": "RRU alarm on sector 1",
        "state": "open",
        "modified": updated,
        "vendor_only_field": "ignored by TicketAI",
    }
    item.update(overrides)
    return item


REMOTE_MAPPING = {
    "external_id": "id",
    "title": "summary",
    "description": "body",
    "status": "state",
    "updated_at": "modified",
}


def ticket_items(count: int, *, day: str = "2026-01-01") -> list[dict]:
    """count remote tickets with distinct, increasing modification times."""
    return [remote_ticket(n, updated=f"{day}T{n // 60:02d}:{n % 60:02d}:00Z") for n in range(1, count + 1)]


def wait_until(condition, *, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
