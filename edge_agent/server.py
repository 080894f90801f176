"""Local inference over HTTP on 127.0.0.1: POST /predict with a ticket document, GET /health."""

import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from edge_agent.bundle import Model
from edge_agent.outbox import OutboxFull

if TYPE_CHECKING:
    from edge_agent.agent import Agent

logger = logging.getLogger("edge_agent.server")
MAX_BODY = 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    server_version = "ticketai-edge"
    protocol_version = "HTTP/1.1"

    server: "LocalServer"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        agent = self.server.agent
        if self.path.split("?")[0] != "/health":
            return self._send(404, {"detail": "not found"})
        model = agent.model
        status = "ok" if model is not None and not agent.outbox.full else "degraded"
        return self._send(
            200,
            {
                "status": status,
                "agent_id": agent.state.get("agent_id"),
                "site": agent.site.get("code"),
                "model_version": agent.model_version or None,
                "head": model.head.origin if model is not None and model.head is not None else "shipped",
                # the onnxruntime options this host's timing chose at load (edge_agent.sessions)
                "session_options": model.session_choice if isinstance(model, Model) else None,
                "backlog": agent.outbox.count(),
                "outbox_capacity": agent.outbox.capacity,
                "outbox_full": agent.outbox.full,
                "placement": agent.placement,
            },
        )

    def do_POST(self) -> None:
        from edge_agent.agent import NoModel

        if self.path.split("?")[0] != "/predict":
            return self._send(404, {"detail": "not found"})
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self._send(413, {"detail": f"body over {MAX_BODY} bytes"})
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            return self._send(400, {"detail": "malformed JSON"})
        if not isinstance(body, dict):
            return self._send(400, {"detail": "send a ticket document (a JSON object)"})
        document, context = body, None
        if isinstance(body.get("ticket"), dict):
            document, context = body["ticket"], body.get("context")
        try:
            answer = self.server.agent.predict(
                document, context=context if isinstance(context, dict) else None
            )
        except NoModel as e:
            return self._send(503, {"detail": str(e)})
        except OutboxFull as e:
            return self._send(503, {"detail": str(e)})
        return self._send(200, answer)


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], agent: "Agent"):
        super().__init__(address, _Handler)
        self.agent = agent
