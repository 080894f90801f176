"""The queue's Assigned cell for a resolved, closed or cancelled ticket: nobody needs to take it, so
it never says "Unassigned". It names who resolved it, else who had it, else nothing."""

import re

from django.urls import reverse

from repair_center.models import Ticket
from repair_center.services.resolution import ticket_resolve
from repair_center.services.tickets import tickets_upsert
from tests.factories import ui_catalogue


def _tickets(*docs: dict) -> dict[str, int]:
    ui_catalogue()
    base = {"title": "CPRI link down", "site": "CS-COAST-001", "opened_at": "2026-01-03T10:12:00Z"}
    results = tickets_upsert(documents=[{**base, **doc} for doc in docs], source="noc")
    assert all(r.status == "created" for r in results), [r.errors for r in results]
    return {r.external_id: r.id for r in results}


def _assigned_cells(html: str) -> dict[str, str]:
    """Each row's ticket id and its Assigned cell's markup."""
    cell = r'class="ticket-id">([^<]+)</a>.*?<td data-label="Assigned"[^>]*>(.*?)</td>'
    rows = re.findall(cell, html, re.S)
    return {ticket: cell.strip() for ticket, cell in rows}


def test_a_closed_ticket_names_who_resolved_it_or_nobody_never_unassigned(client, engineer):
    ids = _tickets(
        {"external_id": "OPEN-1"},
        {"external_id": "CLOSED-1", "status": "closed", "resolution": "REPLACE_SFP"},
        {"external_id": "CANCELLED-1", "status": "cancelled"},
        {"external_id": "LABELLED-1"},
    )
    ticket_resolve(ticket_id=ids["LABELLED-1"], resolution_code="REPLACE_SFP", resolved_by="alice")
    client.force_login(engineer)

    cells = _assigned_cells(client.get(reverse("ticket-list"), {"view": "all"}).content.decode())

    assert cells["OPEN-1"] == '<span class="muted">Unassigned</span>'
    assert cells["LABELLED-1"] == '<span class="resolved-by">Resolved by alice</span>'
    for closed, status in (("CLOSED-1", "closed"), ("CANCELLED-1", "cancelled")):
        assert "Unassigned" not in cells[closed]
        assert f'<span class="visually-hidden">Nobody: the ticket is {status}</span>' in cells[closed]


def test_a_closed_ticket_someone_had_still_names_them(client, engineer, admin_user):
    ids = _tickets({"external_id": "DONE-1", "status": "closed"})
    Ticket.objects.filter(pk=ids["DONE-1"]).update(assignee=admin_user)
    client.force_login(engineer)

    cells = _assigned_cells(client.get(reverse("ticket-list"), {"view": "all"}).content.decode())

    assert cells["DONE-1"] == admin_user.get_username()
