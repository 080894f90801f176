from django.core.management.base import BaseCommand, CommandError

from repair_center.ingestion import readers
from repair_center.ingestion.files import import_repairs_file
from repair_center.ingestion.mapping import parse_mapping
from repair_center.ingestion.options import add_encoding_argument, add_value_map_argument, reading_value_map
from repair_center.ingestion.report import ImportReport
from repair_center.ingestion.value_map import REPAIR_FIELDS
from repair_center.services.repairs import FIELDS


def print_report(command: BaseCommand, report: ImportReport, rejects_path: str | None) -> None:
    for line in report.details(rejects_path):
        command.stderr.write(line)
    command.stdout.write(report.summary())


class Command(BaseCommand):
    help = (
        "Import repair-centre records (RMA) from a .csv, .xlsx, .json (an array, or an API dump holding one) "
        "or .jsonl file."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument(
            "--map", action="append", metavar="FIELD=COLUMN", help="Read FIELD from COLUMN (repeatable)."
        )
        add_value_map_argument(parser, "finding:NFF=no_fault_found", ", ".join(REPAIR_FIELDS))
        parser.add_argument("--rejects", metavar="FILE", help="Write rejected rows here (JSONL).")
        parser.add_argument("--batch-size", type=int, default=1000)
        add_encoding_argument(parser)

    def handle(self, *args, **options):
        try:
            mapping = parse_mapping(options["map"], FIELDS)
        except ValueError as e:
            raise CommandError(str(e)) from e
        value_map = reading_value_map(options, REPAIR_FIELDS)
        try:
            report = import_repairs_file(
                options["path"],
                mapping=mapping,
                rejects_path=options["rejects"],
                batch_size=max(1, options["batch_size"]),
                encoding=options["encoding"],
                value_map=value_map,
            )
        except readers.FileUnreadable as e:
            raise CommandError(str(e)) from e
        print_report(self, report, options["rejects"])
