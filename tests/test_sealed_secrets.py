"""A connector's token and OAuth client secret are stored sealed (ticketai/sealed.py): a database
dump does not hold them, TicketAI reads them open, a rotated SECRET_KEY in SECRET_KEY_FALLBACKS still
opens them, and a lost key is said so instead of sending ciphertext as a password."""

import importlib

import pytest
from django.apps import apps
from django.db import connection

from repair_center.models import Connector, ConnectorRun, Ticket
from repair_center.services.connectors import pull_connector
from tests.factories import NetworkElementFactory, SiteFactory
from tests.fake_ticketing_systems import FakeSystem, basic, remote_items
from ticketai import sealed

pytestmark = pytest.mark.django_db
MIGRATION = importlib.import_module("repair_center.migrations.0021_connector_secrets_sealed")


def _stored(pk: int) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT auth_token, oauth_client_secret FROM repair_center_connector WHERE id = %s", [pk]
        )
        return cursor.fetchone()


def _connector(**fields) -> Connector:
    values = {"name": "sn", "preset": "servicenow", "base_url": "https://sn.example", **fields}
    return Connector.objects.create(**values)


def test_the_database_holds_the_secrets_sealed_and_ticketai_reads_them_open(settings):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]
    NetworkElementFactory(site=SiteFactory(code="SITE-P1"), serial="SN-P1", name="RRU-P1")
    authorization = basic("svc.ticketai", "pw-1")
    with FakeSystem(
        "servicenow", remote_items("servicenow", 2), expect_authorization=authorization
    ) as system:
        connector = _connector(base_url=system.base_url, auth_username="svc.ticketai", auth_token="pw-1")
        token, secret = _stored(connector.pk)
        assert token.startswith(sealed.PREFIX) and "pw-1" not in token and secret == ""
        assert Connector.objects.get(pk=connector.pk).auth_token == "pw-1"

        run = pull_connector(connector.pk)

    assert run.status == ConnectorRun.Status.SUCCEEDED, run.error
    assert Ticket.objects.count() == 2


def test_a_rotated_secret_key_still_opens_what_the_old_one_sealed(settings):
    settings.SECRET_KEY = "old-key-" + "x" * 40
    connector = _connector(oauth_client_secret="client-secret-1")
    sealed_before = _stored(connector.pk)[1]

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-key-" + "y" * 40, [settings.SECRET_KEY]
    reread = Connector.objects.get(pk=connector.pk)
    assert reread.oauth_client_secret == "client-secret-1"
    reread.save()  # sealed again, under the new key
    settings.SECRET_KEY_FALLBACKS = []
    assert _stored(connector.pk)[1] != sealed_before
    assert Connector.objects.get(pk=connector.pk).oauth_client_secret == "client-secret-1"


def test_a_secret_sealed_under_a_lost_key_is_said_so_and_kept(settings, admin_client, admin_user):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]
    with FakeSystem("servicenow", remote_items("servicenow", 1)) as system:
        connector = _connector(base_url=system.base_url, auth_token="bearer-1")
        settings.SECRET_KEY = "another-key-" + "z" * 40
        lost = Connector.objects.get(pk=connector.pk)
        assert isinstance(lost.auth_token, sealed.Unopenable)

        run = pull_connector(connector.pk)

        assert run.status == ConnectorRun.Status.FAILED and "SECRET_KEY_FALLBACKS" in run.error
        assert system.requests == []  # nothing was sent with the sealed text as its token
    stored = _stored(connector.pk)[0]
    lost.save()  # saved again as read: still the text the lost key sealed, not sealed twice
    assert _stored(connector.pk)[0] == stored
    admin_client.force_login(admin_user)  # the old session's key is gone
    assert admin_client.get(f"/admin/repair_center/connector/{connector.pk}/change/").status_code == 200


def test_the_migration_seals_what_was_stored_in_the_clear_and_opens_it_backwards():
    connector = _connector()
    with connection.cursor() as cursor:  # as 0020 left it
        cursor.execute(
            "UPDATE repair_center_connector SET auth_token = %s, oauth_client_secret = %s WHERE id = %s",
            ["legacy-token", "", connector.pk],
        )
    assert Connector.objects.get(pk=connector.pk).auth_token == "legacy-token"  # read as it was

    MIGRATION.seal_stored(apps, None)
    token, _ = _stored(connector.pk)
    assert token.startswith(sealed.PREFIX) and "legacy-token" not in token
    assert Connector.objects.get(pk=connector.pk).auth_token == "legacy-token"

    with connection.schema_editor() as editor:
        MIGRATION.open_stored(apps, editor)
    assert _stored(connector.pk) == ("legacy-token", "")


def test_blank_stays_blank_and_nothing_is_sealed_twice():
    assert sealed.seal("") == ""
    once = sealed.seal("s3cret")
    assert sealed.seal(once) == once and sealed.open_sealed(once) == "s3cret"
    assert sealed.open_sealed("stored in the clear") == "stored in the clear"
    assert sealed.seal("s3cret") != once  # a fresh nonce each time: the stored text says nothing
