"""A candidate runs in shadow beside the champion on live tickets; agreement and accuracy are shown."""

import pytest

from ml.models import ModelVersion, ShadowDeployment, ShadowPrediction
from ml.monitoring import shadow
from ml.training.fine_tuning import TrainingConfig
from ml.training.services import train_model
from repair_center.models import Ticket
from repair_center.services.history import Actor
from repair_center.services.resolution import ticket_resolve
from repair_center.services.resolution_merge import merge_resolutions
from repair_center.services.tickets import tickets_upsert
from tests.factories import ModelVersionFactory, ResolutionCodeFactory, ml_catalogue, ml_ticket_documents

pytestmark = pytest.mark.slow
TINY = TrainingConfig(epochs=1, max_length=32, batch_size=8, max_train_samples=16)


def _twin(version: ModelVersion) -> ModelVersion:
    """A candidate with the champion's very files: it must agree with it on every ticket."""
    fields = {
        f.name: getattr(version, f.name)
        for f in ModelVersion._meta.fields
        if f.name not in ("id", "status", "status_reason", "created_at", "promoted_at", "parent")
    }
    return ModelVersionFactory(**fields, parent=version, status=ModelVersion.Status.CANDIDATE)


def _open(documents: list[dict]) -> list[dict]:
    for document in documents:
        document.update(resolution=None, status="acknowledged", resolved_at=None)
    return documents


def test_a_candidate_in_shadow_scores_live_tickets_beside_the_champion(
    db, settings, tmp_path, admin_client_api, engineer_client
):
    settings.TICKETAI_MODEL_DIR = tmp_path / "models"
    ml_catalogue()
    tickets_upsert(documents=ml_ticket_documents(per_class=6), source="noc")
    champion = train_model(config=TINY).model_version
    candidate = _twin(champion)

    assert engineer_client.get(f"/api/v1/models/{candidate.pk}/shadow/").json()["shadow"] is None
    assert engineer_client.post(f"/api/v1/models/{candidate.pk}/shadow/").status_code == 403
    refused = admin_client_api.post(f"/api/v1/models/{champion.pk}/shadow/")
    assert refused.status_code == 400 and "only a candidate runs in shadow" in str(refused.json())
    started = admin_client_api.post(f"/api/v1/models/{candidate.pk}/shadow/")
    assert started.status_code == 201 and started.json()["shadow"]["active"] is True

    deployment = candidate.shadow_deployment
    assert shadow.shadow_score(deployment) == 0  # tickets from before the shadow started are not live

    tickets_upsert(documents=_open(ml_ticket_documents(per_class=2, prefix="LIVE")), source="noc")
    assert shadow.shadow_score_active() == {candidate.pk: 8}
    assert shadow.shadow_score(deployment) == 0  # each revision is scored once
    predictions = ShadowPrediction.objects.filter(deployment=deployment)
    assert {p.champion_version_id for p in predictions} == {champion.pk}
    assert all(p.agrees for p in predictions)

    summary = engineer_client.get(f"/api/v1/models/{candidate.pk}/shadow/").json()["shadow"]
    assert (summary["tickets"], summary["agreement"], summary["confirmed"]) == (8, 1.0, 0)
    assert summary["candidate_accuracy"] is None

    # Engineers resolve two tickets: their new revisions are scored and judged against the fix.
    live = Ticket.objects.filter(external_id__startswith="LIVE-").order_by("id")
    for ticket in live[:2]:
        resolution = ticket.external_id.split("-")[1]  # external ids are LIVE-<FIX>-<n>
        ticket_resolve(ticket_id=ticket.pk, resolution_code=resolution, resolved_by="eng")
    assert shadow.shadow_score(deployment) == 2

    summary = engineer_client.get(f"/api/v1/models/{candidate.pk}/shadow/").json()["shadow"]
    assert (summary["tickets"], summary["confirmed"]) == (8, 2)
    assert summary["candidate_accuracy"] == summary["champion_accuracy"]  # the same files, the same answers
    assert summary["candidate_accuracy"] in (0.0, 0.5, 1.0)

    stopped = admin_client_api.delete(f"/api/v1/models/{candidate.pk}/shadow/")
    assert stopped.status_code == 200 and stopped.json()["shadow"]["active"] is False
    tickets_upsert(documents=_open(ml_ticket_documents(per_class=1, prefix="LATE")), source="noc")
    assert shadow.shadow_score_active() == {}


@pytest.mark.django_db
def test_after_a_merge_an_answer_of_the_old_code_counts_as_the_code_kept():
    ResolutionCodeFactory(code="Reseat card")
    ResolutionCodeFactory(code="Re-seat card")
    tickets_upsert(
        documents=[
            {"external_id": f"T-{n}", "title": "card", "status": "closed", "resolution": fix}
            for n, fix in enumerate(["Re-seat card", "Reseat card"])
        ],
        source="noc",
    )
    deployment = ShadowDeployment.objects.create(model_version=ModelVersionFactory())
    for ticket in Ticket.objects.all():  # both models answered the old code, before the merge
        ShadowPrediction.objects.create(
            deployment=deployment,
            ticket=ticket,
            ticket_revision=ticket.revision,
            candidate_resolution="Re-seat card",
            candidate_confidence=0.9,
            champion_resolution="Re-seat card",
            champion_confidence=0.8,
        )
    merge_resolutions(["Re-seat card"], into="Reseat card", actor=Actor("admin"))

    summary = shadow.shadow_summarise(deployment)

    assert (summary["confirmed"], summary["candidate_accuracy"], summary["champion_accuracy"]) == (
        2,
        1.0,
        1.0,
    )
