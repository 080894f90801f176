"""In the queue, on a desktop and on a phone, a closed ticket never reads "Unassigned" (as if
someone should take it): it says who resolved it, or nothing a sighted reader has to parse."""

import pytest
from playwright.sync_api import Page, expect

from repair_center.services.resolution import ticket_resolve
from repair_center.services.tickets import tickets_upsert
from tests.browser.conftest import DESKTOP, PHONE, sign_in
from tests.factories import ui_catalogue

pytestmark = pytest.mark.browser


@pytest.fixture
def closed_and_open(live_server, field_engineer) -> None:
    ui_catalogue()
    base = {"title": "CPRI link down", "site": "CS-COAST-001", "opened_at": "2026-01-03T10:12:00Z"}
    results = tickets_upsert(
        documents=[
            {**base, "external_id": "Q-OPEN"},
            {**base, "external_id": "Q-RESOLVED"},
            {**base, "external_id": "Q-CLOSED", "status": "closed", "resolution": "REPLACE_SFP"},
        ],
        source="noc",
    )
    ids = {r.external_id: r.id for r in results}
    ticket_resolve(ticket_id=ids["Q-RESOLVED"], resolution_code="REPLACE_SFP", resolved_by="field")


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_closed_ticket_says_who_resolved_it_and_never_unassigned(
    page: Page, live_server, closed_and_open, size
):
    page.set_viewport_size(size)
    sign_in(page, live_server, "field", "pw-field-engineer")
    page.goto(f"{live_server.url}/?view=all")
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(3)

    def assigned(external_id: str):
        return rows.filter(has_text=external_id).locator(".cell-assignee")

    expect(assigned("Q-OPEN")).to_have_text("Unassigned")
    expect(assigned("Q-RESOLVED")).to_have_text("Resolved by field")
    expect(assigned("Q-RESOLVED")).to_be_visible()
    closed = assigned("Q-CLOSED")
    assert "Unassigned" not in closed.inner_text()
    # What a screen reader hears instead of a bare dash.
    expect(closed.get_by_text("Nobody: the ticket is closed")).to_be_attached()
