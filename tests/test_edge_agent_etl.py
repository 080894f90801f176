"""Pattern 3 end to end over real HTTP: the agent sends its site's labelled batch to central's ETL,
trains on the reduced data it gets back, serves the result and reports metrics (not data)."""

import json

import pytest

from edge_agent.agent import Agent, Config
from edge_agent.inbox import Inbox
from ml.fleet import edge
from ml.models import EdgeAgent, EdgeReport
from tests.edge_fixtures import build_test_bundle, signing_key, simulated_documents  # noqa: F401
from tests.factories import SiteFactory

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("signing_key")]  # trains an edge model end to end


def test_a_pattern_3_agent_learns_from_the_central_transform_and_serves_it(live_server, tmp_path):
    site = SiteFactory(code="CS-WEST-009", climate="coastal")
    _, token = edge.enrolment_token_issue(site=site)
    agent = Agent(
        Config(
            central=live_server.url,
            data_dir=tmp_path / "agent",
            enrol_token=token,
            retrain_min_labelled=60,
            retrain_every=60,
        )
    )
    agent.enrol()
    assert EdgeAgent.objects.get(pk=agent.state["agent_id"]).site == site
    agent.placement = {"decision": {"pattern": 3}}  # what central's placement answers for this site
    labelled = [d for d in simulated_documents(400) if d.get("resolution")][:80]
    (agent.data_dir / "inbox" / "history.jsonl").write_text("".join(json.dumps(d) + "\n" for d in labelled))

    assert Inbox(agent, agent.data_dir / "inbox").scan() == 1  # no bundle yet: labelled lines are kept
    assert agent.model is not None and agent.model_version == "etl-80"
    answer = agent.predict(
        {
            "external_id": "NEW-1",
            "title": labelled[0]["title"],
            "error_codes": labelled[0].get("error_codes", []),
        }
    )
    assert answer["model_version"] == "etl-80" and answer["recommendations"][0]["resolution"]
    report = EdgeReport.objects.get(kind="etl_trained")
    assert report.metrics["tickets"] == 80 and report.metrics["training_accuracy"] > 0.5
    assert "title" not in json.dumps(report.metrics)

    # The site had a bundle too; when placement moves the site off pattern 3, the agent serves the
    # bundle again (its assignment, already installed, would never bring it back).
    assert agent.install(build_test_bundle(tmp_path / "b1.zip", version="b1"))
    agent.learner.etl_at = 0
    assert agent.maybe_learn()["version"] == "etl-80" and agent.model_version == "etl-80"
    agent.follow_placement({"decision": {"pattern": 3}})
    agent.follow_placement(None)  # no decision known: nothing to leave pattern 3 for
    assert agent.model_version == "etl-80"
    agent.follow_placement({"decision": {"pattern": 4}})
    assert agent.model_version == "b1" and agent.pattern == 4
