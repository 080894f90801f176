"""The server-rendered queue and ticket pages, through Django's test client on real PostgreSQL."""

import re

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from repair_center.models import Ticket
from repair_center.services.tickets import tickets_upsert
from tests.factories import RepairRecordFactory, ui_catalogue


def _doc(external_id: str, **overrides) -> dict:
    doc = {
        "external_id": external_id,
        "title": f"CPRI link down {external_id}",
        "description": "Sector 2 dark since the storm",
        "status": "acknowledged",
        "priority": "medium",
        "opened_at": "2026-01-03T10:12:00Z",
        "site": "CS-COAST-001",
        "element": "NL-RU-000123",
        "error_codes": ["CPRI_LINK_DOWN", "NL-7001"],
        "events": [],
    }
    doc.update(overrides)
    return doc


def _upsert(*docs: dict) -> list[int]:
    results = tickets_upsert(documents=list(docs), source="noc")
    assert all(r.status == "created" for r in results), [r.errors for r in results]
    return [r.id for r in results]


@pytest.fixture
def eng_browser(client, engineer):
    client.force_login(engineer)
    return client


def _ids_on_page(response) -> list[str]:
    return re.findall(r'class="ticket-id">([^<]+)<', response.content.decode())


# --- access ---------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    for url in (reverse("ticket-list"), reverse("ticket-detail", args=[1])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('login')}?next={url}"


def test_a_signed_in_user_without_a_role_is_refused(client, db):
    client.force_login(User.objects.create_user("nobody", password="pw"))
    assert client.get(reverse("ticket-list")).status_code == 403


def test_sign_in_with_the_form_lands_on_the_queue(client, engineer):
    page = client.get(reverse("login"))
    assert b'name="csrfmiddlewaretoken"' in page.content
    response = client.post(reverse("login"), {"username": "eng", "password": "pw-eng"})
    assert response.status_code == 302 and response["Location"] == "/"


def test_a_wrong_password_shows_an_error_on_the_sign_in_page(client, engineer):
    response = client.post(reverse("login"), {"username": "eng", "password": "nope"})
    assert response.status_code == 200
    assert b'role="alert"' in response.content


