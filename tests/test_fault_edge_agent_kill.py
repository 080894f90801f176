"""An edge agent killed with SIGKILL loses no prediction and delivers none twice.

Real processes: gunicorn for central, `python -m edge_agent`, and between them a relay on
127.0.0.1 that the test switches between forwarding, dropping every connection (central
unreachable) and holding central's answer to a prediction batch (the agent killed after central
stored the batch but before the agent could mark it sent).
"""

import json
import os
import signal
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from ml.core import bundles
from ml.fleet import edge
from ml.models import EdgeAgent, EdgePrediction
from tests.edge_fixtures import (
    AgentProcess,
    Central,
    build_test_bundle,
    signing_key,  # noqa: F401
    simulated_documents,
    wait_until,
)
from tests.factories import SiteFactory

pytestmark = pytest.mark.slow
WAIT_S = 60
N = 20
PREDICTIONS = "/api/v1/edge/predictions/"
FORWARDED_HEADERS = ("Authorization", "Content-Type", "Accept", "If-None-Match")


class _RelayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self._relay()

    def do_POST(self):
        self._relay()

    def _relay(self):
        relay: Relay = self.server.relay
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        mode = relay.mode
        if mode == "down":  # no answer at all: to the agent, central is unreachable
            self.close_connection = True
            return
        headers = {name: self.headers[name] for name in FORWARDED_HEADERS if self.headers.get(name)}
        answer = httpx.request(
            self.command, relay.target + self.path, content=body, headers=headers, timeout=30
        )
        if self.path == PREDICTIONS:
            sent = [p["idempotency_key"] for p in json.loads(body)["predictions"]]
            relay.batches.append((sent, answer.status_code, answer.json()))
            if mode == "hold":  # central has stored the batch; the agent never hears so
                relay.held.set()
                relay.release.wait(WAIT_S)
                self.close_connection = True
                return
        self.send_response(answer.status_code)
        for name in ("Content-Type", "ETag"):
            if name in answer.headers:
                self.send_header(name, answer.headers[name])
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)


class Relay:
    """An HTTP relay to central: mode "forward", "down" (drops connections) or "hold" (see above)."""

    def __init__(self, target: str):
        self.target = target
        self.mode = "forward"
        self.batches: list[tuple[list[str], int, dict]] = []
        self.held, self.release = threading.Event(), threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _RelayHandler)
        self._server.daemon_threads = True
        self._server.relay = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def fleet(transactional_db, request, settings, tmp_path):
    """Central behind a relay, and a way to (re)start one agent on one data directory."""
    request.getfixturevalue("signing_key")
    central = Central(tmp_path / "central", settings.TICKETAI_BUNDLE_SIGNING_KEY)
    relay = Relay(central.url)
    agents: list[AgentProcess] = []
    data_dir = tmp_path / "agent"

    def start_agent(token: str) -> AgentProcess:
        agent = AgentProcess(relay.url, token, data_dir, "--name", "kill-me", "--batch-size", "50")
        agents.append(agent)
        return agent

    try:
        yield central, relay, start_agent
    finally:
        for agent in agents:
            agent.stop()
        relay.stop()
        central.stop()


def _outbox_keys(agent: AgentProcess) -> list[str]:
    """The unsent predictions, read from the agent's SQLite file as it is on disk."""
    db = sqlite3.connect(agent.data_dir / "outbox.sqlite3")
    try:
        return [key for (key,) in db.execute("SELECT key FROM outbox ORDER BY seq")]
    finally:
        db.close()


def _kill(agent: AgentProcess) -> None:
    os.killpg(agent.process.pid, signal.SIGKILL)
    agent.process.wait(timeout=10)


def test_an_agent_killed_with_unsent_and_in_flight_predictions_delivers_each_exactly_once(fleet, tmp_path):
    central, relay, start_agent = fleet
    site = SiteFactory(code="CS-COAST-009")
    bundles.bundle_register(path=build_test_bundle(tmp_path / "bundles" / "b1.zip", version="b1"))
    central.start()
    _, token = edge.enrolment_token_issue(site=site)
    agent = start_agent(token)
    assert wait_until(lambda: agent.health().get("model_version") == "b1", timeout=WAIT_S), agent.logs()

    # Central unreachable: predictions are answered locally and pile up in the outbox.
    relay.mode = "down"
    answers = [agent.predict(document) for document in simulated_documents(N)]
    assert [a.status_code for a in answers] == [200] * N, [a.text for a in answers]
    keys = [a.json()["prediction_id"] for a in answers]
    assert _outbox_keys(agent) == keys and agent.health()["backlog"] == N

    _kill(agent)
    assert _outbox_keys(agent) == keys  # committed to disk before each answer
    assert not EdgePrediction.objects.exists() and relay.batches == []

    # Restarted while central answers too late: central stores the batch, the agent is killed
    # before it hears so, and so before it can delete the batch from its outbox.
    relay.mode = "hold"
    agent = start_agent(token)
    assert relay.held.wait(WAIT_S), agent.logs()
    _kill(agent)
    relay.release.set()
    assert relay.batches == [(keys, 200, {"accepted": N, "duplicates": 0, "rejected": 0, "errors": {}})]
    assert EdgePrediction.objects.count() == N
    assert _outbox_keys(agent) == keys

    # Back to normal: the restarted agent resends the batch, central drops every duplicate.
    relay.mode = "forward"
    agent = start_agent(token)
    assert wait_until(lambda: not _outbox_keys(agent), timeout=WAIT_S), agent.logs()
    assert agent.health()["backlog"] == 0
    assert relay.batches[1:] == [(keys, 200, {"accepted": 0, "duplicates": N, "rejected": 0, "errors": {}})]
    stored = list(EdgePrediction.objects.values_list("idempotency_key", "agent_id", "site__code"))
    [agent_id] = EdgeAgent.objects.values_list("pk", flat=True)
    assert sorted(stored) == sorted((key, agent_id, site.code) for key in keys)
