"""The work on tickets over the API: an integration assigns, transitions and adds notes; a stale
revision and an illegal transition answer 409 saying which, bad input 400 with field errors."""

import pytest

from repair_center.models import AssignmentGroup, Ticket
from repair_center.services.tickets import tickets_upsert
from tests.factories import ResolutionCodeFactory, SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(engineer):
    SiteFactory(code="SITE-API")
    ResolutionCodeFactory(code="RESEAT_CPRI")
    crew = AssignmentGroup.objects.create(name="Coast crew")
    crew.members.add(engineer)
    [result] = tickets_upsert(
        documents=[{"external_id": "API-1", "title": "CPRI down", "site": "SITE-API", "priority": "high"}],
        source="noc",
    )
    return Ticket.objects.get(pk=result.id)


def _url(ticket, route: str) -> str:
    return f"/api/v1/tickets/{ticket.pk}/{route}/"


def test_an_integration_assigns_transitions_and_adds_notes(integration_client, ticket):
    assigned = integration_client.post(
        _url(ticket, "assign"), {"group": "Coast crew", "assignee": "eng", "revision": 1}, format="json"
    )
    assert assigned.status_code == 200, assigned.content
    assert (assigned.json()["assignee"], assigned.json()["assignment_group"]) == ("eng", "Coast crew")
    assert assigned.json()["revision"] == 2

    started = integration_client.post(
        _url(ticket, "transition"), {"action": "start", "revision": 2}, format="json"
    )
    assert started.status_code == 200, started.content
    assert started.json()["status"] == "inProgress"
    assert started.json()["acknowledged_by"] == "integ"

    note = integration_client.post(
        _url(ticket, "notes"), {"text": "Crew dispatched, ETA 40 min", "visibility": "public"}, format="json"
    )
    assert note.status_code == 201, note.content
    assert {k: note.json()[k] for k in ("author", "text", "visibility")} == {
        "author": "integ",
        "text": "Crew dispatched, ETA 40 min",
        "visibility": "public",
    }

    resolved = integration_client.post(
        _url(ticket, "transition"),
        {"action": "resolve", "resolution": "RESEAT_CPRI", "resolution_notes": "reseated, link up"},
        format="json",
    )
    assert resolved.status_code == 200, resolved.content
    assert (resolved.json()["status"], resolved.json()["resolution"]) == ("resolved", "RESEAT_CPRI")
    assert resolved.json()["sla"]["state"] in ("met", "missed")

    history = integration_client.get(_url(ticket, "history"))
    assert [c["action"] for c in history.json()] == ["assign", "start", "note", "resolve"]
    assert history.json()[1]["changes"]["status"] == {"from": "acknowledged", "to": "inProgress"}
    notes = integration_client.get(_url(ticket, "notes"))
    assert [n["text"] for n in notes.json()] == ["Crew dispatched, ETA 40 min"]


