"""The outbox is bounded: when central has been away too long the agent refuses new predictions
with 503, says so loudly, and takes predictions again as soon as the outbox drains."""

import json
import logging
import threading

import httpx
import pytest

from edge_agent.agent import Agent, Config
from edge_agent.server import LocalServer
from tests.edge_fixtures import offline_agent, signing_key  # noqa: F401

pytestmark = pytest.mark.usefixtures("signing_key")


@pytest.fixture
def served(tmp_path):
    started = []

    def serve(agent: Agent) -> str:
        server = LocalServer(("127.0.0.1", 0), agent)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in started:
        server.shutdown()
        server.server_close()


def test_a_full_outbox_refuses_predictions_with_503_and_logs_it_loudly(tmp_path, served, caplog):
    agent = offline_agent(tmp_path, capacity=3)
    url = served(agent)
    document = {"source": "sim", "external_id": "T-1", "title": "link down", "error_codes": ["SFP_RX_LOW"]}
    for _ in range(3):
        assert httpx.post(url + "/predict", json=document).status_code == 200
    with caplog.at_level(logging.ERROR, logger="edge_agent.outbox"):
        refused = httpx.post(url + "/predict", json=document)
    assert refused.status_code == 503 and "outbox full" in refused.json()["detail"]
    assert "OUTBOX FULL" in caplog.text
    health = httpx.get(url + "/health").json()
    assert (health["status"], health["outbox_full"], health["backlog"]) == ("degraded", True, 3)
    assert health["session_options"]["name"] == agent.model.session_choice["name"]

    agent.outbox.remove([key for key, _ in agent.outbox.peek(2)])  # what an acknowledged batch does
    assert httpx.post(url + "/predict", json=document).status_code == 200


def test_a_prediction_is_in_the_outbox_before_it_is_answered(tmp_path, served):
    agent = offline_agent(tmp_path, capacity=10)
    url = served(agent)
    answer = httpx.post(
        url + "/predict",
        json={"ticket": {"external_id": "T-9", "title": "mains failure"}, "context": {"vendor": "nordlink"}},
    ).json()
    [(key, payload)] = agent.outbox.peek(10)
    assert key == answer["prediction_id"] and payload["external_id"] == "T-9"
    assert payload["resolution"] == answer["recommendations"][0]["resolution"]
    assert payload["model_version"] == "b1" and len(payload["input_fingerprint"]) == 64


def test_the_local_api_rejects_what_is_not_a_ticket(tmp_path, served):
    url = served(offline_agent(tmp_path, capacity=10))
    assert httpx.post(url + "/predict", content=b"{nope").status_code == 400
    assert httpx.post(url + "/predict", json=[1, 2]).status_code == 400
    assert httpx.get(url + "/nothing").status_code == 404


def test_predictions_survive_an_agent_restart_in_the_outbox(tmp_path):
    agent = offline_agent(tmp_path, capacity=10)
    agent.predict({"external_id": "T-1", "title": "x"})
    agent.outbox.close()
    again = Agent(Config(central="http://127.0.0.1:9", data_dir=tmp_path / "agent", outbox_capacity=10))
    assert [json.dumps(p["external_id"]) for _, p in again.outbox.peek(10)] == ['"T-1"']
