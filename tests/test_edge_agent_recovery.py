"""An agent whose installed bundle no longer verifies when it starts (a disk fault, a truncated
file) fetches it again from central instead of staying without a model.

Real processes: central is gunicorn on 127.0.0.1 over the test PostgreSQL, the agent is
edge_agent's Agent talking HTTP to it.
"""

import dataclasses

import pytest

from edge_agent import bundle_store
from edge_agent.agent import Agent
from ml.core import bundles
from tests import edge_fixtures
from tests.edge_fixtures import build_test_bundle

pytestmark = pytest.mark.slow
central, fleet = edge_fixtures.central, edge_fixtures.fleet  # gunicorn central, agents enrolled with it


def _restarted(agent: Agent, **config) -> Agent:
    agent.client.close()
    agent.outbox.close()
    again = Agent(dataclasses.replace(agent.config, **config))
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
        # a broken pointer beside an intact zip: that zip serves at once, and is fetched again all the same
        assert again.model_version == ("" if damage == "truncated" else "b1")
        again.heartbeat_once()
        assert again.model_version == "b1"
        prediction = again.predict(edge_fixtures.simulated_documents(1)[0])
        assert prediction["model_version"] == "b1"
    finally:
        again.client.close()
        again.outbox.close()


def test_an_agent_started_offline_with_a_damaged_bundle_serves_the_one_before(fleet, tmp_path):
    bundles.bundle_register(path=build_test_bundle(tmp_path / "built" / "b1.zip", version="b1"))
    agent = fleet()
    agent.heartbeat_once()
    bundles.bundle_register(path=build_test_bundle(tmp_path / "built" / "b2.zip", version="b2", seed=1))
    agent.heartbeat_once()
    assert agent.model_version == "b2"
    installed = agent.data_dir / "bundles" / "b2.zip"
    installed.write_bytes(installed.read_bytes()[:1000])
    again = _restarted(agent, central=f"http://127.0.0.1:{edge_fixtures.free_port()}")  # no link
    try:
        assert again.model_version == "b1"
        assert again.predict(edge_fixtures.simulated_documents(1)[0])["model_version"] == "b1"
    finally:
        again.client.close()
        again.outbox.close()


def test_an_agent_keeps_three_bundles_on_disk_the_one_it_serves_among_them(tmp_path):
    agent = edge_fixtures.offline_agent(tmp_path, capacity=10)  # serves b1
    try:
        for version in ("b2", "b3", "b4"):
            assert agent.install(build_test_bundle(tmp_path / f"{version}-download.zip", version=version))
        in_progress = agent.data_dir / "bundles" / "download-0123.zip"  # another download, not installed yet
        in_progress.write_bytes(b"partial")
        assert agent.install(build_test_bundle(tmp_path / "b5-download.zip", version="b5"))
        assert in_progress.exists()
        in_progress.unlink()
        kept = sorted(path.name for path in (agent.data_dir / "bundles").glob("*.zip"))
        assert kept == ["b3.zip", "b4.zip", "b5.zip"] and agent.model_version == "b5"
        assert bundle_store.KEEP == 3
    finally:
        agent.client.close()
        agent.outbox.close()
