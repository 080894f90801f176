"""Optimistic concurrency on /api/v1/tickets/{id}/: a ticket's ETag is its revision, and a PUT or
PATCH sent with If-Match goes through only while the ticket is still at that revision (412 and
nothing written otherwise), so a client that read, then writes, cannot overwrite a newer version."""

import pytest

from repair_center.models import Ticket
from repair_center.services.tickets import tickets_upsert

URL = "/api/v1/tickets/"

pytestmark = pytest.mark.django_db


def _ticket() -> int:
    [created] = tickets_upsert(
        documents=[{"external_id": "T-1", "title": "old", "description": "text"}], source="api"
    )
    return created.id


def test_a_read_answers_the_revision_as_its_etag(integration_client):
    ticket = _ticket()
    answer = integration_client.get(f"{URL}{ticket}/")
    assert answer.status_code == 200 and answer["ETag"] == f'"{answer.json()["revision"]}"' == '"1"'


def test_a_write_at_the_revision_read_goes_through_and_answers_the_new_etag(integration_client):
    ticket = _ticket()
    answer = integration_client.patch(f"{URL}{ticket}/", {"title": "new"}, format="json", HTTP_IF_MATCH='"1"')
    assert answer.status_code == 200 and answer["ETag"] == '"2"' and answer.json()["revision"] == 2
    weak = integration_client.patch(
        f"{URL}{ticket}/", {"title": "newer"}, format="json", HTTP_IF_MATCH='W/"2"'
    )
    assert weak.status_code == 200 and weak["ETag"] == '"3"'
    anything = integration_client.patch(
        f"{URL}{ticket}/", {"title": "newest"}, format="json", HTTP_IF_MATCH="*"
    )
    assert anything.status_code == 200


@pytest.mark.parametrize("method", ["patch", "put"])
def test_a_write_against_an_older_revision_is_refused_and_changes_nothing(integration_client, method):
    ticket = _ticket()
    tickets_upsert(
        documents=[{"external_id": "T-1", "title": "moved on", "description": "text"}], source="api"
    )
    body = {"title": "stale edit"} if method == "patch" else {"title": "stale edit", "description": "x"}
    answer = getattr(integration_client, method)(f"{URL}{ticket}/", body, format="json", HTTP_IF_MATCH='"1"')
    assert answer.status_code == 412
    assert answer.json()["code"] == "stale_revision" and answer.json()["current_revision"] == 2
    assert "changed since you read it" in answer.json()["detail"]
    assert Ticket.objects.values_list("title", "revision").get(pk=ticket) == ("moved on", 2)


def test_an_if_match_that_is_no_etag_of_ours_is_a_400(integration_client):
    ticket = _ticket()
    answer = integration_client.patch(f"{URL}{ticket}/", {"title": "x"}, format="json", HTTP_IF_MATCH="abc")
    assert answer.status_code == 400 and "If-Match" in answer.json()
    assert Ticket.objects.get(pk=ticket).title == "old"


def test_a_write_without_if_match_still_goes_through(integration_client):
    ticket = _ticket()
    answer = integration_client.patch(f"{URL}{ticket}/", {"title": "new"}, format="json")
    assert answer.status_code == 200 and answer["ETag"] == '"2"'


def test_the_schema_names_if_match_and_412(admin_client):
    schema = admin_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for method in ("put", "patch"):
        operation = schema["paths"]["/api/v1/tickets/{id}/"][method]
        assert "412" in operation["responses"]
        assert any(p["name"] == "If-Match" and p["in"] == "header" for p in operation["parameters"])
