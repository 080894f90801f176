"""Merging fixes the catalogue holds under two codes (``Re-seat card`` and ``Reseat card``) into one.

The tickets labelled with a merged-away code take the code it was merged into, each with a revision
and a line in its history; the old code becomes an alias, so a source that still sends it, an
engineer who types it and a model trained before the merge are all read as the code kept. Other
apps re-point what they hold of the old code on ``resolution_merged``, sent before it is deleted.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from repair_center.models import ResolutionAlias, ResolutionCode, Ticket, TicketChange
from repair_center.services.history import Actor
from repair_center.signals import resolution_merged, ticket_workflow_changed


class MergeError(Exception):
    pass


@dataclass(slots=True)
class MergeReport:
    into: str
    merged: list[str] = field(default_factory=list)
    tickets: int = 0

    def summary(self) -> str:
        merged = ", ".join(map(repr, self.merged))
        return f"merged {merged} into {self.into!r}: {self.tickets} tickets relabelled"


@transaction.atomic
def merge_resolutions(sources: Sequence[str], *, into: str, actor: Actor) -> MergeReport:
    """Merge the codes ``sources`` into the code ``into``; nothing is written unless every code exists."""
    target = ResolutionCode.objects.select_for_update().filter(code=into).first()
    if target is None:
        raise MergeError(f"{into!r} is not in the resolution catalogue")
    codes = list(ResolutionCode.objects.select_for_update().filter(code__in=sources).exclude(pk=target.pk))
    missing = sorted(set(sources) - {c.code for c in codes} - {into})
    if missing:
        raise MergeError(f"not in the resolution catalogue: {', '.join(map(repr, missing))}")
    report, now, revisions = MergeReport(into=target.code), timezone.now(), {}
    for code in codes:
        tickets = list(
            Ticket.objects.select_for_update().filter(resolution=code).values_list("id", "revision")
        )
        Ticket.objects.filter(pk__in=[pk for pk, _ in tickets]).update(
            resolution=target, revision=F("revision") + 1, updated_at=now
        )
        TicketChange.objects.bulk_create(
            [
                TicketChange(
                    ticket_id=pk,
                    revision=revision + 1,
                    action=TicketChange.Action.LABEL,
                    actor=actor.name,
                    user=actor.user,
                    changes={"resolution": {"from": code.code, "to": target.code}},
                    reason=f"{code.code!r} merged into {target.code!r} in the catalogue",
                    changed_at=now,
                )
                for pk, revision in tickets
            ],
            batch_size=2000,
        )
        revisions.update({pk: (revision, revision + 1) for pk, revision in tickets})
        code.aliases.update(resolution=target)
        ResolutionAlias.objects.update_or_create(alias=code.code, defaults={"resolution": target})
        resolution_merged.send(sender=ResolutionCode, source=code, target=target)
        code.delete()
        report.merged.append(code.code)
        report.tickets += len(tickets)
    if revisions:
        # After commit, as for any label: ml carries the recommendations over, TMF listeners hear of it.
        transaction.on_commit(lambda: ticket_workflow_changed.send(sender=Ticket, revisions=revisions))
    return report
