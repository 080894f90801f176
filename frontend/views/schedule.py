"""Retraining schedule: beat's periodic tasks, trigger thresholds, drift and data quality."""

import re
from dataclasses import dataclass
from datetime import timedelta

from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from frontend import charts
from frontend.views.access import AdminRequiredMixin, is_admin
from ml.models import TrainingRun

# The settings that decide when a retraining starts, a model is replaced or the model abstains.
THRESHOLD_SETTINGS = re.compile(r"^TICKETAI_(RETRAIN|DRIFT|PROMOTION|TRAINING|SHADOW|CONFIDENCE)_")
DRIFT_SCORES = ("label_js", "unseen_code_rate", "mean_confidence", "accuracy")


@dataclass(frozen=True, slots=True)
class Threshold:
    name: str
    value: object
    unit: str
    meaning: str


# (unit, what it decides) for each threshold; a share is shown as a percentage.
THRESHOLD_HELP = {
    "TICKETAI_RETRAIN_NEW_LABELS": ("tickets", "Retrain once this many tickets were labelled or relabelled."),
    "TICKETAI_PROMOTION_MARGIN": (
        "macro-F1 points (share)",
        "A new model replaces the champion only when it is this much better on the same held-out tickets.",
    ),
    "TICKETAI_TRAINING_STALE_S": (
        "seconds",
        "A training whose progress has not moved for this long is taken as lost.",
    ),
    "TICKETAI_DRIFT_WINDOW": (
        "tickets",
        "Drift is judged on the newest this-many tickets labelled after training.",
    ),
    "TICKETAI_DRIFT_MIN_TICKETS": (
        "tickets",
        "With fewer fresh labelled tickets, the drift check does not judge.",
    ),
    "TICKETAI_DRIFT_LABEL_JS": (
        "Jensen-Shannon divergence, 0 to 1",
        "Drift fires when the mix of fixes moves this far from the mix the model learned.",
    ),
    "TICKETAI_DRIFT_UNSEEN_CODE_RATE": (
        "share of tickets",
        "... or when this share of fresh tickets carries an error code the model never saw.",
    ),
    "TICKETAI_DRIFT_CONFIDENCE_DROP": (
        "probability (share)",
        "... or when the mean confidence falls this much below the model's own evaluation.",
    ),
    "TICKETAI_DRIFT_ACCURACY_DROP": (
        "accuracy (share)",
        "... or when accuracy on fresh labelled tickets falls this much below the held-out accuracy.",
    ),
    "TICKETAI_DRIFT_COOLDOWN_H": (
        "hours",
        "After a drift retrain, further drift starts no retrain for this long.",
    ),
    "TICKETAI_SHADOW_BATCH": (
        "tickets per pass",
        "How many live tickets a shadow candidate scores each pass.",
    ),
    "TICKETAI_CONFIDENCE_HIGH": ("probability (share)", "From here a recommendation's confidence is High."),
    "TICKETAI_CONFIDENCE_MEDIUM": (
        "probability (share)",
        "From here it is Medium; below it the model says it is unsure and the ticket needs an expert.",
    ),
}


class ScheduleForm(forms.Form):
    def mark_errors(self) -> None:
        """Point each field in error at its message, which the page shows next to it."""
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["aria-describedby"] = f"{self[name].auto_id}-error"


EVERY_MOST = 2**31 - 1


class IntervalForm(ScheduleForm):
    """For tasks beat runs every N minutes (the webhook retry sweep) rather than on a crontab."""

    every = forms.IntegerField(
        label="Every",
        min_value=1,
        max_value=EVERY_MOST,  # the database column is a 32-bit integer
        error_messages={
            "min_value": "Give a whole number, 1 or more.",
            "max_value": f"Give a whole number up to {EVERY_MOST:,}.",
            "invalid": "Give a whole number, 1 or more.",
        },
    )
    period = forms.ChoiceField(label="Unit", choices=IntervalSchedule.PERIOD_CHOICES)
    enabled = forms.BooleanField(label="Enabled", required=False)


CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
# What each cron field takes, for an error a person can act on (beat's own says "not in 0-59 for Minutes").
CRON_RANGES = {
    "minute": ("a minute", "0 to 59"),
    "hour": ("an hour", "0 to 23"),
    "day_of_month": ("a day of the month", "1 to 31"),
    "month_of_year": ("a month", "1 to 12"),
    "day_of_week": ("a day of the week", "0 to 6 (Sunday is 0) or sun to sat"),
}


class CrontabForm(ScheduleForm):
    minute = forms.CharField(label="Minute", max_length=240)
    hour = forms.CharField(label="Hour", max_length=96)
    day_of_month = forms.CharField(label="Day of month", max_length=124)
    month_of_year = forms.CharField(label="Month", max_length=64)
    day_of_week = forms.CharField(label="Day of week", max_length=64)
    enabled = forms.BooleanField(label="Enabled", required=False)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        fields = {k: data[k].strip() for k in CRON_FIELDS}
        try:
            CrontabSchedule(timezone=settings.TIME_ZONE, **fields).full_clean(exclude=["timezone"])
        except ValidationError as e:
            for name in getattr(e, "error_dict", {}) or {None: None}:
                if name in CRON_RANGES:
                    what, values = CRON_RANGES[name]
                    self.add_error(
                        name,
                        f"“{fields[name]}” is not {what}: use {values}, * for any, a list such as 1,15 "
                        "or a step such as */15.",
                    )
                else:
                    self.add_error(None, e.messages)
        return data


def ml_periodic_tasks():
    return PeriodicTask.objects.filter(task__startswith="ml.").select_related("crontab").order_by("name")


def thresholds() -> list[Threshold]:
    """Each threshold with its unit and a line on what it decides (shares shown as percentages)."""
    out = []
    for name in sorted(n for n in dir(settings) if THRESHOLD_SETTINGS.match(n)):
        value = getattr(settings, name)
        unit, meaning = THRESHOLD_HELP.get(name, ("", ""))
        if "share" in unit and isinstance(value, float):
            value = f"{value:.0%}" if value * 100 == round(value * 100) else f"{value:.1%}"
            unit = unit.replace(" (share)", "").replace("share of tickets", "of tickets")
        out.append(Threshold(name, value, unit, meaning))
    return out


def next_run(task: PeriodicTask, now=None):
    """When beat next runs the task (None while it is paused)."""
    if not task.enabled:
        return None
    now = now or timezone.now()
    remaining = task.schedule.remaining_estimate(task.last_run_at or now)
    # celery measures from its own "now", a moment later than ours: round to the second.
    return max(now + remaining + timedelta(milliseconds=500), now).replace(microsecond=0)


def drift_reports(limit: int = 200) -> list:
    try:
        model = apps.get_model("ml", "DriftReport")
    except LookupError:
        return []
    return list(model.objects.order_by("-computed_at")[:limit])


def drift_charts(reports: list) -> list[tuple[str, object]]:
    """One chart per drift score over time, with its alert threshold when the report recorded one."""
    out = []
    for score in DRIFT_SCORES:
        points = [
            (r.computed_at, float(r.scores[score]))
            for r in reports
            if isinstance((r.scores or {}).get(score), int | float)
        ]
        if not points:
            continue
        baseline = [
            (r.computed_at, float(r.scores[f"{score}_baseline"]))
            for r in reports
            if isinstance((r.scores or {}).get(f"{score}_baseline"), int | float)
        ]
        series = {score: points, **({"baseline": baseline} if baseline else {})}
        limits = [
            r.thresholds.get(score)
            for r in reports
            if isinstance((r.thresholds or {}).get(score), int | float)
        ]
        out.append(
            (
                score,
                charts.time_series(
                    series, title=f"Drift: {score} over time", threshold=limits[0] if limits else None
                ),
            )
        )
    return out


