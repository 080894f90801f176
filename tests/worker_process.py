"""Real `celery worker` processes for tests, each in its own process group so that a test can
SIGKILL a worker with its pool children, and every one is stopped whatever happens."""

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from django.conf import settings

CELERY = Path(sys.executable).parent / "celery"


def worker_command(*, queue: str = "default", pool: str = "solo", name: str | None = None) -> list[str]:
    """`celery worker` on one queue with one process, without the cluster chatter tests don't need."""
    return [
        str(CELERY),
        "-A",
        "ticketai",
        "worker",
        "-Q",
        queue,
        "--pool",
        pool,
        "-c",
        "1",
        "--loglevel",
        "info",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-n",
        name or f"test-{uuid.uuid4().hex[:8]}@%h",
    ]


def start_worker(env: dict[str, str], log: Path, **command) -> subprocess.Popen:
    """Start a worker (``command``: worker_command's options) writing to ``log``, in a new session."""
    with log.open("ab") as out:
        return subprocess.Popen(
            worker_command(**command),
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_worker(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM the worker's process group (a warm shutdown), SIGKILL it if that takes too long."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class CeleryWorkers:
    """Workers started during one test, each with its own log; ``stop_all`` in the test's teardown."""

    def __init__(self, tmp_path: Path, env: dict[str, str], *, queue="training", pool="prefork"):
        self.tmp_path = tmp_path
        self.env = env
        self.queue = queue
        self.pool = pool
        self.started: list[subprocess.Popen] = []

    def start(self, name: str | None = None, env: dict | None = None) -> tuple[subprocess.Popen, Path]:
        log = self.tmp_path / f"worker-{len(self.started)}.log"
        process = start_worker(env or self.env, log, queue=self.queue, pool=self.pool, name=name)
        self.started.append(process)
        return process, log

    def stop_all(self) -> None:
        for process in self.started:
            stop_worker(process)
