"""Placement per site through the API, the admin and an edge agent's heartbeat, against PostgreSQL."""

import json

import pytest
from django.core.management import call_command
from django.test import Client
from drf_spectacular.drainage import GENERATOR_STATS
from rest_framework.test import APIClient

from edge_agent.agent import capabilities
from ml.fleet import edge, placement_service
from ml.fleet.placement import Assumptions, compute_ratio
from ml.models import EdgeBundle, ModelVersion, SiteComputeProfile
from repair_center.models import Site
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def cell_site():
    return SiteFactory(code="CS-COAST-001", tier=Site.Tier.CELL_SITE)


def _get(client, site):
    response = client.get(f"/api/v1/sites/{site.pk}/placement/")
    assert response.status_code == 200, response.content
    return response.json()


def test_any_role_reads_a_sites_placement(engineer_client, cell_site):
    body = _get(engineer_client, cell_site)
    assert body["site"] == {"id": cell_site.pk, "code": "CS-COAST-001", "tier": "cell-site"}
    # A cell site's defaults (20 Mbps, 60 ms) and a lax 1 s budget: central serves it.
    assert body["profile"]["uplink_mbps"] == 20.0
    assert body["decision"]["pattern"] == 1
    assert body["decision"]["artefact"] == "teacher_fp32"
    assert set(body["decision"]["rejected"]) == {"2", "3", "4"}
    assert len(body["decision"]["candidates"]) == 3
    assert body["decided_at"] is not None
    assert "inputs_key" not in body["decision"]


def test_anonymous_callers_are_refused_and_unknown_sites_are_404(anon_client, engineer_client):
    site = SiteFactory()
    assert anon_client.get(f"/api/v1/sites/{site.pk}/placement/").status_code == 401
    assert engineer_client.get("/api/v1/sites/999999/placement/").status_code == 404


def test_a_stored_decision_is_reused_until_asked_to_recompute(engineer_client, cell_site):
    first = _get(engineer_client, cell_site)["decided_at"]
    assert _get(engineer_client, cell_site)["decided_at"] == first
    response = engineer_client.get(f"/api/v1/sites/{cell_site.pk}/placement/?recompute=true")
    assert response.json()["decided_at"] > first


def test_an_operators_tighter_budget_moves_inference_to_the_edge(engineer_client, cell_site):
    placement_service.site_profile_update(cell_site, latency_budget_ms=10, memory_mb=8192, cpu_cores=4)
    decision = _get(engineer_client, cell_site)["decision"]
    assert decision["pattern"] in (2, 4)
    assert decision["predicted_edge_latency_ms"] <= 10 < decision["central_round_trip_ms"]


def test_a_capabilities_report_updates_the_profile_and_decides_again(cell_site):
    placement_service.site_profile_update(cell_site, latency_budget_ms=30)
    before = placement_service.site_placement(cell_site)
    after = placement_service.site_capabilities_report(
        cell_site,
        {
            "cpu_cores": 1,
            "cpu_mhz": 1200,
            "memory_mb": 512,
            "accelerator": "",
            "latency_budget_ms": 99999,  # policy: an agent cannot set it
            "rtt_ms": "fast",  # malformed: ignored
            "platform": "Linux-6.1-aarch64",
        },
    )
    profile = SiteComputeProfile.objects.get(site=cell_site)
    assert (profile.cpu_cores, profile.cpu_ghz, profile.memory_mb) == (1, 1.2, 512)
    assert profile.latency_budget_ms == 30
    assert profile.rtt_ms == 60.0
    assert profile.reported_at is not None
    assert after["decided_at"] > before["decided_at"]
    assert after["decision"]["pattern"] == 4  # too little memory to train, enough for a head
    assert "full training needs" in after["decision"]["rejected"]["2"]


