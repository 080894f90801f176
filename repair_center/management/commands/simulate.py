import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from repair_center.simulator import SimulationConfig, write_simulation
from repair_center.simulator.alarm_stream import write_alarm_stream
from repair_center.simulator.load import load_simulation


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a YYYY-MM-DD date") from None


class Command(BaseCommand):
    help = (
        "Simulate a network operations centre: write tickets.jsonl, repairs.csv, the catalogue CSVs and "
        "truth.jsonl (hidden root causes, for evaluation only) into --out; the same seed gives the same "
        "bytes. "
        "With --load, import them through the project's importers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tickets", type=int, required=True, help="How many tickets to simulate.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--out", required=True, metavar="DIR", help="Directory for the output files.")
        parser.add_argument("--start", default="2025-01-01", metavar="DATE", help="First day (YYYY-MM-DD).")
        parser.add_argument("--days", type=int, default=365, help="Length of the simulated period.")
        parser.add_argument(
            "--drift",
            metavar="DATE",
            help="From this date a new software release rolls out with a new failure mode and fix.",
        )
        parser.add_argument("--load", action="store_true", help="Also import the files into the database.")
        parser.add_argument(
            "--alarm-stream",
            action="store_true",
            help="Write the world as a TMF642 alarm stream instead: alarms.jsonl, tickets.jsonl without "
            "alarm events, alarm_truth.jsonl and the catalogue (no --load).",
        )

    def handle(self, *args, **options):
        if options["tickets"] < 1 or options["days"] < 1:
            raise CommandError("--tickets and --days must be at least 1")
        start = _date(options["start"])
        drift = _date(options["drift"]) if options["drift"] else None
        if drift is not None and drift <= start:
            raise CommandError("--drift must be after --start")
        config = SimulationConfig(
            tickets=options["tickets"], seed=options["seed"], start=start, days=options["days"], drift=drift
        )
        started = time.monotonic()
        if options["alarm_stream"]:
            counts = write_alarm_stream(config, options["out"])
            self.stdout.write(
                f"Wrote {counts['messages']} TMF642 alarm messages ({counts['alarms']} alarms) and "
                f"{counts['tickets']} tickets to {options['out']} in {time.monotonic() - started:.1f}s."
            )
            return
        counts = write_simulation(
            config, options["out"], progress=lambda n: self.stderr.write(f"  {n} tickets written")
        )
        seconds = time.monotonic() - started
        self.stdout.write(
            f"Wrote {counts['tickets']} tickets, {counts['repairs']} repair records, "
            f"{counts['sites']} sites and "
            f"{counts['elements']} elements to {options['out']} in {seconds:.1f}s "
            f"({counts['tickets'] / max(seconds, 1e-9):.0f} tickets/s)."
        )
        if options["load"]:
            reports = load_simulation(options["out"], progress=self._import_progress)
            for name, report in reports.items():
                self.stdout.write(f"{name}: {report.summary()}")
                for line in report.details():
                    self.stderr.write(line)

    def _import_progress(self, report) -> None:
        if report.total % 10_000 < 1000:
            self.stderr.write(f"  {report.total} tickets imported")