def test_a_stale_revision_is_409_with_the_current_one(integration_client, ticket):
    integration_client.post(_url(ticket, "notes"), {"text": "first"}, format="json")

    response = integration_client.post(
        _url(ticket, "transition"), {"action": "start", "revision": 1}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "stale_revision"
    assert response.json()["current_revision"] == 2
    assert "read it again" in response.json()["detail"]
    assert Ticket.objects.get(pk=ticket.pk).status == "acknowledged"


def test_an_illegal_transition_is_409_and_names_the_status(engineer_client, ticket):
    response = engineer_client.post(_url(ticket, "transition"), {"action": "close"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    assert response.json()["detail"].startswith("cannot close ticket API-1: it is acknowledged")


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("transition", {"action": "teleport"}, "action"),
        ("transition", {"action": "hold"}, "reason"),
        ("transition", {"action": "resolve", "resolution": "NOPE"}, "resolution"),
        ("transition", {"action": "start", "revision": 0}, "revision"),
        ("assign", {"assignee": "nobody"}, "assignee"),
        ("assign", {}, "non_field_errors"),
        ("notes", {"text": ""}, "text"),
        ("notes", {"text": "x", "visibility": "everyone"}, "visibility"),
    ],
)
def test_bad_input_is_400_with_the_field_at_fault(engineer_client, ticket, route, body, field):
    response = engineer_client.post(_url(ticket, route), body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert Ticket.objects.get(pk=ticket.pk).revision == 1


def test_engineers_and_integrations_work_tickets_and_anonymous_callers_do_not(
    engineer_client, integration_client, anon_client, ticket
):
    body = {"text": "looking"}
    assert anon_client.post(_url(ticket, "notes"), body, format="json").status_code == 401
    assert engineer_client.post(_url(ticket, "notes"), body, format="json").status_code == 201
    assert integration_client.post(_url(ticket, "notes"), body, format="json").status_code == 201
    assert engineer_client.post("/api/v1/tickets/999999/notes/", body, format="json").status_code == 404


def test_the_ticket_shows_assignment_and_sla_and_sites_their_access_details(engineer_client, ticket):
    ticket.site.address, ticket.site.access_notes = "Harbour Road 1", "Key in the box at the gate"
    ticket.site.save()

    detail = engineer_client.get(f"/api/v1/tickets/{ticket.pk}/").json()
    site = engineer_client.get(f"/api/v1/sites/{ticket.site.pk}/").json()

    assert {"assignee", "assignment_group", "status_change_reason", "acknowledged_at"} <= set(detail)
    assert detail["sla"]["state"] in ("breached", "due_soon", "on_track")
    assert (site["address"], site["access_notes"]) == ("Harbour Road 1", "Key in the box at the gate")


def test_admins_manage_assignment_groups_and_everyone_reads_them(admin_client_api, engineer_client, ticket):
    created = admin_client_api.post(
        "/api/v1/assignment-groups/", {"name": "NOC night shift", "members": ["eng"]}, format="json"
    )
    refused = engineer_client.post("/api/v1/assignment-groups/", {"name": "Mine"}, format="json")
    listed = engineer_client.get("/api/v1/assignment-groups/")

    assert created.status_code == 201, created.content
    assert refused.status_code == 403
    assert {g["name"]: g["members"] for g in listed.json()["results"]} == {
        "Coast crew": ["eng"],
        "NOC night shift": ["eng"],
    }


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800"])
@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("notes", '{"text": "on site MARK"}', "text"),
        ("transition", '{"action": "hold", "reason": "spare MARK"}', "reason"),
        (
            "transition",
            '{"action": "resolve", "resolution": "RESEAT_CPRI", "resolution_notes": "MARK"}',
            None,
        ),
        ("assign", '{"assignee": "eMARKng"}', "assignee"),
        ("assign", '{"group": "Coast MARK"}', "group"),
    ],
)
def test_text_postgresql_cannot_store_is_a_400_not_a_500(engineer_client, ticket, route, body, field, escape):
    response = engineer_client.post(
        _url(ticket, route), body.replace("MARK", escape).encode(), content_type="application/json"
    )

    assert response.status_code == 400, response.content
    if field:
        assert field in response.json()
    assert Ticket.objects.get(pk=ticket.pk).revision == 1


def test_a_note_with_a_nul_from_the_page_is_refused_with_a_message(client, engineer, ticket):
    client.force_login(engineer)
    for url, data, said in (
        (
            f"/tickets/{ticket.pk}/notes/",
            {"text": "on site\x00"},
            "Not saved: Null characters are not allowed.",
        ),
        (f"/tickets/{ticket.pk}/action/", {"action": "hold", "reason": "x\x00", "confirmed": "yes"}, "NUL"),
        (f"/tickets/{ticket.pk}/feedback/", {"action": "reject", "notes": "x\x00"}, "Feedback not stored"),
    ):
        response = client.post(url, data, follow=True)
        assert response.status_code in (200, 400), (url, response.status_code)
        assert said in response.content.decode(), url
    assert Ticket.objects.get(pk=ticket.pk).revision == 1


@pytest.mark.parametrize("pk", ["null", "1.5", "-3", "99999999999999999999999", "999999"])
@pytest.mark.parametrize("route", ["transition", "assign", "notes", "history"])
def test_a_ticket_id_that_is_no_ticket_is_a_404(engineer_client, ticket, pk, route):
    method = engineer_client.get if route == "history" else engineer_client.post
    assert method(f"/api/v1/tickets/{pk}/{route}/", {}, format="json").status_code == 404