def test_an_agents_heartbeat_with_new_capabilities_returns_the_new_placement(cell_site):
    placement_service.site_profile_update(cell_site, latency_budget_ms=30)
    _, raw = edge.enrolment_token_issue(site=cell_site)
    agent_client = APIClient()
    enrolled = agent_client.post(
        "/api/v1/edge/enrol/",
        {"token": raw, "name": "a1", "capabilities": {"cpu_cores": 8, "memory_mb": 16384}},
        format="json",
    )
    assert enrolled.status_code in (200, 201), enrolled.content
    agent_client.credentials(HTTP_AUTHORIZATION=f"Agent {enrolled.json()['agent_token']}")
    beat = agent_client.post(
        "/api/v1/edge/heartbeat/",
        {
            "capabilities": {"cpu_cores": 1, "cpu_ghz": 1.2, "memory_mb": 512},
            "backlog": 0,
            "model_version": "",
        },
        format="json",
    )
    assert beat.status_code == 200, beat.content
    assert beat.json()["placement"]["decision"]["pattern"] == 4
    assert SiteComputeProfile.objects.get(site=cell_site).memory_mb == 512


def test_a_champion_and_an_edge_bundle_replace_the_default_candidates(engineer_client, cell_site, tmp_path):
    champion = ModelVersion.objects.create(
        label_set_key="resolution",
        base_model="minilm",
        data_fingerprint="f" * 64,
        artifact_path=str(tmp_path),
        format_version=1,
        serialization_version=1,
        status=ModelVersion.Status.CHAMPION,
        metrics={"accuracy": 0.8},
    )
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.safetensors").write_bytes(b"w" * 5000)
    EdgeBundle.objects.create(
        model_version=champion,
        version="t1-L2H192-x",
        path=str(tmp_path / "b.zip"),
        sha256="0" * 64,
        bytes=4_000_000,
        metrics={"accuracy": 0.79, "onnx_int8_bytes": 3_500_000, "teacher": {"accuracy": 0.81}},
    )
    candidates = {
        c["name"]: c
        for c in engineer_client.get(f"/api/v1/sites/{cell_site.pk}/placement/?recompute=1").json()[
            "decision"
        ]["candidates"]
    }
    assert candidates["teacher_fp32"]["accuracy"] == 0.81  # the bundle's copy, on the same eval set
    assert candidates["teacher_fp32"]["size_bytes"] == 5000
    assert candidates["teacher_fp32"]["version"] == f"v{champion.pk}"
    assert candidates["student_int8"]["accuracy"] == 0.79
    assert candidates["student_int8"]["size_bytes"] == 3_500_000
    assert candidates["student_int8"]["version"] == "t1-L2H192-x"
    assert candidates["student_int8"]["source"] == "registry"


def test_a_new_champion_changes_the_inputs_and_the_decision_is_taken_again(
    engineer_client, cell_site, tmp_path
):
    first = _get(engineer_client, cell_site)["decided_at"]
    ModelVersion.objects.create(
        label_set_key="resolution",
        base_model="minilm",
        data_fingerprint="e" * 64,
        artifact_path=str(tmp_path),
        format_version=1,
        serialization_version=1,
        status=ModelVersion.Status.CHAMPION,
        metrics={"accuracy": 0.7},
    )
    body = _get(engineer_client, cell_site)
    assert body["decided_at"] > first
    assert body["decision"]["candidates"][0]["accuracy"] == 0.7


