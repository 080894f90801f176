"""The main flows in a real Chromium: sign in, the queue and its filters, a ticket, the keyboard, sign out."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE

pytestmark = pytest.mark.browser


def _rows(page: Page):
    return page.locator("table.queue tbody tr")


def test_an_engineer_signs_in_and_lands_on_the_queue(page: Page, live_server, field_engineer, tickets):
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    page.get_by_label("Username").fill("field")
    page.get_by_label("Password").fill("pw-field-engineer")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Tickets")).to_be_visible()
    expect(page.get_by_role("link", name="My open")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("link", name="field", exact=True)).to_be_visible()


def test_a_wrong_password_keeps_the_engineer_on_the_sign_in_page(page: Page, live_server, field_engineer):
    page.goto(live_server.url + "/login/")
    page.get_by_label("Username").fill("field")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login/$"))


def test_the_queue_lists_the_tickets_newest_first(signed_in: Page, live_server, tickets):
    signed_in.goto(live_server.url + "/")
    signed_in.get_by_role("navigation", name="Saved views").get_by_role("link", name="All").click()
    expect(_rows(signed_in)).to_have_count(3)
    expect(_rows(signed_in).locator(".ticket-id")).to_have_text(["SIM-000003", "SIM-000002", "SIM-000001"])
    first_ticket = _rows(signed_in).filter(has_text="SIM-000001")
    expect(first_ticket).to_contain_text("CS-COAST-001")
    expect(first_ticket).to_contain_text("SLA met")
    expect(first_ticket.locator("td[data-label='Recommended fix']")).to_have_text("—")


def test_the_queue_filters_by_status_and_by_site(signed_in: Page, live_server, tickets):
    signed_in.goto(live_server.url + "/?view=all")
    signed_in.get_by_label("Status").select_option("closed")
    signed_in.get_by_role("button", name="Apply filters").click()
    expect(_rows(signed_in).locator(".ticket-id")).to_have_text(["SIM-000001"])
    expect(signed_in.get_by_label("Status")).to_have_value("closed")

    signed_in.get_by_role("link", name="Clear").click()
    expect(_rows(signed_in)).to_have_count(3)
    signed_in.get_by_label("Site code").fill("cs-hill")  # the start of a code is enough
    signed_in.get_by_label("Site code").press("Enter")
    expect(_rows(signed_in).locator(".ticket-id")).to_have_text(["SIM-000003"])
    expect(signed_in.get_by_text("1 ticket", exact=True)).to_be_visible()


def test_opening_a_ticket_shows_its_codes_descriptions_and_timeline(signed_in: Page, live_server, tickets):
    signed_in.goto(live_server.url + "/?view=all")
    signed_in.get_by_role("link", name="SIM-000001").click()
    expect(signed_in).to_have_url(f"{live_server.url}/tickets/{tickets['SIM-000001']}/")
    expect(signed_in.get_by_role("heading", level=1)).to_have_text("CPRI link down on sector 2 after storm")

    codes = signed_in.locator("ol.codes > li")
    expect(codes).to_have_count(3)
    expect(codes.nth(0)).to_contain_text("CPRI link between baseband and radio lost")
    expect(codes.nth(1)).to_contain_text("SFP_RX_LOW")
    expect(codes.nth(1)).to_contain_text("Optical receive power below threshold")
    expect(codes.nth(2)).to_contain_text("unmapped")

    events = signed_in.locator("ol.timeline > li")
    expect(events).to_have_count(5)
    expect(events.nth(0)).to_contain_text("Weather")
    expect(events.nth(0)).to_contain_text("-2h 05m before the ticket opened")
    expect(events.nth(3)).to_contain_text("+3h 28m after the ticket opened")
    expect(signed_in.get_by_text("Swapped the SFP on port 3")).to_be_visible()
    expect(signed_in.locator("table.repairs tbody tr")).to_contain_text("RMA-2026-0042")


def test_the_keyboard_reaches_the_filter_form_through_the_skip_link(signed_in: Page, live_server, tickets):
    signed_in.goto(live_server.url + "/?view=all")
    signed_in.keyboard.press("Tab")
    skip = signed_in.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    signed_in.keyboard.press("Enter")
    # The saved views come first in the page, then the filter button and the form.
    for _ in range(len(("My open", "My groups", "Unassigned", "Needs an expert", "Breaching SLA", "All"))):
        signed_in.keyboard.press("Tab")
    expect(
        signed_in.get_by_role("navigation", name="Saved views").get_by_role("link", name="All")
    ).to_be_focused()
    signed_in.keyboard.press("Tab")  # the Filters button (open on a wide screen)
    signed_in.keyboard.press("Tab")
    search = signed_in.get_by_label("Search")
    expect(search).to_be_focused()
    outline = search.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline not in ("none", ""), "keyboard focus must be visible"
    signed_in.keyboard.type("storm")
    signed_in.keyboard.press("Enter")
    expect(signed_in).to_have_url(re.compile(r"\?view=all&q=storm"))
    expect(_rows(signed_in).locator(".ticket-id")).to_have_text(["SIM-000001"])


def test_signing_out_returns_to_the_sign_in_page(signed_in: Page, live_server, tickets):
    signed_in.goto(live_server.url + "/")
    signed_in.get_by_role("button", name="Sign out").click()
    expect(signed_in).to_have_url(re.compile(r"/login/$"))
    signed_in.goto(live_server.url + "/")
    expect(signed_in).to_have_url(re.compile(r"/login/\?next=/$"))


def test_the_pages_fit_a_desktop_and_a_phone_screen(
    page: Page, live_server, field_engineer, tickets, screenshots_dir
):
    ticket_url = f"{live_server.url}/tickets/{tickets['SIM-000001']}/"
    pages = [("login", live_server.url + "/login/"), ("queue", live_server.url + "/"), ("ticket", ticket_url)]
    for name, url in pages:
        if name == "queue":
            page.set_viewport_size(DESKTOP)
            page.goto(live_server.url + "/login/")
            page.get_by_label("Username").fill("field")
            page.get_by_label("Password").fill("pw-field-engineer")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Tickets")).to_be_visible()
            url = live_server.url + "/?view=all"
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.goto(url)
            overflow = page.evaluate("document.documentElement.scrollWidth") - size["width"]
            assert overflow <= 0, f"{name} at {label} scrolls sideways by {overflow}px"
            page.screenshot(path=str(screenshots_dir / f"{name}-{label}.png"), full_page=True)
