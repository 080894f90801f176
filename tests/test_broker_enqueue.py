"""Services queue Celery tasks by name through ticketai.broker, without importing any tasks module."""

import subprocess
import sys

import pytest
from django.conf import settings

from ticketai.broker import enqueue_on_commit, task_named

FRESH_WEB_PROCESS = """
import sys, django
django.setup()
from ticketai.broker import task_named
before = "ml.tasks" in sys.modules
print(before, task_named("ml.tasks.deliver_webhook").name, task_named("ml.tasks.train_model_task").name)
"""


@pytest.mark.slow  # a subprocess or parallel clients
def test_a_fresh_web_process_finds_a_task_by_name_without_importing_its_module_first():
    result = subprocess.run(
        [sys.executable, "-c", FRESH_WEB_PROCESS],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "ml.tasks.deliver_webhook", "ml.tasks.train_model_task"]


def test_an_unknown_task_name_is_a_clear_error():
    with pytest.raises(KeyError, match=r"ml\.tasks\.no_such_task"):
        task_named("ml.tasks.no_such_task")


def test_a_task_queued_on_commit_runs_only_when_the_transaction_commits(
    db, eager_celery, django_capture_on_commit_callbacks
):
    from ml.models import TrainingRun

    with django_capture_on_commit_callbacks() as callbacks:
        # A run id that does not exist: the task answers "missing" instead of training.
        enqueue_on_commit("ml.tasks.train_model_task", 999_999)
    assert len(callbacks) == 1 and not TrainingRun.objects.exists()
    result = callbacks[0]()
    assert result.get() == {"run": 999_999, "status": "missing"}
