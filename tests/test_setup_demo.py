"""setup_demo creates the printed demo logins and loads simulated tickets only into an empty database."""

from collections import Counter
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from repair_center import roles
from repair_center.models import Ticket
from repair_center.services.tickets import tickets_upsert

pytestmark = pytest.mark.slow  # loads thousands of simulated tickets


def _setup_demo(*args: str) -> str:
    out = StringIO()
    call_command("setup_demo", *args, stdout=out)
    return out.getvalue()


def _one_ticket() -> None:
    [result] = tickets_upsert(documents=[{"external_id": "T-1", "title": "link down"}], source="noc")
    assert result.status == "created"


def test_it_creates_an_admin_and_an_engineer_who_can_log_in_with_the_printed_passwords(db):
    _one_ticket()
    output = _setup_demo()
    assert "user 'admin' password 'ticketai-admin'" in output
    assert "user 'engineer' password 'ticketai-engineer'" in output
    assert Client().login(username="admin", password="ticketai-admin")
    assert Client().login(username="engineer", password="ticketai-engineer")
    assert roles.user_roles(User.objects.get(username="admin")) == roles.ALL
    assert roles.user_roles(User.objects.get(username="engineer")) == {roles.ENGINEER}
    assert not User.objects.get(username="engineer").is_staff


def test_it_refuses_to_create_the_published_logins_on_a_production_server(db, settings):
    settings.HTTPS = True
    admin = User.objects.create_user("admin", password="a-real-passphrase-of-the-operator")
    with pytest.raises(CommandError, match="TICKETAI_HTTPS"):
        _setup_demo("--no-data")
    admin.refresh_from_db()
    assert admin.check_password("a-real-passphrase-of-the-operator")
    assert not admin.is_superuser
    assert not User.objects.filter(username="engineer").exists()


def test_a_second_run_resets_the_demo_passwords_and_keeps_the_tickets(db):
    _one_ticket()
    _setup_demo()
    engineer = User.objects.get(username="engineer")
    engineer.set_password("changed")
    engineer.save()
    output = _setup_demo()
    assert "Updated demo user 'engineer'" in output
    assert "already holds 1 tickets; no demo data loaded" in output
    assert Client().login(username="engineer", password="ticketai-engineer")
    assert User.objects.filter(username__in=["admin", "engineer"]).count() == 2
    assert Ticket.objects.count() == 1


def test_no_data_creates_the_users_and_leaves_an_empty_database_empty(db):
    _setup_demo("--no-data")
    assert User.objects.filter(username__in=["admin", "engineer"]).count() == 2
    assert not Ticket.objects.exists()


def test_logins_only_prints_the_logins_and_writes_nothing(db):
    output = _setup_demo("--logins-only")
    assert "user 'admin' password 'ticketai-admin'" in output
    assert not User.objects.exists()


def test_it_loads_simulated_tickets_into_an_empty_database(db, tmp_path):
    output = _setup_demo("--tickets", "30", "--seed", "7", "--out", str(tmp_path / "demo-data"))
    assert Ticket.objects.count() >= 30
    assert "Simulating 30 demo tickets (seed 7)" in output


def test_the_demo_queue_is_recent_and_the_engineer_has_open_tickets_in_a_field_crew(db, tmp_path):
    from django.utils import timezone

    _setup_demo("--tickets", "600", "--seed", "7", "--out", str(tmp_path / "demo-data"))

    engineer = User.objects.get(username="engineer")
    newest = Ticket.objects.order_by("-opened_at").values_list("opened_at", flat=True).first()
    assert (timezone.now() - newest).days < 3  # the simulated year ends today
    open_tickets = Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES)
    assert open_tickets.exists() and not open_tickets.filter(assignment_group=None).exists()
    assert Ticket.objects.filter(assignee=engineer, status__in=Ticket.OPEN_STATUSES).exists()
    # The engineer is in the crew with the most open tickets (which one depends on the day), and
    # works that crew's tickets.
    [crew] = engineer.assignment_groups.all()
    per_crew = Counter(open_tickets.values_list("assignment_group__name", flat=True))
    assert per_crew[crew.name] == max(per_crew.values())
    mine = Ticket.objects.filter(assignee=engineer)
    assert set(mine.values_list("assignment_group__name", flat=True)) == {crew.name}
