"""Redis stops under a running gunicorn: reads still work, recommendations come from the loaded
champion, task-starting requests answer 503 with a clear message and write nothing, and work
queued before the outage runs once Redis is back.

The test runs its own redis-server (append-only file in a temporary folder, so queued messages
survive its restart) and never touches the shared one.
"""

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from ml.models import TrainingRun
from repair_center.models import ApiToken, Ticket
from tests.fake_ticketing_server import wait_until
from tests.test_celery_worker import _test_database_url
from tests.worker_process import worker_command

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """Real processes for one test, each stopped (SIGTERM, then SIGKILL) whatever happens."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = self.tmp_path / f"{name}-{len(self.started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv,
                cwd=settings.BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process.log = log
        self.started.append((process, log))
        return process

    def stop(self, process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def logs(self) -> str:
        tails = (f"--- {log.name}\n{log.read_text()[-3000:]}" for _, log in self.started if log.exists())
        return "\n".join(tails)

    def stop_all(self) -> None:
        for process, _ in reversed(self.started):
            self.stop(process)


@pytest.fixture
def processes(tmp_path):
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()


def app_environment(tmp_path: Path, *, redis_url: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TICKETAI_", "REDIS_URL"))}
    environ.update(
        DJANGO_SETTINGS_MODULE="ticketai.settings",
        DATABASE_URL=_test_database_url(),
        REDIS_URL=redis_url,
        TICKETAI_DATA_DIR=str(tmp_path / "data"),
        TICKETAI_LOG_FORMAT="plain",
        PYTHONUNBUFFERED="1",
    )
    return environ


def start_gunicorn(
    processes: Processes, environ: dict[str, str], *, workers: int = 1, options: tuple[str, ...] = ()
) -> str:
    port = free_port()
    processes.start(
        "gunicorn",
        [
            str(BIN / "gunicorn"),
            *options,
            "ticketai.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "60",
            "--graceful-timeout",
            "5",
        ],
        environ,
    )
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_until(up, timeout=60, interval=0.3), processes.logs()
    return base


def start_redis(processes: Processes, port: int, data_dir: Path) -> subprocess.Popen:
    data_dir.mkdir(exist_ok=True)
    process = processes.start(
        "redis",
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            str(data_dir),
            "--daemonize",
            "no",
        ],
    )

    def answers():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    assert wait_until(answers, timeout=20, interval=0.1), processes.logs()
    return process


def _signed_in_admin(base: str, user) -> httpx.Client:
    # The test process hashes with MD5 for speed; the server only knows the production hashers.
    user.password = PBKDF2PasswordHasher().encode("pw-boss", "faulttestsalt", iterations=1000)
    user.save(update_fields=["password"])
    browser = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    browser.get("/login/")
    response = browser.post(
        "/login/",
        data={"username": "boss", "password": "pw-boss", "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
        headers={"Referer": f"{base}/login/"},
    )
    assert response.status_code == 302, response.text
    return browser


def _start_training(browser: httpx.Client, base: str) -> httpx.Response:
    page = browser.get("/training/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return browser.post(
        "/training/",
        data={"csrfmiddlewaretoken": token, "reason": "fault test", "epochs": "1", "max_length": "32"},
        headers={"Referer": f"{base}/training/"},
    )


def test_with_redis_down_reads_work_task_starts_are_503_and_queued_work_runs_after(
    transactional_db, admin_user, processes, tmp_path
):
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    redis = start_redis(processes, port, tmp_path / "redis")
    environ = app_environment(tmp_path, redis_url=redis_url)
    base = start_gunicorn(processes, environ)
    _, raw = ApiToken.issue(user=admin_user, name="fault")
    api = httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Token {raw}"})
    ticket = {"source": "noc", "external_id": "R-1", "title": "CPRI link down"}
    created = api.post("/api/v1/tickets/", json=ticket)
    assert created.status_code == 201, created.text
    browser = _signed_in_admin(base, admin_user)

    # Work queued while Redis is up, with no worker yet to take it.
    assert _start_training(browser, base).status_code == 302
    [queued] = TrainingRun.objects.all()
    assert queued.status == TrainingRun.Status.QUEUED

    processes.stop(redis)
    ready = httpx.get(f"{base}/readyz", timeout=30)
    assert ready.status_code == 503 and ready.json()["checks"]["redis"].startswith("error")

    # Reads, token auth (its rate limit fails open) and ticket writes still work.
    assert api.get(f"/api/v1/tickets/{created.json()['id']}/").status_code == 200
    assert api.get("/api/v1/tickets/").json()["count"] == 1
    written = api.post("/api/v1/tickets/", json={**ticket, "external_id": "R-2"})
    assert written.status_code == 201, written.text

    # Starting work answers 503 with a clear message, and writes nothing.
    refused = _start_training(browser, base)
    assert refused.status_code == 503, refused.text
    assert int(refused.headers["Retry-After"]) > 0
    assert "task queue is not answering" in refused.json()["detail"]
    assert TrainingRun.objects.count() == 1

    # Redis returns (same port, its append-only file kept the queued message); a worker runs it.
    start_redis(processes, port, tmp_path / "redis")
    assert wait_until(lambda: httpx.get(f"{base}/readyz", timeout=30).status_code == 200, timeout=30)
    processes.start(
        "worker",
        worker_command(queue="training", pool="solo"),
        environ,
    )

    def finished():
        queued.refresh_from_db()
        return queued.status != TrainingRun.Status.QUEUED and queued.is_finished

    assert wait_until(finished, timeout=240, interval=1), processes.logs()
    assert _start_training(browser, base).status_code == 302
    assert TrainingRun.objects.count() == 2


def test_with_redis_down_recommendations_come_from_the_loaded_champion(
    trained_champion, transactional_db, admin_user, processes, tmp_path
):
    port = free_port()
    redis = start_redis(processes, port, tmp_path / "redis")
    environ = app_environment(tmp_path, redis_url=f"redis://127.0.0.1:{port}/0")
    environ["TICKETAI_MODEL_DIR"] = str(settings.TICKETAI_MODEL_DIR)
    base = start_gunicorn(processes, environ)
    _, raw = ApiToken.issue(user=admin_user, name="fault")
    api = httpx.Client(base_url=base, timeout=120, headers={"Authorization": f"Token {raw}"})
    first, second = Ticket.objects.filter(source="noc").order_by("pk")[:2]
    warm = api.get(f"/api/v1/tickets/{first.pk}/recommendation/")  # loads the champion
    assert warm.status_code == 200, warm.text
    assert warm.json()["model_version"] == trained_champion.pk

    processes.stop(redis)
    assert httpx.get(f"{base}/readyz", timeout=30).status_code == 503

    fresh = api.get(f"/api/v1/tickets/{second.pk}/recommendation/", params={"refresh": "true"})
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["model_version"] == trained_champion.pk
    assert fresh.json()["recommendations"] or fresh.json()["abstained"]
    draft = api.post("/api/v1/recommendations/", json={"title": "CPRI link down", "error_codes": []})
    assert draft.status_code == 200, draft.text
    assert draft.json()["model_version"] == trained_champion.pk
