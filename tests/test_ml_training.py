"""A real, tiny fine-tune through train_model registers a verified champion with its baselines."""

import json
from pathlib import Path

import pytest

from ml.core import registry
from ml.models import AuditLog, ModelVersion, TrainingRun
from ml.training.fine_tuning import TrainingConfig
from ml.training.services import train_model
from repair_center.models import Ticket
from repair_center.services.tickets import tickets_upsert
from tests.factories import ResolutionCodeFactory, ml_catalogue, ml_ticket_documents

pytestmark = pytest.mark.slow


@pytest.fixture
def model_dir(settings, tmp_path):
    settings.TICKETAI_MODEL_DIR = tmp_path / "models"
    return settings.TICKETAI_MODEL_DIR


def test_a_tiny_fine_tune_becomes_the_first_champion_with_verified_artifacts(db, model_dir):
    ml_catalogue()
    tickets_upsert(documents=ml_ticket_documents(per_class=8), source="noc")
    seen = []

    run = train_model(
        config=TrainingConfig(epochs=1, max_length=32, batch_size=8, max_train_samples=16),
        progress=seen.append,
    )

    assert run.status == TrainingRun.Status.SUCCEEDED, run.reason
    version = run.model_version
    assert version.status == ModelVersion.Status.CHAMPION
    assert "first model" in version.status_reason
    assert version.label_set == ["FIX_MAINS", "REPLACE_SFP", "RESET_RADIO", "ROLLBACK_SW"]
    assert version.row_counts["train"] == 16 and version.row_counts["eval"] == 8
    assert version.split["method"] == "stratified"
    assert version.data_fingerprint == run.data_fingerprint and len(run.data_fingerprint) == 64
    assert version.hyperparameters["max_length"] == 32 and version.hyperparameters["epochs"] == 1
    assert version.code_version
    for key in ("accuracy", "macro_f1", "top3", "ece", "coverage_at_90_precision", "per_class", "confusion"):
        assert key in version.metrics
    assert set(version.baselines) == {"runbook", "tfidf_logreg"}
    # Each fix has its own first code, so the runbook is perfect here: the honest bar to beat.
    assert version.baselines["runbook"]["accuracy"] == 1.0

    assert [p["step"] for p in seen] == [1, 2] and seen[-1]["total_steps"] == 2
    assert run.progress["total_steps"] == 2 and run.finished_at is not None
    assert AuditLog.objects.get().action == AuditLog.Action.PROMOTE

    artifacts = registry.verify(version)
    assert artifacts.path.parent == model_dir
    assert {
        "model/model.safetensors",
        "model/config.json",
        "metrics.json",
        "baselines.json",
        "split.json",
    } <= set(version.artifact_sha256)
    manifest = json.loads((artifacts.path / "manifest.json").read_text())
    assert manifest["label_map"] == {str(i): label for i, label in enumerate(version.label_set)}
    assert manifest["data_fingerprint"] == run.data_fingerprint
    assert manifest["config"]["max_length"] == 32
    assert not list(Path(model_dir).glob(".staging-*"))


def test_a_class_too_rare_to_measure_is_trained_on_and_never_held_out(db, model_dir):
    from ml.serving.inference import Predictor, recommend

    ml_catalogue()
    ResolutionCodeFactory(code="RESEAT_RADIO")
    documents = ml_ticket_documents(per_class=7, classes=["REPLACE_SFP", "ROLLBACK_SW", "FIX_MAINS"])
    rare = ml_ticket_documents(per_class=3, classes=["RESET_RADIO"], prefix="RARE")
    once = ml_ticket_documents(per_class=1, classes=["RESET_RADIO"], prefix="ONCE")
    once[0]["resolution"] = "RESEAT_RADIO"  # one ticket: a typo as often as a fix
    tickets_upsert(documents=documents + rare + once, source="noc")

    run = train_model(config=TrainingConfig(epochs=1, max_length=32, batch_size=8))

    assert run.status == TrainingRun.Status.SUCCEEDED, run.reason
    assert run.quality_report["rare_labels"] == {"RESET_RADIO": 3}
    assert run.quality_report["left_out_labels"] == {"RESEAT_RADIO": 1}
    version = run.model_version
    assert version.label_set == ["FIX_MAINS", "REPLACE_SFP", "RESET_RADIO", "ROLLBACK_SW"]
    assert version.row_counts["dropped_rare_classes"] == 1
    split = json.loads((registry.verify(version).path / "split.json").read_text())
    rare_ids = set(Ticket.objects.filter(external_id__startswith="RARE-").values_list("id", flat=True))
    assert len(rare_ids) == 3 and rare_ids <= set(split["train"])
    assert not rare_ids & (set(split["validation"]) | set(split["eval"]))
    predictor = Predictor.for_version(version)
    proba = predictor.predict_proba(rare)
    assert [version.label_set[i] for i in proba.argmax(axis=1)] == ["RESET_RADIO"] * 3
    # Its recommendation says it rests on three tickets and was never measured; a common fix was.
    payload = recommend(rare[0], predictor=predictor, with_evidence=False, with_similar=False)
    top = payload["recommendations"][0]
    assert top["resolution"] == "RESET_RADIO"
    assert (top["record"]["learnt_from"], top["record"]["held_out"]) == (3, 0)
    assert (
        top["record_statement"].startswith("Rests on only 3 past tickets")
        and "not been measured" in (top["record_statement"])
    )
    assert predictor.records["REPLACE_SFP"]["learnt_from"] == 7
    assert (
        predictor.records["REPLACE_SFP"]["held_out"]
        == version.metrics["per_class"]["REPLACE_SFP"]["support"]
        > 0
    )


def test_a_retrain_on_tickets_the_champion_learnt_from_is_not_compared_on_them(db, model_dir):
    # The champion's served files learnt from all of its split, its evaluation tickets included:
    # scored on them it looks perfect, and no retrain could ever beat it.
    ml_catalogue()
    tickets_upsert(documents=ml_ticket_documents(per_class=8), source="noc")
    config = TrainingConfig(epochs=1, max_length=32, batch_size=8, max_train_samples=16)
    champion = train_model(config=config).model_version

    again = train_model(config=config, force=True).model_version

    champion.refresh_from_db()
    assert (again.status, champion.status) == ("candidate", "champion")
    assert f"the champion v{champion.pk} learnt from 8 of the 8 evaluation tickets" in again.status_reason
    assert AuditLog.objects.first().action == AuditLog.Action.KEEP_CANDIDATE
