"""A real Celery worker process pulls a connector, over Redis and over the embedded filesystem broker.

The worker runs against the test database (its name goes to the subprocess in DATABASE_URL), so
the test data must be committed: these tests use transactional_db.
"""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django_celery_results.models import TaskResult

from repair_center.models import Connector, ConnectorRun, Ticket
from repair_center.tasks import pull_connector
from tests.fake_ticketing_server import REMOTE_MAPPING, FakeTicketingServer, ticket_items, wait_until
from tests.worker_process import CeleryWorkers

pytestmark = pytest.mark.slow
WAIT_S = 90


def _test_database_url() -> str:
    db = connection.settings_dict
    assert connection.vendor == "postgresql", (
        "worker tests need DATABASE_URL=postgres://... (a shared database)"
    )
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{quote(db['NAME'], safe='')}"


def _environment(data_dir: Path, *, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_URL_FILE")}
    env.update(
        DJANGO_SETTINGS_MODULE="ticketai.settings",
        DATABASE_URL=_test_database_url(),
        TICKETAI_DATA_DIR=str(data_dir),
        TICKETAI_CELERY_EAGER="false",
        TICKETAI_OUTBOUND_ALLOW="127.0.0.1",  # the fake ticketing system, an on-premises target
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


@pytest.fixture
def start_worker(transactional_db, tmp_path):
    """Starts `celery worker` subprocesses; each is stopped (SIGTERM, then SIGKILL) whatever happens."""
    workers = CeleryWorkers(tmp_path, {}, queue="default", pool="solo")
    try:
        yield lambda env: workers.start(env=env)
    finally:
        workers.stop_all()


def _wait_for_run(connector: Connector, worker: subprocess.Popen, log: Path) -> ConnectorRun:
    def finished():
        return (
            connector.runs.exclude(status=ConnectorRun.Status.RUNNING).exists() or worker.poll() is not None
        )

    assert wait_until(finished, timeout=WAIT_S, interval=0.2), (
        "no run finished; worker log:\n" + log.read_text()
    )
    run = connector.runs.first()
    assert run is not None, f"the worker exited ({worker.returncode}); log:\n{log.read_text()}"
    return run


def test_a_worker_on_redis_pulls_a_connector_enqueued_by_id(start_worker, tmp_path):
    assert settings.REDIS_URL, "set REDIS_URL: this test needs a real Redis"
    with FakeTicketingServer(items=ticket_items(5), page_size=2, faults={2: "503"}) as server:
        connector = Connector.objects.create(
            name="noc-remote", base_url=server.url, field_mapping=REMOTE_MAPPING
        )
        worker, log = start_worker(_environment(tmp_path / "data", redis_url=settings.REDIS_URL))
        result = pull_connector.delay(connector.id)
        run = _wait_for_run(connector, worker, log)

    assert run.status == ConnectorRun.Status.SUCCEEDED, run.error
    # Pages after the first restart at the newest time stored: 1-2, 2-3, 3-4, 4-5.
    assert (run.pages, run.created, run.retries) == (4, 5, 1)
    assert Ticket.objects.filter(source="noc-remote").count() == 5
    assert wait_until(
        lambda: TaskResult.objects.filter(task_id=result.id, status="SUCCESS").exists(), timeout=10
    ), log.read_text()
    assert TaskResult.objects.get(task_id=result.id).task_name == "repair_center.tasks.pull_connector"


def test_a_worker_on_the_embedded_filesystem_broker_pulls_a_connector(start_worker, tmp_path):
    env = _environment(tmp_path / "data", redis_url=None)
    with FakeTicketingServer(items=ticket_items(4), page_size=3) as server:
        connector = Connector.objects.create(
            name="noc-remote", base_url=server.url, field_mapping=REMOTE_MAPPING
        )
        worker, log = start_worker(env)
        code = (
            f"from repair_center.tasks import pull_connector; print(pull_connector.delay({connector.id}).id)"
        )
        enqueue = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert enqueue.returncode == 0, enqueue.stderr
        task_id = enqueue.stdout.strip().splitlines()[-1]
        run = _wait_for_run(connector, worker, log)

    assert run.status == ConnectorRun.Status.SUCCEEDED, run.error
    assert (run.pages, run.created) == (2, 4)
    assert Ticket.objects.filter(source="noc-remote").count() == 4
    assert wait_until(
        lambda: TaskResult.objects.filter(task_id=task_id, status="SUCCESS").exists(), timeout=10
    ), log.read_text()


@pytest.mark.parametrize(("service", "name"), [("worker", "celery"), ("training-worker", "training")])
def test_the_compose_healthcheck_passes_while_the_worker_answers_and_fails_once_it_is_gone(
    transactional_db, tmp_path, service, name
):
    """docker-compose.yml's healthcheck, run as Docker runs it (a shell, $HOSTNAME the container's
    host name, which Celery's %h expands to), against a real worker named as compose names it."""
    import socket

    import yaml

    compose = yaml.safe_load((Path(settings.BASE_DIR) / "docker-compose.yml").read_text())
    kind, command = compose["services"][service]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    env = _environment(tmp_path / "data", redis_url=settings.REDIS_URL)
    check_env = {**env, "HOSTNAME": socket.gethostname()}

    def healthy() -> bool:
        check = [
            "sh",
            "-c",
            command.replace("$$", "$").replace("celery ", f"{Path(sys.executable).parent}/celery ", 1),
        ]
        return (
            subprocess.run(check, env=check_env, cwd=settings.BASE_DIR, capture_output=True).returncode == 0
        )

    workers = CeleryWorkers(
        tmp_path, env, queue="default" if service == "worker" else "training", pool="solo"
    )
    try:
        _, log = workers.start(name=f"{name}@%h")
        assert wait_until(healthy, timeout=WAIT_S, interval=1), (
            "never healthy; worker log:\n" + log.read_text()
        )
    finally:
        workers.stop_all()
    assert not healthy()
