"""The schedule page: beat's ML tasks and their crontab, editable by admins; drift and quality charts."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from ml.models import DriftReport
from tests.factories import TrainingRunFactory

TASK = "ml: scheduled retraining"


@pytest.fixture
def nightly(db) -> PeriodicTask:
    # Seeded by the ml migrations; recreated here when a transactional test flushed it.
    from ml.monitoring.retraining import schedule_seed

    schedule_seed()
    return PeriodicTask.objects.get(name=TASK)


def _form(task: PeriodicTask, **changes) -> dict:
    cron = task.crontab
    data = {
        "task": task.pk,
        "minute": cron.minute,
        "hour": cron.hour,
        "day_of_month": cron.day_of_month,
        "month_of_year": cron.month_of_year,
        "day_of_week": cron.day_of_week,
        "enabled": "on",
    }
    data.update(changes)
    return {(k if k == "task" else f"t{task.pk}-{k}"): v for k, v in data.items() if v is not None}


def test_the_page_shows_each_ml_task_with_its_crontab_and_the_thresholds(client, admin_user, nightly):
    client.force_login(admin_user)
    html = client.get(reverse("schedule")).content.decode()
    assert TASK in html and '<code class="crontab">0 2 * * *</code>' in html
    assert "TICKETAI_DRIFT_LABEL_JS" in html and "TICKETAI_RETRAIN_NEW_LABELS" in html


def test_an_admin_moves_the_nightly_retraining_and_pauses_it(client, admin_user, nightly):
    client.force_login(admin_user)
    assert (
        'href="/admin/django_celery_beat/periodictask/"' in client.get(reverse("schedule")).content.decode()
    )
    response = client.post(
        reverse("schedule"), _form(nightly, hour="4", minute="30", enabled=None), follow=True
    )
    nightly.refresh_from_db()
    assert (nightly.crontab.minute, nightly.crontab.hour, nightly.enabled) == ("30", "4", False)
    assert "paused" in response.content.decode()


def test_an_invalid_crontab_is_refused_and_nothing_changes(client, admin_user, nightly):
    client.force_login(admin_user)
    response = client.post(reverse("schedule"), _form(nightly, hour="25"))
    nightly.refresh_from_db()
    assert nightly.crontab.hour == "2"
    assert response.status_code == 400 and 'class="field-error"' in response.content.decode()


@pytest.mark.parametrize("task", ["", "abc", "-1", "1.5", None])
def test_a_missing_or_malformed_task_id_is_a_400_and_nothing_changes(client, admin_user, nightly, task):
    client.force_login(admin_user)
    body = {k: v for k, v in _form(nightly, hour="5").items() if k != "task"}
    if task is not None:
        body["task"] = task
    response = client.post(reverse("schedule"), body)
    assert response.status_code == 400
    assert "task" in response.content.decode()
    nightly.refresh_from_db()
    assert nightly.crontab.hour == "2"


def test_an_unknown_task_id_is_a_404(client, admin_user, nightly):
    client.force_login(admin_user)
    assert client.post(reverse("schedule"), {**_form(nightly), "task": "999999"}).status_code == 404


def test_an_engineer_cannot_edit_the_schedule(client, engineer, nightly):
    client.force_login(engineer)
    assert client.post(reverse("schedule"), _form(nightly, hour="5")).status_code == 403
    nightly.refresh_from_db()
    assert nightly.crontab.hour == "2"


def test_drift_reports_are_charted_over_time_with_their_threshold(client, admin_user, db):
    now = timezone.now()
    for days, js in ((3, 0.02), (2, 0.05), (1, 0.18)):
        report = DriftReport.objects.create(
            scores={"label_js": js, "mean_confidence": 0.8},
            thresholds={"label_js": 0.1},
            fired=js > 0.1,
            reasons=["label distribution moved"] if js > 0.1 else [],
        )
        DriftReport.objects.filter(pk=report.pk).update(computed_at=now - timedelta(days=days))
    TrainingRunFactory(
        status="failed",
        quality_report={"passed": False, "checks": [{"name": "label_coverage", "value": 0.4, "ok": False}]},
    )
    client.force_login(admin_user)
    html = client.get(reverse("schedule")).content.decode()
    assert 'aria-label="Drift: label_js over time"' in html and "threshold 0.1" in html
    assert "label_js: latest 0.18" in html  # the chart's text summary, newest point last
    assert "label distribution moved" in html
    assert 'aria-label="Data-quality rates per training run"' in html and "gate failed" in html


def test_each_task_says_when_it_runs_next(client, admin_user, nightly):
    nightly.last_run_at = None
    nightly.save()
    client.force_login(admin_user)
    html = client.get(reverse("schedule")).content.decode()
    from frontend.views.schedule import next_run

    when = next_run(PeriodicTask.objects.get(pk=nightly.pk))
    assert when is not None and when > timezone.now() and (when.hour, when.minute) == (2, 0)
    assert f'datetime="{when.isoformat()}"' in html or when.strftime("%Y-%m-%d %H:%M") in html
    nightly.enabled = False
    nightly.save()
    assert next_run(PeriodicTask.objects.get(pk=nightly.pk)) is None


def test_thresholds_have_units_and_say_what_they_decide(client, admin_user, nightly):
    client.force_login(admin_user)
    html = client.get(reverse("schedule")).content.decode()
    drift = html[html.index("<code>TICKETAI_DRIFT_COOLDOWN_H</code>") :]
    assert '<strong>24</strong> <span class="muted">hours</span>' in drift[:300]
    assert "Drift fires when the mix of fixes moves this far" in html
    assert "<strong>2%</strong>" in html  # TICKETAI_DRIFT_UNSEEN_CODE_RATE, a share


def test_the_webhook_sweep_runs_every_few_minutes_and_its_schedule_can_be_saved(client, admin_user, db):
    from django_celery_beat.models import IntervalSchedule

    every, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    sweep, _ = PeriodicTask.objects.get_or_create(
        name="ml: webhook retries", defaults={"task": "ml.tasks.webhook_retry_sweep", "interval": every}
    )
    client.force_login(admin_user)
    html = client.get(reverse("schedule")).content.decode()
    assert f'name="t{sweep.pk}-every"' in html and f'name="t{sweep.pk}-minute"' not in html

    response = client.post(
        reverse("schedule"),
        {
            "task": sweep.pk,
            f"t{sweep.pk}-every": "2",
            f"t{sweep.pk}-period": "minutes",
            f"t{sweep.pk}-enabled": "on",
        },
        follow=True,
    )

    sweep.refresh_from_db()
    assert (sweep.interval.every, sweep.interval.period, sweep.enabled) == (2, "minutes", True)
    assert "every 2 minutes" in response.content.decode()
