"""An agent whose installed bundle no longer verifies when it starts (a disk fault, a truncated
file) fetches it again from central instead of staying without a model.

Real processes: central is gunicorn on 127.0.0.1 over the test PostgreSQL, the agent is
edge_agent's Agent talking HTTP to it.
"""

import pytest

from edge_agent.agent import Agent
from ml.core import bundles
from tests import edge_fixtures
from tests.edge_fixtures import build_test_bundle

pytestmark = pytest.mark.slow
central, fleet = edge_fixtures.central, edge_fixtures.fleet  # gunicorn central, agents enrolled with it


def _restarted(agent: Agent) -> Agent:
    agent.client.close()
    agent.outbox.close()
    again = Agent(agent.config)
    again.enrol()  # enrolled already: reads agent.json and loads the installed bundle
    return again


@pytest.mark.parametrize("damage", ["truncated", "pointer"])
def test_an_agent_whose_installed_bundle_is_damaged_fetches_it_again(fleet, tmp_path, damage):
    bundles.bundle_register(path=build_test_bundle(tmp_path / "built" / "b1.zip", version="b1"))
    agent = fleet()
    agent.heartbeat_once()
    assert agent.model_version == "b1"
    installed = agent.data_dir / "bundles" / "b1.zip"
    if damage == "truncated":
        installed.write_bytes(installed.read_bytes()[:1000])
    else:
        (agent.data_dir / "bundles" / "current.json").write_text("{not json")
    again = _restarted(agent)
    try:
        assert again.model is None
        again.heartbeat_once()
        assert again.model_version == "b1"
        prediction = again.predict(edge_fixtures.simulated_documents(1)[0])
        assert prediction["model_version"] == "b1"
    finally:
        again.client.close()
        again.outbox.close()
