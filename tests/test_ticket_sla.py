"""Ticket age and SLA: a due time per priority (configurable), breached / due soon / on track, and
the database filter and order agreeing with the Python rule ticket by ticket."""

from datetime import UTC, datetime, timedelta

import pytest

from repair_center import sla
from repair_center.models import Ticket
from repair_center.services.tickets import tickets_upsert

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _ticket(external_id: str, priority: str, opened_hours_ago: float, status: str = "acknowledged") -> Ticket:
    opened = NOW - timedelta(hours=opened_hours_ago)
    doc = {"external_id": external_id, "title": external_id, "priority": priority, "status": status}
    doc["opened_at"] = opened.isoformat()
    if status in ("resolved", "closed"):
        doc["resolved_at"] = (opened + timedelta(hours=2)).isoformat()
    [result] = tickets_upsert(documents=[doc], source="sla")
    return Ticket.objects.get(pk=result.id)


def test_each_priority_has_its_own_target(settings):
    settings.TICKETAI_SLA_HOURS = {"critical": 2.0, "high": 8.0, "medium": 24.0, "low": 72.0}
    critical = _ticket("C", "critical", opened_hours_ago=1)
    assert sla.due_at(critical) == NOW + timedelta(hours=1)
    assert sla.target("low") == timedelta(hours=72)


def test_open_tickets_are_breached_due_soon_or_on_track(settings):
    settings.TICKETAI_SLA_DUE_SOON_PERCENT = 75  # critical: 4 h, due soon in its last hour
    breached = sla.state(_ticket("B", "critical", opened_hours_ago=5.5), now=NOW)
    soon = sla.state(_ticket("S", "critical", opened_hours_ago=3.5), now=NOW)
    fine = sla.state(_ticket("F", "critical", opened_hours_ago=1), now=NOW)

    assert (breached.state, breached.label) == ("breached", "Breached 1 h 30 min ago")
    assert (soon.state, soon.label) == ("due_soon", "Due in 30 min")
    assert (fine.state, fine.label) == ("on_track", "Due in 3 h")
    assert breached.age == timedelta(hours=5, minutes=30)
    assert breached.urgent and soon.urgent and not fine.urgent


def test_finished_tickets_met_or_missed_it_and_cancelled_ones_have_none():
    met = sla.state(_ticket("M", "high", opened_hours_ago=30, status="closed"), now=NOW)  # resolved in 2 h
    missed = sla.state(_ticket("X", "critical", opened_hours_ago=30, status="resolved"), now=NOW)
    cancelled = sla.state(_ticket("Z", "critical", opened_hours_ago=30, status="cancelled"), now=NOW)
    assert (met.state, missed.state, cancelled.state) == ("met", "met", "none")

    slow = _ticket("Y", "low", opened_hours_ago=100, status="closed")
    Ticket.objects.filter(pk=slow.pk).update(resolved_at=NOW)
    late = sla.state(Ticket.objects.get(pk=slow.pk), now=NOW)
    assert (late.state, late.label) == ("missed", "SLA missed by 1 d 4 h")


def test_the_database_filter_agrees_with_the_rule_ticket_by_ticket(settings):
    settings.TICKETAI_SLA_DUE_SOON_PERCENT = 50
    for n, priority in enumerate(Ticket.Priority.values * 3):
        for hours in (0.5, 3, 5, 13, 30, 60, 90):
            _ticket(
                f"T-{n}-{hours}", priority, opened_hours_ago=hours, status=("acknowledged", "closed")[n % 2]
            )

    urgent = set(Ticket.objects.filter(sla.urgent_q(now=NOW)).values_list("pk", flat=True))
    breached = set(Ticket.objects.filter(sla.urgent_q(now=NOW, due_soon=False)).values_list("pk", flat=True))

    for ticket in Ticket.objects.all():
        found = sla.state(ticket, now=NOW)
        assert (ticket.pk in urgent) == found.urgent, (ticket.external_id, found)
        assert (ticket.pk in breached) == (found.state == "breached"), (ticket.external_id, found)


def test_ordering_by_the_due_expression_puts_the_most_urgent_first():
    _ticket("LOW-OLD", "low", opened_hours_ago=70)  # due in 2 h
    _ticket("CRIT-NEW", "critical", opened_hours_ago=1)  # due in 3 h
    _ticket("HIGH-OLD", "high", opened_hours_ago=9)  # due 1 h ago

    ordered = Ticket.objects.annotate(due=sla.due_expression()).order_by("due")

    assert [t.external_id for t in ordered] == ["HIGH-OLD", "LOW-OLD", "CRIT-NEW"]


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=30), "30 s"),
        (timedelta(minutes=45), "45 min"),
        (timedelta(hours=3), "3 h"),
        (timedelta(hours=3, minutes=20), "3 h 20 min"),
        (timedelta(days=2, hours=4), "2 d 4 h"),
        (timedelta(days=9), "9 d"),
    ],
)
def test_durations_read_as_people_say_them(delta, text):
    assert sla.duration(delta) == text
