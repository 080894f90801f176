from django.core.management.base import BaseCommand, CommandError
from django.db.models import F

from ml.models import ModelVersion
from ml.serving.recommendations import recommend_tickets
from repair_center.models import Ticket


class Command(BaseCommand):
    help = "Compute and store the champion's recommendations for the newest tickets (open ones by default)."

    def add_arguments(self, parser):
        parser.add_argument("--latest", type=int, default=500, help="How many of the newest tickets.")
        parser.add_argument(
            "--all-statuses", action="store_true", help="Include resolved and closed tickets."
        )

    def handle(self, *args, latest: int, all_statuses: bool, **options):
        if latest < 1:
            raise CommandError("--latest must be at least 1")
        tickets = Ticket.objects.all()
        if not all_statuses:
            tickets = tickets.exclude(
                status__in=[Ticket.Status.RESOLVED, Ticket.Status.CLOSED, Ticket.Status.CANCELLED]
            )
        newest = (F("opened_at").desc(nulls_last=True), "-id")  # undated tickets last, not first
        ids = list(tickets.order_by(*newest).values_list("id", flat=True)[:latest])
        result = recommend_tickets(ids)
        if result["model_version"] is None:
            raise CommandError(_no_champion(len(ids)))
        computed, cached = result["computed"], result["cached"]
        versions = result["model_version"]  # a list when tickets of several label sets were served
        served = ", ".join(f"v{v}" for v in versions) if isinstance(versions, list) else f"v{versions}"
        self.stdout.write(f"model {served}: {computed} computed, {cached} already stored")


def _no_champion(tickets: int) -> str:
    champions = list(
        ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).values_list("label_set_key", "pk")
    )
    if not champions:
        return "no champion model yet: train one first (manage.py train --sync)"
    held = ", ".join(f"{key} (v{pk})" for key, pk in sorted(champions))
    return (
        f"no champion model answers the label set of the {tickets} newest tickets; champions exist "
        f"for: {held}. Train one for their sources (manage.py train --source NAME --sync)"
    )
