"""Confidence a person can trust, in Chromium: the model page shows the reliability chart with the
held-out calibration error before and after calibration, and a confident ticket says why, signed.

One test: the trained champion is committed once for the module, and a live-server test's
teardown flushes the database, so a second test would find no model."""

import re

import pytest
from playwright.sync_api import Page, expect

from ml.models import ModelVersion
from repair_center.services.tickets import tickets_upsert
from tests.browser.conftest import PHONE, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_model_page_shows_calibration_and_a_confident_ticket_explains_itself(
    page: Page, live_server, trained_champion, ml_admin
):
    champion = ModelVersion.objects.get(pk=trained_champion.pk)
    before = champion.metrics["calibration"]["before"]["ece"]
    after = champion.metrics["calibration"]["after"]["ece"]
    [result] = tickets_upsert(
        documents=[
            {
                "external_id": "SURE-1",
                "title": "optical receive power low on the fibre link, waiting for the crew",
                "description": "optical receive power low on the fibre link at the harbour",
                "status": "acknowledged",
                "priority": "high",
                "opened_at": "2026-03-01T10:00:00Z",
                "site": "SITE-ML",
                "element": "SN-ML-1",
                "error_codes": ["SFP_RX_LOW"],
                "events": [{"at": "2026-03-01T09:55:00Z", "kind": "alarm_raised", "code": "SFP_RX_LOW"}],
            }
        ],
        source="noc",
    )
    sign_in(page, live_server, "mlowner", "pw-ml-owner")

    # The model page: the reliability chart, before (hollow) and as served, and ECE on held-out tickets.
    page.goto(f"{live_server.url}/models/{champion.pk}/")
    calibration = page.locator("section[aria-labelledby=calibration-heading]")
    chart = calibration.get_by_role("img", name="Reliability diagram")
    expect(chart).to_be_visible()
    assert chart.locator("circle.series-before").count() >= 1
    assert chart.locator("circle.series-served").count() >= 1
    expect(calibration.locator(".calibration-ece")).to_contain_text(
        f"expected calibration error {before:.3f} before calibration and {after:.3f} as served"
    )
    expect(calibration).not_to_contain_text("100%")

    # A confident ticket: a High band that never reads 100%, and a non-empty, signed "why".
    page.goto(f"{live_server.url}/tickets/{result.id}/")
    panel = page.locator("#recommendation")
    expect(panel.locator("li.rec").first.locator("button.band")).to_have_class(re.compile(r"band-high"))
    expect(panel).not_to_contain_text("100%")
    # What the fix rests on: its past tickets and its held-out record, in counts.
    expect(panel.locator("li.rec").first.locator("p.rec-record")).to_contain_text(
        re.compile(
            r"^Learnt from \d+ past tickets\. Held-out check: put first for \d+ tickets?, right for \d+"
        )
    )
    expect(panel.get_by_text("Why: the evidence")).to_be_visible()
    items = panel.locator("ol.evidence li")
    assert 1 <= items.count() <= 5
    for text in items.all_inner_texts():
        assert re.search(r"[+-]\d+\.\d\d (for|against)$", text.strip()), text
    words = [w.lower() for w in panel.locator("ol.evidence mark.evidence-word").all_inner_texts()]
    assert not set(words) & {"waiting", "for", "the", "on", "at"}
    expect(panel.locator(".evidence-patterns")).to_contain_text(
        "past tickets with this code were fixed by REPLACE_SFP"
    )
    # Only the decisive words are highlighted in the description, never filler.
    marks = page.locator("#description-heading ~ * mark.evidence-word").all_inner_texts()
    assert marks and not {m.lower() for m in marks} & {"the", "at", "on"}

    page.set_viewport_size(PHONE)
    page.reload()
    overflow = page.evaluate("document.documentElement.scrollWidth") - PHONE["width"]
    assert overflow <= 0, f"the ticket page scrolls sideways by {overflow}px"
