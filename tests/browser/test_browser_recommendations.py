"""An engineer finds a ticket, reads the model's recommendation with its evidence and corrects it."""

import re

import pytest
from playwright.sync_api import Page, expect

from ml.models import Feedback
from repair_center.models import Ticket
from repair_center.services.tickets import tickets_upsert
from tests.browser.conftest import shoot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_an_engineer_reads_the_evidence_and_corrects_the_recommendation(
    page: Page, live_server, trained_champion, field_engineer, screenshots_dir
):
    tickets_upsert(
        documents=[
            {
                "external_id": "NEW-1",
                "title": "optical receive power low on the fibre link",
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
    sign_in(page, live_server, "field", "pw-field-engineer")
    page.get_by_label("Status").select_option("acknowledged")
    page.get_by_role("button", name="Apply filters").click()
    rows = page.locator("table.queue tbody tr")
    expect(rows.locator(".ticket-id")).to_have_text(["NEW-1"])
    rows.get_by_role("link", name="NEW-1").click()

    panel = page.locator("section[aria-labelledby='recommendation-heading']")
    expect(panel.locator("li.rec")).to_have_count(3)
    expect(panel.get_by_role("meter")).to_have_count(3)
    expect(panel.get_by_text("Why: the evidence")).to_be_visible()
    expect(panel.locator(".evidence li").first).to_be_visible()
    expect(panel.get_by_text(re.compile(r"^Model v\d+$"))).to_be_visible()
    shoot(page, page.url, "ticket-recommendation", screenshots_dir)

    top = panel.locator("li.rec code").first.inner_text()
    other = next(code for code in ("FIX_MAINS", "ROLLBACK_SW", "RESET_RADIO", "REPLACE_SFP") if code != top)
    panel.get_by_label("Correct resolution").select_option(other)
    panel.get_by_label("Notes").fill("mains breaker tripped")
    panel.get_by_role("button", name="Correct", exact=True).click()

    expect(page.get_by_role("status").filter(has_text=f"Corrected to {other}")).to_be_visible()
    expect(page.locator(".feedback-list li").first).to_contain_text("mains breaker tripped")
    feedback = Feedback.objects.get()
    assert (feedback.action, feedback.chosen_resolution.code, feedback.username) == (
        "correct",
        other,
        "field",
    )
    assert Ticket.objects.get(external_id="NEW-1").resolution.code == other
