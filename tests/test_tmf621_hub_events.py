"""TMF621 listeners: registered with POST /hub, sent signed, retried TMF621 events on a real listener."""

import json

import httpx
import pytest
from rest_framework.test import APIClient

from ml.models import WebhookDelivery, WebhookSubscription
from ml.serving import recommendations
from ml.tasks import deliver_webhook
from repair_center.models import ApiToken, Ticket
from repair_center.services import workflow
from repair_center.services.tickets import tickets_upsert
from tests.factories import ResolutionCodeFactory, UserFactory
from tests.fake_ticketing_server import wait_until
from tests.tmf_spec import tmf621
from tests.webhook_receiver import WebhookReceiver
from tests.webhook_worker import webhook_worker

BASE = "/tmf-api/troubleTicket/v4"


@pytest.fixture
def on_premises_listener(settings):
    """Listeners here are on 127.0.0.1: allowed by name, as an operator allows an on-prem target."""
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]
    settings.TICKETAI_WEBHOOK_BACKOFF_S = 0.0


def _register(client, callback: str, query: str | None = None) -> dict:
    body = {"callback": callback, **({"query": query} if query is not None else {})}
    tmf621("EventSubscriptionInput", body)
    response = client.post(f"{BASE}/hub", body, format="json")
    assert response.status_code == 201, response.content[:400]
    tmf621("EventSubscription", response.json())
    return response.json()


@pytest.mark.django_db
def test_a_listener_registers_and_unregisters(integration_client, on_premises_listener):
    hub = _register(integration_client, "http://127.0.0.1:9/listener", "eventType=TroubleTicketResolvedEvent")
    stored = WebhookSubscription.objects.get(pk=int(hub["id"]))
    assert (stored.kind, stored.events, stored.url) == (
        "tmf621",
        ["TroubleTicketResolvedEvent"],
        hub["callback"],
    )
    assert hub["secret"] == stored.secret

    assert integration_client.delete(f"{BASE}/hub/{hub['id']}").status_code == 204
    again = integration_client.delete(f"{BASE}/hub/{hub['id']}")
    assert again.status_code == 404
    tmf621("Error", again.json())


@pytest.mark.django_db
def test_a_hub_is_refused_for_an_unknown_event_a_private_callback_or_an_engineer(
    integration_client, engineer_client
):
    for body, field in (
        ({"callback": "http://example.com/l", "query": "eventType=TicketDeletedEvent"}, "query"),
        ({"callback": "http://example.com/l", "query": "status=resolved"}, "query"),
        ({"callback": "http://127.0.0.1:6379/"}, "callback"),  # our Redis: the outbound guard says no
    ):
        response = integration_client.post(f"{BASE}/hub", body, format="json")
        assert response.status_code == 400, body
        tmf621("Error", response.json())
        assert field in response.json()["errors"]
    assert (
        engineer_client.post(f"{BASE}/hub", {"callback": "http://example.com/l"}, format="json").status_code
        == 403
    )
    # A TicketAI webhook is no hub: it cannot be deleted here.
    webhook = WebhookSubscription.objects.create(url="http://example.com/w", events=["recommendation.ready"])
    assert integration_client.delete(f"{BASE}/hub/{webhook.pk}").status_code == 404


@pytest.mark.django_db
def test_an_integration_cannot_unregister_another_integrations_listener(
    integration_client, admin_client_api, on_premises_listener
):
    hub = _register(integration_client, "http://127.0.0.1:9/listener")
    other = APIClient()
    _, raw = ApiToken.issue(user=UserFactory(username="rival", roles=["integration"]))
    other.credentials(HTTP_AUTHORIZATION=f"Token {raw}")

    refused = other.delete(f"{BASE}/hub/{hub['id']}")
    assert refused.status_code == 404  # as for no listener: ids are counted, not secret
    tmf621("Error", refused.json())
    assert WebhookSubscription.objects.filter(pk=int(hub["id"])).exists()
    # An admin may remove any listener.
    assert admin_client_api.delete(f"{BASE}/hub/{hub['id']}").status_code == 204


