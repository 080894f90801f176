from django.core.management.base import BaseCommand, CommandError

from repair_center.ingestion import readers
from repair_center.ingestion.files import export_tickets_file


class Command(BaseCommand):
    help = "Export tickets as canonical documents to OUT (.jsonl, or .json for one array)."

    def add_arguments(self, parser):
        parser.add_argument("out")
        parser.add_argument("--source", help="Only tickets from this source system.")

    def handle(self, *args, **options):
        try:
            count = export_tickets_file(options["out"], source=options["source"])
        except (readers.FileUnreadable, OSError) as e:
            raise CommandError(str(e)) from e
        self.stdout.write(f"exported {count} tickets to {options['out']}")
