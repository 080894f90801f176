"""The engineer's workspace in a real Chromium, desktop and phone: triage from "My open", confidence
bands with the number on hover or tap, compact phone cards, work notes and status actions, the
403 and 404 pages in the site's layout, the admin pages for admins only, and no page wider than a
375 px phone."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone
from playwright.sync_api import Page, expect

from ml.models import ModelVersion, Recommendation, TrainingRun
from repair_center import roles
from repair_center.models import AssignmentGroup, Ticket
from repair_center.services.tickets import tickets_upsert
from repair_center.services.workflow import ticket_assign
from tests.browser.conftest import DESKTOP, PHONE, shoot, sign_in
from tests.factories import ResolutionCodeFactory, ui_catalogue

pytestmark = pytest.mark.browser


def _ago(hours: float) -> str:
    return (timezone.now() - timedelta(hours=hours)).isoformat()


@pytest.fixture
def queue(live_server, field_engineer) -> dict[str, int]:
    """Four open tickets for the field engineer's crew, a closed one, and stored recommendations."""
    ui_catalogue()
    ResolutionCodeFactory(code="REBOOT_BASEBAND", title="Reboot the baseband")
    crew = AssignmentGroup.objects.create(name="Coast crew")
    crew.members.add(field_engineer)
    docs = [
        ("NOC-101", "Sector 2 dark after the storm", "critical", 3),  # due in 1 h
        ("NOC-102", "CPRI flapping on sector 1", "high", 10),  # breached 2 h ago
        ("NOC-103", "Battery low, mains out", "medium", 2),
        ("NOC-104", "Fan alarm in the cabinet", "low", 1),
    ]
    ids = {}
    for external_id, title, priority, hours in docs:
        [result] = tickets_upsert(
            documents=[
                {
                    "external_id": external_id,
                    "title": title,
                    "description": "Seen on OSS; rx power flapping on the fibre link.",
                    "priority": priority,
                    "opened_at": _ago(hours),
                    "site": "CS-COAST-001",
                    "element": "NL-RU-000123",
                    "error_codes": ["CPRI_LINK_DOWN"],
                }
            ],
            source="noc",
        )
        ids[external_id] = result.id
        ticket_assign(ticket_id=result.id, group=crew)
    ticket_assign(ticket_id=ids["NOC-101"], assignee=field_engineer)
    version = ModelVersion.objects.create(
        base_model="browser",
        data_fingerprint="b" * 64,
        artifact_path="/nowhere",
        format_version=1,
        serialization_version=1,
    )
    for key, code, confidence in (
        ("NOC-101", "REPLACE_SFP", 0.9998),
        ("NOC-102", "REBOOT_BASEBAND", 0.42),
        ("NOC-103", "REPLACE_SFP", 0.71),
    ):
        ticket = Ticket.objects.get(pk=ids[key])
        Recommendation.objects.create(
            ticket=ticket,
            ticket_revision=ticket.revision,
            model_version=version,
            top_resolution=code,
            top_confidence=confidence,
        )
    return ids


def _rows(page: Page):
    return page.locator("table.queue tbody tr")


def _no_sideways_scroll(page: Page, what: str) -> None:
    width = page.viewport_size["width"]
    overflow = page.evaluate("document.documentElement.scrollWidth") - width
    assert overflow <= 0, f"{what} at {width}px scrolls sideways by {overflow}px"