def quality_chart(runs: list[TrainingRun]):
    """Data-quality checks of the recent trainings over time: each check's measured value."""
    series: dict[str, list] = {}
    for run in runs:
        for check in (run.quality_report or {}).get("checks") or []:
            value = check.get("value")
            if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
                series.setdefault(str(check.get("name")), []).append((run.created_at, float(value)))
    if not series:
        return None
    return charts.time_series(series, title="Data-quality rates per training run")


def task_form(task: PeriodicTask, data=None) -> forms.Form:
    """The task's edit form: interval fields for a task beat runs every N minutes, cron fields otherwise."""
    prefix = f"t{task.pk}"
    if task.interval_id and not task.crontab_id:
        initial = {"every": task.interval.every, "period": task.interval.period, "enabled": task.enabled}
        return IntervalForm(data, initial=initial, prefix=prefix)
    initial = {"enabled": task.enabled}
    if task.crontab_id:
        cron = task.crontab
        initial.update(
            minute=cron.minute,
            hour=cron.hour,
            day_of_month=cron.day_of_month,
            month_of_year=cron.month_of_year,
            day_of_week=cron.day_of_week,
        )
    return CrontabForm(data, initial=initial, prefix=prefix)


class ScheduleView(AdminRequiredMixin, TemplateView):
    template_name = "frontend/schedule.html"

    def get_context_data(self, refused: forms.Form | None = None, **kwargs):
        reports = drift_reports()
        runs = list(TrainingRun.objects.exclude(quality_report={}).order_by("-created_at")[:100])
        now = timezone.now()
        # A form the admin sent and the page refused comes back as it was typed, with its errors.
        refused_prefix = refused.prefix if refused is not None else None
        rows = [
            {
                "task": task,
                "form": refused if f"t{task.pk}" == refused_prefix else task_form(task),
                "next_run": next_run(task, now),
            }
            for task in ml_periodic_tasks().select_related("interval")
        ]
        return super().get_context_data(
            rows=rows,
            editable=is_admin(self.request.user),
            thresholds=thresholds(),
            reports=reports[:20],
            drift_charts=drift_charts(reports),
            quality_chart=quality_chart(runs),
            quality_runs=runs[:10],
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        if not is_admin(request.user):
            return self.handle_no_permission()
        task_id = request.POST.get("task", "")
        if not task_id.isdigit():
            return HttpResponseBadRequest("Choose which periodic task to change (field “task”, a task id).")
        task = get_object_or_404(
            PeriodicTask.objects.select_related("interval"), pk=int(task_id), task__startswith="ml."
        )
        form = task_form(task, request.POST)
        if not form.is_valid():
            form.mark_errors()
            return self.render_to_response(self.get_context_data(refused=form), status=400)
        with transaction.atomic():
            when = _save_schedule(task, form)
        state = "enabled" if task.enabled else "paused"
        messages.success(request, f"{task.name}: now “{when}”, {state}.")
        return HttpResponseRedirect(reverse("schedule"))


def _save_schedule(task: PeriodicTask, form: forms.Form) -> str:
    """Point the task at the schedule the form describes; PeriodicTask.save bumps beat's change
    marker, so the running beat picks it up. Returns the schedule in words."""
    data = form.cleaned_data
    if isinstance(form, IntervalForm):
        interval, _ = IntervalSchedule.objects.get_or_create(every=data["every"], period=data["period"])
        task.interval, task.crontab, task.enabled = interval, None, data["enabled"]
        task.save()
        return str(interval)
    fields = {k: data[k].strip() for k in CRON_FIELDS}  # validated by CrontabForm.clean
    crontab, _ = CrontabSchedule.objects.get_or_create(timezone=settings.TIME_ZONE, **fields)
    task.crontab, task.interval, task.enabled = crontab, None, data["enabled"]
    task.save()
    return crontab.human_readable
