"""When to retrain: the admin-editable schedule, N newly labelled tickets, and the drift monitor.

Every trigger ends in ``retrain_request``, which queues a TrainingRun carrying its trigger and the
reason (also kept in ``config["trigger_reason"]``, because a run that is later skipped for unchanged
data overwrites ``reason`` with why it was skipped). Whether the data really changed is decided by
the training itself (the fingerprint check in ml.training.services.train_model), so a trigger can afford to
be eager.
"""

import logging
from collections.abc import Collection
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ml.core import labelsets
from ml.models import TrainingRun
from ml.training import services
from ml.training.fine_tuning import TrainingConfig
from repair_center import selectors

logger = logging.getLogger(__name__)

ACTIVE = (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)

# name, task, cron (minute hour day-of-month month day-of-week), description. Seeded once by the
# migration ml.0004_seed_schedule; edit or disable them in Django admin (Periodic tasks) afterwards.
DEFAULT_SCHEDULE = (
    (
        "ml: scheduled retraining",
        "ml.tasks.scheduled_retrain",
        "0 2 * * *",
        "Retrain nightly; skipped (with the reason) when the training data has not changed.",
    ),
    (
        "ml: drift check",
        "ml.tasks.check_drift",
        "15 * * * *",
        "Compare the champion with freshly labelled tickets; retrain when drift is detected.",
    ),
    (
        "ml: retrain on new labels",
        "ml.tasks.maybe_retrain_on_new_data",
        "*/30 * * * *",
        "Retrain once TICKETAI_RETRAIN_NEW_LABELS tickets were labelled since the last training.",
    ),
    (
        "ml: shadow scoring",
        "ml.tasks.shadow_score_active",
        "*/10 * * * *",
        "Score live tickets with candidates in shadow beside the champion.",
    ),
)


def schedule_seed(*, periodic_task_model=None, crontab_model=None) -> int:
    """Create the default periodic tasks that do not exist yet (by name); returns how many were made.

    Takes the model classes so the data migration can pass its historical models.
    """
    if periodic_task_model is None or crontab_model is None:
        from django_celery_beat.models import CrontabSchedule, PeriodicTask

        periodic_task_model, crontab_model = PeriodicTask, CrontabSchedule
    made = 0
    for name, task, cron, description in DEFAULT_SCHEDULE:
        minute, hour, day_of_month, month_of_year, day_of_week = cron.split()
        crontab, _ = crontab_model.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
            timezone=settings.TIME_ZONE,
        )
        _, created = periodic_task_model.objects.get_or_create(
            name=name, defaults={"task": task, "crontab": crontab, "description": description}
        )
        made += created
    return made


def sources_of(label_set_key: str) -> list[str]:
    """The inverse of services.label_set_key."""
    return labelsets.sources_of(label_set_key)


def active_run(label_set_key: str) -> TrainingRun | None:
    """The label set's queued or running run; a running one that stopped making progress (its worker
    died on a host that has not come back) is marked failed first, so it cannot hold every trigger
    back until some worker restarts or someone trains by hand."""
    services.expire_stale(label_set_key)
    return TrainingRun.objects.filter(label_set_key=label_set_key, status__in=ACTIVE).first()


def retrain_request(
    *,
    trigger: str,
    reason: str,
    sources: Collection[str] = (),
    config: TrainingConfig | None = None,
    requested_by: str = "system",
) -> TrainingRun:
    """Queue a retrain with its trigger and reason; recorded as skipped while another is queued or running."""
    key = labelsets.label_set_key(sources)
    with transaction.atomic():
        busy = active_run(key)
        if busy is not None:
            run = services.training_run_create(
                trigger=trigger, config=config, sources=sources, reason=reason, requested_by=requested_by
            )
            resent = services.resend_if_lost(busy)
            run.status = TrainingRun.Status.SKIPPED
            run.reason = f"run #{busy.pk} is already {busy.status} for {key!r} ({reason})"
            if resent:
                waited = settings.TICKETAI_TRAINING_STALE_S
                run.reason += f"; it had waited over {waited} s, so its task was sent again"
            run.finished_at = timezone.now()
            run.config = {**run.config, "trigger_reason": reason}
            run.save(update_fields=["status", "reason", "finished_at", "config"])
            return run
        run = services.training_enqueue(
            trigger=trigger, config=config, sources=sources, reason=reason, requested_by=requested_by
        )
        run.config = {**run.config, "trigger_reason": reason}
        run.save(update_fields=["config"])
    logger.info("queued training run #%s (%s): %s", run.pk, trigger, reason)
    return run


def scheduled_retrain(*, sources: Collection[str] = ()) -> TrainingRun:
    """The periodic task's retrain."""
    return retrain_request(
        trigger=TrainingRun.Trigger.SCHEDULE,
        reason="scheduled retraining (periodic task, editable in admin)",
        sources=sources,
    )


def _last_counted_run(key: str) -> TrainingRun | None:
    """The run new labels are counted from: the last success, or the last new-data request."""
    return (
        TrainingRun.objects.filter(label_set_key=key)
        .filter(Q(status=TrainingRun.Status.SUCCEEDED) | Q(trigger=TrainingRun.Trigger.NEW_DATA))
        .order_by("-created_at", "-id")
        .first()
    )


def new_labels_count(*, sources: Collection[str] = ()) -> tuple[int, TrainingRun | None]:
    """Labelled tickets created or changed since the last training of the label set (all, before any)."""
    last = _last_counted_run(labelsets.label_set_key(sources))
    queryset = selectors.labelled_tickets(sources=sources)
    if last is not None:
        queryset = queryset.filter(updated_at__gt=last.created_at)
    return queryset.count(), last


def maybe_retrain_on_new_data(*, sources: Collection[str] = ()) -> TrainingRun | None:
    """Queue a retrain once TICKETAI_RETRAIN_NEW_LABELS labelled tickets were created or changed (a new
    label, a relabel, or any other edit: the worker skips a retrain whose data did not change) since
    the last training."""
    key = labelsets.label_set_key(sources)
    if active_run(key) is not None:
        return None
    count, last = new_labels_count(sources=sources)
    threshold = settings.TICKETAI_RETRAIN_NEW_LABELS
    if count < threshold:
        return None
    since = f"since run #{last.pk}" if last else "and no model trained yet"
    return retrain_request(
        trigger=TrainingRun.Trigger.NEW_DATA,
        reason=f"{count} labelled tickets new or changed {since} (threshold {threshold})",
        sources=sources,
    )


def retrain_on_drift(*, reasons: list[str], sources: Collection[str] = ()) -> TrainingRun | None:
    """Queue a retrain for detected drift, unless a drift retrain started within the cooldown."""
    key = labelsets.label_set_key(sources)
    cooldown = timedelta(hours=settings.TICKETAI_DRIFT_COOLDOWN_H)
    recent = (
        TrainingRun.objects.filter(
            label_set_key=key, trigger=TrainingRun.Trigger.DRIFT, created_at__gte=timezone.now() - cooldown
        )
        # A request skipped before it started (another run was busy) did not retrain; one a worker
        # skipped for unchanged data did all a retrain can, and left uncounted it would queue
        # another on every hourly check for as long as the drift lasts.
        .exclude(status=TrainingRun.Status.SKIPPED, started_at=None)
        .first()
    )
    if recent is not None and cooldown:
        logger.info("drift detected, but drift run #%s is within the cooldown", recent.pk)
        return None
    return retrain_request(
        trigger=TrainingRun.Trigger.DRIFT, reason="drift: " + "; ".join(reasons), sources=sources
    )
