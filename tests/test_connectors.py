"""Connectors pull a real HTTP server (tests/fake_ticketing_server.py) page by page, with faults."""

import json
import threading
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from repair_center import tasks
from repair_center.models import Connector, ConnectorRun, RepairRecord, Ticket
from repair_center.services.connectors import (
    ConnectorBusy,
    connector_delete,
    connector_schedule_sync,
    pull_connector,
)
from tests.fake_ticketing_server import REMOTE_MAPPING, FakeTicketingServer, remote_ticket, ticket_items

pytestmark = pytest.mark.slow  # a real HTTP server per test


@pytest.fixture(autouse=True)
def fast_retries(settings):
    # The fake ticketing system listens on 127.0.0.1: allowed as an operator allows an on-prem one.
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]
    settings.TICKETAI_CONNECTOR_BACKOFF_S = 0.01
    settings.TICKETAI_CONNECTOR_MAX_RETRIES = 3
    settings.TICKETAI_CONNECTOR_TIMEOUT_S = 0.5


def _connector(server: FakeTicketingServer, **fields) -> Connector:
    values = {"name": "noc-remote", "base_url": server.url, "field_mapping": REMOTE_MAPPING, **fields}
    return Connector.objects.create(**values)


def _ids() -> list[str]:
    return sorted(Ticket.objects.values_list("external_id", flat=True))


def test_a_full_pull_through_dropped_slow_and_failing_requests_creates_exactly_the_items(db):
    items = ticket_items(10)
    # Request 2 drops the connection, 5 never answers (client timeout), every 3rd answers 503.
    with FakeTicketingServer(items=items, page_size=3, fail_every=3, faults={2: "drop", 5: "hang"}) as server:
        connector = _connector(server)
        run = pull_connector(connector.id)

    assert run.status == ConnectorRun.Status.SUCCEEDED, run.error
    # Each page after the first restarts at the newest time stored, which re-reads that item.
    assert (run.pages, run.created, run.updated, run.unchanged, run.rejected) == (5, 10, 0, 4, 0)
    assert run.retries == 5
    assert _ids() == [i["id"] for i in items]
    ticket = Ticket.objects.get(external_id="EXT-0007")
    assert (ticket.source, ticket.title, ticket.description) == (
        "noc-remote",
        "Remote ticket 7",
        items[6]["body"],
    )
    connector.refresh_from_db()
    assert connector.cursor == items[-1]["modified"] == run.cursor_after
    assert connector.last_success_at is not None and connector.last_error == ""
    assert "updated_since" not in server.page_requests()[0].query


def test_a_second_pull_is_all_unchanged_and_creates_nothing(db):
    with FakeTicketingServer(items=ticket_items(7), page_size=3) as server:
        connector = _connector(server)
        pull_connector(connector.id)
        connector.refresh_from_db()
        cursor = connector.cursor
        server.requests.clear()
        run = pull_connector(connector.id)

    assert run.status == ConnectorRun.Status.SUCCEEDED
    assert (run.created, run.updated, run.rejected) == (0, 0, 0)
    # updated_since is inclusive: the item at the cursor comes back, as unchanged.
    assert run.unchanged == 1
    assert server.page_requests()[0].query == {"updated_since": cursor, "page": "1"}
    assert Ticket.objects.count() == 7
    assert set(Ticket.objects.values_list("revision", flat=True)) == {1}


def test_items_modified_remotely_after_a_pull_are_updated(db):
    with FakeTicketingServer(items=ticket_items(6), page_size=3) as server:
        connector = _connector(server)
        pull_connector(connector.id)
        server.upsert(remote_ticket(2, updated="2026-01-02T08:00:00Z", summary="Fibre cut, splicing"))
        server.upsert(remote_ticket(4, updated="2026-01-02T09:00:00Z", state="resolved"))
        server.upsert(remote_ticket(99, updated="2026-01-02T10:00:00Z"))
        run = pull_connector(connector.id)

    # Unchanged: EXT-0006 at the cursor, then EXT-0004 again when the window restarts at its time.
    assert (run.created, run.updated, run.unchanged, run.rejected) == (1, 2, 2, 0)
    assert Ticket.objects.get(external_id="EXT-0002").title == "Fibre cut, splicing"
    assert Ticket.objects.get(external_id="EXT-0004").status == Ticket.Status.RESOLVED
    assert Ticket.objects.count() == 7
    connector.refresh_from_db()
    assert connector.cursor == "2026-01-02T10:00:00Z"


