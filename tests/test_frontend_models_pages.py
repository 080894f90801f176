"""The models pages: versions with lineage and metrics, evaluation pictures, audited promote and roll back."""

import re

import numpy as np
import pytest
from django.urls import reverse

from ml.core import registry
from ml.models import AuditLog, ModelVersion
from ml.training import evaluation

LABELS = ["REBOOT", "REPLACE_SFP", "RESEAT"]


@pytest.fixture(autouse=True)
def model_dir(settings, tmp_path):
    settings.TICKETAI_MODEL_DIR = tmp_path / "models"
    return settings.TICKETAI_MODEL_DIR


def _metrics(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    truth = [LABELS[i % 3] for i in range(30)]
    proba = rng.dirichlet([1, 1, 1], size=30)
    for row, label in zip(proba, truth, strict=True):
        row[LABELS.index(label)] += 1.0
    proba = proba / proba.sum(axis=1, keepdims=True)
    return evaluation.report(truth, proba, LABELS)


def _version(seed: int = 1, *, parent=None) -> ModelVersion:
    staging = registry.staging_dir()
    (staging / "weights.bin").write_bytes(b"w" * 10)
    metrics = _metrics(seed)
    return registry.register(
        staging,
        manifest={},
        base_model="tiny",
        data_fingerprint=f"{seed:x}" * 64,
        parent=parent,
        label_set=LABELS,
        metrics=metrics,
        baselines={
            "runbook": {
                "macro_f1": 0.41,
                "accuracy": 0.5,
                "top3": 0.9,
                "ece": 0.2,
                "coverage_at_90_precision": 0.1,
            },
            "tfidf_logreg": {"macro_f1": 0.62, "accuracy": 0.66, "top3": 0.95, "ece": 0.1},
        },
    )


@pytest.fixture
def admin_browser(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def eng_browser(client, engineer):
    client.force_login(engineer)
    return client


def test_the_list_shows_status_lineage_and_metrics_of_each_version(admin_browser):
    first = registry.promote(_version(1))
    second = _version(2, parent=first)
    html = admin_browser.get(reverse("model-list")).content.decode()
    assert f'href="/models/{second.pk}/"' in html and f">v{first.pk}</a>" in html
    assert "Champion" in html and "Candidate" in html
    assert first.data_fingerprint[:12] in html
    assert f"{second.metrics['macro_f1']:.3f}" in html
    assert "0.410 / 0.620" in html
    assert "Promote" in html  # the audit log of the first promotion


def test_the_version_page_draws_the_evaluation_as_svg(admin_browser):
    version = _version(3)
    html = admin_browser.get(reverse("model-detail", args=[version.pk])).content.decode()
    svgs = re.findall(r'<svg class="chart"[^>]*aria-label="([^"]+)"', html)
    assert "Confusion matrix: true resolution by row, predicted by column" in svgs
    assert "F1 per resolution on the held-out split" in svgs
    assert "Macro-F1: model and baselines" in svgs
    # every class of the confusion matrix is a labelled row
    for label in LABELS:
        assert f">{label}</text>" in html
    assert "Runbook (most common fix per first code)" in html and "TF-IDF + logistic regression" in html
    assert f"{version.metrics['ece']:.3f}" in html


def test_the_version_page_names_the_resolutions_it_could_not_measure(admin_browser):
    version = _version(4)
    measured = admin_browser.get(reverse("model-detail", args=[version.pk])).content.decode()
    assert "not measured" not in measured
    # A fourth fix trained on from three tickets: none held out, so no per-class row.
    ModelVersion.objects.filter(pk=version.pk).update(label_set=[*LABELS, "RESET_RADIO"])

    html = admin_browser.get(reverse("model-detail", args=[version.pk])).content.decode()

    assert re.search(
        r'<p class="muted unmeasured">No held-out ticket, so not measured: <code>RESET_RADIO</code>\.',
        html,
    )


def test_calibration_and_coverage_curves_are_drawn_when_the_evaluation_recorded_them(admin_browser):
    version = _version(4)
    version.metrics["calibration"] = {
        "bins": [
            {"confidence": 0.55, "accuracy": 0.5, "count": 10},
            {"confidence": 0.85, "accuracy": 0.9, "count": 20},
        ]
    }
    version.metrics["coverage_curve"] = [
        {"coverage": 0.2, "precision": 1.0},
        {"coverage": 1.0, "precision": 0.7},
    ]
    version.save()
    html = admin_browser.get(reverse("model-detail", args=[version.pk])).content.decode()
    assert 'aria-label="Reliability diagram"' in html and 'aria-label="Coverage at precision"' in html
    assert "was not recorded" not in html


def test_an_engineer_gets_a_403_page_and_cannot_promote(eng_browser):
    version = _version(5)
    page = eng_browser.get(reverse("model-detail", args=[version.pk]))
    assert page.status_code == 403
    html = page.content.decode()
    assert (
        "This page is not for your role" in html and 'class="site-header"' in html and "Promote v" not in html
    )
    assert eng_browser.get(reverse("model-promote", args=[version.pk])).status_code == 403
    assert eng_browser.post(reverse("model-promote", args=[version.pk]), {"reason": "x"}).status_code == 403
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.CANDIDATE


def test_an_admin_promotes_after_confirming_and_it_is_audited(admin_browser, admin_user):
    champion = registry.promote(_version(6))
    candidate = _version(7, parent=champion)
    confirm = admin_browser.get(reverse("model-promote", args=[candidate.pk]))
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert f"Promote v{candidate.pk}?" in html and "csrfmiddlewaretoken" in html and 'name="reason"' in html
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.CANDIDATE  # GET changes nothing

    response = admin_browser.post(
        reverse("model-promote", args=[candidate.pk]), {"reason": "better on coast"}
    )
    assert response.status_code == 302 and response["Location"] == reverse(
        "model-detail", args=[candidate.pk]
    )
    candidate.refresh_from_db()
    champion.refresh_from_db()
    assert (
        candidate.status == ModelVersion.Status.CHAMPION and champion.status == ModelVersion.Status.ARCHIVED
    )
    entry = AuditLog.objects.filter(action=AuditLog.Action.PROMOTE, model_version=candidate).get()
    assert (entry.actor, entry.user, entry.reason, entry.previous_champion) == (
        "boss",
        admin_user,
        "better on coast",
        champion,
    )
    page = admin_browser.get(reverse("model-detail", args=[candidate.pk])).content.decode()
    assert "is now the champion" in page and "Roll back" in page


def test_an_admin_rolls_back_to_the_previous_champion(admin_browser):
    first = registry.promote(_version(8))
    second = registry.promote(_version(9, parent=first))
    assert admin_browser.get(reverse("model-rollback", args=[first.pk])).status_code == 404  # not champion
    response = admin_browser.post(reverse("model-rollback", args=[second.pk]), {"reason": "bad on hills"})
    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == ModelVersion.Status.CHAMPION and second.status == ModelVersion.Status.ARCHIVED
    assert AuditLog.objects.filter(
        action=AuditLog.Action.ROLLBACK, reason="bad on hills", actor="boss"
    ).exists()


def test_promoting_a_version_whose_files_are_corrupted_is_refused(admin_browser, model_dir):
    version = _version(10)
    (version.artifact_dir / "weights.bin").write_bytes(b"tampered")
    response = admin_browser.post(reverse("model-promote", args=[version.pk]), {"reason": "try"}, follow=True)
    assert "corrupted" in response.content.decode()
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.CANDIDATE
    assert not AuditLog.objects.filter(action=AuditLog.Action.PROMOTE, model_version=version).exists()


def test_the_admin_pages_are_in_the_navigation_of_admins_only(client, engineer, admin_user):
    client.force_login(engineer)
    engineers = client.get(reverse("ticket-list")).content.decode()
    client.force_login(admin_user)
    admins = client.get(reverse("ticket-list")).content.decode()
    for name in ("model-list", "training", "schedule", "fleet"):
        assert f'href="{reverse(name)}"' in admins
        assert f'href="{reverse(name)}"' not in engineers
    assert f'href="{reverse("ticket-list")}"' in engineers and f'href="{reverse("profile")}"' in engineers


def test_the_reliability_chart_shows_calibration_before_and_after_with_the_held_out_ece(admin_browser):
    version = _version(5)
    version.metrics["calibration"] = {
        "bins": [{"confidence": 0.8, "accuracy": 0.78, "count": 40}],
        "before": {"n": 40, "ece": 0.183, "bins": [{"confidence": 0.99, "accuracy": 0.8, "count": 40}]},
        "after": {"n": 40, "ece": 0.021, "bins": [{"confidence": 0.8, "accuracy": 0.78, "count": 40}]},
        "fitted_on": 20,
        "cap": 0.9545,
    }
    version.save()
    html = admin_browser.get(reverse("model-detail", args=[version.pk])).content.decode()
    chart = html[
        html.index('aria-label="Reliability diagram"') : html.index("</svg>", html.index("Reliability"))
    ]
    assert 'class="series-before"' in chart and 'class="series-served"' in chart
    assert "before calibration" in chart and "as served (calibrated)" in chart
    assert (
        "On 40 held-out tickets, expected calibration error <strong>0.183</strong> before calibration and "
        in html
    )
    assert "<strong>0.021</strong> as served" in html and "fitted on 20 validation tickets" in html
    assert "The highest confidence it states is 95%" in html
