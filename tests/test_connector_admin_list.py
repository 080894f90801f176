"""The admin's list of connectors says how each one's last pull went, not only when one last succeeded:
a connector failing since yesterday must not look like one that pulled yesterday and rests."""

import pytest
from django.utils import timezone

from repair_center.models import Connector

pytestmark = pytest.mark.django_db


def test_the_connector_list_shows_which_ones_fail_and_why(admin_client):
    earlier = timezone.now() - timezone.timedelta(days=1)
    Connector.objects.create(name="sn-ok", base_url="https://ok.example/api", last_run_at=earlier)
    Connector.objects.create(
        name="sn-broken",
        base_url="https://broken.example/api",
        last_run_at=timezone.now(),
        last_success_at=earlier,
        last_error="GET https://broken.example/api?page=1 answered HTTP 401 (text/html, 12 bytes)",
    )
    Connector.objects.create(name="sn-new", base_url="https://new.example/api")

    page = admin_client.get("/admin/repair_center/connector/").content.decode()

    def row(name: str) -> str:
        start = page.index(f">{name}<")
        return page[start : page.index("</tr>", start)]

    assert "failed: GET https://broken.example/api?page=1 answered HTTP 401" in row("sn-broken")
    assert "succeeded" in row("sn-ok") and "never" in row("sn-new")
