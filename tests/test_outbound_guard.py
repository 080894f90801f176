"""Webhook and connector URLs cannot reach what the server can but the caller should not
(SECURITY.md, finding 6: server-side request forgery).

They accepted ``http://127.0.0.1:6379/``, ``http://[::1]:6379/``, ``http://169.254.169.254/...``
and private ranges; the connector sent its bearer token there, and the first 500 (webhooks) or 200
(connectors) characters of the answer came back in ``last_error``. The guard (ticketai/outbound.py)
checks when a URL is saved and again on every connection, on the address the socket reaches;
TICKETAI_OUTBOUND_ALLOW names on-premises exceptions. The servers here are real, on 127.0.0.1.
"""

import httpx
import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from ml.core.webhooks import webhook_attempt, webhook_emit
from ml.models import WebhookDelivery, WebhookSubscription
from repair_center.models import Connector, ConnectorRun
from repair_center.services.connectors import pull_connector
from tests.fake_ticketing_server import REMOTE_MAPPING, FakeTicketingServer, ticket_items
from tests.webhook_receiver import WebhookReceiver
from ticketai import outbound

FORBIDDEN = [
    ("http://127.0.0.1:6379/", "loopback"),
    ("http://[::1]:6379/", "loopback"),
    ("http://localhost:6379/", "loopback"),  # a name, resolved: /etc/hosts says 127.0.0.1
    ("http://[::ffff:127.0.0.1]:6379/", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://10.0.0.5/hook", "private"),
    ("http://172.16.3.4/hook", "private"),
    ("https://192.168.1.10/hook", "private"),
    ("http://[fd00::1]/hook", "private"),
    ("http://100.64.0.1/hook", "private"),  # shared address space (carrier-grade NAT)
    ("http://224.0.0.1/hook", "multicast"),
    ("http://0.0.0.0:8000/", "reserved"),
    ("http://240.0.0.1/", "reserved"),
    # 6to4 addresses carry an IPv4 address that a 6to4 interface or relay delivers to.
    ("http://[2002:7f00:1::]:6379/", "loopback"),
    ("http://[2002:a9fe:a9fe::]/latest/meta-data/", "link-local"),
    ("http://[2002:a00:5::]/hook", "private"),
    ("http://2130706433:6379/", "loopback"),  # 127.0.0.1 as one decimal number, resolved as such
]
MALFORMED = [
    ("ftp://files.example.com/hook", "only http:// and https://"),
    ("gopher://127.0.0.1:6379/_INFO", "only http:// and https://"),
    ("http://admin:pw@hooks.example.com/", "credentials"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "reason"), FORBIDDEN + MALFORMED, ids=[u for u, _ in FORBIDDEN + MALFORMED])
def test_a_webhook_url_the_guard_forbids_is_a_400(admin_client_api, url, reason):
    body = {"url": url, "events": ["feedback.recorded"]}
    response = admin_client_api.post("/api/v1/webhooks/", body, format="json")
    assert response.status_code == 400, response.content[:300]
    assert reason in " ".join(response.json()["url"]), response.json()
    assert not WebhookSubscription.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "reason"), FORBIDDEN[:6], ids=[u for u, _ in FORBIDDEN[:6]])
def test_a_connector_url_the_guard_forbids_is_refused_on_save(admin_user, url, reason):
    connector = Connector(name="remote", base_url=url)
    with pytest.raises(ValidationError) as refused:
        connector.full_clean()
    assert reason in " ".join(refused.value.message_dict["base_url"])
    browser = Client()
    browser.force_login(admin_user)
    form = {
        **{"name": "remote", "kind": "tickets", "base_url": url, "field_mapping": "{}"},
        **{"interval_minutes": "15", "enabled": "on", "runs-TOTAL_FORMS": "0", "runs-INITIAL_FORMS": "0"},
    }
    page = browser.post("/admin/repair_center/connector/add/", form)
    assert page.status_code == 200 and b"errornote" in page.content  # the form again, with the error
    assert not Connector.objects.exists()


@pytest.mark.django_db
def test_a_public_address_and_a_name_that_does_not_resolve_yet_are_accepted(admin_client_api):
    for url in ("https://93.184.215.14/hooks", "https://hooks.example.invalid/x"):
        body = {"url": url, "events": ["feedback.recorded"]}
        assert admin_client_api.post("/api/v1/webhooks/", body, format="json").status_code == 201


