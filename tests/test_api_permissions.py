"""Who may do what: every API route by role, tokens, and the create_api_token command."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from repair_center.models import ApiToken
from repair_center.models.access import hash_token
from repair_center.services.tickets import tickets_upsert

ROLES = ("anonymous", "engineer", "integration", "admin")
TICKET_WRITERS = {"integration", "admin"}
ADMINS = {"admin"}
# route -> (roles that may write, whether the route accepts writes at all)
ROUTES = {
    "tickets": (TICKET_WRITERS, True),
    "events": (ADMINS, False),
    "error-codes": (ADMINS, True),
    "error-code-aliases": (ADMINS, True),
    "resolution-codes": (ADMINS, True),
    "unmapped-codes": (ADMINS, False),
    "sites": (ADMINS, True),
    "elements": (ADMINS, True),
    "repair-records": (ADMINS, True),
}


@pytest.fixture(params=ROLES)
def role_client(request, db):
    """One client per role; each test builds only its own user (password hashing is slow)."""
    role = request.param
    name = {"anonymous": "anon_client", "admin": "admin_client_api"}.get(role, f"{role}_client")
    return role, request.getfixturevalue(name)


def _expected_write(role, writers, writable):
    if role == "anonymous":
        return 401
    if role not in writers:
        return 403
    # An empty body passes the permission check and fails validation (or the method is refused).
    return 400 if writable else 405


def test_reading_each_route_needs_any_role(role_client):
    role, client = role_client
    expected = 401 if role == "anonymous" else 200
    got = {route: client.get(f"/api/v1/{route}/").status_code for route in ROUTES}
    assert got == dict.fromkeys(ROUTES, expected)


def test_writing_each_route_needs_its_write_role(role_client, db):
    role, client = role_client
    got = {route: client.post(f"/api/v1/{route}/", {}, format="json").status_code for route in ROUTES}
    assert got == {route: _expected_write(role, *ROUTES[route]) for route in ROUTES}


def test_bulk_push_needs_integration_or_admin(role_client, db):
    role, client = role_client
    response = client.post("/api/v1/tickets/bulk/", {"tickets": []}, format="json")
    assert response.status_code == {"anonymous": 401, "engineer": 403}.get(role, 200)


def test_changing_and_deleting_a_ticket_needs_integration_or_admin(role_client, db):
    role, client = role_client
    [result] = tickets_upsert(documents=[{"external_id": "T-1", "title": "t"}], source="noc")
    url = f"/api/v1/tickets/{result.id}/"
    patch = client.patch(url, {"title": "changed"}, format="json")
    delete = client.delete(url)
    expected = {"anonymous": (401, 401), "engineer": (403, 403)}.get(role, (200, 204))
    assert (patch.status_code, delete.status_code) == expected


def test_anonymous_is_told_how_to_authenticate(anon_client):
    response = anon_client.get("/api/v1/tickets/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_user_without_a_role_is_forbidden(db):
    user = User.objects.create_user("nobody")
    _, raw = ApiToken.issue(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    assert client.get("/api/v1/tickets/").status_code == 403


def test_a_revoked_or_unknown_token_is_401(engineer):
    token, raw = ApiToken.issue(user=engineer)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    assert client.get("/api/v1/sites/").status_code == 200
    token.revoke()
    assert client.get("/api/v1/sites/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token tai_made_up")
    assert client.get("/api/v1/sites/").status_code == 401


def test_a_token_of_a_deactivated_user_is_401(engineer):
    _, raw = ApiToken.issue(user=engineer)
    engineer.is_active = False
    engineer.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/sites/").status_code == 401


def test_a_logged_in_session_reads_the_api(engineer):
    client = APIClient()
    assert client.login(username="eng", password="pw-eng")
    assert client.get("/api/v1/tickets/").status_code == 200


def _create_token(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_create_api_token_creates_the_user_with_a_role_and_prints_a_working_token_once(db):
    raw, err = _create_token("noc-bridge", "--create-user", "--role", "integration", "--name", "NOC bridge")
    token = ApiToken.objects.get()
    assert (token.user.username, token.name, token.key_hash) == ("noc-bridge", "NOC bridge", hash_token(raw))
    assert raw not in err and token.prefix in err
    assert not token.user.has_usable_password()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    body = {"tickets": [{"external_id": "T-1", "title": "pushed"}]}
    assert client.post("/api/v1/tickets/bulk/", body, format="json").json()["created"] == 1


def test_create_api_token_refuses_an_unknown_user_without_create_user(db):
    with pytest.raises(CommandError, match="--create-user"):
        _create_token("ghost")
    assert not User.objects.filter(username="ghost").exists()


def test_create_api_token_warns_when_the_user_has_no_role(db):
    User.objects.create_user("plain")
    raw, err = _create_token("plain")
    assert raw.startswith("tai_")
    assert "no role" in err


def test_create_api_token_rejects_an_unknown_role(db):
    with pytest.raises(CommandError):
        _create_token("x", "--create-user", "--role", "overlord")
