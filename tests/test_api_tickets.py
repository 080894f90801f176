"""The ticket endpoints: reading, filtering, and writing through the one upsert path."""

import pytest

from repair_center.models import Ticket
from repair_center.services.tickets import tickets_upsert
from tests.factories import (
    ErrorCodeAliasFactory,
    ErrorCodeFactory,
    NetworkElementFactory,
    ResolutionCodeFactory,
    SiteFactory,
)

URL = "/api/v1/tickets/"


def _doc(**overrides):
    doc = {
        "external_id": "T-1",
        "title": "CPRI link down on sector 2",
        "description": "site dark after upgrade",
        "status": "closed",
        "priority": "high",
        "opened_at": "2026-01-03T10:00:00Z",
        "resolved_at": "2026-01-03T14:00:00Z",
        "site": "CS-NORTH-1",
        "element": "SN-RU-1",
        "error_codes": ["CPRI_LINK_DOWN", "NL-7001"],
        "events": [
            {"at": "2026-01-03T09:00:00Z", "kind": "software_upgrade", "code": None, "attrs": {"to": "R22"}},
            {"at": "2026-01-03T09:58:00Z", "kind": "alarm_raised", "code": "NL-7001", "attrs": {"rx": -19.5}},
        ],
        "resolution": "ROLLBACK_SW",
        "resolution_notes": "rolled back, link up",
    }
    doc.update(overrides)
    return doc


@pytest.fixture
def catalogue(db):
    NetworkElementFactory(serial="SN-RU-1", site=SiteFactory(code="CS-NORTH-1", region="north"))
    SiteFactory(code="CS-SOUTH-1", region="south")
    ErrorCodeFactory(code="CPRI_LINK_DOWN", description="CPRI link between baseband and radio is down")
    ErrorCodeAliasFactory(vendor="nordlink", raw_code="NL-7001", error_code__code="SW_CRASH")
    ErrorCodeFactory(code="MAINS_FAIL")
    ResolutionCodeFactory(code="ROLLBACK_SW")
    ResolutionCodeFactory(code="REPLACE_PSU")


def _store(*documents, source="noc"):
    results = tickets_upsert(documents=list(documents), source=source)
    assert all(r.status in ("created", "updated") for r in results), results
    return [r.id for r in results]


def _ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_the_list_shows_codes_of_site_element_and_resolution(catalogue, engineer_client):
    [pk] = _store(_doc())
    response = engineer_client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [row] = body["results"]
    assert row["id"] == pk
    assert (row["source"], row["external_id"], row["site"], row["element"], row["resolution"]) == (
        "noc",
        "T-1",
        "CS-NORTH-1",
        "SN-RU-1",
        "ROLLBACK_SW",
    )
    assert row["url"].endswith(f"/api/v1/tickets/{pk}/")


def test_the_detail_shows_ordered_codes_and_events(catalogue, engineer_client):
    [pk] = _store(_doc())
    body = engineer_client.get(f"{URL}{pk}/").json()
    assert body["error_codes"] == [
        {
            "position": 0,
            "raw_code": "CPRI_LINK_DOWN",
            "code": "CPRI_LINK_DOWN",
            "description": "CPRI link between baseband and radio is down",
        },
        {"position": 1, "raw_code": "NL-7001", "code": "SW_CRASH", "description": "Description of SW_CRASH"},
    ]
    assert [(e["position"], e["kind"], e["raw_code"], e["code"]) for e in body["events"]] == [
        (0, "software_upgrade", "", None),
        (1, "alarm_raised", "NL-7001", "SW_CRASH"),
    ]
    assert body["events"][1]["attrs"] == {"rx": -19.5}
    assert body["network_element"]["serial"] == "SN-RU-1"
    assert (body["site"], body["resolution"], body["revision"]) == ("CS-NORTH-1", "ROLLBACK_SW", 1)


def test_an_unknown_ticket_is_a_json_404(catalogue, engineer_client):
    for path in (f"{URL}999999/", f"{URL}not-a-number/"):
        response = engineer_client.get(path)
        assert response.status_code == 404
        assert "detail" in response.json()


