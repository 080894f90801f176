"""Alarms grouped into incidents: one site, one probable-cause family, close in time; a probable root
alarm with its support; a rule that opens a ticket for a group, also once a member escalates; the group
on the ticket page."""

from datetime import UTC, datetime, timedelta

import pytest

from repair_center import tasks
from repair_center.models import Alarm, AlarmGroup, AlarmGroupRule, ErrorCode, Ticket
from repair_center.selectors import ticket_detail, ticket_document
from repair_center.services.alarms import alarm_change, alarms_expire, alarms_upsert
from repair_center.services.grouping import group_alarms
from repair_center.services.tickets import tickets_upsert
from tests.factories import ErrorCodeAliasFactory, ErrorCodeFactory, NetworkElementFactory, SiteFactory
from tests.test_alarm_correlation import model_input

T0 = datetime(2026, 3, 1, 9, 55, tzinfo=UTC)
CODES = {  # vendor code -> (curated code, domain, description)
    "NL-MAINS": ("MAINS_FAIL", ErrorCode.Domain.POWER, "Mains failure"),
    "NL-BATT": ("BATTERY_LOW", ErrorCode.Domain.POWER, "Battery low"),
    "NL-RECT": ("RECTIFIER_FAIL", ErrorCode.Domain.POWER, "Rectifier failure"),
    "NL-CPRI": ("CPRI_LINK_DOWN", ErrorCode.Domain.RAN, "CPRI link down"),
}


@pytest.fixture
def world(db):
    site = SiteFactory(code="S-1")
    for serial in ("PSU-1", "BAT-1", "RU-1"):
        NetworkElementFactory(serial=serial, site=site, vendor="nordlink")
    NetworkElementFactory(serial="PSU-9", site=SiteFactory(code="S-9"), vendor="nordlink")
    for raw, (code, domain, description) in CODES.items():
        curated = ErrorCodeFactory(code=code, domain=domain, description=description)
        ErrorCodeAliasFactory(vendor="nordlink", raw_code=raw, error_code=curated)
    return site


def raise_alarms(*specs, severity="major") -> list[int]:
    """specs: (external id, element, vendor code, minutes after T0)."""
    bodies = [
        {
            "externalAlarmId": ext,
            "sourceSystemId": "oss",
            "alarmedObject": {"id": on},
            "state": "raised",
            "alarmType": "Equipment Alarm",
            "perceivedSeverity": severity,
            "probableCause": "powerProblem",
            "specificProblem": code,
            "alarmRaisedTime": (T0 + timedelta(minutes=minutes)).isoformat(),
        }
        for ext, on, code, minutes in specs
    ]
    results = alarms_upsert(documents=bodies)
    assert all(r.status == "created" for r in results), [r.errors for r in results]
    return [r.id for r in results]


def _raised(at: datetime, code: str) -> dict:
    return {"at": at.isoformat(), "kind": "alarm_raised", "code": code}


def groups() -> list[list[str]]:
    return sorted(sorted(g.alarms.values_list("external_id", flat=True)) for g in AlarmGroup.objects.all())


def test_alarms_of_one_site_family_and_time_form_one_group(world, settings):
    settings.TICKETAI_GROUPING_WINDOW_MINUTES = 10
    ids = raise_alarms(
        ("mains", "PSU-1", "NL-MAINS", 0),
        ("batt", "BAT-1", "NL-BATT", 4),
        ("rect", "PSU-1", "NL-RECT", 12),  # within 10 minutes of the last one
        ("cpri", "RU-1", "NL-CPRI", 5),  # another family
        ("later", "PSU-1", "NL-BATT", 60),  # too late
        ("away", "PSU-9", "NL-BATT", 1),  # another site
    )
    group_alarms(ids)
    assert group_alarms(ids) == []  # grouped alarms are left alone
    assert groups() == [["away"], ["batt", "mains", "rect"], ["cpri"], ["later"]]
    power = AlarmGroup.objects.get(alarms__external_id="mains")
    assert (power.size, power.family, power.element_id, power.root.external_id) == (3, "power", None, "mains")
    assert power.root_reason == "earliest"
    assert power.summary() == "3 alarms grouped; probable root: Mains failure at 09:55"


def test_the_root_is_the_alarm_the_others_usually_follow_in_history(world):
    # Five past tickets in which mains failure came first, battery low after it.
    for n in range(5):
        opened = T0 - timedelta(days=10 + n)
        tickets_upsert(
            documents=[
                {
                    "external_id": f"PAST-{n}",
                    "opened_at": opened.isoformat(),
                    "element": "PSU-1",
                    "events": [
                        _raised(opened - timedelta(minutes=9), "NL-MAINS"),
                        _raised(opened - timedelta(minutes=2), "NL-BATT"),
                    ],
                }
            ],
            source="noc",
        )
    # Now the battery alarm is reported first (clocks, polling), the mains failure a minute later.
    ids = raise_alarms(("batt", "BAT-1", "NL-BATT", 0), ("mains", "PSU-1", "NL-MAINS", 1))

    group_alarms(ids)

    group = AlarmGroup.objects.get()
    assert (group.root.external_id, group.root_reason, group.root_support, group.root_history) == (
        "mains",
        "history",
        1.0,
        5,
    )
    assert group.support_label() == "the others followed it in 100% of 5 past cases"


