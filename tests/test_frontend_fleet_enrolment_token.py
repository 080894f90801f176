"""A newly issued enrolment token (a secret) waits for the page that shows it once: sealed in the
cache for TICKETAI_EDGE_ENROLMENT_SHOW_S seconds, never in the session store, and gone after that
even if the redirect is never followed."""

import socket
import time

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.urls import reverse

from frontend.views.fleet import ISSUED_SESSION_KEY
from ml.models import EnrolmentToken
from tests.factories import SiteFactory


@pytest.fixture
def site(db):
    return SiteFactory(code="CS-COAST-001", tier="cell-site")


def _shown_token(html: str) -> str | None:
    if '<code class="token">' not in html:
        return None
    return html[html.index('<code class="token">') + len('<code class="token">') :].split("<", 1)[0]


def test_the_token_never_enters_the_session_store_and_waits_sealed(client, admin_user, site):
    client.force_login(admin_user)
    assert client.post(reverse("fleet"), {"site": site.code}).status_code == 302
    sessions = [str(s.get_decoded()) + s.session_data for s in Session.objects.all()]
    waiting = cache.get(client.session[ISSUED_SESSION_KEY])

    raw = _shown_token(client.get(reverse("fleet")).content.decode())

    assert raw
    assert all(raw not in stored for stored in sessions)
    assert waiting and raw not in waiting  # sealed, not the token in the clear
    assert _shown_token(client.get(reverse("fleet")).content.decode()) is None  # shown once


def test_an_unshown_token_is_gone_after_the_show_window(client, admin_user, site, settings):
    settings.TICKETAI_EDGE_ENROLMENT_SHOW_S = 1
    client.force_login(admin_user)
    client.post(reverse("fleet"), {"site": site.code})  # the redirect is never followed in time
    name = client.session[ISSUED_SESSION_KEY]
    assert cache.get(name) is not None

    time.sleep(1.3)

    assert cache.get(name) is None  # expired by the cache itself, whether or not a page is loaded
    assert _shown_token(client.get(reverse("fleet")).content.decode()) is None
    assert EnrolmentToken.objects.count() == 1  # and the page load issued none


def test_a_session_holding_a_token_the_old_way_shows_nothing_and_is_cleared(client, admin_user, site):
    client.force_login(admin_user)
    session = client.session
    old_way = {"token": "enr_old", "site": site.code, "expires_at": "2026-01-01T00:00:00Z"}
    session[ISSUED_SESSION_KEY] = old_way
    session.save()

    html = client.get(reverse("fleet")).content.decode()

    assert "enr_old" not in html and ISSUED_SESSION_KEY not in client.session


def test_with_the_cache_down_no_token_is_issued_and_the_admin_is_told(client, admin_user, site, settings):
    with socket.socket() as probe:  # a port nothing listens on: a Redis that is down
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client.force_login(admin_user)  # the session lives in the database, not the cache
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        }
    }

    response = client.post(reverse("fleet"), {"site": site.code})

    assert response.status_code == 503
    assert "is not answering: no token was issued" in response.content.decode()
    assert not EnrolmentToken.objects.exists()