def test_posting_a_document_creates_the_ticket_through_the_upsert(catalogue, integration_client):
    response = integration_client.post(URL, _doc(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    ticket = Ticket.objects.get()
    assert body["id"] == ticket.id
    assert (ticket.source, ticket.external_id, ticket.content_hash) == ("api", "T-1", body["content_hash"])
    assert [c["code"] for c in body["error_codes"]] == ["CPRI_LINK_DOWN", "SW_CRASH"]


def test_posting_the_same_document_again_is_200_and_changes_nothing(catalogue, integration_client):
    first = integration_client.post(URL, _doc(source="noc"), format="json").json()
    again = integration_client.post(URL, _doc(source="noc"), format="json")
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.json()["revision"] == 1
    assert Ticket.objects.count() == 1


def test_posting_a_changed_document_updates_the_ticket(catalogue, integration_client):
    integration_client.post(URL, _doc(), format="json")
    response = integration_client.post(URL, _doc(title="now fixed"), format="json")
    assert response.status_code == 200
    assert (response.json()["title"], response.json()["revision"]) == ("now fixed", 2)


def test_an_invalid_document_is_400_with_field_errors(catalogue, integration_client):
    response = integration_client.post(
        URL, _doc(external_id="", opened_at="yesterday", resolution="NOPE"), format="json"
    )
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"external_id", "opened_at"}
    assert Ticket.objects.count() == 0


def test_an_unknown_resolution_is_400_on_the_resolution_field(catalogue, integration_client):
    response = integration_client.post(URL, _doc(resolution="NOPE"), format="json")
    assert response.status_code == 400
    assert "resolution" in response.json()


def test_patch_merges_into_the_stored_document(catalogue, integration_client):
    [pk] = _store(_doc())
    response = integration_client.patch(f"{URL}{pk}/", {"priority": "critical"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["priority"], body["title"], body["revision"]) == (
        "critical",
        "CPRI link down on sector 2",
        2,
    )
    assert [c["raw_code"] for c in body["error_codes"]] == ["CPRI_LINK_DOWN", "NL-7001"]
    assert len(body["events"]) == 2


def test_patch_with_the_stored_values_leaves_the_ticket_unchanged(catalogue, integration_client):
    [pk] = _store(_doc())
    response = integration_client.patch(f"{URL}{pk}/", {"title": _doc()["title"]}, format="json")
    assert response.status_code == 200
    assert response.json()["revision"] == 1


def test_put_replaces_the_document_and_clears_fields_left_out(catalogue, integration_client):
    [pk] = _store(_doc())
    response = integration_client.put(f"{URL}{pk}/", {"title": "only a title"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["source"], body["external_id"], body["title"]) == ("noc", "T-1", "only a title")
    assert (body["error_codes"], body["events"], body["site"], body["resolution"]) == ([], [], None, None)


def test_the_identity_of_a_ticket_cannot_be_changed(catalogue, integration_client):
    [pk] = _store(_doc())
    response = integration_client.patch(f"{URL}{pk}/", {"external_id": "T-2", "source": "x"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"external_id", "source"}
    same = integration_client.patch(f"{URL}{pk}/", {"external_id": "T-1", "title": "t"}, format="json")
    assert same.status_code == 200


def test_an_invalid_patch_is_400_and_keeps_the_stored_ticket(catalogue, integration_client):
    [pk] = _store(_doc())
    response = integration_client.patch(f"{URL}{pk}/", {"status": "bogus"}, format="json")
    assert response.status_code == 400
    assert "status" in response.json()
    assert Ticket.objects.get().status == "closed"


def test_delete_removes_the_ticket(catalogue, integration_client):
    [pk] = _store(_doc())
    assert integration_client.delete(f"{URL}{pk}/").status_code == 204
    assert not Ticket.objects.exists()


@pytest.fixture
def three_tickets(catalogue):
    return _store(
        _doc(external_id="A-17", priority="low", opened_at="2026-01-01T00:00:00Z", resolved_at=None),
        _doc(
            external_id="B-28",
            title="mains failure",
            description="battery <b>low</b>",
            priority="critical",
            status="inProgress",
            opened_at="2026-01-05T00:00:00Z",
            resolved_at=None,
            site="CS-SOUTH-1",
            element="",
            error_codes=["MAINS_FAIL"],
            events=[],
            resolution="REPLACE_PSU",
        ),
        _doc(external_id="C-39", priority="medium", opened_at="2026-01-09T00:00:00Z", resolved_at=None),
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("site=CS-SOUTH-1", ["B"]),
        ("region=north", ["C", "A"]),
        ("status=inProgress", ["B"]),
        ("status=inProgress&status=closed", ["C", "B", "A"]),
        ("priority=low", ["A"]),
        ("error_code=SW_CRASH", ["C", "A"]),
        ("error_code=NL-7001", ["C", "A"]),
        ("error_code=MAINS_FAIL", ["B"]),
        ("resolution=REPLACE_PSU", ["B"]),
        ("element=SN-RU-1", ["C", "A"]),
        ("source=noc", ["C", "B", "A"]),
        ("source=other", []),
        ("opened_after=2026-01-05T00:00:00Z", ["C", "B"]),
        ("opened_before=2026-01-05T00:00:00Z", ["A"]),
        ("search=mains", ["B"]),
        ("search=<b>low", ["B"]),
        ("search=c-39", ["C"]),
        ("ordering=priority", ["B", "C", "A"]),
        ("ordering=-priority", ["A", "C", "B"]),
        ("ordering=opened_at", ["A", "B", "C"]),
    ],
)
def test_the_list_filters_searches_and_orders(three_tickets, engineer_client, query, expected):
    by_id = dict(Ticket.objects.values_list("id", "external_id"))
    assert [by_id[pk][0] for pk in _ids(engineer_client.get(f"{URL}?{query}"))] == expected


def test_updated_since_lists_only_tickets_changed_after_the_cursor(three_tickets, engineer_client):
    Ticket.objects.filter(external_id="A-17").update(updated_at="2020-01-01T00:00:00Z")
    by_id = dict(Ticket.objects.values_list("id", "external_id"))
    ids = _ids(engineer_client.get(f"{URL}?updated_since=2025-01-01T00:00:00Z&ordering=opened_at"))
    assert [by_id[pk][0] for pk in ids] == ["B", "C"]


def test_an_invalid_filter_value_is_400(three_tickets, engineer_client):
    assert engineer_client.get(f"{URL}?status=bogus").status_code == 400
    assert engineer_client.get(f"{URL}?opened_after=not-a-date").status_code == 400


def test_pages_never_repeat_tickets_with_equal_priority(catalogue, engineer_client):
    _store(*[_doc(external_id=f"P{i}", priority="high") for i in range(5)])
    first = _ids(engineer_client.get(f"{URL}?ordering=priority&page_size=3"))
    second = _ids(engineer_client.get(f"{URL}?ordering=priority&page_size=3&page=2"))
    assert len(set(first + second)) == 5


def test_the_list_query_count_does_not_grow_with_the_page(
    catalogue, engineer_client, django_assert_num_queries
):
    _store(*[_doc(external_id=f"Q{i}") for i in range(12)])
    engineer_client.get(URL)  # stamps the token's last_used_at, which later calls skip
    # token + roles + count + one page of tickets with site, element and resolution joined in
    with django_assert_num_queries(4):
        assert len(_ids(engineer_client.get(f"{URL}?page_size=2"))) == 2
    with django_assert_num_queries(4):
        assert len(_ids(engineer_client.get(f"{URL}?page_size=12"))) == 12


def test_events_are_listed_and_filtered_by_ticket_kind_and_code(three_tickets, engineer_client):
    a, b, c = three_tickets
    rows = engineer_client.get(f"/api/v1/events/?ticket={a}").json()["results"]
    assert [(r["ticket"], r["position"], r["kind"]) for r in rows] == [
        (a, 0, "software_upgrade"),
        (a, 1, "alarm_raised"),
    ]
    rows = engineer_client.get("/api/v1/events/?kind=alarm_raised&code=SW_CRASH").json()["results"]
    assert sorted(r["ticket"] for r in rows) == sorted([a, c])
    rows = engineer_client.get("/api/v1/events/?code=NL-7001").json()["results"]
    assert {r["code"] for r in rows} == {"SW_CRASH"}
    assert engineer_client.get(f"/api/v1/events/?ticket={b}").json()["count"] == 0