def test_a_rule_opens_a_ticket_for_a_severe_group_with_its_alarms_as_events(world, admin_client):
    AlarmGroupRule.objects.create(name="power outages", min_severity="major", min_alarms=2)
    minor = raise_alarms(("m1", "PSU-1", "NL-MAINS", 100), ("m2", "BAT-1", "NL-BATT", 101), severity="minor")
    group_alarms(minor)
    assert not Ticket.objects.exists()

    ids = raise_alarms(("mains", "PSU-1", "NL-MAINS", 0), ("batt", "BAT-1", "NL-BATT", 3))
    group_alarms(ids)

    group = AlarmGroup.objects.get(alarms__external_id="mains")
    ticket = Ticket.objects.get()
    assert group.ticket == ticket
    assert (ticket.source, ticket.priority, ticket.site.code) == ("alarm-groups", "high", "S-1")
    assert ticket.title == "2 alarms grouped; probable root: Mains failure at 09:55"
    # The group's alarms are the ticket's (named), though on two elements of the site: model input.
    assert [(e.raw_code, e.attrs["scope"]) for e in ticket.events.order_by("position")][:2] == [
        ("NL-MAINS", "ticket"),
        ("NL-BATT", "ticket"),
    ]
    text = model_input(ticket)
    assert "alarm_raised MAINS_FAIL" in text and "alarm_raised BATTERY_LOW" in text

    page = admin_client.get(f"/tickets/{ticket.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "2 alarms grouped; probable root: Mains failure at 09:55" in text
    assert "this ticket was opened for it" in text


@pytest.mark.parametrize("correlated_first", [True, False])
def test_an_alarm_that_joins_a_ticketed_group_later_is_the_tickets(world, correlated_first):
    AlarmGroupRule.objects.create(name="power outages", min_severity="major", min_alarms=2)
    group_alarms(raise_alarms(("mains", "PSU-1", "NL-MAINS", 0), ("batt", "BAT-1", "NL-BATT", 3)))
    ticket = Ticket.objects.get()

    [rect] = raise_alarms(("rect", "RU-1", "NL-RECT", 8))
    steps = [lambda: tasks.correlate_alarms([rect]), lambda: tasks.group_alarms([rect])]
    for step in steps if correlated_first else steps[::-1]:  # the two tasks run in either order
        step()

    assert AlarmGroup.objects.get(alarms__external_id="rect").ticket == ticket
    assert [(e.raw_code, e.attrs["scope"]) for e in ticket.events.order_by("position")] == [
        ("NL-MAINS", "ticket"),
        ("NL-BATT", "ticket"),
        ("NL-RECT", "ticket"),
    ]
    assert "alarm_raised RECTIFIER_FAIL" in model_input(ticket)

    # Written again (an engineer's label goes through the upsert), the ticket keeps them all its own.
    stored = ticket_document(ticket_detail().get(pk=ticket.pk))
    [again] = tickets_upsert(documents=[{**stored, "title": "mains out"}], source="alarm-groups")
    assert again.status == "updated"
    assert {e.attrs["scope"] for e in ticket.events.all()} == {"ticket"}


def _linked(ext, on, code, minutes, *, parent=None, correlated=None, href=None) -> dict:
    body = {
        "externalAlarmId": ext,
        "sourceSystemId": "oss",
        "alarmedObject": {"id": on},
        "state": "raised",
        "alarmType": "Equipment Alarm",
        "perceivedSeverity": "major",
        "probableCause": "lossOfSignal",
        "specificProblem": code,
        "alarmRaisedTime": (T0 + timedelta(minutes=minutes)).isoformat(),
    }
    if parent or href:
        body["parentAlarm"] = [{"id": parent or "not-ours", **({"href": href} if href else {})}]
    if correlated:
        body["correlatedAlarm"] = [{"id": correlated}]
    return body


def _store(*bodies) -> list[int]:
    results = alarms_upsert(documents=list(bodies))
    assert all(r.status == "created" for r in results), [r.errors for r in results]
    return [r.id for r in results]


def test_the_fault_management_systems_own_links_group_alarms_and_name_the_root(world, settings):
    settings.TICKETAI_GROUPING_WINDOW_MINUTES = 10
    # Mains failure first; the CPRI link (another family) and a battery alarm two hours later both
    # name it as their parent; an unlinked CPRI alarm of the same minute goes by the rule.
    group_alarms(
        _store(
            _linked("mains", "PSU-1", "NL-MAINS", 0),
            _linked("cpri", "RU-1", "NL-CPRI", 2, parent="mains"),
            _linked("batt", "BAT-1", "NL-BATT", 120, parent="mains"),
            _linked("cpri-2", "RU-1", "NL-CPRI", 2),
        )
    )
    assert groups() == [["batt", "cpri", "mains"], ["cpri-2"]]
    group = AlarmGroup.objects.get(alarms__external_id="mains")
    assert (group.root.external_id, group.root_reason) == ("mains", "source")
    assert group.support_label() == "the parent alarm the fault-management system named"

    # Later batches follow links too: to the parent by TicketAI's href, or by correlatedAlarm.
    mains = group.root_id
    group_alarms(
        _store(
            _linked(
                "rect",
                "PSU-1",
                "NL-RECT",
                300,
                href=f"https://ticketai.example/tmf-api/alarm/v4/alarm/{mains}",
            ),
            _linked("cpri-3", "RU-1", "NL-CPRI", 301, correlated="cpri"),
            _linked("lost", "RU-1", "NL-CPRI", 302, parent="never-sent"),
        )
    )
    assert groups() == [["batt", "cpri", "cpri-3", "mains", "rect"], ["cpri-2"], ["lost"]]
    assert AlarmGroup.objects.get(pk=group.pk).root.external_id == "mains"


def test_a_link_to_another_systems_alarm_id_is_not_followed(world):
    other = alarms_upsert(
        documents=[{**_linked("mains", "PSU-1", "NL-MAINS", 0), "sourceSystemId": "other-oss"}]
    )
    group_alarms([other[0].id])
    group_alarms(_store(_linked("cpri", "RU-1", "NL-CPRI", 1, parent="mains")))
    assert groups() == [["cpri"], ["mains"]]


def _change(external_id: str, minutes: int, **fields) -> int:
    body = {"alarmChangedTime": (T0 + timedelta(minutes=minutes)).isoformat(), **fields}
    result = alarm_change(alarm=Alarm.objects.get(external_id=external_id), data=body)
    assert result.status == "updated", result.errors
    return result.id


def test_a_member_raised_to_critical_makes_the_group_critical_and_opens_the_rules_ticket(world):
    AlarmGroupRule.objects.create(name="critical power", min_severity="critical", min_alarms=2)
    tasks.group_alarms(raise_alarms(("mains", "PSU-1", "NL-MAINS", 0), ("batt", "BAT-1", "NL-BATT", 2)))
    assert AlarmGroup.objects.get().severity == "major"
    assert not Ticket.objects.exists()

    tasks.group_alarms([_change("batt", 5, perceivedSeverity="critical")])

    group = AlarmGroup.objects.get()
    assert group.severity == "critical"
    assert group.ticket == Ticket.objects.get()


def test_a_member_lowered_to_minor_lowers_the_group(world):
    tasks.group_alarms(
        raise_alarms(("mains", "PSU-1", "NL-MAINS", 0), ("batt", "BAT-1", "NL-BATT", 2), severity="critical")
    )
    tasks.group_alarms([_change("mains", 5, perceivedSeverity="minor")])
    assert AlarmGroup.objects.get().severity == "critical"  # batt is still critical
    tasks.group_alarms([_change("batt", 6, perceivedSeverity="minor")])
    assert AlarmGroup.objects.get().severity == "minor"


def test_retention_keeps_the_alarms_of_an_open_ticket_until_it_is_resolved(world, settings):
    settings.TICKETAI_ALARM_RETENTION_DAYS = 1
    AlarmGroupRule.objects.create(name="power outages", min_severity="major", min_alarms=2)
    group_alarms(raise_alarms(("mains", "PSU-1", "NL-MAINS", 0), ("batt", "BAT-1", "NL-BATT", 3)))
    [lone] = raise_alarms(("lone", "PSU-9", "NL-BATT", 0))
    ticket = Ticket.objects.get()
    later = T0 + timedelta(days=3)

    assert alarms_expire(now=later) == 1  # the alarm no open ticket holds
    assert not Alarm.objects.filter(pk=lone).exists()
    assert AlarmGroup.objects.get().summary() == "2 alarms grouped; probable root: Mains failure at 09:55"

    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.RESOLVED)
    assert alarms_expire(now=later) == 2


def test_the_group_summary_gives_the_roots_time_in_the_time_zone_of_the_timeline(world, settings):
    settings.TIME_ZONE = "Europe/Paris"  # TICKETAI_TIME_ZONE; 09:55 UTC is 10:55 there in March
    group_alarms(raise_alarms(("mains", "PSU-1", "NL-MAINS", 0), ("batt", "BAT-1", "NL-BATT", 3)))
    assert AlarmGroup.objects.get().summary() == "2 alarms grouped; probable root: Mains failure at 10:55"
