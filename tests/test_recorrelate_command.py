"""``recorrelate``: stored tickets' alarm events made again under the correlation rule and settings
as they stand (a new window, an upgrade that changes the rule)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from repair_center.models import Ticket, TicketChange
from tests.test_alarm_correlation import OPENED, _iso, open_ticket, raise_alarm
from tests.test_alarm_correlation import site as site  # a fixture


def test_recorrelate_applies_a_new_window_to_open_tickets_only_unless_all(site, settings):
    settings.TICKETAI_CORRELATION_WINDOW_MINUTES = 60
    raise_alarm("old", "RU-1", -30)
    open_one = open_ticket("T-OPEN")
    done = open_ticket("T-DONE", status="closed", resolved_at=_iso(OPENED + timedelta(hours=1)))
    settings.TICKETAI_CORRELATION_WINDOW_MINUTES = 10  # the alarm is now outside every ticket's window

    out = StringIO()
    call_command("recorrelate", stdout=out)
    assert out.getvalue().splitlines()[-1] == "1 tickets read; 1 got new alarm events."
    assert Ticket.objects.get(pk=open_one.pk).events.count() == 0
    assert Ticket.objects.get(pk=open_one.pk).revision == open_one.revision + 1
    assert TicketChange.objects.filter(ticket=open_one, reason="alarms correlated").count() == 1
    assert Ticket.objects.get(pk=done.pk).events.count() == 1

    call_command("recorrelate", "--all", "--source", "noc", "--since", "2026-03-01", stdout=out)
    assert Ticket.objects.get(pk=done.pk).events.count() == 0
    call_command("recorrelate", "--all", stdout=(again := StringIO()))
    assert again.getvalue().splitlines()[-1] == "2 tickets read; 0 got new alarm events."


def test_recorrelate_refuses_a_bad_since(db):
    with pytest.raises(CommandError, match="--since: 'yesterday' is not an ISO 8601 date-time"):
        call_command("recorrelate", "--since", "yesterday")
