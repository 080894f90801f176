from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from repair_center.documents import parse_timestamp
from repair_center.models import Ticket
from repair_center.services import correlation

CHUNK = 1000


class Command(BaseCommand):
    help = (
        "Make stored tickets' alarm events match the stored alarms under the correlation rule as it stands "
        "(after changing TICKETAI_CORRELATION_WINDOW_MINUTES, or after an upgrade that changes the rule). "
        "A ticket whose events change gets a new revision, a line in its history and a new recommendation. "
        "Open tickets only unless --all."
    )

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Closed and resolved tickets too.")
        parser.add_argument("--source", action="append", default=[], help="Only this source (repeatable).")
        parser.add_argument("--since", help="Only tickets opened at or after this ISO 8601 time.")
        parser.add_argument("--ticket", type=int, action="append", default=[], help="Only this ticket id.")

    def handle(self, *args, **options):
        # A ticket with alarms to get: on an element or a site, naming alarms, or opened for a group.
        tickets = Ticket.objects.filter(
            Q(element__isnull=False)
            | Q(site__isnull=False)
            | Q(alarm_refs__isnull=False)
            | Q(alarm_groups__isnull=False)
        )
        if not options["all"]:
            tickets = tickets.filter(status__in=Ticket.OPEN_STATUSES)
        if options["source"]:
            tickets = tickets.filter(source__in=options["source"])
        if options["ticket"]:
            tickets = tickets.filter(pk__in=options["ticket"])
        if options["since"]:
            try:
                since = parse_timestamp(options["since"])
            except ValueError as e:
                raise CommandError(f"--since: {e} (2026-03-01T00:00Z, say)") from e
            tickets = tickets.filter(opened_at__gte=since)
        ids = sorted(set(tickets.values_list("id", flat=True)))
        changed = 0
        for start in range(0, len(ids), CHUNK):
            changed += len(correlation.recorrelate(ids[start : start + CHUNK]))
            self.stdout.write(f"{min(start + CHUNK, len(ids))} of {len(ids)} tickets read, {changed} changed")
        self.stdout.write(f"{len(ids)} tickets read; {changed} got new alarm events.")