def test_what_if_answers_for_a_changed_profile_and_stores_nothing(engineer_client, cell_site):
    response = engineer_client.post(
        "/api/v1/placement/what-if/",
        {"site": cell_site.pk, "profile": {"latency_budget_ms": 30, "memory_mb": 512, "cpu_cores": 1}},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["profile"]["uplink_mbps"] == 20.0  # the site's (tier default), not overridden
    assert body["profile"]["memory_mb"] == 512
    assert body["decision"]["pattern"] == 4
    assert not SiteComputeProfile.objects.exists()


def test_what_if_takes_candidate_models_of_its_own(engineer_client):
    tiny = {
        "name": "student_int4",
        "role": "student",
        "precision": "int8",
        "size_bytes": 1_000_000,
        "latency_ms": 0.1,
        "accuracy": 0.95,
        "serve_memory_mb": 40,
        "full_train_examples_per_s": 300,
        "full_train_memory_mb": 300,
        "head_train_examples_per_s": 5000,
    }
    response = engineer_client.post(
        "/api/v1/placement/what-if/",
        {"profile": {"latency_budget_ms": 1, "data_must_stay_local": True}, "candidates": [tiny]},
        format="json",
    )
    assert response.status_code == 200, response.content
    decision = response.json()["decision"]
    assert (decision["pattern"], decision["artefact"]) == (2, "student_int4")
    assert decision["candidates"][0]["source"] == "what-if"


def test_what_if_rejects_bad_input_with_field_errors(engineer_client, anon_client):
    response = engineer_client.post(
        "/api/v1/placement/what-if/",
        {"profile": {"uplink_mbps": -1, "cpu_cores": "many"}, "site": 999999},
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"profile", "site"}
    assert set(errors["profile"]) == {"uplink_mbps", "cpu_cores"}
    assert anon_client.post("/api/v1/placement/what-if/", {}, format="json").status_code == 401


def test_the_admin_shows_the_reasons_and_recomputes(admin_user, cell_site):
    placement_service.site_placement(cell_site)
    profile = SiteComputeProfile.objects.get(site=cell_site)
    client = Client()
    client.force_login(admin_user)
    page = client.get(f"/admin/ml/sitecomputeprofile/{profile.pk}/change/")
    assert page.status_code == 200
    assert b"central meets the 1000 ms latency budget" in page.content
    assert b"why not the other patterns" in page.content.lower()
    SiteComputeProfile.objects.filter(pk=profile.pk).update(latency_budget_ms=5, memory_mb=8192)
    response = client.post(
        "/admin/ml/sitecomputeprofile/",
        {"action": "recompute", "_selected_action": [profile.pk]},
        follow=True,
    )
    assert response.status_code == 200
    profile.refresh_from_db()
    assert profile.decision["pattern"] in (2, 4)


def test_the_schema_documents_both_routes(tmp_path):
    GENERATOR_STATS.reset()
    out = tmp_path / "schema.json"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", str(out)
    )
    paths = json.loads(out.read_text())["paths"]
    assert "get" in paths["/api/v1/sites/{id}/placement/"]
    assert "post" in paths["/api/v1/placement/what-if/"]


def test_an_agent_reports_no_accelerator_since_it_serves_on_the_cpu(cell_site):
    # The stock onnxruntime wheel lists AzureExecutionProvider beside the CPU's: once reported as
    # the site's accelerator, it made every site five times faster than its cores.
    reported = capabilities()
    assert reported["accelerator"] == ""
    placement_service.site_capabilities_report(cell_site, {**reported, "cpu_cores": 2, "cpu_ghz": 2.6})
    profile = SiteComputeProfile.objects.get(site=cell_site)
    assert profile.accelerator == ""
    assert compute_ratio(placement_service.profile_of(profile), Assumptions()) == 1.0


@pytest.mark.parametrize("provider", ["AzureExecutionProvider", "CPUExecutionProvider", " "])
def test_a_provider_that_is_no_accelerator_is_not_taken_for_one(cell_site, provider):
    placement_service.site_profile_update(cell_site, accelerator="gpu")
    placement_service.site_capabilities_report(
        cell_site, {"accelerator": provider, "cpu_cores": 2, "cpu_ghz": 2.6}
    )
    assert SiteComputeProfile.objects.get(site=cell_site).accelerator == ""
    fields = placement_service.capabilities_to_fields({"accelerator": "CUDAExecutionProvider"})
    assert fields == {"accelerator": "CUDAExecutionProvider"}
