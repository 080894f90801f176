"""A disabled connector pulls nothing: not from a pull its beat task queued before it was disabled, nor
from the admin's "Pull now"."""

import pytest

from repair_center import tasks
from repair_center.models import Connector, Ticket
from tests.fake_ticketing_server import REMOTE_MAPPING, FakeTicketingServer, ticket_items

pytestmark = [pytest.mark.django_db, pytest.mark.slow]  # a real HTTP server per test


@pytest.fixture(autouse=True)
def local(settings):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]


def _connector(server, name: str, *, enabled: bool) -> Connector:
    return Connector.objects.create(
        name=name, base_url=server.url, field_mapping=REMOTE_MAPPING, enabled=enabled
    )


def test_a_pull_queued_before_the_connector_was_disabled_asks_the_remote_nothing():
    with FakeTicketingServer(items=ticket_items(3)) as server:
        connector = _connector(server, "noc-remote", enabled=False)
        answer = tasks.pull_connector(connector.id)

    assert answer == {"connector": connector.id, "skipped": "connector noc-remote is disabled"}
    assert server.requests == [] and not connector.runs.exists() and not Ticket.objects.exists()
    connector.refresh_from_db()
    assert connector.last_run_at is None


def test_the_admin_pulls_now_only_the_enabled_connectors_and_names_the_others(
    admin_client, eager_celery, django_capture_on_commit_callbacks
):
    with FakeTicketingServer(items=ticket_items(3)) as server:
        enabled = _connector(server, "noc-on", enabled=True)
        disabled = _connector(server, "noc-off", enabled=False)
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(
                "/admin/repair_center/connector/",
                {"action": "pull_now", "_selected_action": [enabled.id, disabled.id]},
                follow=True,
            )

    shown = [str(m) for m in response.context["messages"]]
    assert shown == ["1 pull(s) queued; see the runs below each connector.", "Not pulled, disabled: noc-off."]
    assert enabled.runs.count() == 1 and not disabled.runs.exists()
    assert set(Ticket.objects.values_list("source", flat=True)) == {"noc-on"}
