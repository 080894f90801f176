"""Editing a connector in the admin: pointing it elsewhere (another server, preset, kind or query) clears
its cursor, and a stored secret goes to another server only when entered again for it."""

import pytest
from django.forms.models import model_to_dict

from repair_center.models import Connector

pytestmark = pytest.mark.django_db
CURSOR = "2026-03-01T09:55:00Z"
INLINE = {f"runs-{n}_FORMS": "0" for n in ("TOTAL", "INITIAL", "MIN_NUM", "MAX_NUM")}


def _post(admin_client, connector: Connector, **changes):
    values = model_to_dict(connector, exclude=["id", "periodic_task", "auth_token", "oauth_client_secret"])
    form = {k: ("on" if v is True else v) for k, v in values.items() if v is not False and v is not None}
    form.update(field_mapping="{}", **INLINE, **changes)
    response = admin_client.post(f"/admin/repair_center/connector/{connector.pk}/change/", form, follow=True)
    assert response.status_code == 200 and not response.context.get("errors"), response.content[:3000]
    connector.refresh_from_db()
    return [str(m) for m in response.context["messages"]]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("base_url", "https://prod.service-now.example/"),
        ("preset", "jira_dc"),
        ("query", "assignment_group.name=NOC"),
    ],
)
def test_pointing_a_connector_elsewhere_clears_its_cursor_and_says_so(admin_client, field, value):
    connector = Connector.objects.create(
        name="sn", preset="servicenow", base_url="https://test.service-now.example/", cursor=CURSOR
    )
    shown = _post(admin_client, connector, **{field: value})

    assert (getattr(connector, field), connector.cursor) == (value, "")
    assert f"Cursor cleared because {field} changed" in shown[0]


def test_other_edits_and_a_cursor_set_in_the_same_edit_keep_what_the_admin_wants(admin_client):
    connector = Connector.objects.create(name="sn", base_url="https://test.example/api", cursor=CURSOR)
    assert not any("Cursor" in m for m in _post(admin_client, connector, interval_minutes="30"))
    assert (connector.interval_minutes, connector.cursor) == (30, CURSOR)

    _post(admin_client, connector, base_url="https://prod.example/api", cursor="2026-04-01T00:00:00Z")
    assert connector.cursor == "2026-04-01T00:00:00Z"


def test_a_stored_token_is_not_sent_to_a_new_server_unless_entered_again(admin_client):
    connector = Connector.objects.create(
        name="sn", base_url="https://acme.service-now.example/", auth_username="svc", auth_token="s3cret"
    )
    url = f"/admin/repair_center/connector/{connector.pk}/change/"
    values = model_to_dict(connector, exclude=["id", "periodic_task", "auth_token", "oauth_client_secret"])
    form = {**{k: v for k, v in values.items() if v not in (False, None)}, "field_mapping": "{}", **INLINE}

    response = admin_client.post(url, {**form, "base_url": "https://acme.service-now.example.net/"})
    assert response.status_code == 200
    assert "enter it again to send it there" in response.content.decode()
    connector.refresh_from_db()
    assert connector.base_url == "https://acme.service-now.example/"

    assert _post(admin_client, connector, base_url="https://acme.service-now.example/api/now/table/problem")
    assert connector.auth_token == "s3cret"  # same server: kept
    _post(admin_client, connector, base_url="https://itsm.acme.example/", auth_token="n3w")
    assert (connector.base_url, connector.auth_token) == ("https://itsm.acme.example/", "n3w")


def test_a_cursor_typed_in_the_admin_is_checked_when_saved_not_at_the_next_pull(admin_client):
    connector = Connector.objects.create(name="sn", base_url="https://test.example/api", cursor=CURSOR)
    values = model_to_dict(connector, exclude=["id", "periodic_task", "auth_token", "oauth_client_secret"])
    form = {**{k: v for k, v in values.items() if v not in (False, None)}, "field_mapping": "{}", **INLINE}
    response = admin_client.post(
        f"/admin/repair_center/connector/{connector.pk}/change/", {**form, "cursor": "yesterday"}
    )
    assert response.status_code == 200 and "cursor" in response.context["adminform"].form.errors
    assert "like 2026-01-01T08:00:00Z" in str(response.context["adminform"].form.errors["cursor"])
    connector.refresh_from_db()
    assert connector.cursor == CURSOR
    assert _post(admin_client, connector, cursor="2026-01-01T03:04:00-05:00") is not None  # Jira's keep zones
    assert connector.cursor == "2026-01-01T03:04:00-05:00"
