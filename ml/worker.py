"""Worker start-up: clean up after a predecessor that was killed in the middle of a training.

A worker killed with SIGKILL (or by the OOM killer, or a host reboot) leaves its TrainingRun
"running" and its half-written files in a hidden ``.staging-*`` directory; it never leaves a
visible model or a changed champion, because files are renamed into place and the version row
committed only at the very end (ml.registry). When a worker with the same node name starts again,
the one before it is certainly dead, so its runs are marked failed with the reason at once, and
staging directories are removed when no training is running anywhere.

The run is not retried automatically: with acks_late the broker redelivers the message later, and
the task then finds the run finished and does nothing; the next trigger (schedule, new labels,
drift) trains again on fresh data. Runs of workers that never come back are freed by
ml.services after TICKETAI_TRAINING_STALE_S without progress.
"""

import logging
from datetime import timedelta

from celery.signals import worker_ready
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

logger = logging.getLogger(__name__)


def recover_orphaned_runs(hostname: str) -> list[int]:
    """Mark failed the running trainings of the worker ``hostname`` (restarted) or with no recent progress."""
    from django_celery_results.models import TaskResult

    from ml.models import TrainingRun

    running = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING)
    task_ids = [t for t in running.values_list("celery_task_id", flat=True) if t]
    mine = (
        set(
            TaskResult.objects.filter(task_id__in=task_ids, worker=hostname).values_list("task_id", flat=True)
        )
        if hostname
        else set()
    )
    stale_before = timezone.now() - timedelta(seconds=settings.TICKETAI_TRAINING_STALE_S)
    failed = []
    now = timezone.now()
    for run in running.filter(Q(celery_task_id__in=mine) | Q(heartbeat_at__lt=stale_before)):
        if run.celery_task_id in mine:
            reason = (
                f"worker {hostname} was restarted while this run was training (killed by SIGKILL, the "
                f"OOM killer or a reboot); partial files were discarded, the champion is unchanged"
            )
        else:
            reason = f"no progress for {settings.TICKETAI_TRAINING_STALE_S} s; the worker was probably killed"
        # Conditional: a run that finished meanwhile keeps its outcome.
        if TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING).update(
            status=TrainingRun.Status.FAILED, reason=reason, finished_at=now
        ):
            failed.append(run.pk)
            logger.warning("training run #%s marked failed: %s", run.pk, reason)
    return failed


def remove_orphaned_staging() -> int:
    """Remove staging directories, but never while a training (maybe another worker's) is running."""
    from ml import registry
    from ml.models import TrainingRun

    if TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).exists():
        return 0
    removed = registry.remove_stale_staging()
    if removed:
        logger.warning("removed %s staging directories left by a killed training", removed)
    return removed


@worker_ready.connect
def _recover_on_worker_ready(sender=None, **kwargs) -> None:
    hostname = getattr(sender, "hostname", "") or ""
    try:
        recover_orphaned_runs(hostname)
        remove_orphaned_staging()
    except Exception:  # a cleanup failure must not stop the worker from serving
        logger.exception("recovery of killed trainings failed on %s", hostname)
