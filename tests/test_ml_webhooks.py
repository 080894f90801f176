"""Outbound webhooks reach a real HTTP receiver on 127.0.0.1: signed, retried with backoff, logged."""

import json
import socket
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from ml.core.webhooks import webhook_attempt, webhook_due_ids, webhook_emit
from ml.models import WebhookDelivery, WebhookSubscription
from ml.tasks import deliver_webhook, webhook_retry_sweep
from tests.fake_ticketing_server import wait_until
from tests.webhook_receiver import WebhookReceiver
from tests.webhook_worker import webhook_worker

SECRET = "s3cret-shared-with-the-receiver"
PAYLOAD = {"ticket": {"id": 7, "external_id": "NOC-7"}, "recommendations": [{"resolution": "REPLACE_SFP"}]}


@pytest.fixture(autouse=True)
def on_premises_receiver(settings):
    """The receiver listens on 127.0.0.1: allowed by name, as an operator allows an on-prem target."""
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]


@pytest.fixture
def fast_retries(settings):
    settings.TICKETAI_WEBHOOK_BACKOFF_S = 0.0
    settings.TICKETAI_WEBHOOK_TIMEOUT_S = 5.0
    settings.TICKETAI_WEBHOOK_MAX_ATTEMPTS = 5


def _subscribe(url: str, events=("recommendation.ready",), **fields) -> WebhookSubscription:
    return WebhookSubscription.objects.create(url=url, secret=SECRET, events=list(events), **fields)


def _emit_one(event: str = "recommendation.ready") -> WebhookDelivery:
    [delivery_id] = webhook_emit(event, PAYLOAD)
    return WebhookDelivery.objects.get(pk=delivery_id)


@pytest.mark.django_db
def test_a_delivery_is_signed_with_the_subscription_secret(fast_retries):
    with WebhookReceiver() as receiver:
        _subscribe(receiver.url)
        delivery = _emit_one()

        deliver_webhook.apply(args=[delivery.pk])

    [request] = receiver.requests
    assert request.signature_valid(SECRET)
    assert not request.signature_valid("another-secret")
    assert request.headers["x-ticketai-event"] == "recommendation.ready"
    assert request.headers["x-ticketai-delivery"] == str(delivery.pk)
    assert request.headers["content-type"] == "application/json"
    assert request.json["event"] == "recommendation.ready"
    assert request.json["id"] == delivery.pk
    assert request.json["data"] == PAYLOAD
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None


@pytest.mark.django_db
def test_a_receiver_failing_twice_with_503_gets_one_delivery_after_three_attempts(fast_retries):
    with WebhookReceiver(script=[503, 503]) as receiver:
        _subscribe(receiver.url)
        delivery = _emit_one()

        # The real task: each 503 makes it retry itself (run inline by apply) until the 200.
        result = deliver_webhook.apply(args=[delivery.pk])

    assert result.successful()
    assert [r.answered for r in receiver.requests] == [503, 503, 200]
    assert len(receiver.successes()) == 1
    # Every attempt carries the same delivery id and body, so the receiver can deduplicate.
    assert {r.headers["x-ticketai-delivery"] for r in receiver.requests} == {str(delivery.pk)}
    assert len({r.body for r in receiver.requests}) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)
    assert WebhookDelivery.objects.filter(status="delivered").count() == 1


@pytest.mark.django_db
def test_a_400_answer_is_final(fast_retries):
    with WebhookReceiver(script=[400]) as receiver:
        _subscribe(receiver.url)
        delivery = _emit_one()

        deliver_webhook.apply(args=[delivery.pk])
        again = webhook_attempt(delivery.pk)

    assert len(receiver.requests) == 1
    assert again.status == "skipped"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 1, 400)
    assert "HTTP 400" in delivery.last_error
    assert webhook_due_ids() == []


