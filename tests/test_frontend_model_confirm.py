"""The promote and roll back confirmations say what the admin needs to decide: a candidate that
scores worse than the champion, and that the promotion gate held it back, and the version a roll
back returns to; a reason is required, and blank is not a reason."""

from html import unescape

import pytest
from django.urls import reverse

from ml.core import registry
from ml.models import AuditLog, ModelVersion
from tests.test_frontend_models_pages import _version, admin_browser, model_dir  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def held_back(db):
    champion = registry.promote(_version(6))
    ModelVersion.objects.filter(pk=champion.pk).update(metrics={**champion.metrics, "macro_f1": 0.7})
    candidate = _version(7, parent=champion)
    ModelVersion.objects.filter(pk=candidate.pk).update(metrics={**candidate.metrics, "macro_f1": 0.5})
    registry.keep_candidate(candidate, reason="macro-F1 0.500 is not 0.010 above the champion's 0.700")
    return champion, candidate


def test_promoting_a_worse_candidate_says_so_and_that_the_gate_held_it_back(admin_browser, held_back):  # noqa: F811
    champion, candidate = held_back

    html = unescape(admin_browser.get(reverse("model-promote", args=[candidate.pk])).content.decode())

    assert (
        f"v{candidate.pk} scores worse than the champion, v{champion.pk}: macro-F1 0.500 against 0.700"
        in html
    )
    assert "The promotion gate held it back: macro-F1 0.500 is not 0.010 above the champion's 0.700" in html


def test_a_blank_reason_is_refused_and_nothing_is_done(admin_browser, held_back):  # noqa: F811
    _, candidate = held_back

    response = admin_browser.post(reverse("model-promote", args=[candidate.pk]), {"reason": "   "})

    assert response.status_code == 400
    assert "Give a reason: it is kept in the audit log." in unescape(response.content.decode())
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.CANDIDATE
    assert not AuditLog.objects.filter(action=AuditLog.Action.PROMOTE, model_version=candidate).exists()


def test_rolling_back_names_the_version_it_returns_to(admin_browser):  # noqa: F811
    first = registry.promote(_version(8))
    second = registry.promote(_version(9, parent=first))

    html = unescape(admin_browser.get(reverse("model-rollback", args=[second.pk])).content.decode())

    assert f"Roll back v{second.pk} to v{first.pk}?" in html
    assert (
        f">v{first.pk}</a> (macro-F1" in html
        and "the champion before it, serves every recommendation" in html
    )
    assert f"Yes, roll back to v{first.pk}" in html
