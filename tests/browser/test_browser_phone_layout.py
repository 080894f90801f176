"""At a 390 px phone: the queue card says when the model is unsure, gives the SLA in full and says
whether the ticket is yours; an admin's menu wraps so every page, the current one included, is in
view."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.browser.test_browser_workspace import queue  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser
PHONE_390 = {"width": 390, "height": 844}


def _in_view(page: Page, locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]


def test_a_phone_card_shows_needs_an_expert_the_whole_sla_and_whose_it_is(page: Page, live_server, queue):  # noqa: F811
    page.set_viewport_size(PHONE_390)
    sign_in(page, live_server, "field", "pw-field-engineer")
    rows = page.locator("table.queue tbody tr")

    expect(rows.filter(has_text="NOC-102").get_by_text("Needs an expert")).to_be_visible()
    for i in range(rows.count()):
        sla = rows.nth(i).locator(".cell-sla")
        assert sla.evaluate("el => el.scrollWidth <= el.clientWidth"), f"SLA cut: {sla.inner_text()}"
        assert _in_view(page, sla.locator(".sla"))
    expect(rows.filter(has_text="NOC-101").get_by_text("Yours")).to_be_visible()
    expect(rows.filter(has_text="NOC-103").get_by_text("Coast crew")).to_be_visible()
    heights = [rows.nth(i).bounding_box()["height"] for i in range(rows.count())]
    assert max(heights) <= 140, f"cards of {heights}px"


def test_an_admins_menu_wraps_on_a_phone_with_the_current_page_in_view(page: Page, live_server, ml_admin):
    page.set_viewport_size(PHONE_390)
    sign_in(page, live_server, "mlowner", "pw-ml-owner")
    page.goto(f"{live_server.url}/fleet/")
    nav = page.get_by_role("navigation", name="Main")
    for label in ("Tickets", "Models", "Training", "Schedule", "Fleet", "Admin"):
        link = nav.get_by_role("link", name=label, exact=True)
        expect(link).to_be_visible()
        assert _in_view(page, link), f"{label} is off-screen"
    expect(nav.get_by_role("link", name="Fleet", exact=True)).to_have_attribute("aria-current", "page")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_390["width"]
