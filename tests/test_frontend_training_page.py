"""The training page: an admin queues a run, its progress is served as JSON, the history shows outcomes."""

from django.urls import reverse

from ml.models import TrainingRun
from tests.factories import ModelVersionFactory, TrainingRunFactory


def test_an_admin_starts_a_training_run_with_a_small_config(
    client, admin_user, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse("training"),
            {
                "reason": "new coast data",
                "epochs": 1,
                "max_length": 32,
                "max_train_samples": 24,
                "force": "on",
            },
        )
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("training-run", args=[run.pk])
    assert (run.trigger, run.status, run.requested_by, run.reason) == (
        "manual",
        "queued",
        "boss",
        "new coast data",
    )
    assert run.config["force"] is True
    assert {k: run.config["training"][k] for k in ("epochs", "max_length", "max_train_samples")} == {
        "epochs": 1,
        "max_length": 32,
        "max_train_samples": 24,
    }
    assert run.celery_task_id and len(callbacks) == 1  # handed to the training queue once committed


def test_an_engineer_gets_a_403_page_and_cannot_start_training(client, engineer, admin_user):
    TrainingRunFactory(trigger="drift", status="skipped", reason="training data unchanged since run #1")
    client.force_login(engineer)
    assert client.get(reverse("training")).status_code == 403
    assert client.post(reverse("training"), {"epochs": 1}).status_code == 403
    client.force_login(admin_user)
    html = client.get(reverse("training")).content.decode()
    assert "Drift" in html and "training data unchanged since run #1" in html and "Skipped" in html
    assert TrainingRun.objects.count() == 1


def test_an_invalid_config_is_refused_with_the_reason(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("training"), {"epochs": -1})
    assert response.status_code == 400
    assert "Ensure this value is greater than or equal to 0" in response.content.decode()
    assert not TrainingRun.objects.exists()


def test_the_progress_endpoint_reports_epoch_step_loss_and_eta(client, admin_user):
    run = TrainingRunFactory(
        status="running",
        progress={
            "epoch": 1,
            "epochs": 2,
            "step": 3,
            "total_steps": 12,
            "loss": 1.234,
            "eta_s": 41.6,
            "phase": "training",
        },
    )
    client.force_login(admin_user)
    response = client.get(reverse("training-progress", args=[run.pk]))
    assert response["Cache-Control"] == "no-store"
    data = response.json()
    assert {
        k: data[k]
        for k in ("status", "finished", "epoch", "epochs", "step", "total_steps", "loss", "percent")
    } == {
        "status": "running",
        "finished": False,
        "epoch": 1,
        "epochs": 2,
        "step": 3,
        "total_steps": 12,
        "loss": 1.234,
        "percent": 25,
    }
    assert data["eta_s"] == 41.6


def test_a_running_run_page_shows_the_bar_and_refreshes_itself_without_javascript(client, admin_user):
    run = TrainingRunFactory(
        status="running", progress={"step": 5, "total_steps": 10, "epoch": 1, "epochs": 1}
    )
    client.force_login(admin_user)
    html = client.get(reverse("training-run", args=[run.pk])).content.decode()
    assert f'<progress id="progress-{run.pk}" max="100" value="50">' in html
    assert f'data-progress-url="/training/{run.pk}/progress.json"' in html
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html
    assert "frontend/progress.js" in html


def test_a_finished_run_shows_its_outcome_and_stops_refreshing(client, admin_user):
    run = TrainingRunFactory(status="succeeded", reason="first model", progress={"step": 4, "total_steps": 4})
    client.force_login(admin_user)
    html = client.get(reverse("training-run", args=[run.pk])).content.decode()
    assert 'value="100"' in html and "Succeeded" in html and "first model" in html
    assert 'http-equiv="refresh"' not in html
    assert client.get(reverse("training-progress", args=[run.pk])).json()["finished"] is True


