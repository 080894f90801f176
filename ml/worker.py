"""Worker start-up: clean up after a predecessor that was killed in the middle of a training.

A worker killed with SIGKILL (or by the OOM killer, or a host reboot) leaves its TrainingRun
"running" and its half-written files in a hidden ``.staging-*`` directory; it never leaves a
visible model or a changed champion, because files are renamed into place and the version row
committed only at the very end (ml.core.registry). When a worker with the same node name starts again,
the one before it is certainly dead, so its runs are marked failed with the reason at once, and
staging directories are removed when no training is running anywhere.

The run is not retried automatically: with acks_late the broker redelivers the message later, and
the task then finds the run finished and does nothing; the next trigger (schedule, new labels,
drift) trains again on fresh data. Runs of workers that never come back are freed by
ml.training.services after TICKETAI_TRAINING_STALE_S without progress.

Distillations (ml.tasks.distil_model_task) get the same treatment. They have no run row: their
Celery task result is the record, so it is marked failed with the reason, the (teacher, tier) lock
the task held is freed, and its ``.work-*`` folder in the bundle directory is removed when no
distillation is running anywhere. A redelivery of the killed task is remembered (in the cache) and
fails at once instead of building, as a killed training's redelivery does nothing.
"""

import logging
import shutil
from datetime import timedelta
from pathlib import Path

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
    from ml.core import registry
    from ml.models import TrainingRun

    if TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).exists():
        return 0
    removed = registry.remove_stale_staging()
    if removed:
        logger.warning("removed %s staging directories left by a killed training", removed)
    return removed


# --- distillations ---

DISTIL_TASK = "ml.tasks.distil_model_task"
_OPEN = ("STARTED", "PROGRESS")
_LOST_KEY = "ml:distil:lost:{}"
_LOST_TTL_S = 24 * 3600  # longer than the broker takes to redeliver an unacknowledged message


class DistillationLost(Exception):
    """The worker running this distillation died; nothing of it was registered."""


def lost_distillation(task_id: str | None) -> str | None:
    """Why the distillation task ``task_id`` was marked failed by a restarted worker, if it was."""
    from django.core.cache import cache

    return cache.get(_LOST_KEY.format(task_id)) if task_id else None


def recover_orphaned_distillations(hostname: str) -> list[str]:
    """Mark failed the distillations of the worker ``hostname`` (restarted) or with no recent progress."""
    import json

    from celery import current_app
    from django.core.cache import cache
    from django_celery_results.models import TaskResult

    from ml.compression import pipeline

    stale_before = timezone.now() - timedelta(seconds=settings.TICKETAI_TRAINING_STALE_S)
    mine = Q(worker=hostname) if hostname else Q(pk__in=[])
    orphans = TaskResult.objects.filter(task_name=DISTIL_TASK, status__in=_OPEN).filter(
        mine | Q(date_done__lt=stale_before)
    )
    failed = []
    for row in orphans:
        if hostname and row.worker == hostname:
            reason = (
                f"worker {hostname} was restarted while this distillation was running (killed by SIGKILL, "
                f"the OOM killer or a reboot); its partial files were discarded and no bundle was registered"
            )
        else:
            reason = f"no progress for {settings.TICKETAI_TRAINING_STALE_S} s; the worker was probably killed"
        backend = current_app.backend
        content_type, encoding, result = backend.encode_content(
            backend.prepare_exception(DistillationLost(reason))
        )
        # Conditional: a distillation that finished meanwhile keeps its outcome.
        if not TaskResult.objects.filter(pk=row.pk, status__in=_OPEN).update(
            status="FAILURE",
            result=result,
            content_type=content_type,
            content_encoding=encoding,
            date_done=timezone.now(),
        ):
            continue
        cache.set(_LOST_KEY.format(row.task_id), reason, timeout=_LOST_TTL_S)
        state = json.loads(row.result or "null") if row.status == "PROGRESS" else None
        if isinstance(state, dict) and "teacher" in state:
            key = pipeline.distil_lock_key(state["teacher"], state.get("tier", ""))
            if cache.get(key) == row.task_id:
                cache.delete(key)
        failed.append(row.task_id)
        logger.warning("distillation %s marked failed: %s", row.task_id, reason)
    return failed


def remove_orphaned_work() -> int:
    """Remove the work folders of killed distillations, but never while a distillation is running."""
    from django_celery_results.models import TaskResult

    from ml.compression import pipeline

    if TaskResult.objects.filter(task_name=DISTIL_TASK, status__in=_OPEN).exists():
        return 0
    folders = list(Path(settings.TICKETAI_EDGE_BUNDLE_DIR).glob(f"{pipeline.WORK_PREFIX}*"))
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    if folders:
        logger.warning("removed %s work folders left by a killed distillation", len(folders))
    return len(folders)


def recover_on_worker_ready(sender=None, **kwargs) -> None:
    """Celery's worker_ready hook, connected by ml.apps: recover what a killed predecessor left."""
    hostname = getattr(sender, "hostname", "") or ""
    try:
        recover_orphaned_runs(hostname)
        remove_orphaned_staging()
    except Exception:  # a cleanup failure must not stop the worker from serving
        logger.exception("recovery of killed trainings failed on %s", hostname)
    try:
        recover_orphaned_distillations(hostname)
        remove_orphaned_work()
    except Exception:
        logger.exception("recovery of killed distillations failed on %s", hostname)