def test_a_pull_failing_for_good_on_page_3_keeps_pages_1_and_2_and_the_next_pull_resumes_there(db):
    items = ticket_items(12)
    # Requests 3 to 6: the third page and its three retries.
    with FakeTicketingServer(items=items, page_size=3, faults=dict.fromkeys(range(3, 7), "503")) as server:
        connector = _connector(server)
        failed = pull_connector(connector.id)

        assert failed.status == ConnectorRun.Status.FAILED
        assert "after 4 attempts" in failed.error and "HTTP 503" in failed.error
        # Page 2 restarted at item 3's time: items 3 to 5.
        assert (failed.pages, failed.created, failed.retries) == (2, 5, 3)
        assert _ids() == [i["id"] for i in items[:5]]
        connector.refresh_from_db()
        assert connector.cursor == items[4]["modified"] == failed.cursor_after
        assert connector.last_error == failed.error

        server.faults.clear()
        server.requests.clear()
        resumed = pull_connector(connector.id)

    assert resumed.status == ConnectorRun.Status.SUCCEEDED
    assert server.page_requests()[0].query["updated_since"] == items[4]["modified"]
    assert (resumed.created, resumed.updated) == (7, 0)
    assert _ids() == [i["id"] for i in items]
    connector.refresh_from_db()
    assert (connector.cursor, connector.last_error) == (items[-1]["modified"], "")


class ChangingDuringThePull(FakeTicketingServer):
    """Right after answering the first page, the remote edits a ticket that page held."""

    def _answer(self, number, query):
        answer = super()._answer(number, query)
        if number == 1:
            self.upsert(remote_ticket(1, updated="2026-01-02T00:00:00Z", summary="Edited meanwhile"))
        return answer


def test_an_item_edited_between_two_pages_shifts_no_unread_item_out_of_the_pull(db):
    items = ticket_items(6)
    with ChangingDuringThePull(items=items, page_size=3) as server:
        run = pull_connector(_connector(server).id)

    # Following "next" (page 2 of the first window) would have skipped EXT-0004 for good.
    assert run.status == ConnectorRun.Status.SUCCEEDED, run.error
    assert _ids() == [i["id"] for i in items]
    assert Ticket.objects.get(external_id="EXT-0001").title == "Edited meanwhile"
    assert Connector.objects.get().cursor == "2026-01-02T00:00:00Z"


def test_it_sends_the_bearer_token_only_when_one_is_set(db):
    with FakeTicketingServer(items=ticket_items(4), page_size=3) as server:
        pull_connector(_connector(server, auth_token="s3cret-token").id)
        with_token = [r.headers.get("Authorization") for r in server.page_requests()]
        server.requests.clear()
        pull_connector(_connector(server, name="open-remote").id)
        without_token = [r.headers.get("Authorization") for r in server.page_requests()]

    assert with_token == ["Bearer s3cret-token", "Bearer s3cret-token"]
    assert without_token == [None, None]


def test_it_waits_as_long_as_retry_after_asks(db, settings):
    settings.TICKETAI_CONNECTOR_BACKOFF_S = 0
    with FakeTicketingServer(items=ticket_items(2), faults={1: "429"}, retry_after="1") as server:
        started = time.monotonic()
        run = pull_connector(_connector(server).id)
        elapsed = time.monotonic() - started

    assert run.status == ConnectorRun.Status.SUCCEEDED and run.retries == 1
    assert elapsed >= 1.0


