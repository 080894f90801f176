"""An admin merges two fixes the catalogue held under two codes. Central answers a model trained
before the merge as the code kept (tests/test_merged_answers.py); an edge agent hears of the merge in
its heartbeat and answers so too, without waiting for a bundle trained after it, and keeps doing so
across a restart while central is away.

Real processes: central is gunicorn on 127.0.0.1 over the test PostgreSQL, the agent is edge_agent's
Agent talking HTTP to it.
"""

import numpy as np
import pytest
from rest_framework.test import APIClient

from edge_agent import bundle as edge_bundle
from edge_agent.agent import Agent, Config
from ml.core import bundles
from ml.fleet import edge
from ml.models import EdgePrediction
from ml.serving import track_record
from repair_center.services.history import Actor
from repair_center.services.resolution_merge import merge_resolutions
from tests import edge_fixtures
from tests.edge_fixtures import LABELS, build_test_bundle, free_port, signing_key  # noqa: F401
from tests.factories import ResolutionCodeFactory, SiteFactory

central, fleet = edge_fixtures.central, edge_fixtures.fleet  # gunicorn central, agents enrolled with it
TICKET = {"external_id": "T-1", "text": "link down after fibre works", "codes": ["SFP_RX_LOW"]}
COUNTS = {"learnt_from": 20, "held_out": 4, "recommended": 3, "right": 2}


def _table(*labels: str) -> dict:
    return {label: {**COUNTS, "statement": track_record.statement(COUNTS)} for label in labels}


def test_labels_merged_into_one_code_are_answered_once_with_their_chances_added_up():
    proba = np.array([0.1, 0.25, 0.45, 0.2])  # REPLACE_SFP, RESTART_BASEBAND, CLEAN_FIBRE, REPLACE_PSU
    merged = {"RESTART_BASEBAND": "REPLACE_SFP", "REPLACE_PSU": "Replace PSU"}

    answers = edge_bundle.ranked(LABELS, proba, 4, _table(*LABELS), merged)

    assert [(a["resolution"], a["confidence"]) for a in answers] == [
        ("CLEAN_FIBRE", 0.45),
        ("REPLACE_SFP", 0.35),  # 0.1 + 0.25: one fix
        ("Replace PSU", 0.2),
    ]
    by_code = {a["resolution"]: a for a in answers}
    # Counted apart, two labels' records would call each other's tickets wrong: no record here.
    assert "record" not in by_code["REPLACE_SFP"] and "record_statement" not in by_code["REPLACE_SFP"]
    # A label renamed alone keeps its record: the code kept was learnt under that label only.
    assert by_code["Replace PSU"]["record"] == COUNTS
    assert by_code["CLEAN_FIBRE"]["record_statement"] == track_record.statement(COUNTS)
    # Nothing merged, or a merge of codes the bundle never learnt: answered as before.
    for other in (None, {}, {"FIX_MAINS": "Fix mains"}):
        assert edge_bundle.ranked(LABELS, proba, 2, None, other) == [
            {"resolution": "CLEAN_FIBRE", "confidence": 0.45},
            {"resolution": "RESTART_BASEBAND", "confidence": 0.25},
        ]


@pytest.mark.django_db
def test_the_heartbeat_names_the_installed_bundles_labels_a_merge_made_aliases(signing_key, tmp_path):  # noqa: F811
    for label in LABELS:
        ResolutionCodeFactory(code=label)
    bundles.bundle_register(
        path=build_test_bundle(tmp_path / "b1.zip", version="b1"), metrics={"labels": LABELS}
    )
    _, raw = edge.enrolment_token_issue(site=SiteFactory(code="CS-WEST-001"))
    token = APIClient().post("/api/v1/edge/enrol/", {"token": raw, "name": "a"}, format="json").json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {token['agent_token']}")

    def merged(model_version: str) -> dict:
        body = {"backlog": 0, "model_version": model_version}
        response = client.post("/api/v1/edge/heartbeat/", body, format="json")
        assert response.status_code == 200, response.content
        return response.json()["merged"]

    assert merged("b1") == {}
    merge_resolutions(["RESTART_BASEBAND", "REPLACE_PSU"], into="REPLACE_SFP", actor=Actor("admin"))
    expected = {"RESTART_BASEBAND": "REPLACE_SFP", "REPLACE_PSU": "REPLACE_SFP"}
    assert merged("b1") == expected
    assert merged("b1+local") == expected  # a head retrained at the site has the bundle's labels
    assert merged("b0") == {} and merged("") == {}  # a bundle central does not know, or none


@pytest.mark.slow
def test_an_agent_answers_the_code_kept_after_a_merge_and_after_a_restart_offline(fleet, tmp_path):
    for label in LABELS:
        ResolutionCodeFactory(code=label)
    bundles.bundle_register(
        path=build_test_bundle(tmp_path / "built" / "b1.zip", version="b1", track_record=_table(*LABELS)),
        metrics={"labels": LABELS},
    )
    agent = fleet()
    agent.heartbeat_once()
    assert agent.model_version == "b1"
    before = {r["resolution"]: r for r in agent.predict(TICKET, top_k=4)["recommendations"]}
    assert set(before) == set(LABELS) and agent.merged == {}

    merge_resolutions(["RESTART_BASEBAND"], into="REPLACE_SFP", actor=Actor("admin"))
    agent.heartbeat_once()
    answer = agent.predict(TICKET, top_k=4)

    after = {r["resolution"]: r for r in answer["recommendations"]}
    assert set(after) == {"REPLACE_SFP", "CLEAN_FIBRE", "REPLACE_PSU"}
    chance = before["REPLACE_SFP"]["confidence"] + before["RESTART_BASEBAND"]["confidence"]
    assert after["REPLACE_SFP"]["confidence"] == pytest.approx(chance, abs=2e-6)
    assert "record" not in after["REPLACE_SFP"]
    for code in ("CLEAN_FIBRE", "REPLACE_PSU"):
        assert after[code] == before[code]
    assert answer["model_version"] == "b1"  # the same bundle: no download
    # What central hears is the code kept.
    assert agent.forward_once() == 2
    resolutions = list(EdgePrediction.objects.order_by("id").values_list("resolution", flat=True))
    assert resolutions[1] == answer["recommendations"][0]["resolution"]

    # Restarted with central unreachable, the agent still answers the merge it heard of.
    agent.client.close()
    agent.outbox.close()
    restarted = Agent(Config(central=f"http://127.0.0.1:{free_port()}", data_dir=agent.data_dir))
    try:
        restarted.enrol()
        again = {r["resolution"]: r for r in restarted.predict(TICKET, top_k=4)["recommendations"]}
    finally:
        restarted.client.close()
        restarted.outbox.close()
    assert again == after
