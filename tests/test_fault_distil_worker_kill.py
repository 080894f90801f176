"""A training worker killed with SIGKILL mid-distillation registers no bundle and leaves the champion
alone; the next worker start marks the distillation failed with the reason, frees its lock and
removes its work folder, and a redelivery of the killed task fails at once instead of building.

A real `celery worker` process on the `training` queue over Redis, against the test database.
"""

import os
import signal
import uuid
from pathlib import Path

import pytest
import redis
from celery.result import AsyncResult
from django.conf import settings
from django.core.cache import cache
from django_celery_results.models import TaskResult

from ml.compression.distillation import DistillationConfig
from ml.compression.pipeline import WORK_PREFIX, CompressionConfig, distil_lock_key
from ml.models import EdgeBundle, ModelVersion
from ml.tasks import distil_model_task
from ml.worker import DistillationLost
from tests.fake_ticketing_server import wait_until
from tests.test_celery_worker import _environment
from tests.worker_process import CeleryWorkers

pytestmark = pytest.mark.slow
TIER = "cell-site"
# Hundreds of epochs of one-ticket batches: still distilling long after the first step.
SLOW = CompressionConfig(
    distillation=DistillationConfig(
        layers=1,
        hidden_size=32,
        epochs=500,
        batch_size=1,
        max_length=24,
        max_train_samples=8,
        max_unlabelled=0,
    ),
    warm_start=False,
    fallback=(),
)


@pytest.fixture
def training_worker(transactional_db, tmp_path):
    workers = CeleryWorkers(tmp_path, _environment(tmp_path / "data", redis_url=settings.REDIS_URL))
    try:
        yield workers.start
    finally:
        workers.stop_all()


def _state(task_id: str) -> tuple[str, dict]:
    row = TaskResult.objects.filter(task_id=task_id).first()
    if row is None:
        return "", {}
    result = AsyncResult(task_id)
    return row.status, result.info if isinstance(result.info, dict) else {}


def _visible(folder: Path) -> list[str]:
    """What a reader of the bundle directory sees: everything but hidden work folders, recursively."""
    paths = (p.relative_to(folder) for p in folder.rglob("*"))
    return sorted(str(p) for p in paths if not any(part.startswith(".") for part in p.parts))


def test_a_worker_killed_mid_distillation_registers_nothing_and_the_restart_fails_the_task(
    teacher, training_worker, tmp_path, settings
):
    assert settings.REDIS_URL, "set REDIS_URL: this test needs a real Redis"
    # Messages left on the training queue by earlier runs of this suite would be consumed here.
    redis.Redis.from_url(settings.REDIS_URL).delete("training")
    bundle_dir = tmp_path / "data" / "bundles"
    champions = list(ModelVersion.objects.values_list("pk", "status"))
    assert champions == [(teacher.pk, ModelVersion.Status.CHAMPION)]
    name = f"distil-{uuid.uuid4().hex[:8]}@testhost"
    lock = distil_lock_key(teacher.pk, TIER)
    # A failed earlier run of this test leaves its killed task's lock behind (nothing frees it but
    # the worker's own startup check); the task would then be skipped as "already running".
    cache.delete(lock)

    worker, log = training_worker(name)
    args = [teacher.pk, TIER, SLOW.to_json()]
    task_id = distil_model_task.apply_async(args=args).id
    assert wait_until(
        lambda: _state(task_id)[1].get("step", 0) >= 1 or worker.poll() is not None, timeout=120, interval=0.2
    ), "distillation never started; worker log:\n" + log.read_text()
    assert worker.poll() is None, log.read_text()
    assert _state(task_id)[1]["phase"] == "distilling"

    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)

    assert _state(task_id)[0] == "PROGRESS"  # nobody has noticed yet
    assert cache.get(lock) == task_id
    assert [p.name[: len(WORK_PREFIX)] for p in bundle_dir.iterdir() if p.name.startswith(".")] == [
        WORK_PREFIX
    ], "the killed distillation had no work folder"
    assert _visible(bundle_dir) in ([], ["students"])  # the empty folder warm starts look in
    assert not EdgeBundle.objects.exists()
    assert list(ModelVersion.objects.values_list("pk", "status")) == champions

    restarted, log = training_worker(name)
    assert wait_until(
        lambda: _state(task_id)[0] != "PROGRESS" or restarted.poll() is not None, timeout=60, interval=0.2
    ), "the restarted worker did not recover the distillation; log:\n" + log.read_text()
    failure = AsyncResult(task_id)
    assert failure.status == "FAILURE"
    assert isinstance(failure.result, DistillationLost)
    reason = str(failure.result)
    assert f"worker {name} was restarted while this distillation was running" in reason
    assert cache.get(lock) is None, "the killed task's lock was not freed"
    assert wait_until(lambda: not any(bundle_dir.glob(f"{WORK_PREFIX}*")), timeout=10), list(
        bundle_dir.iterdir()
    )
    assert not EdgeBundle.objects.exists()
    assert list(ModelVersion.objects.values_list("pk", "status")) == champions

    # The broker may deliver the message again (acks_late): it fails at once, nothing is built.
    distil_model_task.apply_async(args=args, task_id=task_id)
    assert wait_until(lambda: f"[{task_id}] ignored" in log.read_text(), timeout=30), log.read_text()
    again = AsyncResult(task_id)
    assert again.status == "FAILURE" and str(again.result) == reason
    assert not EdgeBundle.objects.exists() and not any(bundle_dir.glob(f"{WORK_PREFIX}*"))
    assert cache.get(lock) is None
