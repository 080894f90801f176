"""A page larger than TICKETAI_CONNECTOR_MAX_PAGE_BYTES fails the pull as it arrives, before the worker
holds it (a remote that ignores the page size could otherwise answer gigabytes)."""

import pytest

from repair_center.models import Connector, ConnectorRun, Ticket
from repair_center.services.connectors import pull_connector
from tests.fake_ticketing_server import REMOTE_MAPPING, FakeTicketingServer, remote_ticket

pytestmark = [pytest.mark.django_db, pytest.mark.slow]  # a real HTTP server per test


@pytest.fixture(autouse=True)
def local(settings):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]
    settings.TICKETAI_CONNECTOR_MAX_PAGE_BYTES = 100_000


def _items(body_size: int) -> list[dict]:
    return [
        remote_ticket(n, updated=f"2026-01-01T00:0{n}:00Z", body="RRU-alarm;" * (body_size // 10))
        for n in range(1, 4)
    ]


def test_a_page_larger_than_the_limit_fails_the_pull_and_stores_nothing():
    with FakeTicketingServer(items=_items(400_000), page_size=3) as server:
        connector = Connector.objects.create(name="noc", base_url=server.url, field_mapping=REMOTE_MAPPING)
        run = pull_connector(connector.id)

    assert run.status == ConnectorRun.Status.FAILED
    assert "answered more than 100000 bytes (TICKETAI_CONNECTOR_MAX_PAGE_BYTES)" in run.error, run.error
    assert run.error.endswith("lower the connector's page_size")
    assert len(server.page_requests()) == 1  # not retried: the same page would come again
    connector.refresh_from_db()
    assert connector.cursor == "" and not Ticket.objects.exists()


def test_a_page_within_the_limit_is_read_whole():
    with FakeTicketingServer(items=_items(30_000), page_size=3) as server:
        connector = Connector.objects.create(name="noc", base_url=server.url, field_mapping=REMOTE_MAPPING)
        run = pull_connector(connector.id)

    assert (run.status, run.created) == (ConnectorRun.Status.SUCCEEDED, 3), run.error
    assert len(Ticket.objects.get(external_id="EXT-0002").description) == 30_000
