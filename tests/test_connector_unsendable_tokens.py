"""A token that cannot go in an HTTP header fails the pull saying so, and never appears in the error:
httpx's own error quotes the header it refused, which would put the token in the run, the admin and
the logs."""

import pytest
from django.core.exceptions import ValidationError

from repair_center.models import Connector, ConnectorRun, Ticket
from repair_center.services.connectors import pull_connector
from tests.fake_ticketing_server import REMOTE_MAPPING, FakeTicketingServer, ticket_items
from tests.fake_ticketing_systems import TOKEN_PATH, FakeSystem, remote_items

pytestmark = [pytest.mark.django_db, pytest.mark.slow]  # real HTTP servers
SECRET = "s3cr3t-7f1c"


@pytest.fixture(autouse=True)
def local(settings):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]
    settings.TICKETAI_CONNECTOR_MAX_RETRIES = 0


@pytest.mark.parametrize("token", [f"{SECRET}\nX-Injected: 1", f"{SECRET}\u2019", f"{SECRET} extra"])
def test_a_stored_bearer_token_with_a_line_break_fails_the_pull_without_quoting_it(token):
    with FakeTicketingServer(items=ticket_items(2)) as server:
        # Stored before the admin checked tokens (objects.create does not run clean()).
        connector = Connector.objects.create(
            name="noc-remote", base_url=server.url, field_mapping=REMOTE_MAPPING, auth_token=token
        )
        run = pull_connector(connector.id)

    assert run.status == ConnectorRun.Status.FAILED
    assert run.error.startswith("the connector's auth_token holds a space, line break"), run.error
    connector.refresh_from_db()
    assert SECRET not in run.error and SECRET not in connector.last_error
    assert server.requests == [] and not Ticket.objects.exists()


def test_the_admin_refuses_a_bearer_token_a_header_cannot_carry_and_takes_it_as_a_password():
    connector = Connector(name="noc-remote", base_url="https://tickets.example.com/api", auth_token="a\nb")
    with pytest.raises(ValidationError) as refused:
        connector.full_clean()
    assert "bearer token cannot" in refused.value.message_dict["auth_token"][0]
    connector.auth_username = "svc.ticketai"  # basic auth: encoded, any password goes
    connector.full_clean()


class IssuingABrokenToken(FakeSystem):
    def _token(self, path, form):
        status, body = super()._token(path, form)
        return status, {**body, "access_token": f"{SECRET}\r\n"}


def test_an_access_token_a_header_cannot_carry_fails_the_pull_without_quoting_it():
    with IssuingABrokenToken("servicenow", remote_items("servicenow", 2), oauth=("ticketai", "x")) as system:
        client = {"oauth_token_url": system.base_url + TOKEN_PATH, "oauth_client_id": "ticketai"}
        client["oauth_client_secret"] = "x"
        connector = Connector.objects.create(
            name="sn", preset="servicenow", base_url=system.base_url, **client
        )
        run = pull_connector(connector.id)

    assert run.status == ConnectorRun.Status.FAILED
    assert run.error.startswith("no access token: POST ") and "answered an access_token that" in run.error
    assert SECRET not in run.error and system.requests == []