@pytest.mark.django_db
def test_a_429_is_retried_after_the_backoff(settings):
    settings.TICKETAI_WEBHOOK_BACKOFF_S = 30.0
    with WebhookReceiver(script=[429]) as receiver:
        _subscribe(receiver.url)
        delivery = _emit_one()

        first = webhook_attempt(delivery.pk)
        too_early = webhook_attempt(delivery.pk)

    assert first.status == "retrying" and first.retry_in == 30.0
    assert too_early.status == "skipped"
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.status == "retrying"
    assert timedelta(seconds=25) < delivery.next_attempt_at - timezone.now() <= timedelta(seconds=30)


@pytest.mark.django_db
def test_an_unreachable_receiver_is_retried_until_the_attempts_run_out(fast_retries, settings):
    settings.TICKETAI_WEBHOOK_MAX_ATTEMPTS = 3
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _subscribe(f"http://127.0.0.1:{port}/hook")
    delivery = _emit_one()

    deliver_webhook.apply(args=[delivery.pk])

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 3, None)
    assert delivery.last_error.startswith("gave up after 3 attempts")


@pytest.mark.django_db
def test_only_active_subscriptions_that_want_the_event_get_it():
    wanted = _subscribe("http://127.0.0.1:9/a", events=["recommendation.ready", "feedback.recorded"])
    _subscribe("http://127.0.0.1:9/b", events=["feedback.recorded"])
    _subscribe("http://127.0.0.1:9/c", events=["recommendation.ready"], active=False)

    ids = webhook_emit("recommendation.ready", PAYLOAD)

    assert list(WebhookDelivery.objects.filter(pk__in=ids).values_list("subscription", flat=True)) == [
        wanted.pk
    ]
    with pytest.raises(ValueError, match="unknown webhook event"):
        webhook_emit("ticket.deleted", PAYLOAD)


@pytest.mark.django_db
def test_a_subscription_switched_off_after_the_event_gets_nothing(fast_retries):
    with WebhookReceiver() as receiver:
        subscription = _subscribe(receiver.url)
        delivery = _emit_one()
        WebhookSubscription.objects.filter(pk=subscription.pk).update(active=False)

        deliver_webhook.apply(args=[delivery.pk])

    assert receiver.requests == []
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 0)


@pytest.mark.django_db
def test_deliveries_are_sent_only_when_the_transaction_commits(django_capture_on_commit_callbacks):
    _subscribe("http://127.0.0.1:9/a")

    with django_capture_on_commit_callbacks() as callbacks:
        webhook_emit("recommendation.ready", PAYLOAD)
    assert len(callbacks) == 1

    with django_capture_on_commit_callbacks() as callbacks:
        try:
            with transaction.atomic():
                webhook_emit("recommendation.ready", PAYLOAD)
                raise RuntimeError("the change that caused the event failed")
        except RuntimeError:
            pass
    assert callbacks == []
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.django_db
def test_the_sweeper_takes_back_a_delivery_whose_worker_died(fast_retries):
    with WebhookReceiver() as receiver:
        _subscribe(receiver.url)
        delivery = _emit_one()
        # A worker claimed it (lease until next_attempt_at) and was killed before recording anything.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status="sending", attempts=1, next_attempt_at=timezone.now() - timedelta(minutes=5)
        )
        fresh = _emit_one()  # just emitted: its own task is on the way, the sweeper leaves it alone

        assert webhook_due_ids() == [delivery.pk]
        assert webhook_retry_sweep.apply().get() == {"enqueued": 1}  # goes to the broker
        deliver_webhook.apply(args=[delivery.pk])  # what the worker does with it

    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert WebhookDelivery.objects.get(pk=fresh.pk).status == "pending"


# --- API: admins manage subscriptions ---------------------------------------------------------------


