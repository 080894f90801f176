from edge_agent.serialization import bucket
from ml.core.serialization import MAX_EVENTS, is_model_input, relative_time, serialize

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


def test_the_site_code_region_and_attributes_reach_the_model_input():
    text = serialize(
        {"site": "S-0042", "attributes": {"service": "mobile data", "category": "Network"}, "title": "slow"},
        context={"region": "north", "climate": "coastal"},
    )
    assert text == (
        "[site] code=S-0042 region=north climate=coastal [attrs] category=Network service=mobile_data "
        "[text] slow"
    )


def test_numeric_readings_become_bucket_tokens_so_nearby_values_share_one():
    def events(rx):
        return {"events": [{"kind": "alarm_raised", "code": "SFP_RX_LOW", "attrs": {"rx_dbm": rx}}]}

    assert serialize(events(-19.5)) == "[events] ? alarm_raised SFP_RX_LOW rx_dbm~-20"
    assert serialize(events(-20.4)) == serialize(events(-19.5))
    assert serialize(events(-25.0)) != serialize(events(-19.5))
    assert [bucket(v) for v in (1234, 0.0123, 7, -0.4, 0)] == ["1200", "0.012", "7", "-0.4", "0"]


def test_events_without_times_keep_their_order_and_show_an_unknown_time():
    text = serialize(
        {"events": [{"kind": "New", "at": None}, {"kind": "Awaiting User Info"}, {"kind": "Resolved"}]}
    )
    assert text == "[events] ? New | ? Awaiting_User_Info | ? Resolved"


def test_nested_and_null_attributes_are_left_out_rather_than_dumped():
    text = serialize({"events": [{"kind": "power", "attrs": {"raw": {"a": 1}, "x": None, "ok": True}}]})
    assert text == "[events] ? power ok=true"


def test_the_edge_agent_serialises_a_ticket_with_attributes_exactly_as_central(tmp_path):
    from edge_agent.agent import Agent, Config

    document = {
        "external_id": "E-1",
        "attributes": {"category": "Power", "volume": 12},
        "events": [{"kind": "mains_fail", "attrs": {"volts": 198.2}}],
    }
    site = {"code": "S-7", "region": "south", "climate": "hot", "tier": "hub"}
    agent = Agent(Config(central="http://127.0.0.1:9", data_dir=tmp_path / "agent"))
    agent.state = {"site": site}  # as enrolment stores central's answer
    edge_context = agent.context_for(None)
    central_context = {"region": "south", "climate": "hot", "tier": "hub"}
    central = serialize({**document, "site": "S-7"}, context=central_context)
    assert serialize(document, context=edge_context) == central
    assert "code=S-7 region=south" in central and "category=Power volume~12" in central


def test_alarms_from_elsewhere_on_the_site_are_left_out_of_the_model_input():
    element = {
        "at": "2026-01-01T11:56:00Z",
        "kind": "alarm_raised",
        "code": "SFP_RX_LOW",
        "attrs": {"alarm": 7, "scope": "element", "object": "RU-1"},
    }
    site = {
        "at": "2026-01-01T11:30:00Z",
        "kind": "alarm_raised",
        "code": "MAINS_FAIL",
        "attrs": {"alarm": 8, "scope": "site", "object": "PSU-1"},
    }
    text = serialize({"opened_at": "2026-01-01T12:00:00Z", "events": [site, element]})
    assert text == "[events] -4m alarm_raised SFP_RX_LOW"  # no alarm id, scope or object tokens
    assert is_model_input(element) and not is_model_input(site)
    assert is_model_input({"kind": "config_change", "attrs": None})
    assert is_model_input({"kind": "power", "attrs": {"scope": "site"}})  # a source's own event


def test_alarms_marked_unrelated_are_left_out_of_the_model_input():
    kept = {
        "at": "2026-01-01T11:56:00Z",
        "kind": "alarm_raised",
        "code": "CPRI_LINK_DOWN",
        "attrs": {"alarm": 7, "scope": "element", "severity": "major"},
    }
    other = {
        "at": "2026-01-01T08:00:00Z",
        "kind": "alarm_raised",
        "code": "DOOR_OPEN",
        "attrs": {"alarm": 8, "scope": "element", "severity": "minor", "unrelated": True},
    }
    text = serialize({"opened_at": "2026-01-01T12:00:00Z", "events": [other, kept]})
    assert text == "[events] -4m alarm_raised CPRI_LINK_DOWN severity=major"
    assert not is_model_input(other) and is_model_input(kept)
    assert is_model_input({"kind": "note", "attrs": {"unrelated": True}})  # a source's own attribute
    assert is_model_input({"kind": "alarm_raised", "attrs": {"alarm": 9, "unrelated": False}})


def test_site_alarms_do_not_use_up_the_event_budget():
    site = [
        {
            "at": f"2026-01-01T11:{m:02d}:00Z",
            "kind": "alarm_raised",
            "code": "X",
            "attrs": {"alarm": m, "scope": "site"},
        }
        for m in range(MAX_EVENTS)
    ]
    own = {"at": "2026-01-01T10:00:00Z", "kind": "software_upgrade", "code": None, "attrs": {}}
    text = serialize({"opened_at": "2026-01-01T12:00:00Z", "events": [own, *site]})
    assert text == "[events] -2h00m software_upgrade"


def test_a_correlated_alarm_keeps_its_severity_and_an_own_event_all_its_attributes():
    attrs = {"alarm": 7, "scope": "element", "object": "RU-1", "severity": "major"}
    correlated = {"at": "2026-01-01T11:56:00Z", "kind": "alarm_raised", "code": "SFP_RX_LOW", "attrs": attrs}
    own = {"at": "2026-01-01T11:58:00Z", "kind": "power", "attrs": {"object": "PSU-2", "scope": "rack"}}
    text = serialize({"opened_at": "2026-01-01T12:00:00Z", "events": [correlated, own]})
    assert text == "[events] -4m alarm_raised SFP_RX_LOW severity=major | -2m power object=PSU-2 scope=rack"
