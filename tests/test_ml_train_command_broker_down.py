"""`manage.py train` (queued, not --sync) with the task queue down: a clear error and no run left queued.

A run left "queued" with no message behind it would never start, and every scheduled, new-label and
drift retrain of its label set would be recorded as skipped behind it for good.
"""

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from ml.models import TrainingRun
from tests.test_celery_worker import _environment

pytestmark = pytest.mark.slow


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_train_with_the_broker_down_fails_readably_and_leaves_no_queued_run(transactional_db, tmp_path):
    env = _environment(tmp_path / "data", redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    done = subprocess.run(
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "train", "--epochs", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert "The task queue is not answering, so nothing was started" in done.stderr
    assert "Traceback" not in done.stderr
    assert not TrainingRun.objects.exists()