def test_a_retry_after_beyond_five_minutes_stops_the_pull_instead_of_holding_the_worker(db):
    with FakeTicketingServer(items=ticket_items(2), faults={1: "429"}, retry_after="3600") as server:
        started = time.monotonic()
        run = pull_connector(_connector(server).id)

    assert time.monotonic() - started < 5
    assert (run.status, run.retries, len(server.page_requests())) == (ConnectorRun.Status.FAILED, 0, 1)
    assert run.error.endswith(
        "answered HTTP 429 with Retry-After 3600 s, more than 300: the pull stops, "
        "and a scheduled one resumes after the wait"
    )


def test_it_backs_off_exponentially_then_gives_up_without_moving_the_cursor(db, settings):
    settings.TICKETAI_CONNECTOR_BACKOFF_S = 0.1
    with FakeTicketingServer(items=ticket_items(2), failing_pages={1}) as server:
        connector = _connector(server)
        started = time.monotonic()
        run = pull_connector(connector.id)
        elapsed = time.monotonic() - started

    assert len(server.page_requests()) == 4
    assert elapsed >= 0.1 + 0.2 + 0.4
    assert (run.status, run.retries, run.pages) == (ConnectorRun.Status.FAILED, 3, 0)
    connector.refresh_from_db()
    assert connector.cursor == "" and Ticket.objects.count() == 0


def test_it_records_rejected_items_with_reasons_and_keeps_the_good_ones(db):
    items = ticket_items(3)
    del items[0]["modified"]
    items[1]["state"] = "on fire"
    with FakeTicketingServer(items=items, updated_field="id", page_size=5) as server:
        run = pull_connector(_connector(server).id)

    assert (run.status, run.created, run.rejected) == (ConnectorRun.Status.SUCCEEDED, 1, 2)
    assert _ids() == ["EXT-0003"]
    rejects = {r["external_id"]: r for r in run.rejects}
    assert rejects["EXT-0001"]["page"] == 1
    assert "modified" in rejects["EXT-0001"]["errors"]["updated_at"][0]
    assert "'on fire'" in rejects["EXT-0002"]["errors"]["status"][0]


def test_it_refuses_to_follow_next_to_another_origin(db):
    with (
        FakeTicketingServer(items=ticket_items(4), page_size=3) as elsewhere,
        FakeTicketingServer(items=ticket_items(4), page_size=3, next_base=elsewhere.url) as server,
    ):
        run = pull_connector(_connector(server, auth_token="s3cret-token").id)

    assert run.status == ConnectorRun.Status.FAILED
    assert "another origin" in run.error
    assert elsewhere.requests == []
    assert run.pages == 1 and Ticket.objects.count() == 3


def test_it_follows_a_next_link_relative_to_the_page_it_came_with(db):
    items = [
        remote_ticket(n, updated="2026-01-01T09:00:00Z") for n in range(1, 6)
    ]  # one time: "next" is used
    with FakeTicketingServer(items=items, page_size=2) as server:
        server.next_base = server.path  # "/api/tickets?updated_since=...&page=2"
        run = pull_connector(_connector(server).id)

    assert run.status == ConnectorRun.Status.SUCCEEDED, run.error
    assert _ids() == [i["id"] for i in items]
    assert [r.query["page"] for r in server.page_requests()] == ["1", "1", "2", "3"]


def test_a_repairs_connector_upserts_repair_records(db):
    rows = [
        {
            "rma": "RMA-1",
            "finding": "no_fault_found",
            "unit_serial": "SN1",
            "changed": "2026-01-01T00:00:00Z",
        },
        {
            "rma": "RMA-2",
            "finding": "confirmed_fault",
            "unit_serial": "SN2",
            "changed": "2026-01-01T01:00:00Z",
        },
    ]
    for row in rows:
        row["id"] = row["rma"]
    with FakeTicketingServer(items=rows, updated_field="changed") as server:
        connector = _connector(
            server, kind=Connector.Kind.REPAIRS, field_mapping={"rma_id": "rma", "updated_at": "changed"}
        )
        run = pull_connector(connector.id)
        again = pull_connector(connector.id)

    assert (run.status, run.created, run.rejected) == (ConnectorRun.Status.SUCCEEDED, 2, 0)
    assert (again.created, again.unchanged) == (0, 1)
    assert dict(RepairRecord.objects.values_list("rma_id", "finding")) == {
        "RMA-1": "no_fault_found",
        "RMA-2": "confirmed_fault",
    }
    assert Ticket.objects.count() == 0