@pytest.mark.django_db
def test_one_account_may_register_only_so_many_listeners(
    integration, integration_client, on_premises_listener
):
    from ml.api.tmf_hubs import MAX_HUBS_PER_OWNER

    WebhookSubscription.objects.bulk_create(
        WebhookSubscription(
            url=f"http://127.0.0.1:9/l{n}",
            events=["TroubleTicketCreateEvent"],
            kind="tmf621",
            owner=integration,
        )
        for n in range(MAX_HUBS_PER_OWNER - 1)
    )
    _register(integration_client, "http://127.0.0.1:9/last")
    refused = integration_client.post(f"{BASE}/hub", {"callback": "http://127.0.0.1:9/more"}, format="json")
    assert refused.status_code == 400
    tmf621("Error", refused.json())
    assert "unregister one first" in refused.json()["errors"]["callback"][0]
    assert WebhookSubscription.objects.filter(owner=integration).count() == MAX_HUBS_PER_OWNER


def _events(receiver: WebhookReceiver, secret: str) -> list[dict]:
    assert all(r.signature_valid(secret) for r in receiver.requests)
    return [r.json for r in receiver.successes()]


@pytest.mark.django_db(transaction=True)
def test_round_trip_create_then_status_change_reaches_a_real_listener(
    live_server, on_premises_listener, eager_celery
):
    user = UserFactory(username="noc-system", roles=["integration"])
    _, token = ApiToken.issue(user=user, name="noc")
    ResolutionCodeFactory(code="REPLACE_SFP")
    headers = {"Authorization": f"Token {token}"}
    with (
        WebhookReceiver(script=[503]) as listener,
        httpx.Client(base_url=live_server.url, headers=headers) as client,
    ):
        hub = client.post(f"{BASE}/hub", json={"callback": listener.url})
        assert hub.status_code == 201
        secret = hub.json()["secret"]

        created = client.post(
            f"{BASE}/troubleTicket",
            json={
                "externalId": "NOC:RT-1",
                "description": "CPRI down",
                "severity": "Critical",
                "ticketType": "incident",
            },
        )
        assert created.status_code == 201, created.text[:400]
        ticket_id = created.json()["id"]
        # The listener answered 503 first: the delivery is retried (backoff 0 here) and arrives.
        deliveries = WebhookDelivery.objects.filter(subscription_id=int(hub.json()["id"]))
        for delivery in deliveries.filter(status="retrying"):
            deliver_webhook.apply(args=[delivery.pk])
        [create_event] = _events(listener, secret)
        tmf621("TroubleTicketCreateEvent", create_event)
        assert create_event["eventType"] == "TroubleTicketCreateEvent"
        assert create_event["event"]["troubleTicket"]["id"] == ticket_id
        assert [r.answered for r in listener.requests] == [503, 200]
        assert listener.requests[-1].headers["x-ticketai-event"] == "TroubleTicketCreateEvent"

        patched = client.patch(
            f"{BASE}/troubleTicket/{ticket_id}",
            content=json.dumps({"status": "held", "statusChangeReason": "waiting for a spare"}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert patched.status_code == 200, patched.text[:400]
        status_event = _events(listener, secret)[-1]
        tmf621("TroubleTicketStatusChangeEvent", status_event)
        assert status_event["eventType"] == "TroubleTicketStatusChangeEvent"
        ticket = status_event["event"]["troubleTicket"]
        assert (ticket["status"], ticket["statusChangeReason"]) == ("held", "waiting for a spare")

        resolved = client.patch(
            f"{BASE}/troubleTicket/{ticket_id}",
            json={"status": "resolved", "resolutionCode": "REPLACE_SFP", "note": [{"text": "swapped it"}]},
        )
        assert resolved.status_code == 200, resolved.text[:400]
        last = [e["eventType"] for e in _events(listener, secret)[2:]]
        assert last == [
            "TroubleTicketStatusChangeEvent",
            "TroubleTicketResolvedEvent",
            "TroubleTicketAttributeValueChangeEvent",
        ]
        for event in _events(listener, secret)[2:]:
            tmf621(event["eventType"], event)


@pytest.mark.django_db
def test_a_hub_hears_only_the_events_its_query_names(
    django_capture_on_commit_callbacks, on_premises_listener
):
    ResolutionCodeFactory(code="REPLACE_SFP")
    resolved_only = WebhookSubscription.objects.create(
        url="http://127.0.0.1:9/l", kind="tmf621", events=["TroubleTicketResolvedEvent"]
    )
    events = ["TroubleTicketCreateEvent", "TroubleTicketStatusChangeEvent", "TroubleTicketResolvedEvent"]
    everything = WebhookSubscription.objects.create(
        url="http://127.0.0.1:9/all", kind="tmf621", events=events
    )
    with django_capture_on_commit_callbacks(execute=True):
        [result] = tickets_upsert(documents=[{"external_id": "Q-1", "title": "q"}], source="noc")
    with django_capture_on_commit_callbacks(execute=True):
        workflow.ticket_transition(ticket_id=result.id, action="resolve", resolution_code="REPLACE_SFP")
    assert list(resolved_only.deliveries.values_list("event", flat=True)) == ["TroubleTicketResolvedEvent"]
    assert sorted(everything.deliveries.values_list("event", flat=True)) == [
        "TroubleTicketCreateEvent",
        "TroubleTicketResolvedEvent",
        "TroubleTicketStatusChangeEvent",
    ]
    # A source resending its ticket with a new status is a status change too.
    with django_capture_on_commit_callbacks(execute=True):
        tickets_upsert(documents=[{"external_id": "Q-1", "title": "q", "status": "closed"}], source="noc")
    assert everything.deliveries.filter(event="TroubleTicketStatusChangeEvent").count() == 2
    for delivery in WebhookDelivery.objects.all():
        body = json.loads(delivery.body())
        tmf621(delivery.event, body)
        assert body["event"]["troubleTicket"]["id"] == str(result.id)


@pytest.mark.django_db
def test_a_ticket_created_with_notes_is_announced_as_created(
    integration_client, django_capture_on_commit_callbacks, on_premises_listener
):
    hub = WebhookSubscription.objects.create(
        url="http://127.0.0.1:9/l",
        kind="tmf621",
        events=["TroubleTicketCreateEvent", "TroubleTicketAttributeValueChangeEvent"],
    )
    body = {
        "description": "d",
        "severity": "Major",
        "ticketType": "incident",
        "note": [{"text": "first look"}],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = integration_client.post(f"{BASE}/troubleTicket", body, format="json")
    assert response.status_code == 201
    assert list(hub.deliveries.order_by("id").values_list("event", flat=True)) == [
        "TroubleTicketCreateEvent",
        "TroubleTicketAttributeValueChangeEvent",
    ]
    created = json.loads(hub.deliveries.get(event="TroubleTicketCreateEvent").body())
    assert [n["text"] for n in created["event"]["troubleTicket"]["note"]] == ["first look"]


@pytest.mark.django_db
def test_a_fresh_recommendation_is_announced_under_the_ticketai_extension_event(on_premises_listener):
    hub = WebhookSubscription.objects.create(
        url="http://127.0.0.1:9/l", kind="tmf621", events=["TicketAIRecommendationReadyEvent"]
    )
    [result] = tickets_upsert(documents=[{"external_id": "R-1", "title": "r"}], source="noc")
    ticket = Ticket.objects.get(pk=result.id)
    payload = {
        "model_version": 3,
        "abstained": False,
        "recommendations": [{"resolution": "X", "confidence": 0.9}],
    }
    recommendations._announce(ticket, payload)

    [delivery] = hub.deliveries.all()
    body = json.loads(delivery.body())
    tmf621("TroubleTicketCreateEvent", body)  # the same event structure, under its own eventType
    assert body["eventType"] == "TicketAIRecommendationReadyEvent"
    assert body["recommendation"]["recommendations"][0]["resolution"] == "X"
    assert body["event"]["troubleTicket"]["id"] == str(ticket.pk)


@pytest.mark.slow
def test_a_real_worker_delivers_the_tmf621_events_over_redis(transactional_db, tmp_path, settings):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]
    oss = UserFactory(username="oss", roles=["integration"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.issue(user=oss, name='oss')[1]}")
    log = tmp_path / "worker.log"
    with WebhookReceiver(script=[503]) as listener, webhook_worker(tmp_path, log, "tmf621"):
        secret = client.post(f"{BASE}/hub", {"callback": listener.url}, format="json").json()["secret"]
        body = {"externalId": "OSS:W-1", "description": "d", "severity": "Minor", "ticketType": "incident"}
        ticket_id = client.post(f"{BASE}/troubleTicket", body, format="json").json()["id"]
        client.patch(f"{BASE}/troubleTicket/{ticket_id}", {"status": "inProgress"}, format="json")
        arrived = wait_until(lambda: len(listener.successes()) == 2, timeout=90)

    assert arrived, log.read_text()[-3000:]
    events = sorted(_events(listener, secret), key=lambda e: e["eventType"])
    assert [e["eventType"] for e in events] == ["TroubleTicketCreateEvent", "TroubleTicketStatusChangeEvent"]
    assert events[1]["event"]["troubleTicket"]["status"] == "inProgress"
    assert 503 in [r.answered for r in listener.requests]  # the first try failed and was retried
