"""A connector keeps its latest runs, not every run it ever made: pulled every few minutes, the runs
would grow without end, and with them the admin page that lists them under the connector."""

from datetime import timedelta

import pytest
from django.utils import timezone

from repair_center.models import Connector, ConnectorRun
from repair_center.services.connectors import KEEP_RUNS, pull_connector
from tests.fake_ticketing_server import REMOTE_MAPPING, FakeTicketingServer, ticket_items

pytestmark = [pytest.mark.django_db, pytest.mark.slow]  # a real HTTP server


def test_a_finished_pull_keeps_the_latest_runs_of_its_connector_only(settings):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]
    with FakeTicketingServer(items=ticket_items(2)) as server:
        connector = Connector.objects.create(name="noc", base_url=server.url, field_mapping=REMOTE_MAPPING)
        other = Connector.objects.create(name="other", base_url=server.url, field_mapping=REMOTE_MAPPING)
        start = timezone.now() - timedelta(days=30)
        for n in range(KEEP_RUNS + 10):
            for owner in (connector, other):
                old = ConnectorRun.objects.create(connector=owner, status=ConnectorRun.Status.SUCCEEDED)
                ConnectorRun.objects.filter(pk=old.pk).update(started_at=start + timedelta(minutes=15 * n))
        run = pull_connector(connector.id)

    kept = list(connector.runs.order_by("-started_at").values_list("pk", flat=True))
    assert len(kept) == KEEP_RUNS and kept[0] == run.pk
    assert other.runs.count() == KEEP_RUNS + 10  # another connector's runs are its own business
