"""Demo users with printed logins, and simulated demo tickets when the database has none."""

from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from repair_center import roles
from repair_center.models import AssignmentGroup, Ticket
from repair_center.services.history import Actor
from repair_center.services.workflow import ticket_assign, ticket_transition

# Fixed on purpose: the demo runs on 127.0.0.1 with throwaway data, and the passwords are printed.
DEMO_USERS = (
    ("admin", "ticketai-admin", roles.ADMIN, True),
    ("engineer", "ticketai-engineer", roles.ENGINEER, False),
)


class Command(BaseCommand):
    help = "Create the demo admin and engineer (printing their logins) and load demo tickets once."

    def add_arguments(self, parser):
        parser.add_argument("--tickets", type=int, default=3000, help="Simulated tickets to load.")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--days", type=int, default=365, help="Simulated days, ending today (so open tickets are recent)."
        )
        parser.add_argument("--out", default=None, help="Where the simulator writes its files.")
        parser.add_argument("--no-data", action="store_true", help="Only the users; load no tickets.")
        parser.add_argument("--logins-only", action="store_true", help="Print the demo logins and stop.")

    def handle(self, *args, **options):
        if settings.HTTPS and not options["logins_only"]:
            # Served over HTTPS is production's switch: a superuser with a published password (or
            # an existing "admin" reset to it) must never reach a real database.
            raise CommandError(
                "setup_demo creates users with published passwords and is refused with TICKETAI_HTTPS=true "
                "(production). Create real users with `manage.py createsuperuser` instead."
            )
        if not options["logins_only"]:
            for username, password, role, superuser in DEMO_USERS:
                self._user(username, password, role, superuser=superuser)
            if not options["no_data"]:
                self._demo_data(options)
        self.stdout.write("Demo logins (demo only; change them anywhere else):")
        for username, password, role, _ in DEMO_USERS:
            self.stdout.write(f"  {role:<9} user {username!r} password {password!r}")

    def _user(self, username: str, password: str, role: str, *, superuser: bool) -> None:
        user, created = User.objects.get_or_create(username=username)
        # Reset on every run so the printed password always works, even after someone changed it.
        user.set_password(password)
        user.is_active = True
        user.is_superuser = user.is_staff = superuser
        user.save()
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        self.stdout.write(f"{'Created' if created else 'Updated'} demo user {username!r} ({role}).")

    def _demo_data(self, options) -> None:
        if Ticket.objects.exists():
            self.stdout.write(
                f"The database already holds {Ticket.objects.count()} tickets; no demo data loaded."
            )
            return
        if "simulate" not in get_commands():
            raise CommandError(
                "Cannot load demo data: the `simulate` management command is not installed. "
                "Run with --no-data for the users only, or load tickets with import_tickets."
            )
        out = options["out"] or str(settings.DATA_DIR / "demo-data")
        self.stdout.write(f"Simulating {options['tickets']} demo tickets (seed {options['seed']}) into {out}")
        # Arguments as strings, parsed by simulate's own parser, so its option names are the contract.
        # The simulated period ends today, so the open tickets are hours or days old, as in a live queue.
        start = (timezone.now() - timedelta(days=options["days"])).date().isoformat()
        call_command(
            "simulate",
            "--tickets",
            str(options["tickets"]),
            "--seed",
            str(options["seed"]),
            "--out",
            out,
            "--start",
            start,
            "--days",
            str(options["days"]),
            "--load",
            stdout=self.stdout,
            stderr=self.stderr,
        )
        self._teams()

    def _teams(self) -> None:
        """A field crew per region and the open tickets assigned to them, through the same services
        the pages use. The demo engineer joins the crew with the most open tickets (which one
        depends on the day the demo is made) and gets a third of them, some already started."""
        engineer = User.objects.get(username="engineer")
        crews = {}
        for region in ("north", "west", "south", "capital"):
            crews[region], _ = AssignmentGroup.objects.get_or_create(
                name=f"{region.title()} field crew",
                defaults={"description": f"Field engineers, {region} region"},
            )
        actor = Actor("setup_demo")
        open_tickets = list(
            Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES)
            .select_related("site")
            .order_by("opened_at", "id")
        )
        crew_of = [crews.get(t.site.region if t.site else "", crews["capital"]) for t in open_tickets]
        busiest = max(crews.values(), key=Counter(crew_of).__getitem__)
        busiest.members.add(engineer)
        mine = theirs = 0
        for ticket, crew in zip(open_tickets, crew_of, strict=True):
            ticket_assign(ticket_id=ticket.pk, group=crew, actor=actor)
            if crew != busiest:
                continue
            if theirs % 3 == 0:
                ticket_assign(ticket_id=ticket.pk, assignee=engineer, actor=actor)
                if ticket.status == Ticket.Status.ACKNOWLEDGED and mine % 2 == 0:
                    ticket_transition(ticket_id=ticket.pk, action="start", user=engineer)
                mine += 1
            theirs += 1
        self.stdout.write(
            f"Assigned {len(open_tickets)} open tickets to {len(crews)} field crews ({mine} to 'engineer',"
            f" of the {busiest.name})."
        )
