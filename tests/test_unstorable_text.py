"""Text PostgreSQL cannot store, and values of the wrong type, cost only their own item
(SECURITY.md, findings 1, 4 and 9).

A lone UTF-16 surrogate (``\\ud800``) once made a bulk batch of 51 tickets a 500 with 0 stored
(a UnicodeEncodeError in the document's content hash); a NUL in one error or event code refused the
whole batch with a message naming PostgreSQL; an event whose ``kind`` was an object was a
``TypeError: unhashable type`` 500. Each is now a field error for its own item.
"""

import json

import pytest
from rest_framework.test import APIClient

from ml.fleet import edge
from repair_center.models import RepairRecord, Ticket
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

SURROGATE = "\\ud800"  # as the JSON text carries it; json.loads gives a lone surrogate
NUL = "\\u0000"


def _good(n: int) -> dict:
    return {
        "external_id": f"OK-{n}",
        "title": "CPRI link down",
        "error_codes": ["LOS"],
        "events": [{"at": "2026-01-03T09:58:00Z", "kind": "alarm_raised", "code": "LOS"}],
    }


def _post_raw(client, url: str, body: str, method: str = "post"):
    """A body written as JSON text, so it can carry the escapes json.dumps would never write."""
    return getattr(client, method)(url, body.encode(), content_type="application/json")


def _bulk_with_one_bad(client, bad: dict, marker: str, escape: str):
    tickets = [_good(i) for i in range(50)]
    tickets.insert(25, bad)
    body = json.dumps({"source": "noc", "tickets": tickets}).replace(marker, escape)
    return _post_raw(client, "/api/v1/tickets/bulk/", body)


def _event(**fields) -> list[dict]:
    return [{"at": "2026-01-01T00:00:00Z", "kind": "alarm_raised", **fields}]


@pytest.mark.parametrize(
    ("where", "bad"),
    [
        ("title", {"external_id": "BAD", "title": "MARK"}),
        ("error_codes", {"external_id": "BAD", "title": "t", "error_codes": ["MARK"]}),
        ("events[0].code", {"external_id": "BAD", "events": _event(code="MARK")}),
        ("events[0].attrs", {"external_id": "BAD", "events": _event(attrs={"x": "MARK"})}),
    ],
)
@pytest.mark.parametrize("escape", [SURROGATE, NUL], ids=["surrogate", "nul"])
def test_one_unstorable_string_costs_only_its_own_ticket_of_a_bulk_batch(
    integration_client, where, bad, escape
):
    response = _bulk_with_one_bad(integration_client, bad, "MARK", escape)
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert (body["created"], body["rejected"]) == (50, 1)
    [rejected] = [r for r in body["results"] if r["status"] == "rejected"]
    assert rejected["index"] == 25 and where in rejected["errors"], rejected
    message = json.dumps(rejected["errors"]).lower()
    assert "postgres" not in message and ("nul" in message or "surrogate" in message), message
    assert Ticket.objects.count() == 50


def test_a_rejected_item_echoes_its_unstorable_external_id_as_printable_text(integration_client):
    bad = {"external_id": "BAD-MARK", "title": "MARK"}
    response = _bulk_with_one_bad(integration_client, bad, "MARK", SURROGATE)
    assert response.status_code == 200
    [rejected] = [r for r in response.json()["results"] if r["status"] == "rejected"]
    assert rejected["external_id"] == "BAD-\ufffd"


@pytest.mark.parametrize("escape", [SURROGATE, NUL], ids=["surrogate", "nul"])
def test_a_single_ticket_with_unstorable_text_is_a_400_with_the_field(integration_client, escape):
    body = json.dumps({"external_id": "T-1", "title": "x", "description": "MARK"}).replace("MARK", escape)
    response = _post_raw(integration_client, "/api/v1/tickets/", body)
    assert response.status_code == 400, response.content[:300]
    assert "description" in response.json()
    assert not Ticket.objects.exists()


def test_a_draft_recommendation_with_a_lone_surrogate_is_a_400(engineer_client):
    body = json.dumps({"title": "MARK"}).replace("MARK", SURROGATE)
    response = _post_raw(engineer_client, "/api/v1/recommendations/", body)
    assert response.status_code == 400, response.content[:300]
    assert "title" in response.json()


def test_an_etl_batch_with_a_lone_surrogate_is_a_400():
    _, token = edge.enrolment_token_issue(site=SiteFactory())
    _, raw = edge.agent_enrol(token=token, name="a", capabilities={})
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {raw}")
    tickets = [{"title": "link down", "resolution": "A"}, {"title": "MARK", "resolution": "B"}]
    body = json.dumps({"tickets": tickets, "dims": 2}).replace("MARK", SURROGATE)
    response = _post_raw(client, "/api/v1/edge/etl/", body)
    assert response.status_code == 400, response.content[:300]
    assert "tickets" in response.json()


@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_an_event_kind_that_is_an_object_is_a_field_error_not_a_500(integration_client, method):
    document = {"external_id": "T-1", "events": [{"at": "2026-01-01T00:00:00Z", "kind": {"a": 1}}]}
    url = "/api/v1/tickets/"
    if method != "post":
        created = integration_client.post(url, {"external_id": "T-1", "title": "x"}, format="json")
        url = f"{url}{created.json()['id']}/"
    response = getattr(integration_client, method)(url, document, format="json")
    assert response.status_code == 400, response.content[:300]
    assert "events[0].kind" in response.json()


@pytest.mark.parametrize("escape", [SURROGATE, NUL], ids=["surrogate", "nul"])
def test_a_repair_record_with_unstorable_text_is_a_400(admin_client_api, escape):
    body = json.dumps({"rma_id": "RMA-1", "unit_serial": "MARK"}).replace("MARK", escape)
    response = _post_raw(admin_client_api, "/api/v1/repair-records/", body)
    assert response.status_code == 400, response.content[:300]
    assert "unit_serial" in response.json()
    assert not RepairRecord.objects.exists()
