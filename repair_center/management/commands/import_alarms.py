from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from repair_center.ingestion import readers
from repair_center.ingestion.alarm_files import FIELDS, import_alarms_file
from repair_center.ingestion.mapping import check_mapping, parse_mapping
from repair_center.ingestion.options import add_encoding_argument, add_value_map_argument
from repair_center.ingestion.value_map import ALARM_FIELDS, parse_value_map
from repair_center.management.commands.import_repairs import print_report
from repair_center.models import Alarm


class Command(BaseCommand):
    help = (
        "Import an alarm history (TMF642 alarms in .json or .jsonl, or a .csv or .xlsx export with --map) "
        "through the TMF642 write path; `recorrelate --all` then gives stored tickets their alarms."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--source", required=True, help="sourceSystemId of records that name none.")
        parser.add_argument(
            "--map", action="append", metavar="ATTRIBUTE=COLUMN", help="Read a TMF642 attribute from COLUMN."
        )
        parser.add_argument(
            "--default",
            action="append",
            metavar="ATTRIBUTE=VALUE",
            help="The value of a TMF642 attribute for records without one (alarmType=equipmentAlarm).",
        )
        parser.add_argument(
            "--date-format",
            default="",
            help="Read the times in this strptime format (as UTC), or epoch / epoch_ms (a Unix time); "
            "default ISO 8601.",
        )
        add_value_map_argument(parser, "perceivedSeverity:1=critical", ", ".join(ALARM_FIELDS))
        parser.add_argument("--rejects", metavar="FILE", help="Write rejected rows here (JSONL).")
        parser.add_argument("--batch-size", type=int, default=1000)
        add_encoding_argument(parser)

    def handle(self, *args, **options):
        try:
            mapping = parse_mapping(options["map"], FIELDS)
            defaults = _defaults(options["default"])
            value_map = parse_value_map(options["value_map"], ALARM_FIELDS)
            report = import_alarms_file(
                options["path"],
                source=options["source"],
                mapping=mapping,
                defaults=defaults,
                rejects_path=options["rejects"],
                batch_size=max(1, options["batch_size"]),
                date_format=options["date_format"],
                encoding=options["encoding"],
                value_map=value_map,
            )
        except (ValueError, readers.FileUnreadable) as e:
            raise CommandError(str(e)) from e
        print_report(self, report, options["rejects"])
        days = settings.TICKETAI_ALARM_RETENTION_DAYS
        if old := Alarm.objects.filter(changed_at__lt=timezone.now() - timedelta(days=days)).count():
            self.stderr.write(
                f"{old} stored alarms last changed over TICKETAI_ALARM_RETENTION_DAYS ({days}) days ago: the "
                "hourly sweep deletes them (tickets keep the events made from them). Run recorrelate --all "
                "first, or raise the setting to keep the history."
            )


def _defaults(items: list[str] | None) -> dict[str, str]:
    defaults = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"--default {item!r}: give ATTRIBUTE=VALUE")
        defaults[name.strip()] = value.strip()
    check_mapping(dict.fromkeys(defaults, ""), FIELDS)
    return defaults
