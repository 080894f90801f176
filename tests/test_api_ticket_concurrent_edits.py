"""Two edits of one ticket at once: a PATCH merges into the document as it is when it writes, so
the other edit's fields are not written back as they were before it."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from repair_center.models import Ticket
from repair_center.services.tickets import tickets_upsert

URL = "/api/v1/tickets/"


def _wait_until_a_request_waits_for_a_lock(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # else one snapshot per transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the PATCH never waited for the ticket's row lock")


@pytest.mark.django_db(transaction=True)
def test_it_keeps_a_change_committed_while_a_patch_waits(integration_client):
    [created] = tickets_upsert(
        documents=[{"external_id": "T-1", "title": "old title", "description": "old text"}], source="api"
    )
    answers = []

    def patch_title():
        try:
            answers.append(
                integration_client.patch(f"{URL}{created.id}/", {"title": "new title"}, format="json")
            )
        finally:
            connections.close_all()

    with transaction.atomic():
        Ticket.objects.select_for_update().get(pk=created.id)  # another writer holds the ticket
        worker = threading.Thread(target=patch_title)
        worker.start()
        _wait_until_a_request_waits_for_a_lock()
        tickets_upsert(
            documents=[{"external_id": "T-1", "title": "old title", "description": "new text"}], source="api"
        )
    worker.join(timeout=30)

    assert answers and answers[0].status_code == 200, answers and answers[0].content
    ticket = Ticket.objects.get(pk=created.id)
    assert (ticket.title, ticket.description) == ("new title", "new text")
    assert answers[0].json()["description"] == "new text"
