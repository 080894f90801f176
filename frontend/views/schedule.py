"""Retraining schedule: beat's periodic tasks, trigger thresholds, drift and data quality."""

import re

from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.generic import TemplateView
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from frontend import charts
from frontend.views.access import RoleRequiredMixin, is_admin
from ml.models import TrainingRun

# The settings that decide when a retraining starts or a model is replaced.
THRESHOLD_SETTINGS = re.compile(r"^TICKETAI_(RETRAIN|DRIFT|PROMOTION|TRAINING|SHADOW)_")
DRIFT_SCORES = ("label_js", "unseen_code_rate", "mean_confidence", "accuracy")


class CrontabForm(forms.Form):
    minute = forms.CharField(label="Minute", max_length=240)
    hour = forms.CharField(label="Hour", max_length=96)
    day_of_month = forms.CharField(label="Day of month", max_length=124)
    month_of_year = forms.CharField(label="Month", max_length=64)
    day_of_week = forms.CharField(label="Day of week", max_length=64)
    enabled = forms.BooleanField(label="Enabled", required=False)


def ml_periodic_tasks():
    return PeriodicTask.objects.filter(task__startswith="ml.").select_related("crontab").order_by("name")


def thresholds() -> list[tuple[str, object]]:
    return sorted((name, getattr(settings, name)) for name in dir(settings) if THRESHOLD_SETTINGS.match(name))


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


class ScheduleView(RoleRequiredMixin, TemplateView):
    template_name = "frontend/schedule.html"

    def get_context_data(self, **kwargs):
        tasks = ml_periodic_tasks()
        reports = drift_reports()
        runs = list(TrainingRun.objects.exclude(quality_report={}).order_by("-created_at")[:100])
        editable = is_admin(self.request.user)
        rows = []
        for task in tasks:
            cron = task.crontab
            initial = (
                {
                    "minute": cron.minute,
                    "hour": cron.hour,
                    "day_of_month": cron.day_of_month,
                    "month_of_year": cron.month_of_year,
                    "day_of_week": cron.day_of_week,
                    "enabled": task.enabled,
                }
                if cron
                else {"enabled": task.enabled}
            )
            rows.append({"task": task, "form": CrontabForm(initial=initial, prefix=f"t{task.pk}")})
        return super().get_context_data(
            rows=rows,
            editable=editable,
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
        task = get_object_or_404(PeriodicTask, pk=int(task_id), task__startswith="ml.")
        form = CrontabForm(request.POST, prefix=f"t{task.pk}")
        if not form.is_valid():
            messages.error(request, f"{task.name}: {form.errors.as_text()}")
            return HttpResponseRedirect(reverse("schedule"))
        data = form.cleaned_data
        fields = {
            k: data[k].strip() for k in ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
        }
        try:
            with transaction.atomic():
                candidate = CrontabSchedule(timezone=settings.TIME_ZONE, **fields)
                candidate.full_clean(exclude=["timezone"])
                crontab, _ = CrontabSchedule.objects.get_or_create(timezone=settings.TIME_ZONE, **fields)
                task.crontab, task.interval, task.enabled = crontab, None, data["enabled"]
                task.save()  # PeriodicTask.save bumps beat's change marker: the running beat picks it up
        except ValidationError as e:
            messages.error(request, f"{task.name}: " + "; ".join(e.messages))
        else:
            state = "enabled" if task.enabled else "paused"
            messages.success(request, f"{task.name}: now “{crontab.human_readable}”, {state}.")
        return HttpResponseRedirect(reverse("schedule"))
