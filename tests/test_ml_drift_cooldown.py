"""The drift cooldown counts every drift retrain that reached a worker, a skipped one included."""

from datetime import timedelta

from django.utils import timezone

from ml.models import TrainingRun
from ml.monitoring import retraining
from tests.factories import TrainingRunFactory


def _drift_run(status: str, *, hours_ago: float, started: bool) -> TrainingRun:
    at = timezone.now() - timedelta(hours=hours_ago)
    run = TrainingRunFactory(
        trigger=TrainingRun.Trigger.DRIFT,
        status=status,
        label_set_key="resolution",
        started_at=at if started else None,
        finished_at=at,
    )
    TrainingRun.objects.filter(pk=run.pk).update(created_at=at)
    return run


def test_a_drift_retrain_skipped_for_unchanged_data_starts_the_cooldown(db, settings):
    # Drift that a retrain did not cure (its candidate was kept) fires on every hourly check; once
    # the data stop changing each retrain is skipped, and those must not each queue another.
    settings.TICKETAI_DRIFT_COOLDOWN_H = 24
    _drift_run(TrainingRun.Status.SUCCEEDED, hours_ago=30, started=True)
    _drift_run(TrainingRun.Status.SKIPPED, hours_ago=1, started=True)

    assert retraining.retrain_on_drift(reasons=["label mix shifted"]) is None
    assert TrainingRun.objects.filter(trigger=TrainingRun.Trigger.DRIFT).count() == 2


def test_a_drift_request_skipped_because_another_run_was_busy_does_not_start_it(
    db, settings, django_capture_on_commit_callbacks
):
    settings.TICKETAI_DRIFT_COOLDOWN_H = 24
    _drift_run(TrainingRun.Status.SKIPPED, hours_ago=1, started=False)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = retraining.retrain_on_drift(reasons=["label mix shifted"])

    assert run is not None and run.status == TrainingRun.Status.QUEUED and len(callbacks) == 1
    assert run.reason == "drift: label mix shifted"
