"""The central edge API: one-time enrolment, agent tokens scoped to their site, heartbeats with
assignments, conditional bundle downloads, exactly-once prediction ingest, reports, pattern-3 ETL,
and the fleet summary joined to the final resolution at read time."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from ml.core import bundles, signing
from ml.fleet import edge
from ml.models import EdgeAgent, EdgePrediction, EdgeReport, EnrolmentToken, ModelVersion
from ml.models.recommendations import Recommendation
from repair_center.models import Ticket
from repair_center.services.history import Actor
from repair_center.services.resolution_merge import merge_resolutions
from repair_center.services.tickets import tickets_upsert
from tests.edge_fixtures import build_test_bundle, signing_key, simulated_documents  # noqa: F401
from tests.factories import ResolutionCodeFactory, SiteFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("signing_key")]


def _enrol(site, name="agent-1") -> tuple[dict, APIClient]:
    _, raw = edge.enrolment_token_issue(site=site)
    body = {"token": raw, "name": name, "capabilities": {"cpu_cores": 2}}
    response = APIClient().post("/api/v1/edge/enrol/", body, format="json")
    assert response.status_code == 201, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {response.json()['agent_token']}")
    return response.json(), client


def _prediction(key: str, external_id: str, resolution="REPLACE_SFP", **extra) -> dict:
    return {
        "idempotency_key": key,
        "source": "sim",
        "external_id": external_id,
        "model_version": "b1",
        "resolution": resolution,
        "confidence": 0.8,
        "latency_ms": 1.5,
        "input_fingerprint": "f" * 64,
        "predicted_at": datetime.now(UTC).isoformat(),
        **extra,
    }


def _champion() -> ModelVersion:
    """A champion row for recommendations to point at (no files: nothing loads it)."""
    return ModelVersion.objects.create(
        base_model="m",
        data_fingerprint="f",
        artifact_path="/nowhere",
        format_version=1,
        serialization_version=1,
        status=ModelVersion.Status.CHAMPION,
    )


def test_an_agent_enrols_once_and_gets_its_site_and_the_public_key():
    site = SiteFactory(code="CS-COAST-001", climate="coastal")
    _, raw = edge.enrolment_token_issue(site=site)
    answer = APIClient().post("/api/v1/edge/enrol/", {"token": raw, "name": "a"}, format="json").json()
    assert answer["site"]["code"] == "CS-COAST-001" and answer["site"]["climate"] == "coastal"
    assert answer["public_key_pem"] == signing.public_key_pem()
    assert EdgeAgent.objects.get(pk=answer["agent_id"]).token_hash != answer["agent_token"]
    again = APIClient().post("/api/v1/edge/enrol/", {"token": raw, "name": "b"}, format="json")
    assert again.status_code == 403
    assert EdgeAgent.objects.count() == 1


def test_an_expired_enrolment_token_is_refused():
    token, raw = edge.enrolment_token_issue(site=SiteFactory())
    EnrolmentToken.objects.filter(pk=token.pk).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    response = APIClient().post("/api/v1/edge/enrol/", {"token": raw, "name": "a"}, format="json")
    assert response.status_code == 403


def test_edge_routes_need_an_agent_token():
    response = APIClient().post("/api/v1/edge/heartbeat/", {}, format="json")
    assert response.status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Agent not-a-token")
    assert client.post("/api/v1/edge/heartbeat/", {}, format="json").status_code == 401


def test_a_heartbeat_records_backlog_and_version_and_assigns_the_newest_bundle_for_the_site(tmp_path):
    site = SiteFactory(tier="cell-site")
    answer, client = _enrol(site)
    assert client.post("/api/v1/edge/heartbeat/", {"backlog": 3}, format="json").json()["assignment"] is None
    bundles.bundle_register(path=build_test_bundle(tmp_path / "g.zip", version="global-1"))
    bundles.bundle_register(path=build_test_bundle(tmp_path / "s.zip", version="site-1"), intended_site=site)
    bundles.bundle_register(
        path=build_test_bundle(tmp_path / "o.zip", version="other-1"), intended_site=SiteFactory()
    )
    reply = client.post("/api/v1/edge/heartbeat/", {"backlog": 7, "model_version": "global-1"}, format="json")
    assert reply.status_code == 200
    assert reply.json()["assignment"]["bundle_version"] == "site-1"
    agent = EdgeAgent.objects.get(pk=answer["agent_id"])
    assert (agent.backlog, agent.model_version) == (7, "global-1") and agent.last_seen is not None


def test_a_bundle_download_is_conditional_and_scoped_to_the_site(tmp_path):
    site = SiteFactory()
    _, client = _enrol(site)
    mine = bundles.bundle_register(
        path=build_test_bundle(tmp_path / "m.zip", version="m1"), intended_site=site
    )
    bundles.bundle_register(
        path=build_test_bundle(tmp_path / "o.zip", version="o1"), intended_site=SiteFactory()
    )
    response = client.get("/api/v1/edge/bundles/m1/")
    assert response.status_code == 200 and response["ETag"] == f'"{mine.sha256}"'
    assert b"".join(response.streaming_content) == (tmp_path / "m.zip").read_bytes()
    assert client.get("/api/v1/edge/bundles/m1/", HTTP_IF_NONE_MATCH=f'"{mine.sha256}"').status_code == 304
    assert client.get("/api/v1/edge/bundles/o1/").status_code == 403
    assert client.get("/api/v1/edge/bundles/missing/").status_code == 404


def test_predictions_are_stored_exactly_once_whatever_is_resent():
    site = SiteFactory()
    _, client = _enrol(site)
    batch = {"predictions": [_prediction("k1", "T-1"), _prediction("k2", "T-2")]}
    first = client.post("/api/v1/edge/predictions/", batch, format="json")
    assert first.json() == {"accepted": 2, "duplicates": 0, "rejected": 0, "errors": {}}
    batch["predictions"].append(_prediction("k3", "T-3"))
    second = client.post("/api/v1/edge/predictions/", batch, format="json")
    assert second.json() == {"accepted": 1, "duplicates": 2, "rejected": 0, "errors": {}}
    assert sorted(EdgePrediction.objects.values_list("idempotency_key", flat=True)) == ["k1", "k2", "k3"]
    assert set(EdgePrediction.objects.values_list("site_id", flat=True)) == {site.pk}


def test_an_agent_cannot_post_predictions_for_another_site():
    SiteFactory(code="OTHER")
    _, client = _enrol(SiteFactory(code="MINE"))
    response = client.post(
        "/api/v1/edge/predictions/", {"predictions": [_prediction("k1", "T-1", site="OTHER")]}, format="json"
    )
    assert response.status_code == 403
    assert not EdgePrediction.objects.exists()


def test_a_malformed_prediction_is_refused_with_its_index_and_the_rest_stored():
    _, client = _enrol(SiteFactory())
    bad = _prediction("k2", "T-2")
    del bad["resolution"]
    response = client.post(
        "/api/v1/edge/predictions/", {"predictions": [_prediction("k1", "T-1"), bad]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["rejected"] == 1 and "resolution" in response.json()["errors"]["1"][0]
    assert list(EdgePrediction.objects.values_list("idempotency_key", flat=True)) == ["k1"]


def test_an_agent_reports_metrics_only():
    answer, client = _enrol(SiteFactory())
    response = client.post(
        "/api/v1/edge/reports/", {"kind": "head_retrained", "metrics": {"local_accuracy": 0.9}}, format="json"
    )
    assert response.status_code == 201
    report = EdgeReport.objects.get()
    assert (report.agent_id, report.kind, report.metrics) == (
        answer["agent_id"],
        "head_retrained",
        {"local_accuracy": 0.9},
    )


def test_the_etl_endpoint_returns_a_transform_and_the_reduced_training_data():
    _, client = _enrol(SiteFactory())
    documents = simulated_documents(30)
    response = client.post("/api/v1/edge/etl/", {"tickets": documents, "dims": 8}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["data"]) == 30 and len(body["data"][0]) == 8
    assert body["transform"]["kind"] == "tfidf-svd" and len(body["transform"]["components"]) == 8
    assert body["labels"] == [d.get("resolution") for d in documents]


def test_an_etl_call_whose_answer_would_be_too_large_is_refused_before_fitting():
    _, client = _enrol(SiteFactory())
    documents = [{"title": f"link down {n}"} for n in range(2600)]  # x 512 dims: over 20,000 x 64
    response = client.post("/api/v1/edge/etl/", {"tickets": documents, "dims": 512}, format="json")
    assert response.status_code == 400, response.content[:300]
    assert "tickets x dims" in response.json()["dims"][0]
    # The same tickets at the agents' 64 dimensions are fitted.
    assert (
        client.post("/api/v1/edge/etl/", {"tickets": documents, "dims": 64}, format="json").status_code == 200
    )


def test_the_fleet_summary_joins_predictions_to_the_final_resolution_per_site_and_version():
    site = SiteFactory(code="CS-COAST-001")
    ResolutionCodeFactory(code="REPLACE_SFP")
    ResolutionCodeFactory(code="CLEAN_FIBRE")
    _, client = _enrol(site)
    client.post(
        "/api/v1/edge/predictions/",
        {"predictions": [_prediction("k1", "T-1"), _prediction("k2", "T-2"), _prediction("k3", "T-3")]},
        format="json",
    )
    tickets_upsert(
        source="sim",
        documents=[
            {"external_id": "T-1", "title": "a", "site": "CS-COAST-001", "resolution": "REPLACE_SFP"},
            {"external_id": "T-2", "title": "b", "site": "CS-COAST-001", "resolution": "CLEAN_FIBRE"},
            {"external_id": "T-3", "title": "c", "site": "CS-COAST-001"},
        ],
    )
    champion = _champion()
    for external_id, said in (("T-1", "REPLACE_SFP"), ("T-3", "CLEAN_FIBRE")):
        Recommendation.objects.create(
            ticket=Ticket.objects.get(external_id=external_id),
            ticket_revision=1,
            model_version=champion,
            top_resolution=said,
        )
    client.post("/api/v1/edge/heartbeat/", {"backlog": 4, "model_version": "b1"}, format="json")
    [row] = edge.fleet_summary()
    assert row["agreement"] == 0.5  # the edge said REPLACE_SFP for all three
    assert (row["site"], row["model_version"], row["predictions"], row["closed"]) == (
        "CS-COAST-001",
        "b1",
        3,
        2,
    )
    assert row["accuracy"] == 0.5 and row["backlog"] == 4 and row["agents"] == 1
    assert row["latency_ms"] == pytest.approx(1.5) and row["last_seen"] is not None


def test_after_a_merge_a_prediction_of_the_old_code_counts_as_the_code_kept():
    site = SiteFactory(code="CS-COAST-001")
    ResolutionCodeFactory(code="Reseat card")
    ResolutionCodeFactory(code="Re-seat card")
    _, client = _enrol(site)
    tickets_upsert(
        source="sim",
        documents=[
            {"external_id": f"T-{n}", "title": "card", "site": "CS-COAST-001", "resolution": fix}
            for n, fix in enumerate(["Re-seat card", "Reseat card", "Reseat card"])
        ],
    )
    champion = _champion()
    # Central said the old code for two tickets before the merge, and the code kept for the third.
    for ticket in Ticket.objects.all():
        said = "Reseat card" if ticket.external_id == "T-2" else "Re-seat card"
        Recommendation.objects.create(
            ticket=ticket, ticket_revision=1, model_version=champion, top_resolution=said
        )
    predictions = [_prediction(f"k{n}", f"T-{n}", resolution="Re-seat card") for n in range(2)]
    client.post("/api/v1/edge/predictions/", {"predictions": predictions}, format="json")
    merge_resolutions(["Re-seat card"], into="Reseat card", actor=Actor("admin"))
    # An agent still on a bundle trained before the merge answers the old code.
    client.post(
        "/api/v1/edge/predictions/",
        {"predictions": [_prediction("k2", "T-2", resolution="Re-seat card")]},
        format="json",
    )

    [row] = edge.fleet_summary()

    assert (row["predictions"], row["closed"], row["accuracy"], row["agreement"]) == (3, 3, 1.0, 1.0)
    assert set(EdgePrediction.objects.values_list("resolution", flat=True)) == {"Re-seat card"}  # as said


def test_the_enrolment_token_command_prints_a_token_that_enrols_once():
    SiteFactory(code="CS-HOT-004")
    out = io.StringIO()
    call_command("create_enrolment_token", "CS-HOT-004", "--hours", "2", stdout=out, stderr=io.StringIO())
    raw = out.getvalue().strip()
    assert raw.startswith("enr_") and not EnrolmentToken.objects.filter(token_hash=raw).exists()
    response = APIClient().post("/api/v1/edge/enrol/", {"token": raw, "name": "a"}, format="json")
    assert response.status_code == 201 and response.json()["site"]["code"] == "CS-HOT-004"
    with pytest.raises(CommandError, match="unknown site code"):
        call_command("create_enrolment_token", "NOPE", stdout=io.StringIO(), stderr=io.StringIO())