@pytest.mark.django_db
def test_only_admins_manage_webhook_subscriptions(
    admin_client_api, engineer_client, integration_client, anon_client
):
    body = {"name": "noc", "url": "https://noc.example.com/hooks", "events": ["feedback.recorded"]}
    assert anon_client.get("/api/v1/webhooks/").status_code == 401
    assert engineer_client.get("/api/v1/webhooks/").status_code == 403
    assert integration_client.post("/api/v1/webhooks/", body, format="json").status_code == 403

    created = admin_client_api.post("/api/v1/webhooks/", body, format="json")

    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert len(secret) >= 32
    assert WebhookSubscription.objects.get().secret == secret
    listed = admin_client_api.get("/api/v1/webhooks/").json()["results"]
    assert [s["url"] for s in listed] == ["https://noc.example.com/hooks"]
    assert "secret" not in listed[0]  # shown once, at creation


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://x.example.com/h", "events": ["ticket.deleted"]}, "events"),
        ({"url": "https://x.example.com/h", "events": []}, "events"),
        ({"url": "ftp://x.example.com/h", "events": ["feedback.recorded"]}, "url"),
        ({"url": "https://x.example.com/h", "events": ["feedback.recorded"], "secret": "short"}, "secret"),
    ],
)
def test_it_refuses_a_subscription_it_could_not_serve(admin_client_api, body, field):
    response = admin_client_api.post("/api/v1/webhooks/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.django_db
def test_the_delivery_log_shows_each_subscriptions_attempts(admin_client_api, fast_retries):
    with WebhookReceiver(script=[400]) as receiver:
        subscription = _subscribe(receiver.url)
        delivery = _emit_one()
        deliver_webhook.apply(args=[delivery.pk])

        log = admin_client_api.get(f"/api/v1/webhooks/{subscription.pk}/deliveries/")
        redeliver = admin_client_api.post(
            f"/api/v1/webhooks/{subscription.pk}/deliveries/{delivery.pk}/redeliver/"
        )
        deliver_webhook.apply(args=[delivery.pk])

    assert log.status_code == 200
    [row] = log.json()["results"]
    assert (row["id"], row["status"], row["attempts"], row["last_status_code"]) == (
        delivery.pk,
        "failed",
        1,
        400,
    )
    assert redeliver.status_code == 202
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert [r.answered for r in receiver.requests] == [400, 200]


# --- A real worker over Redis ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_real_worker_delivers_with_retries_over_redis(transactional_db, tmp_path):
    log = tmp_path / "worker.log"
    with WebhookReceiver(script=[503, 503]) as receiver, webhook_worker(tmp_path, log):
        _subscribe(receiver.url)
        with transaction.atomic():
            [delivery_id] = webhook_emit("recommendation.ready", PAYLOAD)
        delivered = wait_until(
            lambda: WebhookDelivery.objects.get(pk=delivery_id).status == "delivered", timeout=90
        )

    assert delivered, log.read_text()[-3000:]
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.attempts, delivery.last_status_code) == (3, 200)
    assert [r.answered for r in receiver.requests] == [503, 503, 200]
    assert all(r.signature_valid(SECRET) for r in receiver.requests)
    assert json.loads(receiver.requests[-1].body)["id"] == delivery_id


@pytest.mark.django_db
def test_the_admin_shows_a_subscriptions_delivery_log_and_redelivers(admin_client, fast_retries):
    with WebhookReceiver(script=[400]) as receiver:
        subscription = _subscribe(receiver.url)
        delivery = _emit_one()
        deliver_webhook.apply(args=[delivery.pk])

        page = admin_client.get(f"/admin/ml/webhooksubscription/{subscription.pk}/change/")
        action = admin_client.post(
            "/admin/ml/webhookdelivery/", {"action": "redeliver", "_selected_action": [delivery.pk]}
        )
        deliver_webhook.apply(args=[delivery.pk])  # what the worker does once the action's commit enqueues it

    assert page.status_code == 200 and action.status_code == 302
    content = page.content.decode()
    assert "Webhook deliveries" in content and "HTTP 400" in content
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert [r.answered for r in receiver.requests] == [400, 200]
