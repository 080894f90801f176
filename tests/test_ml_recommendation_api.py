"""GET /api/v1/tickets/{id}/recommendation/ and POST /api/v1/recommendations/: roles, shapes,
bad input and the answer before any model exists."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from ml.models import ModelVersion
from repair_center.models import ApiToken, Ticket

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
KEYS = {
    "model_version",
    "unfamiliar",
    "abstained",
    "abstain_reason",
    "abstain_rule",
    "recommendations",
    "evidence",
    "similar",
}


def _ticket() -> Ticket:
    return Ticket.objects.get(external_id="ML-ROLLBACK_SW-007")


def _draft(**extra) -> dict:
    return {"title": "baseband keeps restarting since the upgrade", "error_codes": ["SW_CRASH"], **extra}


@pytest.fixture
def no_champion(trained_champion):
    ModelVersion.objects.filter(pk=trained_champion.pk).update(status=ModelVersion.Status.CANDIDATE)
    yield
    ModelVersion.objects.filter(pk=trained_champion.pk).update(status=ModelVersion.Status.CHAMPION)


def test_engineers_integrations_and_admins_read_a_tickets_recommendation(
    trained_champion, engineer_client, integration_client, admin_client_api
):
    url = f"/api/v1/tickets/{_ticket().pk}/recommendation/"
    for client in (engineer_client, integration_client, admin_client_api):
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == KEYS
        assert body["model_version"] == trained_champion.pk
        assert body["recommendations"][0]["resolution"] == "ROLLBACK_SW"
        assert _ticket().pk not in [s["ticket_id"] for s in body["similar"]]  # never itself


def test_it_needs_an_account_with_a_role(trained_champion, anon_client):
    url = f"/api/v1/tickets/{_ticket().pk}/recommendation/"
    assert anon_client.get(url).status_code == 401
    nobody = User.objects.create_user(username="nobody", password="pw-nobody")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.issue(user=nobody, name='t')[1]}")
    assert client.get(url).status_code == 403
    assert client.post("/api/v1/recommendations/", _draft(), format="json").status_code == 403


def test_an_unknown_ticket_is_404(trained_champion, engineer_client):
    assert engineer_client.get("/api/v1/tickets/999999999/recommendation/").status_code == 404


def test_a_draft_document_is_scored_and_not_stored(trained_champion, integration_client):
    before = Ticket.objects.count()

    response = integration_client.post("/api/v1/recommendations/", _draft(external_id="NEW-9"), format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == KEYS and body["recommendations"][0]["resolution"] == "ROLLBACK_SW"
    assert {item["code"] for item in body["evidence"]["codes"]} == {"SW_CRASH"}
    assert len(body["similar"]) == 5
    assert Ticket.objects.count() == before


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"title": "x", "colour": "red"}, "non_field_errors"),
        ({"title": "x", "opened_at": "yesterday"}, "opened_at"),
        ({"title": "x", "error_codes": "SW_CRASH"}, "error_codes"),
        ({}, "non_field_errors"),
    ],
)
def test_a_bad_document_is_400_with_field_errors(trained_champion, engineer_client, document, field):
    response = engineer_client.post("/api/v1/recommendations/", document, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_a_document_that_is_not_an_object_is_400(trained_champion, engineer_client):
    response = engineer_client.post("/api/v1/recommendations/", ["a", "list"], format="json")
    assert response.status_code == 400


def test_without_a_champion_both_answer_200_with_no_recommendations_and_the_reason(
    no_champion, engineer_client
):
    # SECURITY.md finding 9: no model yet is an expected state, not an outage (it was a 503).
    for response in (
        engineer_client.get(f"/api/v1/tickets/{_ticket().pk}/recommendation/"),
        engineer_client.post("/api/v1/recommendations/", _draft(), format="json"),
    ):
        assert response.status_code == 200
        body = response.json()
        assert (body["model_version"], body["abstained"], body["recommendations"]) == (None, True, [])
        assert "train one" in body["abstain_reason"] and set(body) == KEYS


def test_the_schema_documents_both_endpoints(trained_champion, anon_client):
    paths = anon_client.get("/api/schema/?format=json").json()["paths"]
    get = paths["/api/v1/tickets/{ticket_id}/recommendation/"]["get"]
    assert "200" in get["responses"] and "503" not in get["responses"]
    assert "refresh" in {p["name"] for p in get["parameters"]}
    assert set(paths["/api/v1/recommendations/"]["post"]["responses"]) == {"200", "400"}
