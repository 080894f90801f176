"""A run whose worker vanished (or whose task was lost) does not hold the automated triggers back."""

import json
from datetime import timedelta

import redis
from django.utils import timezone

from ml.models import TrainingRun
from ml.monitoring import retraining
from ml.training import services
from repair_center.services.tickets import tickets_upsert
from tests.factories import TrainingRunFactory, ml_catalogue, ml_ticket_documents


def _lost_running_run(seconds_ago: int) -> TrainingRun:
    """A run left "running" by a worker on a host that never came back (no progress since)."""
    return TrainingRunFactory(
        status=TrainingRun.Status.RUNNING,
        label_set_key="resolution",
        started_at=timezone.now() - timedelta(seconds=seconds_ago + 60),
        heartbeat_at=timezone.now() - timedelta(seconds=seconds_ago),
    )


def test_a_running_run_without_progress_does_not_hold_back_the_schedule(
    db, settings, django_capture_on_commit_callbacks
):
    settings.TICKETAI_TRAINING_STALE_S = 600
    lost = _lost_running_run(601)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = retraining.scheduled_retrain()

    assert (run.status, len(callbacks)) == (TrainingRun.Status.QUEUED, 1)
    lost.refresh_from_db()
    assert lost.status == TrainingRun.Status.FAILED
    assert lost.reason == "no progress for 600 s; the worker was probably killed"
    assert lost.finished_at is not None


def test_a_running_run_with_recent_progress_still_holds_the_label_set(db, settings):
    settings.TICKETAI_TRAINING_STALE_S = 600
    busy = _lost_running_run(30)

    run = retraining.scheduled_retrain()

    assert run.status == TrainingRun.Status.SKIPPED
    assert run.reason.startswith(f"run #{busy.pk} is already running")
    busy.refresh_from_db()
    assert busy.status == TrainingRun.Status.RUNNING


def test_new_labels_are_not_held_back_by_a_run_without_progress(
    db, settings, django_capture_on_commit_callbacks
):
    settings.TICKETAI_TRAINING_STALE_S = 600
    settings.TICKETAI_RETRAIN_NEW_LABELS = 4
    ml_catalogue()
    tickets_upsert(documents=ml_ticket_documents(per_class=1), source="noc")
    lost = _lost_running_run(601)
    TrainingRun.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(days=1))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = retraining.maybe_retrain_on_new_data()

    assert run is not None and run.status == TrainingRun.Status.QUEUED and len(callbacks) == 1
    assert TrainingRun.objects.get(pk=lost.pk).status == TrainingRun.Status.FAILED


def _queued_messages(broker) -> list[str]:
    return [json.loads(message)["headers"]["id"] for message in broker.lrange("training", 0, -1)]


def test_a_run_queued_too_long_has_its_task_sent_again_once_per_stale_period(
    db, settings, django_capture_on_commit_callbacks
):
    """A queued run whose message the broker lost (a purged queue, a restart without persistence)
    would hold every automated retrain of its label set back for good: the next trigger sends its
    task again, with the same id (a second delivery cannot claim a run twice)."""
    settings.TICKETAI_TRAINING_STALE_S = 600
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("training")
    lost = services.training_run_create(trigger=TrainingRun.Trigger.MANUAL, sources=[], reason="by hand")
    TrainingRun.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(seconds=601))

    with django_capture_on_commit_callbacks(execute=True):
        first = retraining.scheduled_retrain()
    lost.refresh_from_db()
    assert first.status == TrainingRun.Status.SKIPPED and lost.status == TrainingRun.Status.QUEUED
    assert first.reason.endswith("it had waited over 600 s, so its task was sent again")
    assert _queued_messages(broker) == [lost.celery_task_id] and lost.celery_task_id

    with django_capture_on_commit_callbacks(execute=True):
        second = retraining.scheduled_retrain()  # sent again at most once a stale period
    assert "sent again" not in second.reason and _queued_messages(broker) == [lost.celery_task_id]

    lost.config["resent_at"] = (timezone.now() - timedelta(seconds=601)).isoformat()
    TrainingRun.objects.filter(pk=lost.pk).update(config=lost.config)
    with django_capture_on_commit_callbacks(execute=True):
        third = retraining.scheduled_retrain()
    assert "sent again" in third.reason and len(_queued_messages(broker)) == 2
    broker.delete("training")


def test_a_run_queued_a_short_while_is_left_to_its_worker(db, settings, django_capture_on_commit_callbacks):
    settings.TICKETAI_TRAINING_STALE_S = 600
    waiting = services.training_run_create(trigger=TrainingRun.Trigger.MANUAL, sources=[], reason="by hand")
    TrainingRun.objects.filter(pk=waiting.pk).update(created_at=timezone.now() - timedelta(seconds=500))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = retraining.scheduled_retrain()
    assert run.status == TrainingRun.Status.SKIPPED and callbacks == [] and "sent again" not in run.reason
