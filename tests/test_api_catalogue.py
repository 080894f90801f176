"""Catalogue endpoints: error codes, aliases, resolutions, unmapped codes, sites, elements, repairs."""

import pytest

from repair_center.models import ErrorCodeAlias, NetworkElement, RepairRecord, ResolutionCode, Site
from repair_center.services.tickets import tickets_upsert
from tests.factories import (
    ErrorCodeAliasFactory,
    ErrorCodeFactory,
    NetworkElementFactory,
    ResolutionCodeFactory,
    SiteFactory,
)

API = "/api/v1"


def _results(response):
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_admins_create_read_update_and_delete_an_error_code(admin_client_api):
    created = admin_client_api.post(
        f"{API}/error-codes/",
        {"code": "SFP_RX_LOW", "domain": "transport", "severity": "minor", "description": "rx power low"},
        format="json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    detail = f"{API}/error-codes/{pk}/"
    assert admin_client_api.get(detail).json()["domain"] == "transport"
    patched = admin_client_api.patch(detail, {"severity": "major"}, format="json")
    assert (patched.status_code, patched.json()["severity"]) == (200, "major")
    assert admin_client_api.delete(detail).status_code == 204
    assert admin_client_api.get(detail).status_code == 404


def test_a_duplicate_or_invalid_error_code_is_400(admin_client_api):
    ErrorCodeFactory(code="SFP_RX_LOW")
    response = admin_client_api.post(f"{API}/error-codes/", {"code": "SFP_RX_LOW"}, format="json")
    assert (response.status_code, list(response.json())) == (400, ["code"])
    response = admin_client_api.post(f"{API}/error-codes/", {"code": "X", "domain": "moon"}, format="json")
    assert (response.status_code, list(response.json())) == (400, ["domain"])


def test_error_codes_filter_by_domain_and_search_the_description(admin_client_api, engineer_client):
    ErrorCodeFactory(code="MAINS_FAIL", domain="power", description="mains power lost")
    ErrorCodeFactory(code="GNSS_LOST", domain="sync", description="no satellites")
    assert [r["code"] for r in _results(engineer_client.get(f"{API}/error-codes/?domain=power"))] == [
        "MAINS_FAIL"
    ]
    assert [r["code"] for r in _results(engineer_client.get(f"{API}/error-codes/?search=satellite"))] == [
        "GNSS_LOST"
    ]


def test_an_alias_names_its_curated_code(admin_client_api):
    ErrorCodeFactory(code="SW_CRASH")
    response = admin_client_api.post(
        f"{API}/error-code-aliases/",
        {"vendor": "nordlink", "raw_code": "NL-7001", "code": "SW_CRASH"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert ErrorCodeAlias.objects.get().error_code.code == "SW_CRASH"
    rows = _results(admin_client_api.get(f"{API}/error-code-aliases/?code=SW_CRASH"))
    assert [(r["vendor"], r["raw_code"], r["code"]) for r in rows] == [("nordlink", "NL-7001", "SW_CRASH")]


def test_an_alias_to_an_unknown_code_or_a_second_alias_for_the_same_raw_code_is_400(admin_client_api):
    ErrorCodeAliasFactory(vendor="nordlink", raw_code="NL-7001", error_code__code="SW_CRASH")
    unknown = admin_client_api.post(
        f"{API}/error-code-aliases/",
        {"vendor": "nordlink", "raw_code": "NL-1", "code": "NOPE"},
        format="json",
    )
    assert (unknown.status_code, list(unknown.json())) == (400, ["code"])
    twice = admin_client_api.post(
        f"{API}/error-code-aliases/",
        {"vendor": "nordlink", "raw_code": "NL-7001", "code": "SW_CRASH"},
        format="json",
    )
    assert twice.status_code == 400
    assert ErrorCodeAlias.objects.count() == 1


def test_a_resolution_code_lists_its_steps(admin_client_api):
    response = admin_client_api.post(
        f"{API}/resolution-codes/",
        {"code": "REPLACE_SFP", "title": "Replace the SFP", "steps": "Clean the fibre\n\nSwap the SFP\n"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["step_list"] == ["Clean the fibre", "Swap the SFP"]
    assert ResolutionCode.objects.get().needs_site_visit is False


def test_catalogue_rows_used_by_tickets_cannot_be_deleted(admin_client_api):
    site = SiteFactory(code="CS-1")
    fix = ResolutionCodeFactory(code="FIX")
    code = ErrorCodeFactory(code="ERR")
    [result] = tickets_upsert(
        documents=[
            {"external_id": "T", "title": "t", "site": "CS-1", "resolution": "FIX", "error_codes": ["ERR"]}
        ],
        source="noc",
    )
    assert result.status == "created"
    for path in (f"sites/{site.id}", f"resolution-codes/{fix.id}", f"error-codes/{code.id}"):
        response = admin_client_api.delete(f"{API}/{path}/")
        assert response.status_code == 409, path
        assert "still referenced" in response.json()["detail"]
    assert Site.objects.filter(code="CS-1").exists()


def test_unmapped_codes_are_listed_for_curation_and_read_only(admin_client_api):
    tickets_upsert(
        documents=[{"external_id": "T", "title": "t", "error_codes": ["XX-1", "XX-1"]}], source="noc"
    )
    rows = _results(admin_client_api.get(f"{API}/unmapped-codes/"))
    assert [(r["vendor"], r["raw_code"], r["occurrences"]) for r in rows] == [("", "XX-1", 2)]
    assert (
        admin_client_api.post(f"{API}/unmapped-codes/", {"raw_code": "X"}, format="json").status_code == 405
    )
    assert admin_client_api.delete(f"{API}/unmapped-codes/{rows[0]['id']}/").status_code == 405


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("code=CS-2", ["CS-2"]),
        ("region=south", ["CS-2", "HUB-1"]),
        ("tier=hub", ["HUB-1"]),
        ("", ["CS-1", "CS-2", "HUB-1"]),
    ],
)
def test_sites_filter_by_code_region_and_tier(engineer_client, query, expected):
    SiteFactory(code="CS-1", region="north")
    SiteFactory(code="CS-2", region="south")
    SiteFactory(code="HUB-1", region="south", tier=Site.Tier.HUB)
    assert [r["code"] for r in _results(engineer_client.get(f"{API}/sites/?{query}"))] == expected


def test_a_site_with_an_unknown_tier_is_400(admin_client_api):
    response = admin_client_api.post(f"{API}/sites/", {"code": "X", "tier": "moon"}, format="json")
    assert (response.status_code, list(response.json())) == (400, ["tier"])


def test_an_element_is_written_and_filtered_by_its_site_code(admin_client_api):
    SiteFactory(code="CS-1")
    NetworkElementFactory(serial="OTHER", site__code="CS-9")
    response = admin_client_api.post(
        f"{API}/elements/",
        {
            "serial": "SN-1",
            "site": "CS-1",
            "kind": "radio-unit",
            "vendor": "nordlink",
            "installed_on": "2024-05-01",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert NetworkElement.objects.get(serial="SN-1").site.code == "CS-1"
    rows = _results(admin_client_api.get(f"{API}/elements/?site=CS-1"))
    assert [(r["serial"], r["site"], r["kind"]) for r in rows] == [("SN-1", "CS-1", "radio-unit")]
    unknown = admin_client_api.post(f"{API}/elements/", {"serial": "SN-2", "site": "NOPE"}, format="json")
    assert (unknown.status_code, list(unknown.json())) == (400, ["site"])


def _repair(**overrides):
    row = {
        "rma_id": "RMA-1",
        "unit_kind": "sfp",
        "unit_serial": "SFP-9",
        "ticket_source": "noc",
        "ticket_external_id": "T-1",
        "finding": "no_fault_found",
        "received_on": "2026-01-10",
        "closed_on": "2026-01-20",
    }
    row.update(overrides)
    return row


def test_repair_records_are_upserted_and_linked_to_their_ticket(admin_client_api):
    [ticket] = tickets_upsert(documents=[{"external_id": "T-1", "title": "t"}], source="noc")
    created = admin_client_api.post(f"{API}/repair-records/", _repair(), format="json")
    assert created.status_code == 201, created.content
    assert created.json()["ticket"] == ticket.id
    again = admin_client_api.post(f"{API}/repair-records/", _repair(), format="json")
    assert (again.status_code, again.json()["id"]) == (200, created.json()["id"])
    assert RepairRecord.objects.get().content_hash


def test_a_repair_record_patch_merges_and_put_replaces(admin_client_api):
    pk = admin_client_api.post(f"{API}/repair-records/", _repair(), format="json").json()["id"]
    patched = admin_client_api.patch(
        f"{API}/repair-records/{pk}/", {"finding": "confirmed_fault"}, format="json"
    )
    assert patched.status_code == 200, patched.content
    assert (patched.json()["finding"], patched.json()["unit_serial"]) == ("confirmed_fault", "SFP-9")
    put = admin_client_api.put(f"{API}/repair-records/{pk}/", {"unit_serial": "SFP-10"}, format="json")
    assert put.status_code == 200, put.content
    assert (put.json()["rma_id"], put.json()["unit_serial"], put.json()["finding"]) == (
        "RMA-1",
        "SFP-10",
        "pending",
    )
    moved = admin_client_api.patch(f"{API}/repair-records/{pk}/", {"rma_id": "RMA-2"}, format="json")
    assert (moved.status_code, list(moved.json())) == (400, ["rma_id"])


def test_an_invalid_repair_record_is_400_with_field_errors(admin_client_api):
    response = admin_client_api.post(
        f"{API}/repair-records/", _repair(finding="lost", received_on="soon"), format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"finding", "received_on"}
    assert not RepairRecord.objects.exists()
