"""POST /api/v1/tickets/bulk/: many documents per call, each judged on its own (contract 1)."""

import pytest
from django.test import override_settings

from repair_center.models import ResolutionCode, Site, Ticket
from tests.factories import ErrorCodeFactory, ResolutionCodeFactory, SiteFactory

URL = "/api/v1/tickets/bulk/"


def _doc(n: int, **overrides):
    doc = {
        "external_id": f"SIM-{n:06d}",
        "title": f"ticket {n}",
        "status": "closed",
        "opened_at": "2026-01-03T10:12:00Z",
        "site": "CS-COAST-001",
        "error_codes": ["CPRI_LINK_DOWN"],
        "events": [{"at": "2026-01-03T09:58:00Z", "kind": "alarm_raised", "code": "SFP_RX_LOW", "attrs": {}}],
        "resolution": "REPLACE_SFP",
    }
    doc.update(overrides)
    return doc


@pytest.fixture
def catalogue(db):
    SiteFactory(code="CS-COAST-001")
    ErrorCodeFactory(code="CPRI_LINK_DOWN")
    ResolutionCodeFactory(code="REPLACE_SFP")


def test_a_mixed_batch_writes_the_good_items_and_rejects_the_bad_ones(catalogue, integration_client):
    body = {
        "source": "sim",
        "tickets": [
            _doc(1),
            _doc(2, resolution="NOPE"),
            "not an object",
            _doc(4, opened_at="yesterday"),
            _doc(5),
        ],
    }
    response = integration_client.post(URL, body, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert {k: data[k] for k in ("created", "updated", "unchanged", "rejected")} == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 3,
    }
    results = data["results"]
    assert [(r["index"], r["external_id"], r["status"]) for r in results] == [
        (0, "SIM-000001", "created"),
        (1, "SIM-000002", "rejected"),
        (2, None, "rejected"),
        (3, "SIM-000004", "rejected"),
        (4, "SIM-000005", "created"),
    ]
    assert "resolution" in results[1]["errors"]
    assert "non_field_errors" in results[2]["errors"]
    assert "opened_at" in results[3]["errors"]
    assert "id" not in results[1] and "errors" not in results[0]
    stored = dict(Ticket.objects.values_list("external_id", "id"))
    assert stored == {"SIM-000001": results[0]["id"], "SIM-000005": results[4]["id"]}
    assert set(Ticket.objects.values_list("source", flat=True)) == {"sim"}


def test_repeating_an_identical_call_reports_everything_unchanged(catalogue, integration_client):
    body = {"source": "sim", "tickets": [_doc(n) for n in range(3)]}
    first = integration_client.post(URL, body, format="json").json()
    again = integration_client.post(URL, body, format="json").json()
    assert first["created"] == 3
    assert (again["created"], again["updated"], again["unchanged"], again["rejected"]) == (0, 0, 3, 0)
    assert [r["id"] for r in again["results"]] == [r["id"] for r in first["results"]]
    assert set(Ticket.objects.values_list("revision", flat=True)) == {1}


def test_a_changed_item_is_reported_updated(catalogue, integration_client):
    integration_client.post(URL, {"tickets": [_doc(1), _doc(2)]}, format="json")
    data = integration_client.post(URL, {"tickets": [_doc(1), _doc(2, title="new")]}, format="json").json()
    assert [r["status"] for r in data["results"]] == ["unchanged", "updated"]


def test_the_source_defaults_to_api_and_a_document_may_name_its_own(catalogue, integration_client):
    integration_client.post(URL, {"tickets": [_doc(1), _doc(2, source="noc")]}, format="json")
    assert dict(Ticket.objects.values_list("external_id", "source")) == {
        "SIM-000001": "api",
        "SIM-000002": "noc",
    }


def test_create_missing_adds_flagged_sites_and_resolutions(catalogue, integration_client):
    doc = _doc(1, site="NEW-SITE", resolution="NEW_FIX")
    refused = integration_client.post(URL, {"tickets": [doc]}, format="json").json()
    assert refused["rejected"] == 1
    data = integration_client.post(URL, {"tickets": [doc], "create_missing": True}, format="json").json()
    assert data["created"] == 1
    assert Site.objects.get(code="NEW-SITE").needs_curation
    assert ResolutionCode.objects.get(code="NEW_FIX").needs_curation


@override_settings(TICKETAI_BULK_MAX_ITEMS=3)
def test_a_batch_over_the_limit_is_refused_whole(catalogue, integration_client):
    response = integration_client.post(URL, {"tickets": [_doc(n) for n in range(4)]}, format="json")
    assert response.status_code == 400
    assert response.json() == {"tickets": ["at most 3 tickets per call; split the batch"]}
    assert not Ticket.objects.exists()
    assert (
        integration_client.post(URL, {"tickets": [_doc(n) for n in range(3)]}, format="json").json()[
            "created"
        ]
        == 3
    )


def test_an_empty_batch_reports_zeros(catalogue, integration_client):
    data = integration_client.post(URL, {"tickets": []}, format="json").json()
    assert data == {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0, "results": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "tickets"),
        ({"tickets": {"external_id": "x"}}, "tickets"),
        ({"tickets": [], "source": "bad source!"}, "source"),
        ({"tickets": [], "create_missing": "perhaps"}, "create_missing"),
        ({"tickets": [], "create_mising": True}, "non_field_errors"),
        ([_doc(1)], "non_field_errors"),
    ],
)
def test_a_malformed_envelope_is_400_on_its_field(catalogue, integration_client, body, field):
    response = integration_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Ticket.objects.exists()


def test_engineers_cannot_push_tickets(catalogue, engineer_client, admin_client_api):
    assert engineer_client.post(URL, {"tickets": [_doc(1)]}, format="json").status_code == 403
    assert admin_client_api.post(URL, {"tickets": [_doc(1)]}, format="json").status_code == 200
