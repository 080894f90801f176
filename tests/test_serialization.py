from ml.core.serialization import relative_time, serialize

TICKET = {
    "external_id": "T-1",
    "title": "Cell down",
    "description": "  site dark\nafter upgrade ",
    "opened_at": "2026-01-01T12:00:00Z",
    "error_codes": ["NL-7001", "CPRI_LINK_DOWN"],
    "events": [
        {"at": "2026-01-01T09:55:00Z", "kind": "software_upgrade", "code": None, "attrs": {}},
        {"at": "2026-01-01T11:56:00Z", "kind": "alarm_raised", "code": "SFP_RX_LOW", "attrs": {}},
        {"at": "2026-01-01T12:00:00Z", "kind": "alarm_raised", "code": "NL-7001", "attrs": {}},
    ],
}


def test_it_puts_structure_before_text_and_keeps_event_order_and_timing():
    text = serialize(
        TICKET,
        context={"climate": "coastal", "vendor": "nordlink", "age_years": 6.7},
        code_map={"NL-7001": "SW_CRASH"},
    )
    assert text == (
        "[site] climate=coastal [unit] vendor=nordlink age=6y [codes] SW_CRASH CPRI_LINK_DOWN "
        "[events] -2h00m software_upgrade | -4m alarm_raised SFP_RX_LOW | +0m alarm_raised SW_CRASH "
        "[text] Cell down. site dark after upgrade"
    )


def test_a_ticket_with_only_codes_and_events_serialises_without_text():
    text = serialize({**TICKET, "title": "", "description": ""})
    assert "[text]" not in text and text.startswith("[codes] NL-7001")


def test_a_ticket_with_only_text_serialises_its_text():
    assert serialize({"title": "no coverage near the stadium"}) == "[text] no coverage near the stadium"


def test_text_only_mode_drops_the_structure():
    assert serialize(TICKET, include_structure=False) == "[text] Cell down. site dark after upgrade"


def test_relative_times_coarsen_with_distance():
    assert [relative_time(s) for s in (-59, 0, 600, -7265, 3 * 86400)] == [
        "-0m",
        "+0m",
        "+10m",
        "-2h00m",
        "+3d",
    ]
