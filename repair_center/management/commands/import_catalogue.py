from django.core.management.base import BaseCommand, CommandError

from repair_center.ingestion import readers
from repair_center.ingestion.catalogue import import_catalogue_dir
from repair_center.management.commands.import_repairs import print_report


class Command(BaseCommand):
    help = (
        "Load the catalogue from DIR: sites.csv, elements.csv, error_codes.csv, error_code_aliases.csv, "
        "resolutions.csv (those present, in that order). Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory")

    def handle(self, *args, **options):
        try:
            reports = import_catalogue_dir(options["directory"])
        except readers.FileUnreadable as e:
            raise CommandError(str(e)) from e
        for name, report in reports.items():
            self.stdout.write(f"{name}: ", ending="")
            print_report(self, report, None)
