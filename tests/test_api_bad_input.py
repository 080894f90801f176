"""Hostile and sloppy input: broken JSON, wrong types, oversized bodies, markup in text."""

import json

import pytest
from django.test import override_settings

from repair_center.models import Site, Ticket

TICKETS = "/api/v1/tickets/"
BULK = "/api/v1/tickets/bulk/"


def _post_raw(client, url, body: bytes, content_type="application/json"):
    return client.generic("POST", url, body, content_type=content_type)


@pytest.mark.parametrize("url", [TICKETS, BULK])
def test_malformed_json_is_400_with_a_clear_detail(integration_client, url):
    response = _post_raw(integration_client, url, b'{"external_id": "T-1", "title": ')
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


def test_a_body_that_is_not_json_is_415(integration_client):
    response = _post_raw(integration_client, TICKETS, b"external_id=T-1", content_type="text/plain")
    assert response.status_code == 415
    assert "text/plain" in response.json()["detail"]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"external_id": "T-1", "title": ["a", "list"]}, "title"),
        ({"external_id": {"nested": 1}, "title": "t"}, "external_id"),
        ({"external_id": "T-1", "error_codes": "A,B"}, "error_codes"),
        ({"external_id": "T-1", "error_codes": [1, 2]}, "error_codes"),
        ({"external_id": "T-1", "events": {"at": "2026-01-01T00:00:00Z"}}, "events"),
        (
            # A source's own kinds are kept; a kind that is no name (a number, a '|') is refused.
            {"external_id": "T-1", "events": [{"at": "2026-01-01T00:00:00Z", "kind": 42}]},
            "events[0].kind",
        ),
        ({"external_id": "T-1", "events": [{"at": 12, "kind": "weather"}]}, "events[0].at"),
        ({"external_id": "T-1", "title": "t", "opened_at": 20260101}, "opened_at"),
        ({"external_id": "T-1", "title": "t", "priority": True}, "priority"),
        ({"external_id": "T-1", "title": "nul \x00 inside"}, "title"),
        ({"external_id": "T-1", "title": "x" * 501}, "title"),
        ({"external_id": "T-1", "title": "t", "colour": "red"}, "non_field_errors"),
    ],
)
def test_wrong_types_are_400_with_field_errors(integration_client, document, field):
    response = integration_client.post(TICKETS, document, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert all(isinstance(m, str) for messages in response.json().values() for m in messages)
    assert not Ticket.objects.exists()


@pytest.mark.parametrize("body", [[{"external_id": "T-1"}], "a string", 42, None])
def test_a_document_that_is_not_an_object_is_400(integration_client, body):
    response = _post_raw(integration_client, TICKETS, json.dumps(body).encode())
    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_deeply_nested_event_attributes_are_refused(integration_client):
    attrs: dict = {}
    inner = attrs
    for _ in range(10):
        inner["x"] = {}
        inner = inner["x"]
    event = {"at": "2026-01-01T00:00:00Z", "kind": "weather", "attrs": attrs}
    response = integration_client.post(TICKETS, {"external_id": "T-1", "events": [event]}, format="json")
    assert response.status_code == 400
    assert "events[0].attrs" in response.json()


def test_wrong_types_on_the_catalogue_are_400_with_field_errors(admin_client_api):
    response = admin_client_api.post(
        "/api/v1/sites/", {"code": "CS-1", "latitude": "north", "tier": ["hub"]}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"latitude", "tier"}
    assert not Site.objects.exists()


@override_settings(TICKETAI_MAX_REQUEST_BYTES=1024)
@pytest.mark.parametrize("url", [TICKETS, BULK])
def test_a_body_over_the_size_limit_is_413_before_it_is_read(integration_client, url):
    tickets = [{"external_id": f"T-{n}", "title": "x" * 100} for n in range(12)]
    body = json.dumps({"tickets": tickets} if url == BULK else {**tickets[0], "description": "y" * 2000})
    assert len(body) > 1024
    response = _post_raw(integration_client, url, body.encode())
    assert response.status_code == 413
    assert "1024 bytes" in response.json()["detail"]
    assert not Ticket.objects.exists()


@override_settings(TICKETAI_MAX_REQUEST_BYTES=1024)
def test_a_body_within_the_size_limit_is_accepted(integration_client):
    body = json.dumps({"tickets": [{"external_id": "T-1", "description": "x" * 900}]})
    assert len(body) <= 1024
    response = _post_raw(integration_client, BULK, body.encode())
    assert (response.status_code, response.json()["created"]) == (200, 1)


def test_a_malformed_content_length_is_400(integration_client):
    response = integration_client.generic(
        "POST", BULK, b"{}", content_type="application/json", CONTENT_LENGTH="lots"
    )
    assert response.status_code == 400
    assert "Content-Length" in response.json()["detail"]


def test_markup_in_text_is_stored_and_returned_verbatim(integration_client, engineer_client):
    title = '<script>alert("pwned")</script> & <b>bold</b> café ✓'
    description = "<img src=x onerror=alert(1)>\n'quotes' and \"doubles\""
    created = integration_client.post(
        TICKETS, {"external_id": "T-1", "title": title, "description": description}, format="json"
    )
    assert created.status_code == 201, created.content
    assert Ticket.objects.get().title == title
    response = engineer_client.get(f"{TICKETS}{created.json()['id']}/")
    assert (response.json()["title"], response.json()["description"]) == (title, description)
    # Not HTML-escaped and not \\u-escaped: the JSON carries the characters themselves.
    assert '<script>alert(\\"pwned\\")</script> & <b>bold</b> café ✓'.encode() in response.content
    assert response["Content-Type"] == "application/json"
