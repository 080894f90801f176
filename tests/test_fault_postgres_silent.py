"""PostgreSQL's host accepts connections but never answers (lost behind a firewall that drops
packets, a hung server): a new connection gives up after a few seconds, so /readyz says 503 rather
than holding a gunicorn worker until its timeout kills it (three probes would take the whole site).

The silent server is a listening socket on 127.0.0.1 that never accepts: the kernel completes the
TCP handshake and nothing ever answers libpq's startup packet.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ticketai import env

pytestmark = pytest.mark.slow  # a subprocess and a wait of a few seconds
ROOT = Path(__file__).resolve().parent.parent

_READYZ = """
import json, django
django.setup()
from django.test import Client
response = Client().get("/readyz")
print(json.dumps({"status": response.status_code, "body": response.json()}))
"""


def test_readyz_gives_up_on_a_database_that_never_answers(tmp_path):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("TICKETAI_")}
        environ.pop("REDIS_URL", None)
        environ.update(
            DJANGO_SETTINGS_MODULE="ticketai.settings",
            TICKETAI_DATA_DIR=str(tmp_path / "data"),
            TICKETAI_ALLOWED_HOSTS="testserver",
            DATABASE_URL=f"postgres://ticketai@127.0.0.1:{port}/ticketai",
        )
        started = time.monotonic()
        try:
            result = subprocess.run(
                [sys.executable, "-c", _READYZ],
                cwd=ROOT,
                env=environ,
                capture_output=True,
                text=True,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            pytest.fail("/readyz was still waiting for the database after 60 s", pytrace=False)
        took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["status"] == 503
    assert answer["body"]["status"] == "not ready"
    assert answer["body"]["checks"]["database"] == "error: OperationalError"
    # Interpreter start and django.setup() included; the wait itself is CONNECT_TIMEOUT_S per try.
    assert took < 4 * env.CONNECT_TIMEOUT_S + 10, took
