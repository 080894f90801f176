"""Celery tasks of ml: thin wrappers that take ids and call services (training: `training` queue)."""

import logging

from celery import shared_task

from ml import services
from ml.models import TrainingRun

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