def test_a_second_pull_of_the_same_connector_is_refused_while_one_runs(transactional_db):
    gate = threading.Event()
    outcome = {}
    with FakeTicketingServer(items=ticket_items(4), page_size=3, gate=gate) as server:
        connector = _connector(server)

        def first_pull():
            try:
                outcome["run"] = pull_connector(connector.id)
            finally:
                connection.close()

        thread = threading.Thread(target=first_pull)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.requests and time.monotonic() < deadline:
                time.sleep(0.02)
            with pytest.raises(ConnectorBusy):
                pull_connector(connector.id)
            assert tasks.pull_connector(connector.id)["skipped"].endswith("already being pulled")
        finally:
            gate.set()
            thread.join(timeout=10)

    assert outcome["run"].status == ConnectorRun.Status.SUCCEEDED
    assert ConnectorRun.objects.count() == 1 and Ticket.objects.count() == 4


def test_a_run_left_running_by_a_dead_worker_is_taken_over_after_the_task_time_limit(db, settings):
    with FakeTicketingServer(items=ticket_items(2)) as server:
        connector = _connector(server)
        dead = ConnectorRun.objects.create(connector=connector)
        too_old = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 1)
        ConnectorRun.objects.filter(pk=dead.pk).update(started_at=too_old)
        run = pull_connector(connector.id)

    dead.refresh_from_db()
    assert dead.status == ConnectorRun.Status.FAILED and "abandoned" in dead.error
    assert run.status == ConnectorRun.Status.SUCCEEDED


def test_saving_a_connector_schedules_its_pull_every_interval_minutes(db):
    connector = Connector.objects.create(name="jira", base_url="http://127.0.0.1:9/x", interval_minutes=15)
    task = connector_schedule_sync(connector)

    assert connector.periodic_task == task
    assert (task.task, json.loads(task.args), task.enabled) == (
        "repair_center.tasks.pull_connector",
        [connector.id],
        True,
    )
    assert (task.interval.every, task.interval.period) == (15, IntervalSchedule.MINUTES)

    connector.interval_minutes, connector.enabled = 5, False
    connector.save()
    connector_schedule_sync(connector)

    task = PeriodicTask.objects.get(task="repair_center.tasks.pull_connector")
    assert (task.interval.every, task.enabled) == (5, False)


def test_an_interval_of_zero_minutes_is_refused_rather_than_pulling_on_every_beat_tick(db):
    connector = Connector(name="jira", base_url="https://jira.example.com/x", interval_minutes=0)
    with pytest.raises(ValidationError) as refused:
        connector.full_clean()
    assert list(refused.value.message_dict) == ["interval_minutes"]


def test_deleting_a_connector_deletes_its_beat_task(db):
    connector = Connector.objects.create(name="jira", base_url="http://127.0.0.1:9/x")
    connector_schedule_sync(connector)
    connector_delete(connector)

    assert not PeriodicTask.objects.filter(task="repair_center.tasks.pull_connector").exists()
    assert not Connector.objects.exists()


def test_a_scheduled_pull_of_a_connector_deleted_elsewhere_removes_its_orphan_beat_task(db):
    connector = Connector.objects.create(name="jira", base_url="http://127.0.0.1:9/x")
    connector_schedule_sync(connector)
    connector_id = connector.id
    Connector.objects.filter(pk=connector_id).delete()

    assert tasks.pull_connector(connector_id)["skipped"] == "the connector no longer exists"
    assert not PeriodicTask.objects.filter(task="repair_center.tasks.pull_connector").exists()


