"""What central accepts from an agent's prediction batch (SECURITY.md, findings 3 and 8).

Impossible timestamps and non-finite or out-of-range numbers are refused one by one with the
reason, never a 500 that the agent would resend for ever; idempotency keys are the agent's own;
and a prediction counts only for a ticket of the agent's own site.
"""

from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from edge_agent.agent import Agent, Config
from ml.fleet import edge
from ml.models import EdgePrediction
from repair_center.services.tickets import tickets_upsert
from tests.factories import ResolutionCodeFactory, SiteFactory

URL = "/api/v1/edge/predictions/"


def _agent(site) -> tuple[object, APIClient]:
    _, token = edge.enrolment_token_issue(site=site)
    agent, raw = edge.agent_enrol(token=token, name="agent", capabilities={})
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {raw}")
    return agent, client


def _prediction(key: str, external_id: str = "T-1", **fields) -> dict:
    return {
        "idempotency_key": key,
        "source": "sim",
        "external_id": external_id,
        "model_version": "b1",
        "resolution": "REPLACE_SFP",
        "confidence": 0.8,
        "latency_ms": 1.5,
        "predicted_at": datetime.now(UTC).isoformat(),
        **fields,
    }


BAD_FIELDS = [
    ("predicted_at", "2026-13-45T00:00:00Z"),  # no month 13: was an uncaught ValueError
    ("predicted_at", "2026-01-01T00:00:00+99:00"),  # an offset beyond a day: ValueError
    ("predicted_at", "0001-01-01T00:00:00+01:00"),  # before year 1 in UTC: OverflowError on SQLite
    ("predicted_at", "9999-12-31T23:59:59-01:00"),  # after year 9999 in UTC
    ("predicted_at", 20260101),
    ("confidence", "nan"),
    ("confidence", "inf"),
    ("confidence", -5),
    ("confidence", 1e308),
    ("confidence", True),
    ("latency_ms", "-inf"),
    ("latency_ms", "nan"),
    ("latency_ms", -5),
    ("latency_ms", 1e308),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "value"), BAD_FIELDS, ids=[f"{f}={v!r}" for f, v in BAD_FIELDS])
def test_an_impossible_value_is_refused_with_its_reason_and_the_rest_of_the_batch_stored(field, value):
    _, client = _agent(SiteFactory())
    batch = [_prediction("good-1"), _prediction("bad", **{field: value}), _prediction("good-2")]
    response = client.post(URL, {"predictions": batch}, format="json")
    assert response.status_code == 200, response.content[:300]
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (2, 1)
    [reason] = answer["errors"]["1"]
    assert reason.startswith(f"{field}: "), reason
    assert sorted(EdgePrediction.objects.values_list("idempotency_key", flat=True)) == ["good-1", "good-2"]


@pytest.mark.django_db
def test_the_fleet_mean_latency_stays_finite_whatever_an_agent_sends():
    _, client = _agent(SiteFactory())
    batch = [_prediction("a", latency_ms=2.0), _prediction("b", latency_ms="-inf"), _prediction("c")]
    client.post(URL, {"predictions": batch}, format="json")
    [row] = edge.fleet_summary()
    assert row["latency_ms"] == pytest.approx(1.75)


@pytest.mark.django_db
def test_two_agents_may_use_the_same_idempotency_key():
    site = SiteFactory()
    _, first = _agent(site)
    _, second = _agent(site)
    answer = first.post(URL, {"predictions": [_prediction("k-1", "T-1")]}, format="json").json()
    assert answer["accepted"] == 1
    answer = second.post(URL, {"predictions": [_prediction("k-1", "T-2")]}, format="json").json()
    assert (answer["accepted"], answer["duplicates"]) == (1, 0)
    assert sorted(EdgePrediction.objects.values_list("external_id", flat=True)) == ["T-1", "T-2"]
    # The same agent sending its key again is still a duplicate.
    again = second.post(URL, {"predictions": [_prediction("k-1", "T-2")]}, format="json").json()
    assert (again["accepted"], again["duplicates"]) == (0, 1)


@pytest.mark.django_db
def test_a_prediction_for_another_sites_ticket_is_refused_and_not_counted():
    mine, theirs = SiteFactory(code="MINE"), SiteFactory(code="THEIRS")
    tickets_upsert(
        source="sim",
        documents=[
            {"external_id": "T-MINE", "title": "a", "site": "MINE"},
            {"external_id": "T-THEIRS", "title": "b", "site": "THEIRS"},
            {"external_id": "T-NOWHERE", "title": "c"},
        ],
    )
    agent, client = _agent(mine)
    batch = [
        _prediction("k1", "T-MINE"),
        _prediction("k2", "T-THEIRS"),
        _prediction("k3", "T-NOWHERE"),  # a ticket without a site: nobody else's
        _prediction("k4", "T-NOT-YET"),  # not at central yet: judged when it arrives (see below)
    ]
    answer = client.post(URL, {"predictions": batch}, format="json").json()
    assert (answer["accepted"], answer["rejected"]) == (3, 1)
    assert "another site" in answer["errors"]["1"][0]
    stored = EdgePrediction.objects.filter(agent=agent)
    assert sorted(stored.values_list("external_id", flat=True)) == ["T-MINE", "T-NOT-YET", "T-NOWHERE"]
    assert not EdgePrediction.objects.filter(site=theirs).exists()


@pytest.mark.django_db
def test_a_ticket_that_arrives_for_another_site_later_does_not_score_the_agents_site():
    ResolutionCodeFactory(code="REPLACE_SFP")
    SiteFactory(code="THEIRS")
    _, client = _agent(SiteFactory(code="MINE"))
    client.post(URL, {"predictions": [_prediction("k1", "T-LATER")]}, format="json")
    tickets_upsert(
        source="sim",
        documents=[{"external_id": "T-LATER", "title": "x", "site": "THEIRS", "resolution": "REPLACE_SFP"}],
    )
    [row] = edge.fleet_summary()
    assert (row["site"], row["predictions"], row["closed"], row["accuracy"]) == ("MINE", 1, 0, None)


@pytest.mark.django_db(transaction=True)
def test_the_agent_sets_aside_only_the_predictions_central_refused(live_server, tmp_path):
    site = SiteFactory()
    _, token = edge.enrolment_token_issue(site=site)
    agent = Agent(Config(central=live_server.url, data_dir=tmp_path, enrol_token=token, name="a"))
    try:
        agent.enrol()
        agent.client.token = agent.state["agent_token"]
        for key, confidence in (("p-1", 0.5), ("p-2", "nan"), ("p-3", 0.7)):
            agent.outbox.add(key, _prediction(key, confidence=confidence))
        assert agent.forward_once() == 2
    finally:
        agent.client._http.close()  # its keep-alive connection holds the server's database session
    assert agent.outbox.count() == 0
    dead = agent.outbox._db.execute("SELECT key, error FROM dead").fetchall()
    assert [key for key, _ in dead] == ["p-2"] and "confidence" in dead[0][1]
    assert sorted(EdgePrediction.objects.values_list("idempotency_key", flat=True)) == ["p-1", "p-3"]
