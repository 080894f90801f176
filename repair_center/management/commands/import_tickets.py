from django.core.management.base import BaseCommand, CommandError

from repair_center.ingestion import readers
from repair_center.ingestion.files import import_tickets_file
from repair_center.ingestion.options import add_reading_arguments, reading_mapping, reading_value_map
from repair_center.management.commands.import_repairs import print_report


class Command(BaseCommand):
    help = (
        "Import tickets from a .csv, .xlsx, .json (an array, or an API dump holding one) or .jsonl file "
        "of canonical ticket documents, "
        "or from an event log (one row per state change or alarm of a ticket)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--source", required=True, help="Source system for documents that name none.")
        add_reading_arguments(parser)
        parser.add_argument("--rejects", metavar="FILE", help="Write rejected rows here (JSONL).")
        parser.add_argument(
            "--create-missing", action="store_true", help="Add unknown resolutions and sites, flagged."
        )
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, **options):
        mapping = reading_mapping(options)
        value_map = reading_value_map(options)
        try:
            report = import_tickets_file(
                options["path"],
                source=options["source"],
                mapping=mapping,
                rejects_path=options["rejects"],
                create_missing=options["create_missing"],
                batch_size=max(1, options["batch_size"]),
                date_format=options["date_format"],
                missing=options["missing"],
                encoding=options["encoding"],
                value_map=value_map,
                progress=lambda r: (
                    self.stderr.write(f"  {r.total} rows: {r.summary()}")
                    if options["verbosity"] > 1
                    else None
                ),
            )
        except readers.FileUnreadable as e:
            raise CommandError(str(e)) from e
        print_report(self, report, options["rejects"])
