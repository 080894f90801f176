"""A webhook subscription's signing secret is stored sealed (ticketai/sealed.py), as connectors' are:
a database dump does not hold it, deliveries are signed with it open, a lost SECRET_KEY fails the
delivery saying so instead of signing with ciphertext, and the admin never sends it back."""

import importlib

import pytest
from django.apps import apps
from django.db import connection

from ml.core.webhooks import webhook_emit, webhook_redeliver
from ml.models import WebhookDelivery, WebhookSubscription
from ml.tasks import deliver_webhook
from tests.webhook_receiver import WebhookReceiver
from ticketai import sealed

pytestmark = pytest.mark.django_db
MIGRATION = importlib.import_module("ml.migrations.0015_webhook_secret_sealed")
SECRET = "s3cret-shared-with-the-receiver"


@pytest.fixture(autouse=True)
def on_premises_receiver(settings):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]
    settings.TICKETAI_WEBHOOK_BACKOFF_S = 0.0


def _stored(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM ml_webhooksubscription WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def _subscribe(url: str, **fields) -> WebhookSubscription:
    values = {"url": url, "secret": SECRET, "events": ["recommendation.ready"], **fields}
    return WebhookSubscription.objects.create(**values)


def _delivery(subscription: WebhookSubscription) -> WebhookDelivery:
    [delivery_id] = webhook_emit("recommendation.ready", {"ticket": {"id": 1}})
    return WebhookDelivery.objects.get(pk=delivery_id, subscription=subscription)


def test_the_database_holds_the_secret_sealed_and_deliveries_are_signed_with_it_open():
    with WebhookReceiver() as receiver:
        subscription = _subscribe(receiver.url)
        stored = _stored(subscription.pk)
        assert stored.startswith(sealed.PREFIX) and SECRET not in stored
        assert WebhookSubscription.objects.get(pk=subscription.pk).secret == SECRET

        deliver_webhook.apply(args=[_delivery(subscription).pk])

    [request] = receiver.requests
    assert request.signature_valid(SECRET)


def test_a_secret_sealed_under_a_lost_key_fails_the_delivery_saying_so(settings):
    with WebhookReceiver() as receiver:
        subscription = _subscribe(receiver.url)
        old_key = settings.SECRET_KEY
        settings.SECRET_KEY = "another-key-" + "z" * 40
        delivery = _delivery(subscription)

        deliver_webhook.apply(args=[delivery.pk])

        delivery.refresh_from_db()
        assert delivery.status == WebhookDelivery.Status.FAILED
        assert "SECRET_KEY_FALLBACKS" in delivery.last_error
        assert receiver.requests == []  # nothing signed with the sealed text as the key

        settings.SECRET_KEY_FALLBACKS = [old_key]  # the operator puts the old key back as a fallback
        client_side = WebhookSubscription.objects.get(pk=subscription.pk)
        assert client_side.secret == SECRET
        assert webhook_redeliver(delivery.pk)
        deliver_webhook.apply(args=[delivery.pk])

    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    [request] = receiver.requests
    assert request.signature_valid(SECRET)


def test_the_admin_never_shows_the_secret_and_a_blank_field_keeps_it(admin_client):
    subscription = _subscribe("https://noc.example.com/hooks")
    url = f"/admin/ml/webhooksubscription/{subscription.pk}/change/"

    page = admin_client.get(url)
    assert page.status_code == 200 and SECRET not in page.content.decode()

    form = {
        "name": "noc",
        "url": "https://noc.example.com/hooks",
        "secret": "",
        "events": '["feedback.recorded"]',
        "kind": "ticketai",
        "query": "",
        "active": "on",
        "deliveries-TOTAL_FORMS": 0,
        "deliveries-INITIAL_FORMS": 0,
    }
    saved = admin_client.post(url, form)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    subscription.refresh_from_db()
    assert (subscription.name, subscription.events, subscription.secret) == (
        "noc",
        ["feedback.recorded"],
        SECRET,
    )

    saved = admin_client.post(url, {**form, "secret": "a-new-secret-of-enough-length"})
    assert saved.status_code == 302
    subscription.refresh_from_db()
    assert subscription.secret == "a-new-secret-of-enough-length"


def test_a_subscription_added_in_the_admin_gets_a_secret_shown_once(admin_client):
    form = {
        "name": "crm",
        "url": "https://crm.example.com/hooks",
        "secret": "",
        "events": '["recommendation.ready"]',
        "kind": "ticketai",
        "query": "",
        "active": "on",
        "deliveries-TOTAL_FORMS": 0,
        "deliveries-INITIAL_FORMS": 0,
    }
    added = admin_client.post("/admin/ml/webhooksubscription/add/", form, follow=True)

    assert added.status_code == 200
    subscription = WebhookSubscription.objects.get(name="crm")
    assert len(subscription.secret) >= 32
    assert f"secret is {subscription.secret}" in added.content.decode()
    shown_again = admin_client.get(f"/admin/ml/webhooksubscription/{subscription.pk}/change/")
    assert subscription.secret not in shown_again.content.decode()


def test_the_migration_seals_what_was_stored_in_the_clear_and_opens_it_backwards():
    subscription = _subscribe("https://noc.example.com/hooks")
    with connection.cursor() as cursor:  # as 0014 left it
        cursor.execute(
            "UPDATE ml_webhooksubscription SET secret = %s WHERE id = %s", ["legacy-secret", subscription.pk]
        )
    assert WebhookSubscription.objects.get(pk=subscription.pk).secret == "legacy-secret"

    MIGRATION.seal_stored(apps, None)
    stored = _stored(subscription.pk)
    assert stored.startswith(sealed.PREFIX) and "legacy-secret" not in stored
    assert WebhookSubscription.objects.get(pk=subscription.pk).secret == "legacy-secret"

    with connection.schema_editor() as editor:
        MIGRATION.open_stored(apps, editor)
    assert _stored(subscription.pk) == "legacy-secret"