def test_sign_out_is_a_post_form_with_csrf_and_ends_the_session(eng_browser):
    html = eng_browser.get(reverse("ticket-list")).content.decode()
    form = re.search(r'<form class="sign-out" method="post" action="/logout/">(.*?)</form>', html, re.S)
    assert form and "csrfmiddlewaretoken" in form.group(1)
    response = eng_browser.post(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert eng_browser.get(reverse("ticket-list")).status_code == 302


def test_only_staff_see_the_admin_link(client, engineer, admin_user):
    client.force_login(engineer)
    assert b'href="/admin/"' not in client.get(reverse("ticket-list")).content
    client.force_login(admin_user)
    assert b'href="/admin/"' in client.get(reverse("ticket-list")).content


# --- queue ----------------------------------------------------------------


def test_the_queue_shows_each_ticket_with_its_key_fields(eng_browser):
    ui_catalogue()
    _upsert(
        _doc("T-1", priority="high"),
        _doc(
            "T-2",
            status="resolved",
            resolution="REPLACE_SFP",
            resolved_at="2026-01-03T14:00:00Z",
            error_codes=["XX-UNKNOWN"],
        ),
    )
    html = eng_browser.get(reverse("ticket-list"), {"view": "all"}).content.decode()
    assert "2 tickets" in html
    for text in ("T-1", "CPRI link down T-1", "CS-COAST-001", "High", "Resolved", "Unassigned", "SLA met"):
        assert text in html
    assert "<code>CPRI_LINK_DOWN</code>" in html
    assert '<code>XX-UNKNOWN</code> <span class="badge unmapped">unmapped</span>' in html
    assert html.count('<td data-label="Recommended fix" class="cell-rec recommendation-cell">') == 2
    assert html.count('<span class="recommendation recommendation-none">—</span>') == 2


def test_the_queue_filters_by_status_priority_site_and_region(eng_browser):
    ui_catalogue()
    _upsert(
        _doc("COAST-OPEN"),
        _doc("COAST-DONE", status="closed", priority="low"),
        _doc("HILL-OPEN", site="CS-HILL-002", element=None, priority="critical"),
    )
    url = reverse("ticket-list")
    assert _ids_on_page(eng_browser.get(url, {"view": "all", "status": "closed"})) == ["COAST-DONE"]
    assert _ids_on_page(eng_browser.get(url, {"view": "all", "priority": "critical"})) == ["HILL-OPEN"]
    assert sorted(_ids_on_page(eng_browser.get(url, {"view": "all", "site": "cs-coast-001"}))) == [
        "COAST-DONE",
        "COAST-OPEN",
    ]
    assert _ids_on_page(eng_browser.get(url, {"view": "all", "region": "east"})) == ["HILL-OPEN"]
    assert _ids_on_page(
        eng_browser.get(url, {"view": "all", "site": "CS-COAST-001", "status": "acknowledged"})
    ) == ["COAST-OPEN"]


def test_the_error_code_filter_matches_raw_and_curated_codes(eng_browser):
    ui_catalogue()
    _upsert(_doc("WITH-ALIAS"), _doc("OTHER", error_codes=["PSU_FAIL"]))
    url = reverse("ticket-list")
    assert _ids_on_page(eng_browser.get(url, {"view": "all", "error_code": "NL-7001"})) == ["WITH-ALIAS"]
    assert _ids_on_page(eng_browser.get(url, {"view": "all", "error_code": "sfp_rx_low"})) == ["WITH-ALIAS"]
    assert _ids_on_page(eng_browser.get(url, {"view": "all", "error_code": "PSU_FAIL"})) == ["OTHER"]


def test_text_search_looks_in_title_description_and_external_id(eng_browser):
    ui_catalogue()
    _upsert(
        _doc("A-1", title="Fan alarm"),
        _doc("A-2", title="Power", description="battery swollen after heatwave"),
        _doc("ZZ-77", title="Other"),
    )
    url = reverse("ticket-list")
    assert _ids_on_page(eng_browser.get(url, {"view": "all", "q": "fan"})) == ["A-1"]
    assert _ids_on_page(eng_browser.get(url, {"view": "all", "q": "HEATWAVE"})) == ["A-2"]
    assert _ids_on_page(eng_browser.get(url, {"view": "all", "q": "zz-7"})) == ["ZZ-77"]


def test_the_queue_sorts_by_age_and_by_priority(eng_browser):
    ui_catalogue()
    _upsert(
        _doc("OLD-LOW", opened_at="2026-01-01T00:00:00Z", priority="low"),
        _doc("NEW-HIGH", opened_at="2026-01-05T00:00:00Z", priority="high"),
        _doc("MID-CRIT", opened_at="2026-01-03T00:00:00Z", priority="critical"),
        _doc("MID-HIGH", opened_at="2026-01-02T00:00:00Z", priority="high"),
    )
    url = reverse("ticket-list")
    assert _ids_on_page(eng_browser.get(url, {"view": "all"})) == [
        "NEW-HIGH",
        "MID-CRIT",
        "MID-HIGH",
        "OLD-LOW",
    ]
    assert _ids_on_page(eng_browser.get(url, {"view": "all", "sort": "oldest"})) == [
        "OLD-LOW",
        "MID-HIGH",
        "MID-CRIT",
        "NEW-HIGH",
    ]
    assert _ids_on_page(eng_browser.get(url, {"view": "all", "sort": "priority"})) == [
        "MID-CRIT",
        "MID-HIGH",
        "NEW-HIGH",
        "OLD-LOW",
    ]


def test_an_invalid_filter_is_reported_and_ignored(eng_browser):
    ui_catalogue()
    _upsert(_doc("T-1"))
    response = eng_browser.get(
        reverse("ticket-list"), {"view": "all", "status": "exploded", "sort": "sideways"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Some filters were ignored" in html and "Status:" in html
    assert _ids_on_page(response) == ["T-1"]


def test_the_queue_pages_by_fifty_and_keeps_the_filters_in_page_links(eng_browser):
    ui_catalogue()
    _upsert(*(_doc(f"P-{i:03d}", opened_at=f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00Z") for i in range(53)))
    url = reverse("ticket-list")
    first = eng_browser.get(url, {"view": "all", "status": "acknowledged"})
    assert len(_ids_on_page(first)) == 50
    assert "Page 1 of 2" in first.content.decode()
    assert 'href="?view=all&amp;status=acknowledged&amp;page=2"' in first.content.decode()
    second = eng_browser.get(url, {"view": "all", "status": "acknowledged", "page": 2})
    assert _ids_on_page(second) == ["P-002", "P-001", "P-000"]
    assert _ids_on_page(eng_browser.get(url, {"view": "all", "page": "999"})) == ["P-002", "P-001", "P-000"]


def test_past_its_count_cap_the_queue_says_more_than_and_still_pages_to_the_end(eng_browser, monkeypatch):
    monkeypatch.setattr("frontend.views.tickets.QUEUE_COUNT_CAP", 50)
    ui_catalogue()
    _upsert(*(_doc(f"P-{i:03d}", opened_at=f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00Z") for i in range(53)))
    url = reverse("ticket-list")
    first = eng_browser.get(url, {"view": "all"})
    html = first.content.decode()
    assert "More than 50 tickets" in html and "53 tickets" not in html
    assert "Page 1 of 2 or more" in html
    assert len(_ids_on_page(first)) == 50 and 'href="?view=all&amp;page=2"' in html
    # A page past the cap counts as far as it needs, so the last page knows it is the last.
    second = eng_browser.get(url, {"view": "all", "page": 2})
    assert "53 tickets" in second.content.decode() and "Page 2 of 2<" in second.content.decode()
    assert _ids_on_page(second) == ["P-002", "P-001", "P-000"]
    assert 'rel="next"' not in second.content.decode()
    # Past the end (even past a 64-bit LIMIT) is the last page, as before.
    beyond = eng_browser.get(url, {"view": "all", "page": "999999999999999999999"})
    assert _ids_on_page(beyond) == ["P-002", "P-001", "P-000"]


def test_the_last_page_asks_the_database_for_a_whole_page_of_rows(eng_browser):
    ui_catalogue()
    _upsert(*(_doc(f"P-{i:03d}", opened_at=f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00Z") for i in range(53)))
    with CaptureQueriesContext(connection) as queries:
        response = eng_browser.get(reverse("ticket-list"), {"view": "all", "page": 2})
    assert _ids_on_page(response) == ["P-002", "P-001", "P-000"]
    # Not LIMIT 3: a LIMIT as small as the rows left invites a plan that walks every ticket.
    assert any("LIMIT 50 OFFSET 50" in q["sql"] for q in queries.captured_queries), queries.captured_queries


def test_a_count_that_reaches_the_cap_exactly_is_still_exact(eng_browser, monkeypatch):
    monkeypatch.setattr("frontend.views.tickets.QUEUE_COUNT_CAP", 53)
    ui_catalogue()
    _upsert(*(_doc(f"P-{i:03d}", opened_at=f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00Z") for i in range(53)))
    html = eng_browser.get(reverse("ticket-list"), {"view": "all"}).content.decode()
    assert "53 tickets" in html and "Page 1 of 2<" in html and "More than" not in html


def test_the_queue_count_stops_at_the_cap_and_skips_the_sort(eng_browser, monkeypatch):
    monkeypatch.setattr("frontend.views.tickets.QUEUE_COUNT_CAP", 50)
    ui_catalogue()
    _upsert(_doc("T-1"))
    with CaptureQueriesContext(connection) as queries:
        response = eng_browser.get(reverse("ticket-list"), {"view": "all", "sort": "priority", "q": "cpri"})
    assert _ids_on_page(response) == ["T-1"]
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1, counts
    assert "LIMIT 51" in counts[0] and "ORDER BY" not in counts[0]


def test_the_queue_costs_the_same_queries_for_one_ticket_or_a_full_page(
    eng_browser, django_assert_max_num_queries
):
    ui_catalogue()
    _upsert(_doc("ONE"))
    params = {"view": "all", "q": "CPRI", "error_code": "NL-7001"}
    eng_browser.get(reverse("ticket-list"), params)  # warm the session and role caches alike for both runs
    # session, user, roles, regions, count, the page's ids, its rows
    with django_assert_max_num_queries(7) as one:
        eng_browser.get(reverse("ticket-list"), params)
    _upsert(
        *(
            _doc(f"MANY-{i}", status="resolved", resolution="REPLACE_SFP", resolved_at="2026-01-04T00:00:00Z")
            for i in range(60)
        )
    )
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = eng_browser.get(reverse("ticket-list"), params)
    assert len(_ids_on_page(response)) == 50


# --- ticket page ----------------------------------------------------------


def _full_ticket() -> int:
    ui_catalogue()
    [ticket_id] = _upsert(
        _doc(
            "T-42",
            title="<script>alert('x')</script> link down",
            description="Line one\n<b>not bold</b>",
            status="closed",
            resolution="REPLACE_SFP",
            resolved_at="2026-01-03T14:00:00Z",
            resolution_notes="swapped sfp, link up",
            error_codes=["CPRI_LINK_DOWN", "NL-7001", "XX-999"],
            events=[
                {
                    "at": "2026-01-03T08:07:00Z",
                    "kind": "software_upgrade",
                    "code": None,
                    "attrs": {"to": "R22.1"},
                },
                {
                    "at": "2026-01-03T09:58:00Z",
                    "kind": "alarm_raised",
                    "code": "NL-7001",
                    "attrs": {"rx_dbm": -19.5},
                },
                {"at": "2026-01-03T11:22:00Z", "kind": "maintenance_visit", "code": None, "attrs": {}},
                {"at": "2026-01-05T12:12:00Z", "kind": "alarm_cleared", "code": "NL-7001", "attrs": {}},
            ],
        )
    )
    RepairRecordFactory(
        rma_id="RMA-9",
        ticket_id=ticket_id,
        unit_serial="SFP-77",
        repair_action="none",
        received_on="2026-01-10",
    )
    RepairRecordFactory(rma_id="RMA-OTHER")
    return ticket_id


def test_the_ticket_page_escapes_the_title_and_description(eng_browser):
    ticket_id = _full_ticket()
    html = eng_browser.get(reverse("ticket-detail", args=[ticket_id])).content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; link down" in html
    assert "Line one<br>&lt;b&gt;not bold&lt;/b&gt;" in html


def test_the_ticket_page_shows_site_element_and_codes_in_order(eng_browser):
    ticket_id = _full_ticket()
    html = eng_browser.get(reverse("ticket-detail", args=[ticket_id])).content.decode()
    for text in (
        "CS-COAST-001",
        "west",
        "coastal",
        "NL-RU-000123",
        "Radio unit",
        "nordlink",
        "RU-4419",
        "R22.1",
    ):
        assert text in html
    codes = html[html.index('id="codes-heading"') : html.index('id="timeline-heading"')]
    positions = [
        codes.index(c) for c in ("<code>CPRI_LINK_DOWN</code>", "<code>NL-7001</code>", "<code>XX-999</code>")
    ]
    assert positions == sorted(positions)
    assert "CPRI link between baseband and radio lost" in codes
    assert "Transport" in codes and "Critical" in codes
    assert "<code>SFP_RX_LOW</code>" in codes and "Optical receive power below threshold" in codes
    assert codes.count(">unmapped<") == 1


def test_the_timeline_places_events_relative_to_the_opening(eng_browser):
    ticket_id = _full_ticket()
    html = eng_browser.get(reverse("ticket-detail", args=[ticket_id])).content.decode()
    timeline = html[html.index('id="timeline-heading"') : html.index('id="resolution-heading"')]
    offsets = re.findall(r'<span class="offset">([^<]+)</span>', timeline)
    assert offsets == [
        "-2h 05m before the ticket opened",
        "-0h 14m before the ticket opened",
        "+1h 10m after the ticket opened",
        "+2d 02h 00m after the ticket opened",
    ]
    assert "Software upgrade" in timeline and "Alarm raised" in timeline
    assert "rx_dbm" in timeline and "-19.5" in timeline


def test_the_ticket_page_shows_the_resolution_notes_and_linked_repairs_only(eng_browser):
    ticket_id = _full_ticket()
    html = eng_browser.get(reverse("ticket-detail", args=[ticket_id])).content.decode()
    assert "Replace the SFP" in html and "Swap the SFP" in html and "swapped sfp, link up" in html
    assert "RMA-9" in html and "No fault found" in html and "2026-01-10" in html
    assert "RMA-OTHER" not in html
    assert 'id="recommendation-heading"' in html


def test_the_ticket_page_costs_a_fixed_number_of_queries(
    eng_browser, engineer, django_assert_max_num_queries
):
    from repair_center.models import AssignmentGroup
    from repair_center.services.workflow import ticket_assign, ticket_note_add, ticket_transition

    ticket_id = _full_ticket()
    # session, user, roles, ticket, codes, events, repairs, notes, changes, alarms named and not
    # received; the champion lookup and the feedback list
    with django_assert_max_num_queries(12):
        assert eng_browser.get(reverse("ticket-detail", args=[ticket_id])).status_code == 200

    [open_id] = _upsert(_doc("OPEN-1"))
    url = reverse("ticket-detail", args=[open_id])
    eng_browser.get(url)
    # ... and for an open ticket the assignment form: the groups and the people who can be assigned
    with django_assert_max_num_queries(14) as quiet:
        eng_browser.get(url)
    crew = AssignmentGroup.objects.create(name="Crew")
    crew.members.add(engineer)
    ticket_assign(ticket_id=open_id, group=crew, assignee=engineer)
    ticket_transition(ticket_id=open_id, action="start", user=engineer)
    for n in range(5):
        ticket_note_add(ticket_id=open_id, text=f"note {n}", user=engineer)
    with django_assert_max_num_queries(len(quiet.captured_queries)):
        assert eng_browser.get(url).content.decode().count('class="entry entry-note') == 5


def test_an_unknown_ticket_is_not_found(eng_browser):
    assert eng_browser.get(reverse("ticket-detail", args=[999999])).status_code == 404


def test_a_bare_ticket_renders_without_site_element_or_events(eng_browser):
    [ticket_id] = _upsert({"external_id": "BARE", "title": "Only a title"})
    html = eng_browser.get(reverse("ticket-detail", args=[ticket_id])).content.decode()
    assert "No site given." in html and "No element given." in html and "No events recorded." in html
    assert Ticket.objects.get(pk=ticket_id).opened_at is None