def test_the_history_shows_duration_and_score_and_a_run_its_quality_checks_as_a_table(client, admin_user):
    from datetime import timedelta

    from django.utils import timezone

    version = ModelVersionFactory(base_model="t", data_fingerprint="q" * 64, metrics={"macro_f1": 0.9123})
    started = timezone.now() - timedelta(minutes=14, seconds=10)
    run = TrainingRunFactory(
        trigger="manual",
        status="succeeded",
        started_at=started,
        finished_at=started + timedelta(minutes=14, seconds=10),
        model_version=version,
        quality_report={
            "passed": True,
            "checks": [
                {"name": "label coverage", "ok": True, "value": 0.97, "limit": 0.5, "message": "97 of 100"},
                {
                    "name": "enough examples",
                    "ok": True,
                    "value": 2740,
                    "limit": 200,
                    "message": "2740 usable",
                },
            ],
            "rare_labels": {"APPLY_HOTFIX": 3},
        },
    )
    client.force_login(admin_user)
    history = client.get(reverse("training")).content.decode()
    assert '<td data-label="Macro-F1" class="score">0.912</td>' in history
    assert "14 min" in history

    page = client.get(reverse("training-run", args=[run.pk])).content.decode()
    table = page[page.index('class="cards quality"') :]
    assert '<td data-label="Check">label coverage</td>' in table
    assert '<td data-label="Value">97.0%</td>' in table and '<td data-label="Limit">50.0%</td>' in table
    assert (
        '<td data-label="Value">2,740</td>' in table
        and '<span class="badge run-succeeded">pass</span>' in table
    )
    # Written before rare classes were trained on: its rare classes were left out.
    assert "Left out of training, too few examples: <code>APPLY_HOTFIX</code> (3)" in page
    assert "Trained on, too few" not in page
    assert "{&#x27;" not in page  # no raw Python dict

    run.quality_report = {**run.quality_report, "left_out_labels": {"TYPO_FIX": 1}}
    run.save(update_fields=["quality_report"])
    page = client.get(reverse("training-run", args=[run.pk])).content.decode()
    assert "Trained on, too few examples to hold out for measuring: <code>APPLY_HOTFIX</code> (3)" in page
    assert "Left out of training, too few examples: <code>TYPO_FIX</code> (1)" in page


def test_an_admin_can_override_failing_gate_checks_and_the_run_page_shows_it(
    client, admin_user, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    form = client.get(reverse("training")).content.decode()
    assert 'name="allow" value="duplicates"' in form and 'name="allow" value="text-lost"' in form
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("training"), {"allow": ["duplicates", "label-coverage"]})
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and run.config["allow"] == ["duplicates", "label-coverage"]
    assert client.post(reverse("training"), {"allow": ["everything"]}).status_code == 400

    run.quality_report = {
        "passed": True,
        "allowed": ["label-coverage"],
        "overridden": ["label-coverage"],
        "checks": [
            {
                "name": "label coverage",
                "key": "label-coverage",
                "ok": False,
                "verdict": "FAIL",
                "value": 0.02,
                "limit": 0.05,
                "message": "2 of 100",
            },
            {
                "name": "duplicate rate",
                "key": "duplicates",
                "ok": False,
                "verdict": "WARN",
                "value": 0.5,
                "limit": 0.3,
                "message": "half repeat",
            },
        ],
    }
    run.save()
    page = client.get(reverse("training-run", args=[run.pk])).content.decode()
    assert '<span class="badge run-queued">overridden</span>' in page
    assert '<span class="badge run-queued">warning</span>' in page
    assert "Overridden when the run was started: <code>label-coverage</code>" in page


def test_the_check_overrides_are_a_fieldset_with_readable_labels(client, admin_user):
    client.force_login(admin_user)
    html = client.get(reverse("training")).content.decode()
    assert '<label for="">' not in html
    group = html[html.index("<fieldset") : html.index("</fieldset>")]
    assert "<legend>Train although these data-quality checks fail (recorded on the run)</legend>" in group
    assert "Label coverage</label>" in group and 'value="label-coverage"' in group