def test_an_engineer_triages_from_my_open_with_confidence_bands(
    page: Page, live_server, queue, screenshots_dir
):
    sign_in(page, live_server, "field", "pw-field-engineer")
    expect(page.get_by_role("link", name="My open")).to_have_attribute("aria-current", "page")
    # Most urgent first: breached, then due in an hour, then the rest by due time.
    expect(_rows(page).locator(".ticket-id")).to_have_text(["NOC-102", "NOC-101", "NOC-103", "NOC-104"])
    expect(_rows(page).first).to_contain_text("Breached")

    confident = _rows(page).filter(has_text="NOC-101").get_by_role("button", name="High confidence")
    expect(confident).to_have_text("High")
    confident.hover()
    assert "over 99%" in confident.evaluate("el => getComputedStyle(el, '::after').content")
    expect(page.locator("body")).not_to_contain_text("100%")
    expect(
        _rows(page).filter(has_text="NOC-103").get_by_role("button", name="Medium confidence")
    ).to_be_visible()
    expect(_rows(page).filter(has_text="NOC-102")).to_contain_text("Needs an expert")
    shoot(page, page.url, "queue-my-open", screenshots_dir)

    page.get_by_role("navigation", name="Saved views").get_by_role("link", name="Needs an expert").click()
    expect(_rows(page).locator(".ticket-id")).to_have_text(["NOC-102"])
    expect(page).to_have_url(f"{live_server.url}/?view=needs_expert")

    page.get_by_role("navigation", name="Saved views").get_by_role("link", name="My open").click()
    _rows(page).get_by_role("link", name="NOC-102").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("CPRI flapping on sector 1")
    expect(page.locator(".fact-sla")).to_contain_text("Breached")


def test_on_a_phone_the_queue_is_compact_cards_with_filters_behind_a_button(page: Page, live_server, queue):
    page.set_viewport_size(PHONE)
    sign_in(page, live_server, "field", "pw-field-engineer")
    header = page.locator(".site-header .bar").bounding_box()
    assert header["height"] < 60, f"the header wraps: {header['height']}px"
    search = page.get_by_label("Search")
    expect(search).not_to_be_visible()  # behind the Filters button
    heights = [_rows(page).nth(i).bounding_box()["height"] for i in range(4)]
    assert max(heights) <= 130, f"cards of {heights}px"
    _no_sideways_scroll(page, "the queue")

    band = _rows(page).filter(has_text="NOC-101").get_by_role("button", name="High confidence")
    band.click()  # a tap: the number shows while the band has focus
    assert "over 99%" in band.evaluate("el => getComputedStyle(el, '::after').content")

    filters = page.locator("details.filters > summary")
    filters.click()
    search.fill("batt")  # NOC shorthand, a whole word
    search.press("Enter")
    expect(_rows(page).locator(".ticket-id")).to_have_text(["NOC-103"])
    expect(filters).to_contain_text("1 on")  # the closed button says a filter is on
    _no_sideways_scroll(page, "the filtered queue")


def test_work_notes_and_status_actions_on_a_phone(page: Page, live_server, queue, screenshots_dir):
    page.set_viewport_size(PHONE)
    sign_in(page, live_server, "field", "pw-field-engineer")
    page.goto(f"{live_server.url}/tickets/{queue['NOC-104']}/")
    work = page.locator("#work")
    work.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#work .message")).to_contain_text("Acknowledged: the ticket is yours.")
    expect(page.locator("#work .message")).to_be_in_viewport()
    expect(work).to_contain_text("field")  # acknowledging took it

    work.get_by_role("link", name="Put on hold…").click()
    page.get_by_label("Reason").fill("waiting for the landlord's key")
    page.get_by_role("button", name="Confirm: put on hold").click()
    expect(page.locator("#work .message")).to_contain_text("Put on hold.")
    expect(page.locator(".ticket-head")).to_contain_text("On hold")

    page.get_by_label("Work note").fill("Landlord calls back at 14:00.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#activity .message")).to_contain_text("Note added.")
    activity = page.locator("ol.activity")
    expect(activity).to_contain_text("Landlord calls back at 14:00.")
    expect(activity).to_contain_text("Put on hold")
    expect(activity).to_contain_text("waiting for the landlord's key")
    _no_sideways_scroll(page, "the ticket page")
    shoot(page, page.url, "ticket-work", screenshots_dir)


def _expected(problems: list[str], status: int) -> None:
    """A page that answers 403 or 404 on purpose: its status line in the console is no error."""
    problems[:] = [p for p in problems if f"status of {status}" not in p]


