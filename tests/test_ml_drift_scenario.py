"""The simulator's --drift scenario end to end: a new release brings a new failure mode, the drift
monitor fires, a retrain runs, and the new version fixes the new failure mode where the old one cannot."""

import json
from datetime import date

import pytest
from django.core.management import call_command

from ml.models import DriftReport, ModelVersion, TrainingRun
from ml.monitoring import drift
from ml.serving.inference import Predictor, documents_contexts
from ml.training.fine_tuning import TrainingConfig
from ml.training.services import train_model
from repair_center.ingestion.catalogue import import_catalogue_dir
from repair_center.services.tickets import tickets_upsert
from tests.factories import tiny_encoder_dir

pytestmark = pytest.mark.slow
DRIFT = date(2025, 2, 1)
NEW_CODE, NEW_FIX = "CELL_SETUP_TIMEOUT", "APPLY_HOTFIX"  # repair_center.simulator.catalogue


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> TrainingConfig:
    """The real training path on a tiny random encoder: the scenario is about drift and retraining,
    and the served mix learns a new failure mode from its codes whatever the encoder."""
    base = tiny_encoder_dir(tmp_path_factory.mktemp("tiny-encoder"))
    return TrainingConfig(base_model=str(base), epochs=2, max_length=32, batch_size=16, learning_rate=3e-3)


def _hotfix_recall(version: ModelVersion, documents: list[dict]) -> float:
    predictor = Predictor.for_version(version)
    proba = predictor.predict_proba(documents, documents_contexts(documents))
    predicted = [predictor.labels[i] for i in proba.argmax(axis=1)]
    return sum(p == NEW_FIX for p in predicted) / len(documents)


def test_after_drift_the_monitor_fires_and_the_retrained_model_handles_the_new_failure_mode(
    db, settings, tmp_path, django_capture_on_commit_callbacks, small
):
    settings.TICKETAI_MODEL_DIR = tmp_path / "models"
    settings.TICKETAI_DRIFT_MIN_TICKETS = 50
    out = tmp_path / "sim"
    call_command("simulate", tickets=1000, seed=5, days=150, drift=DRIFT.isoformat(), out=str(out))
    import_catalogue_dir(out)
    documents = [json.loads(line) for line in (out / "tickets.jsonl").read_text().splitlines()]
    before = [d for d in documents if d["opened_at"] < DRIFT.isoformat()]
    after = [d for d in documents if d["opened_at"] >= DRIFT.isoformat()]
    arrived, held_out = after[: len(after) * 2 // 3], after[len(after) * 2 // 3 :]
    assert not any(d.get("resolution") == NEW_FIX for d in before)

    tickets_upsert(documents=before, source="sim")
    old = train_model(config=small).model_version
    assert old.status == ModelVersion.Status.CHAMPION and NEW_FIX not in old.label_set

    tickets_upsert(documents=arrived, source="sim")
    with django_capture_on_commit_callbacks(execute=False):
        report = drift.drift_check()

    assert report.fired, (report.note, report.scores)
    assert any(NEW_CODE in reason for reason in report.reasons), report.reasons
    run = report.training_run
    assert run.trigger == TrainingRun.Trigger.DRIFT and run.reason.startswith("drift: ")

    # What the training worker does with the queued run (at a test-sized scale).
    TrainingRun.objects.filter(pk=run.pk).update(config={**run.config, "training": small.to_json()})
    run = train_model(run=TrainingRun.objects.get(pk=run.pk))
    assert run.status == TrainingRun.Status.SUCCEEDED, run.reason
    new = run.model_version
    assert NEW_FIX in new.label_set and new.parent_id == old.pk

    hotfix_cases = [d for d in held_out if d.get("resolution") == NEW_FIX]
    assert len(hotfix_cases) >= 5
    old_recall, new_recall = _hotfix_recall(old, hotfix_cases), _hotfix_recall(new, hotfix_cases)
    assert old_recall == 0.0
    assert new_recall >= 0.5, (new_recall, new.metrics.get("served"), new.status_reason)
    assert DriftReport.objects.filter(fired=True).count() == 1
