from django.core.management.base import BaseCommand, CommandError

from repair_center.services.history import Actor
from repair_center.services.resolution_merge import MergeError, merge_resolutions


class Command(BaseCommand):
    help = (
        "Merge resolution codes that name one fix into one: their tickets take the code kept (each with a "
        "line in its history) and the merged codes become its aliases, read as it from then on."
    )

    def add_arguments(self, parser):
        parser.add_argument("codes", nargs="+", help="The codes to merge away.")
        parser.add_argument("--into", required=True, help="The code to keep.")

    def handle(self, *args, **options):
        try:
            report = merge_resolutions(
                options["codes"], into=options["into"], actor=Actor("merge_resolutions")
            )
        except MergeError as e:
            raise CommandError(str(e)) from e
        self.stdout.write(report.summary())
