"""Issue a one-time enrolment token for an edge agent at a site; prints it once."""

from django.core.management.base import BaseCommand, CommandError

from ml.fleet import edge
from repair_center.models import Site


class Command(BaseCommand):
    help = "Issue a one-time enrolment token for an edge agent at SITE (a site code); it is printed once."

    def add_arguments(self, parser):
        parser.add_argument("site", help="site code")
        parser.add_argument("--hours", type=int, default=None, help="validity in hours")
        parser.add_argument("--note", default="", help="a label for the admin")

    def handle(self, *args, site, hours, note, **options):
        try:
            site_row = Site.objects.get(code=site)
        except Site.DoesNotExist:
            raise CommandError(f"unknown site code {site!r}") from None
        if hours is not None and hours < 1:
            raise CommandError("--hours must be at least 1")
        token, raw = edge.enrolment_token_issue(site=site_row, note=note, ttl_hours=hours)
        self.stderr.write(
            f"enrolment token for {site_row.code}, valid until {token.expires_at:%Y-%m-%d %H:%M} UTC:"
        )
        self.stdout.write(raw)
