"""A request no API route answers gets a JSON error in that API's shape, not the site's HTML page."""

import json

import pytest
from django.test import RequestFactory
from django.urls import get_resolver


@pytest.mark.parametrize("path", ["/api/v1/ticket/", "/api/v1/tickets/1/nothing/", "/api/v2/tickets/"])
def test_it_answers_an_unknown_api_path_with_json(integration_client, path):
    response = integration_client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": f"No API resource at {path}."}


@pytest.mark.parametrize(
    "path", ["/tmf-api/alarm/v4/alarm/not-a-number", "/tmf-api/troubleTicket/v4/nothing", "/tmf-api/x"]
)
def test_it_answers_an_unknown_tmf_path_with_a_tmf630_error(integration_client, path):
    response = integration_client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "not_found", "reason": f"No API resource at {path}.", "status": "404"}


def test_it_still_shows_the_page_for_an_unknown_page(client, db):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/tickets/", {"detail": "Server error; the request id is in X-Request-ID."}),
        (
            "/tmf-api/troubleTicket/v4/troubleTicket",
            {
                "code": "server_error",
                "reason": "Server error; the request id is in X-Request-ID.",
                "status": "500",
            },
        ),
    ],
)
def test_the_server_error_handler_answers_api_paths_with_json(path, body):
    handler = get_resolver().resolve_error_handler(500)

    response = handler(RequestFactory().get(path))

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == body
