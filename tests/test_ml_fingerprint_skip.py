"""Retraining is skipped, with the reason recorded, when the training data has not changed."""

from ml.core.dataset import build_dataset, fingerprint
from ml.models import TrainingRun
from ml.training.quality import GateConfig
from ml.training.services import train_model
from repair_center.services.tickets import tickets_upsert
from tests.factories import ModelVersionFactory, TrainingRunFactory, ml_catalogue, ml_ticket_documents

# A gate nothing passes stops a run that was not skipped before any compute is spent.
STOP_AT_GATE = GateConfig(min_examples=10**6)


def _previous_success(data_fingerprint: str) -> TrainingRun:
    version = ModelVersionFactory(base_model="tiny", data_fingerprint=data_fingerprint)
    return TrainingRunFactory(
        status=TrainingRun.Status.SUCCEEDED, data_fingerprint=data_fingerprint, model_version=version
    )


def test_unchanged_data_is_skipped_with_the_reason(db):
    ml_catalogue()
    tickets_upsert(documents=ml_ticket_documents(per_class=5), source="noc")
    previous = _previous_success(fingerprint(build_dataset()))

    run = train_model(trigger=TrainingRun.Trigger.SCHEDULE, gate=STOP_AT_GATE)

    assert run.status == TrainingRun.Status.SKIPPED
    assert run.reason.startswith(f"training data unchanged since run #{previous.pk} (fingerprint ")
    assert run.data_fingerprint == previous.data_fingerprint
    assert run.finished_at is not None


def test_changed_data_or_force_goes_on_to_train(db):
    ml_catalogue()
    tickets_upsert(documents=ml_ticket_documents(per_class=5), source="noc")
    _previous_success(fingerprint(build_dataset()))

    forced = train_model(force=True, gate=STOP_AT_GATE)
    assert forced.status == TrainingRun.Status.FAILED and "Data-quality gate FAILED" in forced.reason

    tickets_upsert(documents=ml_ticket_documents(per_class=1, prefix="NEW"), source="noc")
    changed = train_model(trigger=TrainingRun.Trigger.NEW_DATA, gate=STOP_AT_GATE)
    assert changed.status == TrainingRun.Status.FAILED and "Data-quality gate FAILED" in changed.reason


def test_another_label_set_does_not_count_as_the_last_success(db):
    ml_catalogue()
    tickets_upsert(documents=ml_ticket_documents(per_class=5), source="noc")
    previous = _previous_success(fingerprint(build_dataset()))
    TrainingRun.objects.filter(pk=previous.pk).update(label_set_key="resolution:other")

    run = train_model(gate=STOP_AT_GATE)
    assert run.status == TrainingRun.Status.FAILED