@pytest.mark.django_db
def test_the_allow_list_admits_on_premises_targets_by_address_network_or_name(admin_client_api, settings):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1", "10.20.0.0/16", "localhost"]
    for url in ("http://127.0.0.1:8080/", "http://10.20.3.4/h", "http://localhost:9/h"):
        body = {"url": url, "events": ["feedback.recorded"]}
        response = admin_client_api.post("/api/v1/webhooks/", body, format="json")
        assert response.status_code == 201, (url, response.content)
    refused = {"url": "http://10.21.0.1/h", "events": ["feedback.recorded"]}
    assert admin_client_api.post("/api/v1/webhooks/", refused, format="json").status_code == 400


def test_every_connection_is_checked_on_the_address_it_reaches():
    # Saved when its name still resolved to a public address, then rebound to loopback: the
    # connection itself is refused, and the server never sees a request.
    with WebhookReceiver() as receiver:
        url = receiver.url.replace("127.0.0.1", "localhost")
        with outbound.client(timeout=5) as client, pytest.raises(httpx.ConnectError, match="refused"):
            client.post(url, content=b"{}")
        assert receiver.requests == []


def test_an_allowed_target_is_reached_through_the_guard(settings):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]
    with WebhookReceiver() as receiver, outbound.client(timeout=5) as client:
        assert client.post(receiver.url, content=b"{}").status_code == 200
        assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_a_webhook_whose_host_now_resolves_to_loopback_fails_without_a_request(settings):
    with WebhookReceiver() as receiver:
        # As if saved while the name resolved elsewhere: created without the save-time check.
        WebhookSubscription.objects.create(
            url=receiver.url.replace("127.0.0.1", "localhost"), events=["recommendation.ready"]
        )
        [delivery_id] = webhook_emit("recommendation.ready", {"ticket": 1})
        result = webhook_attempt(delivery_id)
    assert result.status == "failed" and "loopback" in result.error
    assert receiver.requests == []
    assert WebhookDelivery.objects.get(pk=delivery_id).status == "failed"


@pytest.mark.django_db
def test_a_connector_sends_its_token_nowhere_the_guard_forbids(settings):
    with FakeTicketingServer(items=ticket_items(2)) as server:
        connector = Connector.objects.create(
            name="remote",
            base_url=server.url.replace("127.0.0.1", "localhost"),
            auth_token="secret-token",
            field_mapping=REMOTE_MAPPING,
        )
        run = pull_connector(connector.pk)
        assert server.requests == []
    assert run.status == ConnectorRun.Status.FAILED and "base_url refused" in run.error


@pytest.mark.django_db
def test_a_failing_webhook_receivers_answer_is_not_echoed(settings):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]
    with WebhookReceiver(script=[400]) as receiver:
        WebhookSubscription.objects.create(url=receiver.url, events=["recommendation.ready"])
        [delivery_id] = webhook_emit("recommendation.ready", {"ticket": 1})
        result = webhook_attempt(delivery_id)
    assert result.status_code == 400
    last_error = WebhookDelivery.objects.get(pk=delivery_id).last_error
    assert last_error.startswith("HTTP 400 (application/json, ") and '"ok"' not in last_error


@pytest.mark.django_db
def test_a_failing_ticketing_systems_answer_is_not_echoed(settings):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]
    with FakeTicketingServer(items=ticket_items(2)) as server:
        connector = Connector.objects.create(name="remote", base_url=server.url + "/wrong-path")
        run = pull_connector(connector.pk)
    assert run.status == ConnectorRun.Status.FAILED
    assert "HTTP 404" in run.error and "not found" not in run.error
    connector.refresh_from_db()
    assert "not found" not in connector.last_error


@pytest.mark.slow  # a subprocess or parallel clients
def test_a_malformed_network_in_the_allow_list_is_a_loud_configuration_error(tmp_path):
    from tests.test_settings import _import_settings

    good = _import_settings(
        tmp_path, "settings.TICKETAI_OUTBOUND_ALLOW", TICKETAI_OUTBOUND_ALLOW="10.0.0.0/8, nas"
    )
    assert good.returncode == 0 and good.stdout.strip() == "['10.0.0.0/8', 'nas']", good.stderr
    bad = _import_settings(tmp_path, TICKETAI_OUTBOUND_ALLOW="10.0.0.0/33")
    assert bad.returncode != 0 and "TICKETAI_OUTBOUND_ALLOW" in bad.stderr
