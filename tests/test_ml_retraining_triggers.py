"""Retraining is triggered by the admin-editable schedule and by new labels, each run with its reason."""

from datetime import timedelta

from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from ml.core.dataset import build_dataset, fingerprint
from ml.models import TrainingRun
from ml.monitoring import retraining
from ml.training.quality import GateConfig
from ml.training.services import train_model
from repair_center.services.tickets import tickets_upsert
from tests.factories import ModelVersionFactory, TrainingRunFactory, ml_catalogue, ml_ticket_documents
from ticketai.celery import app


def _succeeded(data_fingerprint: str = "f" * 64, *, days_ago: int = 0) -> TrainingRun:
    version = ModelVersionFactory(base_model="tiny", data_fingerprint=data_fingerprint)
    run = TrainingRunFactory(
        status=TrainingRun.Status.SUCCEEDED, data_fingerprint=data_fingerprint, model_version=version
    )
    TrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return run


def test_the_default_schedule_is_seeded_once_with_registered_tasks(db):
    retraining.schedule_seed()
    assert retraining.schedule_seed() == 0  # idempotent: an admin's edits are never overwritten

    tasks = {t.name: t for t in PeriodicTask.objects.filter(name__startswith="ml: ")}
    nightly = tasks["ml: scheduled retraining"]
    assert nightly.task == "ml.tasks.scheduled_retrain" and nightly.enabled
    assert (nightly.crontab.minute, nightly.crontab.hour) == ("0", "2")
    assert tasks["ml: drift check"].task == "ml.tasks.check_drift"
    assert tasks["ml: drift check"].crontab.hour == "*"
    assert tasks["ml: retrain on new labels"].task == "ml.tasks.maybe_retrain_on_new_data"
    app.loader.import_default_modules()
    assert {t.task for t in tasks.values()} <= set(app.tasks)


def test_a_scheduled_retrain_is_queued_on_commit_with_its_trigger_and_reason(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = retraining.scheduled_retrain()

    assert len(callbacks) == 1  # the task is sent only once the run row is committed
    assert (run.trigger, run.status) == (TrainingRun.Trigger.SCHEDULE, TrainingRun.Status.QUEUED)
    assert run.reason.startswith("scheduled retraining")
    assert run.config["trigger_reason"] == run.reason
    assert run.celery_task_id


def test_a_request_while_a_training_is_queued_is_recorded_as_skipped(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        first = retraining.scheduled_retrain()
        second = retraining.retrain_request(trigger=TrainingRun.Trigger.DRIFT, reason="drift: test")

    assert second.status == TrainingRun.Status.SKIPPED
    assert second.reason == f"run #{first.pk} is already queued for 'resolution' (drift: test)"
    assert second.trigger == TrainingRun.Trigger.DRIFT and second.finished_at is not None


def test_a_scheduled_retrain_on_unchanged_data_ends_skipped_keeping_its_trigger(
    db, django_capture_on_commit_callbacks
):
    ml_catalogue()
    tickets_upsert(documents=ml_ticket_documents(per_class=5), source="noc")
    previous = _succeeded(fingerprint(build_dataset()), days_ago=1)
    with django_capture_on_commit_callbacks(execute=False):
        run = retraining.scheduled_retrain()

    run = train_model(run=run, gate=GateConfig(min_examples=10**6))

    assert run.status == TrainingRun.Status.SKIPPED
    assert run.reason.startswith(f"training data unchanged since run #{previous.pk}")
    assert run.trigger == TrainingRun.Trigger.SCHEDULE
    assert run.config["trigger_reason"].startswith("scheduled retraining")


def test_it_retrains_once_enough_tickets_were_labelled_since_the_last_training(
    db, settings, django_capture_on_commit_callbacks
):
    settings.TICKETAI_RETRAIN_NEW_LABELS = 6
    ml_catalogue()
    previous = _succeeded(days_ago=1)
    tickets_upsert(documents=ml_ticket_documents(per_class=1), source="noc")  # 4 new labels

    assert retraining.new_labels_count() == (4, previous)
    assert retraining.maybe_retrain_on_new_data() is None

    tickets_upsert(documents=ml_ticket_documents(per_class=2, prefix="MORE"), source="noc")  # 8 more
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = retraining.maybe_retrain_on_new_data()

    assert run is not None and len(callbacks) == 1
    assert run.trigger == TrainingRun.Trigger.NEW_DATA
    assert run.reason == f"12 labelled tickets new or changed since run #{previous.pk} (threshold 6)"
    # While it is queued, further checks add nothing.
    assert retraining.maybe_retrain_on_new_data() is None
    # Once it has run (here: skipped for unchanged data), labels are counted from it.
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.SKIPPED)
    assert retraining.new_labels_count()[0] == 0


def test_unlabelled_tickets_do_not_count_as_new_labels(db, settings):
    settings.TICKETAI_RETRAIN_NEW_LABELS = 1
    ml_catalogue()
    _succeeded(days_ago=1)
    documents = ml_ticket_documents(per_class=2)
    for document in documents:
        document.update(resolution=None, status="acknowledged", resolved_at=None)
    tickets_upsert(documents=documents, source="noc")

    assert retraining.new_labels_count()[0] == 0
    assert retraining.maybe_retrain_on_new_data() is None
