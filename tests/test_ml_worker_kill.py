"""A training worker killed with SIGKILL mid-training leaves no visible model and no changed champion;
the next worker start marks the run failed with the reason and removes the half-written files.

Real `celery worker` processes on the `training` queue over Redis, against the test database.
"""

import os
import signal
import uuid

import pytest
import redis
from django.conf import settings

from ml.models import ModelVersion, TrainingRun
from ml.tasks import train_model_task
from ml.training.fine_tuning import TrainingConfig
from ml.training.services import training_enqueue
from repair_center.services.tickets import tickets_upsert
from tests.factories import ModelVersionFactory, ml_catalogue, ml_ticket_documents
from tests.fake_ticketing_server import wait_until
from tests.test_celery_worker import _environment
from tests.worker_process import CeleryWorkers

pytestmark = pytest.mark.slow

# Many epochs at batch 4: still training long after the first step, whatever the machine's load.
SLOW = TrainingConfig(epochs=40, max_length=48, batch_size=4, patience=100, max_train_samples=24)


@pytest.fixture
def training_worker(transactional_db, tmp_path):
    """Starts `celery worker -Q training` processes in their own process groups; all stopped at the end."""
    workers = CeleryWorkers(tmp_path, _environment(tmp_path / "data", redis_url=settings.REDIS_URL))
    try:
        yield workers.start
    finally:
        workers.stop_all()


def _champion() -> ModelVersion:
    return ModelVersionFactory(
        base_model="earlier",
        data_fingerprint="0" * 64,
        artifact_path="/elsewhere/v-earlier",
        status=ModelVersion.Status.CHAMPION,
    )


def test_a_worker_killed_mid_training_leaves_no_model_and_the_restart_fails_the_run(
    training_worker, tmp_path, settings
):
    assert settings.REDIS_URL, "set REDIS_URL: this test needs a real Redis"
    # Messages left on the training queue by earlier runs of this suite would be consumed here.
    redis.Redis.from_url(settings.REDIS_URL).delete("training")
    model_dir = tmp_path / "data" / "models"
    settings.TICKETAI_MODEL_DIR = model_dir
    ml_catalogue()
    tickets_upsert(documents=ml_ticket_documents(per_class=10), source="noc")
    champion = _champion()
    name = f"training-{uuid.uuid4().hex[:8]}@testhost"

    worker, log = training_worker(name)
    run = training_enqueue(config=SLOW, reason="kill test")
    assert wait_until(
        lambda: TrainingRun.objects.get(pk=run.pk).progress.get("step", 0) >= 1 or worker.poll() is not None,
        timeout=120,
        interval=0.2,
    ), "training never started; worker log:\n" + log.read_text()
    assert worker.poll() is None, log.read_text()

    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.RUNNING  # nobody has noticed yet
    visible = [p.name for p in model_dir.iterdir() if not p.name.startswith(".staging-")]
    assert visible == []
    assert [p.name for p in model_dir.iterdir()], "the killed training had written nothing yet"
    assert ModelVersion.objects.get() == champion
    assert ModelVersion.objects.get().status == ModelVersion.Status.CHAMPION

    restarted, log = training_worker(name)
    assert wait_until(
        lambda: (
            TrainingRun.objects.get(pk=run.pk).status != TrainingRun.Status.RUNNING
            or restarted.poll() is not None
        ),
        timeout=60,
        interval=0.2,
    ), "the restarted worker did not recover the run; log:\n" + log.read_text()
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert f"worker {name} was restarted while this run was training" in run.reason
    assert run.finished_at is not None
    assert wait_until(lambda: not list(model_dir.iterdir()), timeout=10), list(model_dir.iterdir())
    assert list(ModelVersion.objects.values_list("pk", "status")) == [
        (champion.pk, ModelVersion.Status.CHAMPION)
    ]

    # The broker may deliver the message again (acks_late): the run is finished, so nothing happens.
    train_model_task.apply_async(args=[run.pk], task_id=run.celery_task_id)
    assert wait_until(lambda: "succeeded in" in log.read_text(), timeout=30), log.read_text()
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert ModelVersion.objects.count() == 1
