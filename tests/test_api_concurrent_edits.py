"""Two edits of one ticket (or repair record) at once: a PATCH merges into the row as it is when it
writes, so the other edit's fields are not written back as they were before it."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from repair_center.models import RepairRecord, Ticket
from repair_center.services.repairs import repairs_upsert
from repair_center.services.tickets import tickets_upsert

URL = "/api/v1/tickets/"


def _patch_in_a_thread(client, url: str, body: dict, answers: list) -> threading.Thread:
    def patch():
        try:
            answers.append(client.patch(url, body, format="json"))
        finally:
            connections.close_all()

    worker = threading.Thread(target=patch)
    worker.start()
    _wait_until_a_request_waits_for_a_lock()
    return worker


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
    with transaction.atomic():
        Ticket.objects.select_for_update().get(pk=created.id)  # another writer holds the ticket
        worker = _patch_in_a_thread(
            integration_client, f"{URL}{created.id}/", {"title": "new title"}, answers
        )
        tickets_upsert(
            documents=[{"external_id": "T-1", "title": "old title", "description": "new text"}], source="api"
        )
    worker.join(timeout=30)

    assert answers and answers[0].status_code == 200, answers and answers[0].content
    ticket = Ticket.objects.get(pk=created.id)
    assert (ticket.title, ticket.description) == ("new title", "new text")
    assert answers[0].json()["description"] == "new text"


@pytest.mark.django_db(transaction=True)
def test_it_keeps_a_repair_record_change_committed_while_a_patch_waits(admin_client_api):
    row = {"rma_id": "RMA-1", "unit_kind": "radio", "finding": "pending", "received_on": "2026-01-05"}
    [created] = repairs_upsert(rows=[row])
    answers = []
    with transaction.atomic():
        RepairRecord.objects.select_for_update().get(pk=created.id)
        worker = _patch_in_a_thread(
            admin_client_api, f"/api/v1/repair-records/{created.id}/", {"repair_action": "swapped"}, answers
        )
        repairs_upsert(rows=[{**row, "finding": "confirmed_fault"}])
    worker.join(timeout=30)

    assert answers and answers[0].status_code == 200, answers and answers[0].content
    record = RepairRecord.objects.get(pk=created.id)
    assert (record.finding, record.repair_action) == ("confirmed_fault", "swapped")
