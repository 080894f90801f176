"""`manage.py train`: --sync trains here and prints the metrics JSON; without it the run is queued."""

import json
from io import StringIO

import pytest
import redis
from django.conf import settings
from django.core.management import CommandError, call_command

from ml.models import ModelVersion, TrainingRun
from repair_center.services.tickets import tickets_upsert
from tests.factories import ml_catalogue, ml_ticket_documents

pytestmark = pytest.mark.slow


@pytest.fixture
def corpus(db, settings, tmp_path):
    settings.TICKETAI_MODEL_DIR = tmp_path / "models"
    ml_catalogue()
    tickets_upsert(documents=ml_ticket_documents(per_class=6), source="noc")


def test_train_sync_prints_the_metrics_json_and_a_progress_bar(corpus):
    out, err = StringIO(), StringIO()
    call_command(
        "train",
        "--sync",
        "--epochs",
        "1",
        "--max-length",
        "32",
        "--max-train-samples",
        "8",
        stdout=out,
        stderr=err,
    )
    result = json.loads(out.getvalue())
    run = TrainingRun.objects.get()
    assert (result["run"], result["status"]) == (run.pk, "succeeded")
    assert result["model_version"] == ModelVersion.objects.get().pk
    assert result["model_status"] == "champion"
    assert 0.0 <= result["metrics"]["macro_f1"] <= 1.0
    assert set(result["baselines"]) == {"runbook", "tfidf_logreg"}
    assert run.config["training"]["max_train_samples"] == 8
    assert "training: 100%" in err.getvalue() and "1/1" in err.getvalue()
    assert "Data-quality gate passed:" in err.getvalue()  # what the metrics do not say, said to a person
    assert "[ok] label coverage" in err.getvalue()


def test_train_sync_with_a_bad_base_model_fails_readably(corpus, tmp_path):
    with pytest.raises(CommandError, match="is not a Hugging Face model directory"):
        call_command("train", "--sync", "--base-model", str(tmp_path / "nothing"), stdout=StringIO())
    assert TrainingRun.objects.get().status == TrainingRun.Status.FAILED


def test_train_without_sync_queues_the_run_on_the_training_queue(corpus, django_capture_on_commit_callbacks):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("training")
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("train", "--epochs", "2", stdout=out)
    run = TrainingRun.objects.get()
    assert out.getvalue().strip() == str(run.pk)
    assert (run.status, run.trigger, run.config["training"]["epochs"]) == ("queued", "manual", 2)
    [message] = broker.lrange("training", 0, -1)
    headers = json.loads(message)["headers"]
    assert (headers["task"], headers["id"], headers["argsrepr"]) == (
        "ml.tasks.train_model_task",
        run.celery_task_id,
        f"[{run.pk}]",
    )
    broker.delete("training")
