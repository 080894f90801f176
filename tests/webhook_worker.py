"""A real Celery worker process over Redis for webhook tests: it delivers what the test emits."""

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection


def test_database_url() -> str:
    """The test database as a DATABASE_URL the worker process can open."""
    db = connection.settings_dict
    assert connection.vendor == "postgresql", "worker tests need DATABASE_URL=postgres://..."
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{quote(db['NAME'], safe='')}"


test_database_url.__test__ = False  # a helper, not a test


@contextlib.contextmanager
def webhook_worker(tmp_path: Path, log: Path, name: str = "webhooks"):
    """Run a worker on the default queue (fast retries, 127.0.0.1 allowed) until the block ends."""
    assert settings.REDIS_URL, "this test needs REDIS_URL (a real broker)"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ticketai.settings",
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "TICKETAI_DATA_DIR": str(tmp_path / "data"),
        "TICKETAI_CELERY_EAGER": "false",
        "TICKETAI_WEBHOOK_BACKOFF_S": "0.2",
        "TICKETAI_OUTBOUND_ALLOW": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "ticketai",
                "worker",
                "-Q",
                "default",
                "--pool",
                "solo",
                "-c",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{name}-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield worker
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
