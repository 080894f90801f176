"""A pull whose worker dies (killed by a deploy or the OOM killer) leaves its run "running". Its
database session ends with it, and with the session the pull's advisory lock: the next pull takes the
connector over at once, not after the task time limit (over two hours by default)."""

import threading
import time

import pytest
from django.db import connection

from repair_center.models import Connector, ConnectorRun, Ticket
from repair_center.services.connectors import pull_connector
from tests.fake_ticketing_server import REMOTE_MAPPING, FakeTicketingServer, ticket_items

pytestmark = pytest.mark.slow  # a real HTTP server, and a database session ended under a pull


@pytest.fixture(autouse=True)
def local(settings):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]


def _running(connector_id: int, *, timeout: float = 10) -> ConnectorRun:
    deadline = time.monotonic() + timeout
    while not (run := ConnectorRun.objects.filter(connector_id=connector_id).first()) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert run is not None and run.status == ConnectorRun.Status.RUNNING, "the first pull never started"
    return run


def test_a_run_whose_worker_died_is_taken_over_by_the_next_pull_at_once(transactional_db, settings):
    settings.TICKETAI_CONNECTOR_TIMEOUT_S, settings.TICKETAI_CONNECTOR_MAX_RETRIES = 60, 0
    # The first request never gets an answer while the server runs: the doomed pull stays in it.
    with FakeTicketingServer(items=ticket_items(4), page_size=3, faults={1: "hang"}, hang_s=60) as server:
        connector = Connector.objects.create(name="noc", base_url=server.url, field_mapping=REMOTE_MAPPING)

        worker = {}

        def doomed_pull():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                worker["pid"] = cursor.fetchone()[0]
            try:
                pull_connector(connector.id)
            except Exception:  # noqa: BLE001, S110 -- its session is ended under it, as a dying worker's
                pass
            finally:
                connection.close()

        thread = threading.Thread(target=doomed_pull, daemon=True)
        thread.start()
        dead = _running(connector.id)
        deadline = time.monotonic() + 10  # and its request is the one that hangs, not the next pull's
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        with connection.cursor() as cursor:  # the worker dies: its database session ends
            cursor.execute("SELECT pg_terminate_backend(%s)", [worker["pid"]])
            deadline = time.monotonic() + 10  # it signals the session, which then ends
            while time.monotonic() < deadline:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [worker["pid"]])
                if not cursor.fetchone()[0]:
                    break
                time.sleep(0.02)
        run = pull_connector(connector.id)
        dead.refresh_from_db()
    thread.join(timeout=10)

    assert (dead.status, dead.error) == (ConnectorRun.Status.FAILED, "abandoned: the worker died")
    assert run.status == ConnectorRun.Status.SUCCEEDED and Ticket.objects.count() == 4
    with connection.cursor() as cursor:  # the next pull released its lock when it ended
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s", [connector.id]
        )
        assert cursor.fetchone()[0] == 0