def test_the_admin_schedules_on_save_pulls_now_and_unschedules_on_delete(
    admin_client, eager_celery, django_capture_on_commit_callbacks
):
    with FakeTicketingServer(items=ticket_items(4), page_size=3) as server:
        form = {
            "name": "noc-remote",
            "kind": "tickets",
            "preset": "generic",
            "page_size": "100",
            "base_url": server.url,
            "auth_token": "",
            "field_mapping": json.dumps(REMOTE_MAPPING),
            "interval_minutes": "10",
            "enabled": "on",
            "cursor": "",
            "runs-TOTAL_FORMS": "0",
            "runs-INITIAL_FORMS": "0",
            "runs-MIN_NUM_FORMS": "0",
            "runs-MAX_NUM_FORMS": "0",
        }
        response = admin_client.post("/admin/repair_center/connector/add/", form)
        assert response.status_code == 302, response.content[:2000]
        connector = Connector.objects.get()
        assert connector.periodic_task.interval.every == 10

        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(
                "/admin/repair_center/connector/",
                {"action": "pull_now", "_selected_action": [connector.id]},
            )
        assert response.status_code == 302
        assert connector.runs.get().status == ConnectorRun.Status.SUCCEEDED
        assert Ticket.objects.count() == 4

    response = admin_client.post(f"/admin/repair_center/connector/{connector.id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not PeriodicTask.objects.filter(task="repair_center.tasks.pull_connector").exists()


def test_the_admin_never_shows_a_connectors_secrets_and_keeps_them_when_left_blank(admin_client):
    connector = Connector.objects.create(
        name="sn",
        preset="servicenow",
        base_url="https://sn.example",
        oauth_token_url="https://sn.example/oauth_token.do",
        oauth_client_id="ticketai",
        oauth_client_secret="client-secret-1",
    )
    page = admin_client.get(f"/admin/repair_center/connector/{connector.pk}/change/").content.decode()
    assert "ticketai" in page and "client-secret-1" not in page

    form = {
        "name": "sn",
        "kind": "tickets",
        "preset": "servicenow",
        "page_size": "50",
        "base_url": "https://sn.example",
        "oauth_token_url": "https://sn.example/oauth_token.do",
        "oauth_client_id": "ticketai",
        "oauth_client_secret": "",
        "field_mapping": "{}",
        "interval_minutes": "15",
        "runs-TOTAL_FORMS": "0",
        "runs-INITIAL_FORMS": "0",
        "runs-MIN_NUM_FORMS": "0",
        "runs-MAX_NUM_FORMS": "0",
    }
    url = f"/admin/repair_center/connector/{connector.pk}/change/"
    assert admin_client.post(url, form).status_code == 302
    connector.refresh_from_db()
    assert (connector.page_size, connector.oauth_client_secret) == (50, "client-secret-1")

    # Cleared, the client has no secret, which its token endpoint needs: the form says so.
    response = admin_client.post(url, {**form, "clear_secrets": "on"})
    assert response.status_code == 200 and "needed with an OAuth token endpoint" in response.content.decode()
    cleared = {**form, "clear_secrets": "on", "oauth_token_url": "", "oauth_client_id": ""}
    assert admin_client.post(url, cleared).status_code == 302
    connector.refresh_from_db()
    assert (connector.oauth_client_secret, connector.oauth_token_url) == ("", "")


def test_an_item_dated_in_the_future_does_not_carry_the_cursor_past_todays_changes(db):
    items = [*ticket_items(2), remote_ticket(3, updated="2199-01-01T00:00:00Z")]
    with FakeTicketingServer(items=items, page_size=5) as server:
        connector = _connector(server)
        first = pull_connector(connector.id)
        server.upsert(remote_ticket(1, updated=timezone.now().isoformat(), summary="Edited today"))
        second = pull_connector(connector.id)

    assert first.created == 3
    assert first.cursor_after == first.started_at.isoformat().replace("+00:00", "Z")
    assert (second.updated, second.unchanged) == (1, 1)  # the future-dated item is read again
    assert Ticket.objects.get(external_id="EXT-0001").title == "Edited today"
