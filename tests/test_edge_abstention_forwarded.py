"""An edge agent's abstention travels to central: the outbox record and the posted payload carry
``abstained`` and ``abstain_reason``, central stores them, and the Fleet page counts them. An agent
of the previous version sends neither and is stored as not abstained, as before."""

import json
from datetime import UTC, datetime

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from edge_agent.client import CentralClient
from ml.fleet import edge
from ml.models import EdgePrediction
from ml.serving import confidence
from tests.edge_fixtures import offline_agent, signing_key  # noqa: F401
from tests.factories import SiteFactory

URL = "/api/v1/edge/predictions/"
VOCABULARY = ["sfp_rx_low", "fibre", "link"]
TYPICAL = {"external_id": "T-TYPICAL", "title": "link down after fibre works", "error_codes": ["SFP_RX_LOW"]}
GIBBERISH = {"external_id": "T-GIBBERISH", "title": "xqzv blorp wibble"}


def _enrolled(site) -> tuple[object, str]:
    _, token = edge.enrolment_token_issue(site=site)
    return edge.agent_enrol(token=token, name="agent", capabilities={})


def _client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {raw}")
    return client


def _previous_version_item(key: str, **fields) -> dict:
    """A prediction as an agent before abstention travelled posts it: no abstention fields."""
    return {
        "idempotency_key": key,
        "source": "sim",
        "external_id": f"T-{key}",
        "model_version": "b1",
        "resolution": "REPLACE_SFP",
        "confidence": 0.8,
        "latency_ms": 1.5,
        "predicted_at": datetime.now(UTC).isoformat(),
        **fields,
    }


@pytest.mark.usefixtures("signing_key")
@pytest.mark.django_db(transaction=True)
def test_an_abstained_edge_answer_reaches_central_with_its_reason(live_server, tmp_path):
    agent = offline_agent(
        tmp_path, capacity=100, vocabulary=VOCABULARY, manifest_extra={"confidence_medium": 0.25}
    )
    abstained = agent.predict(GIBBERISH)
    recommended = agent.predict(TYPICAL)
    queued = {payload["external_id"]: payload for _, payload in agent.outbox.peek(10)}
    assert (queued["T-GIBBERISH"]["abstained"], queued["T-GIBBERISH"]["abstain_reason"]) == (
        True,
        confidence.UNFAMILIAR,
    )
    assert (queued["T-TYPICAL"]["abstained"], queued["T-TYPICAL"]["abstain_reason"]) == (False, None)

    _, raw = _enrolled(SiteFactory())
    agent.client = CentralClient(live_server.url, token=raw)
    try:
        assert agent.forward_once() == 2
    finally:
        agent.client.close()  # its keep-alive connection holds the server's database session
    stored = {p.idempotency_key: p for p in EdgePrediction.objects.all()}
    gibberish, typical = stored[abstained["prediction_id"]], stored[recommended["prediction_id"]]
    assert (gibberish.abstained, gibberish.abstain_reason) == (True, confidence.UNFAMILIAR)
    assert (typical.abstained, typical.abstain_reason) == (False, "")
    [row] = edge.fleet_summary()
    assert (row["predictions"], row["abstained"]) == (2, 1)


@pytest.mark.django_db
def test_an_agent_of_the_previous_version_is_accepted_and_stored_as_not_abstained():
    _, raw = _enrolled(SiteFactory())
    answer = _client(raw).post(URL, {"predictions": [_previous_version_item("old")]}, format="json").json()
    assert (answer["accepted"], answer["rejected"]) == (1, 0)
    stored = EdgePrediction.objects.get(idempotency_key="old")
    assert (stored.abstained, stored.abstain_reason) == (False, "")


@pytest.mark.django_db
def test_an_abstention_without_a_reason_is_stored_as_abstained():
    _, raw = _enrolled(SiteFactory())
    batch = [_previous_version_item("a", abstained=True), _previous_version_item("b", abstain_reason=None)]
    answer = _client(raw).post(URL, {"predictions": batch}, format="json").json()
    assert answer["accepted"] == 2
    assert dict(EdgePrediction.objects.values_list("idempotency_key", "abstained")) == {"a": True, "b": False}


BAD_ABSTENTIONS = [
    ({"abstained": "yes"}, "abstained: "),
    ({"abstained": 1}, "abstained: "),
    ({"abstained": None}, "abstained: "),
    ({"abstained": True, "abstain_reason": 5}, "abstain_reason: "),
    ({"abstained": True, "abstain_reason": "x" * 501}, "abstain_reason: "),
    ({"abstained": True, "abstain_reason": "nul\x00"}, "abstain_reason: "),
    ({"abstained": True, "abstain_reason": "lone \ud800"}, "abstain_reason: "),
    ({"abstained": False, "abstain_reason": "unsure"}, "abstain_reason: "),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("fields", "field"), BAD_ABSTENTIONS, ids=[repr(f)[:40] for f, _ in BAD_ABSTENTIONS])
def test_a_malformed_abstention_is_refused_with_its_reason_and_the_rest_stored(fields, field):
    _, raw = _enrolled(SiteFactory())
    batch = [_previous_version_item("good-1"), _previous_version_item("bad", **fields)]
    # Written as an agent's JSON would be: a lone surrogate travels as a \u escape.
    body = json.dumps({"predictions": batch})
    answer = _client(raw).post(URL, body, content_type="application/json").json()
    assert (answer["accepted"], answer["rejected"]) == (1, 1)
    [reason] = answer["errors"]["1"]
    assert reason.startswith(field), reason
    assert list(EdgePrediction.objects.values_list("idempotency_key", flat=True)) == ["good-1"]


@pytest.mark.django_db
def test_the_fleet_page_shows_how_many_edge_answers_abstained(client, admin_user):
    _, raw = _enrolled(SiteFactory(code="CS-ABSTAIN"))
    batch = [
        _previous_version_item("a", abstained=True, abstain_reason="The model is unsure."),
        _previous_version_item("b"),
        _previous_version_item("c"),
        _previous_version_item("d", abstained=False),
    ]
    _client(raw).post(URL, {"predictions": batch}, format="json")
    client.force_login(admin_user)
    html = client.get(reverse("fleet")).content.decode()
    summary = html[html.index('class="cards fleet-summary"') :]
    assert '<th scope="col">Abstained</th>' in summary
    assert '<td data-label="Abstained" class="abstained">1 <span class="muted">(25%)</span></td>' in summary


def test_the_schema_describes_the_abstention_as_optional(anon_client):
    schema = anon_client.get("/api/schema/?format=json").json()
    post = schema["paths"]["/api/v1/edge/predictions/"]["post"]
    batch_ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    components = schema["components"]["schemas"]
    item_ref = components[batch_ref.rsplit("/", 1)[-1]]["properties"]["predictions"]["items"]["$ref"]
    item = components[item_ref.rsplit("/", 1)[-1]]
    assert item["properties"]["abstained"]["type"] == "boolean"
    assert item["properties"]["abstain_reason"]["nullable"] is True
    assert item["properties"]["abstain_reason"]["maxLength"] == 500
    assert not {"abstained", "abstain_reason"} & set(item["required"])
