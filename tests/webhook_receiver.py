"""A real HTTP server on 127.0.0.1 that plays a ticketing system receiving TicketAI's webhooks.

It records every POST (headers and raw body) and answers from a script of status codes, one per
request in order (200 once the script runs out), so retry tests are deterministic.
"""

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    def signature_valid(self, secret: str) -> bool:
        """What a receiver does: recompute the HMAC of the raw body and compare in constant time."""
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("x-ticketai-signature", ""))


@dataclass
class WebhookReceiver:
    script: list[int] = field(default_factory=list)  # status codes for requests 1, 2, ...; then 200
    path: str = "/hooks/ticketai"
    requests: list[ReceivedRequest] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    def __enter__(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def successes(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if 200 <= r.answered < 300]

    def _handler_class(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    number = len(receiver.requests)
                    answer = receiver.script[number] if number < len(receiver.script) else 200
                    receiver.requests.append(
                        ReceivedRequest(
                            path=self.path,
                            headers={k.lower(): v for k, v in self.headers.items()},
                            body=body,
                            answered=answer,
                        )
                    )
                reply = json.dumps({"ok": 200 <= answer < 300}).encode()
                self.send_response(answer)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        return Handler
