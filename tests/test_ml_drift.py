"""The drift monitor compares the champion with freshly labelled tickets, stores a report and retrains."""

from dataclasses import replace

import pytest

from ml.models import DriftReport, ModelVersion, TrainingRun
from ml.monitoring import drift
from ml.training.fine_tuning import TrainingConfig
from ml.training.services import train_model
from repair_center.services.tickets import tickets_upsert
from tests.factories import ErrorCodeFactory, ResolutionCodeFactory, ml_catalogue, ml_ticket_documents

TINY = TrainingConfig(epochs=1, max_length=32, batch_size=8, max_train_samples=16)
# Only the label-mix and unseen-code signals: a 16-ticket model's confidence is noise.
MIX_AND_CODES = drift.Thresholds(
    label_js=0.1, unseen_code_rate=0.1, confidence_drop=2.0, accuracy_drop=2.0, window=100, min_tickets=8
)


def test_js_divergence_is_zero_for_the_same_mix_and_one_for_disjoint_mixes():
    assert drift.js_divergence({"A": 2, "B": 2}, {"A": 50, "B": 50}) == 0.0
    assert drift.js_divergence({"A": 5}, {"B": 3}) == 1.0
    assert 0.0 < drift.js_divergence({"A": 9, "B": 1}, {"A": 5, "B": 5}) < 0.2
    assert drift.js_divergence({}, {"A": 1}) == 0.0


def test_without_a_champion_the_check_records_that_it_has_nothing_to_compare(db):
    report = drift.drift_check()
    assert not report.fired and report.note == "no champion for 'resolution'; nothing to compare"
    assert DriftReport.objects.get() == report


def _new_failure_mode(count: int) -> list[dict]:
    """Tickets of a fix and a code the champion never saw (shaped like the corpus' tickets)."""
    ErrorCodeFactory(code="CELL_SETUP_TIMEOUT")
    ResolutionCodeFactory(code="APPLY_HOTFIX")
    documents = ml_ticket_documents(per_class=count, prefix="NEW", classes=["RESET_RADIO"])
    for document in documents:
        document["resolution"] = "APPLY_HOTFIX"
        document["error_codes"] = ["CELL_SETUP_TIMEOUT"]
        document["events"][-1]["code"] = "CELL_SETUP_TIMEOUT"
        document["title"] = "cells fail setup after the new release"
    return documents


@pytest.mark.slow
def test_it_fires_on_a_new_failure_mode_and_queues_one_retrain_with_the_reason(
    db, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.TICKETAI_MODEL_DIR = tmp_path / "models"
    settings.TICKETAI_DRIFT_COOLDOWN_H = 24
    ml_catalogue()
    tickets_upsert(documents=ml_ticket_documents(per_class=6), source="noc")
    champion = train_model(config=TINY).model_version
    assert champion.status == ModelVersion.Status.CHAMPION

    quiet = drift.drift_check(thresholds=MIX_AND_CODES)
    assert not quiet.fired and quiet.note.startswith(f"only 0 tickets labelled since v{champion.pk}")

    # More of the same: no drift.
    tickets_upsert(documents=ml_ticket_documents(per_class=3, prefix="SAME"), source="noc")
    same = drift.drift_check(thresholds=MIX_AND_CODES)
    assert not same.fired, same.reasons
    assert same.scores["unseen_code_rate"] == 0.0 and same.scores["label_js"] < 0.1
    assert same.window["fresh"] == 12 and same.training_run is None

    # A new failure mode with its own code and fix.
    tickets_upsert(documents=_new_failure_mode(10), source="noc")
    ModelVersion.objects.filter(pk=champion.pk).update(metrics={**champion.metrics, "accuracy": 0.9})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        fired = drift.drift_check(thresholds=replace(MIX_AND_CODES, accuracy_drop=0.1))

    assert fired.fired and fired.model_version_id == champion.pk
    text = " | ".join(fired.reasons)
    assert "label mix shifted" in text and "new labels APPLY_HOTFIX" in text
    assert "of fresh tickets carry codes never seen in training" in text and "CELL_SETUP_TIMEOUT" in text
    assert "accuracy on freshly labelled tickets fell from 0.900" in text
    assert fired.scores["unseen_codes"] == {"CELL_SETUP_TIMEOUT": 10}
    assert fired.scores["baseline_confidence"] is not None
    run = fired.training_run
    assert run is not None and len(callbacks) == 1
    assert (run.trigger, run.status) == (TrainingRun.Trigger.DRIFT, TrainingRun.Status.QUEUED)
    assert run.reason == "drift: " + "; ".join(fired.reasons)

    # Within the cooldown a second firing is recorded but queues nothing more.
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.FAILED)
    again = drift.drift_check(thresholds=MIX_AND_CODES)
    assert again.fired and again.training_run is None
    assert again.note.startswith("retrain not queued")
    assert TrainingRun.objects.filter(trigger=TrainingRun.Trigger.DRIFT).count() == 1
