"""A run whose worker vanished (or whose task was lost) does not hold the automated triggers back."""

from datetime import timedelta

from django.utils import timezone

from ml.models import TrainingRun
from ml.monitoring import retraining
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
