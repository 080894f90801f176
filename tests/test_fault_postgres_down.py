"""PostgreSQL stops under a running gunicorn: API and page requests answer 503 with Retry-After and
a clear message (never a 500), /healthz stays 200 and /readyz says 503; once PostgreSQL is back the
same requests answer 200 again without restarting anything.

The test runs its own PostgreSQL cluster (initdb into a temporary folder, a free port) and never
touches the shared one on 5432.
"""

import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import InterfaceError, OperationalError

from tests.test_fault_redis_down import Processes, app_environment, free_port, start_gunicorn
from ticketai.database import is_connection_failure

pytestmark = pytest.mark.slow
PG_ROOT = Path("/usr/lib/postgresql")

# Run in a fresh interpreter against the private cluster: an engineer with an API token and a
# signed-in session (as Django's test client's force_login makes one), printed as JSON.
_CREATE_ENGINEER = """
import json
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import Group, User
from django.contrib.sessions.backends.db import SessionStore
from repair_center.models import ApiToken

user = User.objects.create_user("eng")
user.groups.add(Group.objects.get(name="engineer"))
_, raw = ApiToken.issue(user=user, name="fault")
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(json.dumps({"token": raw, "session": session.session_key}))
"""


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1:<free port>, run as the postgres user when we are root."""

    def __init__(self):
        versions = sorted(
            (p for p in PG_ROOT.glob("*/bin") if (p / "initdb").exists()), key=lambda p: float(p.parent.name)
        )
        assert versions, f"no PostgreSQL server binaries under {PG_ROOT}"
        self.bin = versions[-1]
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="ticketai-pg-"))
        self.data = self.root / "data"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/ticketai_fault"
        if os.geteuid() == 0:  # initdb refuses to run as root
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{argv[0]} failed:\n{result.stdout}\n{result.stderr}\n{self.log()}"

    def log(self) -> str:
        log = self.root / "server.log"
        return log.read_text()[-3000:] if log.exists() else ""

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-N",
            "-E",
            "UTF8",
            "--locale=C",
        )
        self.start()
        self._run(
            str(self.bin / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "ticketai_fault",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres():
    cluster = PrivatePostgres()
    try:
        cluster.init()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def processes(tmp_path):
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()


def _manage(environ: dict[str, str], *argv: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *argv],
        cwd=settings.BASE_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"manage.py {argv[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _clients(base: str, credentials: dict) -> tuple[httpx.Client, httpx.Client]:
    """An integration with the engineer's API token, and a browser with the engineer's session."""
    api = httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Token {credentials['token']}"})
    browser = httpx.Client(
        base_url=base,
        timeout=30,
        cookies={"sessionid": credentials["session"]},
        headers={"Accept": "text/html"},
    )
    return api, browser


def _requests(api: httpx.Client, browser: httpx.Client) -> dict[str, httpx.Response]:
    """The same four requests before, during and after the outage."""
    return {
        "api": api.get("/api/v1/tickets/"),
        "page": browser.get("/"),
        "healthz": api.get("/healthz"),
        "readyz": api.get("/readyz"),
    }


def _statuses(answers: dict[str, httpx.Response]) -> dict[str, int]:
    return {name: response.status_code for name, response in answers.items()}


def test_with_postgres_down_requests_get_503_with_retry_after_and_succeed_once_it_is_back(
    private_postgres, processes, tmp_path
):
    environ = app_environment(tmp_path, redis_url=settings.REDIS_URL)
    environ["DATABASE_URL"] = private_postgres.url
    _manage(environ, "migrate", "--noinput")
    credentials = json.loads(_manage(environ, "shell", "-c", _CREATE_ENGINEER).strip().splitlines()[-1])
    api, browser = _clients(start_gunicorn(processes, environ), credentials)

    before = _requests(api, browser)
    assert _statuses(before) == {"api": 200, "page": 200, "healthz": 200, "readyz": 200}, processes.logs()
    assert before["api"].json()["count"] == 0

    private_postgres.stop()
    during = _requests(api, browser)
    assert _statuses(during) == {"api": 503, "page": 503, "healthz": 200, "readyz": 503}, processes.logs()
    refused, page = during["api"], during["page"]
    assert int(refused.headers["Retry-After"]) > 0 and int(page.headers["Retry-After"]) > 0
    assert refused.headers["Content-Type"].startswith("application/json")
    assert "database is not answering" in refused.json()["detail"]
    assert page.headers["Content-Type"].startswith("text/html")
    assert "TicketAI is not available right now" in page.text and "database is not answering" in page.text
    assert 'name="viewport"' in page.text and "/static/frontend/app.css" in page.text  # the site's layout
    assert during["readyz"].json()["checks"]["database"].startswith("error")
    # A retrying client meets the same answer, and the outage is logged once, not per request.
    assert api.get("/api/v1/tickets/1/").status_code == 503
    log = processes.logs()
    assert log.count("database unavailable, answering 503") == 1, log
    assert "Traceback" not in log and "Internal Server Error" not in log, log

    private_postgres.start()
    after = _requests(api, browser)
    assert _statuses(after) == {"api": 200, "page": 200, "healthz": 200, "readyz": 200}, processes.logs()
    assert after["api"].json()["count"] == 0 and "Retry-After" not in after["api"].headers


def _django_error(cause: Exception, kind=OperationalError) -> Exception:
    error = kind(str(cause))
    error.__cause__ = cause  # as django.db.utils.DatabaseErrorWrapper raises it
    return error


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (_django_error(psycopg.OperationalError("connection failed: Connection refused")), True),
        (_django_error(psycopg.errors.AdminShutdown("terminating connection")), True),
        (_django_error(psycopg.errors.ConnectionFailure("server closed the connection")), True),
        (_django_error(psycopg.OperationalError("connection already closed"), InterfaceError), True),
        (_django_error(psycopg.errors.DeadlockDetected("deadlock detected")), False),
        (_django_error(psycopg.errors.QueryCanceled("statement timeout")), False),
        (_django_error(sqlite3.OperationalError("database is locked")), False),
        (ValueError("not a database error"), False),
    ],
)
def test_only_a_lost_connection_counts_as_the_database_being_down(error, outage):
    assert is_connection_failure(error) is outage
