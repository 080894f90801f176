"""The fleet page's two forms have ids of their own, the what-if says its changes by their labels,
and an enrolment token is issued by POST, then shown once on the page the browser is sent to, so
reloading that page issues nothing more and shows the token no more."""

import re
from html import unescape

import pytest
from django.urls import reverse

from ml.models import EnrolmentToken
from tests.test_frontend_fleet_page import site  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def test_every_id_on_the_page_is_unique(client, admin_user, site):  # noqa: F811
    client.force_login(admin_user)
    html = client.get(reverse("fleet"), {"site": "CS-COAST-001"}).content.decode()
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert sorted({i for i in ids if ids.count(i) > 1}) == []


def test_the_what_if_names_its_changes_by_their_labels(client, admin_user, site):  # noqa: F811
    client.force_login(admin_user)
    html = unescape(
        client.get(reverse("fleet"), {"site": "CS-COAST-001", "latency_budget_ms": "5"}).content.decode()
    )
    assert "With Latency budget (ms) = 5<" in html and "latency_budget_ms =" not in html


def test_a_token_is_shown_once_after_a_redirect_and_a_reload_issues_no_second(client, admin_user, site):  # noqa: F811
    client.force_login(admin_user)

    response = client.post(reverse("fleet"), {"site": "CS-COAST-001", "note": "rack 2"})

    assert response.status_code == 302 and response["Location"] == reverse("fleet") + "#enrol"
    shown = client.get(response["Location"]).content.decode()
    raw = shown[shown.index('<code class="token">') + len('<code class="token">') :].split("<", 1)[0]
    assert len(raw) > 20
    reloaded = client.get(response["Location"]).content.decode()
    assert raw not in reloaded and '<code class="token">' not in reloaded
    assert EnrolmentToken.objects.count() == 1
