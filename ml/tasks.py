"""Celery tasks of ml: thin wrappers that take ids and call services (training: `training` queue)."""

import logging

from celery import shared_task

from ml.core import webhooks
from ml.models import TrainingRun
from ml.training import services

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="ml.tasks.train_model_task")
def train_model_task(self, run_id: int) -> dict:
    """Run one queued TrainingRun; a duplicate delivery finds it claimed and does nothing."""
    try:
        run = TrainingRun.objects.get(pk=run_id)
    except TrainingRun.DoesNotExist:
        logger.warning("training run #%s no longer exists", run_id)
        return {"run": run_id, "status": "missing"}

    def report(progress: dict) -> None:
        # The task state is what the UI and API poll while the run is in flight.
        self.update_state(state="PROGRESS", meta={"run": run_id, **progress})

    run = services.train_model(run=run, progress=report)
    return {
        "run": run.pk,
        "status": run.status,
        "reason": run.reason,
        "model_version": run.model_version_id,
    }


# --- Outbound webhooks (feedback.recorded, recommendation.ready) ---


@shared_task(bind=True, name="ml.tasks.deliver_webhook", max_retries=None)
def deliver_webhook(self, delivery_id: int) -> dict:
    """One attempt at a webhook delivery; a retryable failure schedules the next with backoff."""
    result = webhooks.webhook_attempt(delivery_id)
    if result.retry_in is not None:
        # The delivery row counts attempts and gives up; Celery only carries the countdown.
        raise self.retry(countdown=result.retry_in)
    return result.to_json()


@shared_task(name="ml.tasks.webhook_retry_sweep")
def webhook_retry_sweep() -> dict:
    """Re-enqueue overdue webhook deliveries whose task was lost (broker restart, killed worker)."""
    ids = webhooks.webhook_due_ids()
    for delivery_id in ids:
        deliver_webhook.delay(delivery_id)
    return {"enqueued": len(ids)}


# --- Compression for the edge (training queue: routed by the ml.tasks.distil* prefix) ---


@shared_task(bind=True, name="ml.tasks.distil_model_task")
def distil_model_task(
    self, teacher_version_id: int, intended_tier: str = "", config: dict | None = None
) -> dict:
    """Distil, export, quantize and bundle one teacher for a tier; a concurrent duplicate is skipped."""
    from celery.exceptions import Ignore

    from ml import worker
    from ml.compression import pipeline

    lost = worker.lost_distillation(self.request.id)
    if lost:  # redelivered after its worker was killed: it stays failed, as a killed training does
        self.update_state(state="FAILURE", meta=self.backend.prepare_exception(worker.DistillationLost(lost)))
        raise Ignore()

    def report(progress: dict) -> None:
        # Teacher and tier in the task state let ml.worker free the lock if this worker is killed.
        self.update_state(
            state="PROGRESS", meta={"teacher": teacher_version_id, "tier": intended_tier, **progress}
        )

    report({"phase": "starting"})
    return pipeline.compress_once(
        teacher_version_id=teacher_version_id,
        intended_tier=intended_tier,
        config=config,
        progress=report,
        owner=self.request.id or "running",
    )


# --- Automated retraining, drift and shadow ---------------------------------------------------------


@shared_task(name="ml.tasks.scheduled_retrain")
def scheduled_retrain() -> dict:
    """The admin-editable periodic retrain (skipped by the training when the data is unchanged)."""
    from ml.monitoring import retraining

    run = retraining.scheduled_retrain()
    return {"run": run.pk, "status": run.status, "reason": run.reason}


@shared_task(name="ml.tasks.maybe_retrain_on_new_data")
def maybe_retrain_on_new_data() -> dict:
    """Queue a retrain once TICKETAI_RETRAIN_NEW_LABELS tickets were labelled since the last training."""
    from ml.monitoring import retraining

    run = retraining.maybe_retrain_on_new_data()
    return {"run": run.pk if run else None, "reason": run.reason if run else ""}


@shared_task(name="ml.tasks.check_drift")
def check_drift(label_set_key: str = "resolution") -> dict:
    """One drift check of the champion; queues a retrain when it fires."""
    from ml.monitoring import drift

    report = drift.drift_check(label_set_key=label_set_key)
    return {"report": report.pk, "fired": report.fired, "reasons": report.reasons, "note": report.note}


@shared_task(name="ml.tasks.shadow_score_active")
def shadow_score_active() -> dict:
    """Score live tickets with every candidate in shadow beside the champion."""
    from ml.monitoring import shadow

    return {str(k): v for k, v in shadow.shadow_score_active().items()}


# --- Edge bundles ---


@shared_task(name="ml.tasks.edge_publish_bundle")
def edge_publish_bundle(bundle_id: int) -> dict:
    """Build deltas from the versions the fleet runs to this bundle, then offer it to agents."""
    from ml.fleet import edge

    return edge.bundle_publish(bundle_id=bundle_id)


# --- Recommendations after ingest ---


@shared_task(name="ml.tasks.refresh_recommendations_listing")
def refresh_recommendations_listing(code: str) -> int:
    """After ``code`` was merged into another: open tickets' recommendations that list it, again."""
    from ml.serving.recommendations import refresh_listing

    return refresh_listing(code)


@shared_task(name="ml.tasks.recommend_tickets")
def recommend_tickets(ticket_ids: list[int]) -> dict:
    """Cache the champion's recommendation for these tickets' current revisions (no-op without one)."""
    from ml.serving.recommendations import recommend_tickets as compute

    return compute(ticket_ids)
