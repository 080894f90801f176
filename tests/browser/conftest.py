"""Real-browser harness: Debian Chromium driven by pytest-playwright against live_server on PostgreSQL.

Every browser test fails on a console error or an uncaught page error, so a broken asset, a
CSP violation or a JavaScript exception cannot slip through a test that only checks text.
"""

import os

# Playwright's sync API runs an event loop in the test thread; Django must be told that is deliberate.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.test import Client

from repair_center import roles
from repair_center.services.tickets import tickets_upsert
from tests.factories import RepairRecordFactory, ui_catalogue

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}


@pytest.fixture(scope="session")
def base_url() -> None:
    """No base URL: pages are opened at live_server's. This takes the place of pytest-playwright's
    fallback fixture, a method of a plugin object, which pytest deprecates (PytestRemovedIn10Warning)."""
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            "--disable-quic",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost",
        ],
    }


@pytest.fixture(autouse=True)
def page_problems(page):
    """Collects console errors and page errors; any at teardown fails the test."""
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    yield problems
    assert problems == [], "the browser reported errors:\n" + "\n".join(problems)


@pytest.fixture
def screenshots_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def field_engineer(live_server) -> User:
    # live_server tests flush the database afterwards, which also drops the groups the roles
    # migration created; recreate the one we need rather than rely on test order.
    group, _ = Group.objects.get_or_create(name=roles.ENGINEER)
    user = User.objects.create_user(username="field", password="pw-field-engineer")
    user.groups.add(group)
    return user


@pytest.fixture
def signed_in(page, live_server, field_engineer):
    """The page, already carrying a session for field_engineer (the sign-in form has its own test)."""
    client = Client()
    client.force_login(field_engineer)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    return page


@pytest.fixture
def tickets(live_server) -> dict[str, int]:
    """Three tickets over two sites; the resolved one has a full event sequence and a repair record."""
    ui_catalogue()
    documents = [
        {
            "external_id": "SIM-000001",
            "title": "CPRI link down on sector 2 after storm",
            "description": "Sector 2 dark since the storm last night.\nCustomer complaints from the harbour.",
            "status": "closed",
            "priority": "high",
            "opened_at": "2026-01-03T10:12:00Z",
            "resolved_at": "2026-01-03T14:00:00Z",
            "site": "CS-COAST-001",
            "element": "NL-RU-000123",
            "error_codes": ["CPRI_LINK_DOWN", "NL-7001", "XX-LEGACY-9"],
            "events": [
                {"at": "2026-01-03T08:07:00Z", "kind": "weather", "code": None, "attrs": {"wind_kmh": 96}},
                {
                    "at": "2026-01-03T09:58:00Z",
                    "kind": "alarm_raised",
                    "code": "NL-7001",
                    "attrs": {"rx_dbm": -19.5},
                },
                {"at": "2026-01-03T10:05:00Z", "kind": "alarm_raised", "code": "CPRI_LINK_DOWN", "attrs": {}},
                {
                    "at": "2026-01-03T13:40:00Z",
                    "kind": "maintenance_visit",
                    "code": None,
                    "attrs": {"crew": "W-3"},
                },
                {"at": "2026-01-03T13:55:00Z", "kind": "alarm_cleared", "code": "NL-7001", "attrs": {}},
            ],
            "resolution": "REPLACE_SFP",
            "resolution_notes": "Swapped the SFP on port 3, link came straight up.",
        },
        {
            "external_id": "SIM-000002",
            "title": "Intermittent CPRI flaps",
            "status": "inProgress",
            "priority": "critical",
            "opened_at": "2026-01-04T07:30:00Z",
            "site": "CS-COAST-001",
            "element": "NL-RU-000123",
            "error_codes": ["CPRI_LINK_DOWN"],
        },
        {
            "external_id": "SIM-000003",
            "title": "Hill site battery alarm",
            "status": "acknowledged",
            "priority": "low",
            "opened_at": "2026-01-05T16:00:00Z",
            "site": "CS-HILL-002",
            "error_codes": ["XX-BATT-LOW"],
        },
    ]
    results = tickets_upsert(documents=documents, source="sim")
    assert [r.status for r in results] == ["created"] * 3, [r.errors for r in results]
    RepairRecordFactory(
        rma_id="RMA-2026-0042",
        unit_kind="sfp",
        unit_serial="SFP-88121",
        ticket_id=results[0].id,
        ticket_source="sim",
        ticket_external_id="SIM-000001",
        reported_fault_code="NL-7001",
        finding="no_fault_found",
        repair_action="Cleaned and retested; within spec",
        received_on="2026-01-09",
        closed_on="2026-01-16",
    )
    return {r.external_id: r.id for r in results}


@pytest.fixture
def ml_admin(live_server) -> User:
    group, _ = Group.objects.get_or_create(name=roles.ADMIN)
    user = User.objects.create_user(username="mlowner", password="pw-ml-owner", is_staff=True)
    user.groups.add(group)
    return user


def sign_in(page, live_server, username: str, password: str) -> None:
    page.goto(live_server.url + "/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Tickets").wait_for()


def shoot(page, url: str, name: str, directory: Path) -> None:
    """Open url at desktop and phone width: no sideways scrolling, a full-page screenshot of each."""
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.goto(url)
        overflow = page.evaluate("document.documentElement.scrollWidth") - size["width"]
        assert overflow <= 0, f"{name} at {label} scrolls sideways by {overflow}px"
        page.screenshot(path=str(directory / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)