def test_a_404_page_uses_the_layout_on_desktop_and_phone(
    page: Page, live_server, queue, screenshots_dir, page_problems
):
    sign_in(page, live_server, "field", "pw-field-engineer")
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        response = page.goto(f"{live_server.url}/tickets/999999/")
        assert response.status == 404
        expect(page.get_by_role("heading", name="Nothing here")).to_be_visible()
        expect(
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Tickets")
        ).to_be_visible()
        _no_sideways_scroll(page, "the 404 page")
    _expected(page_problems, 404)
    page.screenshot(path=str(screenshots_dir / "404-phone.png"), full_page=True)


def test_admin_pages_are_for_admins_and_fit_a_phone(
    page: Page, live_server, queue, ml_admin, screenshots_dir, page_problems
):
    # An engineer: no admin navigation, and a 403 page in the layout at a direct URL.
    sign_in(page, live_server, "field", "pw-field-engineer")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(["Tickets"])
    response = page.goto(f"{live_server.url}/models/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="This page is not for your role")).to_be_visible()
    _expected(page_problems, 403)
    page.get_by_role("button", name="Sign out").click()

    version = ModelVersion.objects.create(
        base_model="browser",
        data_fingerprint="c" * 64,
        artifact_path="/nowhere",
        format_version=1,
        serialization_version=1,
        status=ModelVersion.Status.CANDIDATE,
        metrics=_metrics(),
        baselines={"runbook": {"macro_f1": 0.2}, "tfidf_logreg": {"macro_f1": 0.88}},
    )
    run = TrainingRun.objects.create(
        trigger="manual",
        status="succeeded",
        model_version=version,
        started_at=_dt(20),
        finished_at=_dt(6),
        quality_report={
            "passed": True,
            "checks": [
                {"name": "label coverage", "ok": True, "value": 0.97, "limit": 0.5, "message": "97 of 100"}
            ],
        },
    )
    sign_in(page, live_server, "mlowner", "pw-ml-owner")
    nav = page.get_by_role("navigation", name="Main")
    for label in ("Tickets", "Models", "Training", "Schedule", "Fleet"):
        expect(nav.get_by_role("link", name=label, exact=True)).to_be_visible()
    pages = {
        "models": "/models/",
        "model": f"/models/{version.pk}/",
        "training": "/training/",
        "training-run": f"/training/{run.pk}/",
        "schedule": "/schedule/",
        "fleet-admin": "/fleet/",
        "profile": "/profile/",
    }
    for name, path in pages.items():
        shoot(page, live_server.url + path, name, screenshots_dir)
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/models/{version.pk}/")
    matrix = page.get_by_role("region", name="Confusion matrix, scrolls sideways")
    box = matrix.bounding_box()
    assert box["width"] <= PHONE["width"], box  # the matrix scrolls inside its box, the page does not


def _dt(minutes_ago: int):
    return timezone.now() - timedelta(minutes=minutes_ago)


def _metrics() -> dict:
    labels = [f"FIX_NUMBER_{i:02d}" for i in range(16)]
    matrix = [[20 if i == j else (1 if j == (i + 1) % 16 else 0) for j in range(16)] for i in range(16)]
    return {
        "macro_f1": 0.91,
        "accuracy": 0.92,
        "top3": 0.98,
        "ece": 0.04,
        "coverage_at_90_precision": 0.8,
        "confusion": {"labels": labels, "matrix": matrix},
        "per_class": {label: {"f1": 0.9, "precision": 0.9, "recall": 0.9} for label in labels},
    }


def test_an_engineer_without_a_group_is_told_where_to_look(page: Page, live_server, queue):
    lonely = User.objects.create_user("lonely", password="pw-lonely")
    lonely.groups.add(Group.objects.get_or_create(name=roles.ENGINEER)[0])
    sign_in(page, live_server, "lonely", "pw-lonely")
    expect(page.get_by_text("Nothing is assigned to you or your groups.")).to_be_visible()
    page.locator(".empty").get_by_role("link", name="Unassigned").click()
    # Every open ticket but NOC-101 has a crew and no person yet.
    expect(_rows(page).locator(".ticket-id")).to_have_text(["NOC-102", "NOC-103", "NOC-104"])
