"""Alarms grouped into incidents: alarms of one site (so also of one element) raised within
``TICKETAI_GROUPING_WINDOW_MINUTES`` of the group's last alarm, in the same probable-cause family
(the curated code's domain, else the X.733 probable cause), form one AlarmGroup.

A fault-management system that correlates alarms itself says so in TMF642 ``parentAlarm`` and
``correlatedAlarm``: an alarm that links to a grouped alarm joins that alarm's group, whatever its
family, time or site, and the member named as the parent of the others is the group's root.

Otherwise the group's probable root is the alarm the others usually follow in the history (the raise order of
the same curated codes in past tickets' event sequences), when at least ``MIN_HISTORY`` past
incidents hold the pair and the root came first in at least ``MIN_SUPPORT`` of them; otherwise the
earliest alarm. The support is kept on the group and shown with it.

An enabled AlarmGroupRule opens a ticket for a group of at least its severity and size, through
tickets_upsert, so the group's alarms become the ticket's events (services/correlation.py) and the
recommendation is computed as for any new ticket. The ticket names the group's alarms, and those that
join the group later are its too (services/alarm_refs.py): wherever on the site they were raised, they
are model input.
"""

from collections import Counter, defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from repair_center.documents import MAX_ALARMS, OWN_ALARM_PATH
from repair_center.models import Alarm, AlarmGroup, AlarmGroupRule, ErrorCode, TicketAlarm, TicketEvent
from repair_center.services import correlation
from repair_center.services.alarm_links import LINKS, linked
from repair_center.services.tickets import tickets_upsert

MIN_HISTORY = 5
MIN_SUPPORT = 0.6
HISTORY_ROWS = 20_000
SEVERITY_RANK = {"critical": 4, "major": 3, "minor": 2, "warning": 1, "indeterminate": 0, "cleared": 0}
PRIORITY = {4: "critical", 3: "high", 2: "medium"}


def window() -> timedelta:
    return timedelta(minutes=settings.TICKETAI_GROUPING_WINDOW_MINUTES)


def group_alarms(alarm_ids) -> list[int]:
    """Put these alarms (those not grouped yet) into groups, and bring the groups of those already
    grouped up to date with them (a severity raised or lowered); returns the groups that changed."""
    alarm_ids = list(alarm_ids)
    with transaction.atomic():
        # Groups of alarms grouped before: the change (an escalation to critical) may be what a rule
        # waits for, so the group's severity and root are chosen again.
        regrouped = set(
            Alarm.objects.filter(pk__in=alarm_ids, group__isnull=False).values_list("group_id", flat=True)
        )
        assigned, linked_into = _assign(alarm_ids)
        changed = [
            group.pk
            for group in AlarmGroup.objects.select_for_update().filter(pk__in=set(assigned) | regrouped)
            if _choose_root(group) or group.pk in assigned
        ]
    opened = open_tickets(changed)
    # An alarm that joined a group a rule opened a ticket for is that ticket's, and so is one linked
    # to an alarm a ticket names: correlate those tickets again (the correlation task may have run
    # before the alarm was grouped, and links are followed within a group: alarm_links.linked_with).
    correlation.recorrelate(
        set(
            AlarmGroup.objects.filter(pk__in=changed, ticket__isnull=False)
            .exclude(pk__in=opened)
            .values_list("ticket_id", flat=True)
        )
        | set(TicketAlarm.objects.filter(alarm__group_id__in=linked_into).values_list("ticket_id", flat=True))
    )
    return sorted(set(changed) | set(opened))


def _family(alarm: Alarm, domains: dict[int, str]) -> str:
    if alarm.error_code_id and alarm.error_code_id in domains:
        return domains[alarm.error_code_id]
    return alarm.probable_cause[:64]


def _assign(ids: list[int]) -> tuple[list[int], set[int]]:
    """(the groups changed, those of them an alarm linked to another joined)."""
    alarms = list(
        Alarm.objects.select_for_update()
        .filter(pk__in=ids, group__isnull=True)
        .exclude(site__isnull=True, element__isnull=True)
        .order_by("raised_at", "id")
    )
    if not alarms:
        return [], set()
    domains = dict(ErrorCode.objects.exclude(domain=ErrorCode.Domain.OTHER).values_list("id", "domain"))
    span = window()
    first, last = alarms[0].raised_at, alarms[-1].raised_at
    links = linked(alarms, LINKS)
    group_of = dict(
        Alarm.objects.filter(
            pk__in={i for ids in links.values() for i in ids}, group__isnull=False
        ).values_list("id", "group_id")
    )
    candidates = list(
        AlarmGroup.objects.select_for_update().filter(
            Q(
                site_id__in={a.site_id for a in alarms if a.site_id},
                last_at__gte=first - span,
                opened_at__lte=last + span,
            )
            | Q(pk__in=set(group_of.values()))
        )
    )
    by_pk = {group.pk: group for group in candidates}
    by_key: dict[tuple, list[AlarmGroup]] = defaultdict(list)
    for group in candidates:
        by_key[(group.site_id, group.family)].append(group)
    changed: set[int] = set()
    for alarm in alarms:
        key = (alarm.site_id, _family(alarm, domains))
        # The fault-management system's own correlation first: the group of an alarm it links to.
        group = next((by_pk[group_of[i]] for i in links.get(alarm.pk, ()) if i in group_of), None) or next(
            (g for g in by_key[key] if g.opened_at - span <= alarm.raised_at <= g.last_at + span), None
        )
        if group is None:
            group = AlarmGroup.objects.create(
                site_id=alarm.site_id,
                element_id=alarm.element_id,
                family=key[1],
                opened_at=alarm.raised_at,
                last_at=alarm.raised_at,
            )
            by_key[key].append(group)
            by_pk[group.pk] = group
        else:
            group.opened_at = min(group.opened_at, alarm.raised_at)
            group.last_at = max(group.last_at, alarm.raised_at)
            if group.element_id != alarm.element_id:
                group.element_id = None  # several elements of the site
            group.save(update_fields=["opened_at", "last_at", "element_id", "updated_at"])
        alarm.group = group
        group_of[alarm.pk] = group.pk  # for the alarms of this batch that link to it
        changed.add(group.pk)
    Alarm.objects.bulk_update(alarms, ["group"])
    return sorted(changed), {group_of[alarm.pk] for alarm in alarms if alarm.pk in links}


def precedence(code_ids: set[int]) -> dict[tuple[int, int], tuple[int, int]]:
    """For pairs of curated codes: (times the first was raised before the second, times both were
    raised) in past tickets' event sequences."""
    rows = (
        TicketEvent.objects.filter(kind=TicketEvent.Kind.ALARM_RAISED, error_code_id__in=code_ids)
        .order_by("-ticket_id", "at")
        .values_list("ticket_id", "error_code_id", "at")[:HISTORY_ROWS]
    )
    firsts: dict[int, dict[int, object]] = defaultdict(dict)
    for ticket_id, code_id, at in rows:
        firsts[ticket_id].setdefault(code_id, at)
    counts: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for seen in firsts.values():
        for a, at_a in seen.items():
            for b, at_b in seen.items():
                if a != b:
                    counts[(a, b)][1] += 1
                    counts[(a, b)][0] += at_a < at_b
    return {pair: (led, both) for pair, (led, both) in counts.items()}


def _choose_root(group: AlarmGroup) -> bool:
    """Set the group's root, size and severity from its members; whether any of them changed."""
    members = list(group.alarms.order_by("raised_at", "id"))
    root, support, history, reason = _named_parent(members), None, 0, AlarmGroup.RootReason.SOURCE
    if root is None:
        root, support, history, reason = _root_from_history(members)
    chosen = {
        "root_reason": reason,
        "root_id": root.pk,
        "root_support": support,
        "root_history": history,
        "size": len(members),
        "severity": max((a.perceived_severity for a in members), key=lambda s: SEVERITY_RANK.get(s, 0)),
    }
    if all(getattr(group, name) == value for name, value in chosen.items()):
        return False
    for name, value in chosen.items():
        setattr(group, name, value)
    group.save()
    return True


def _named_parent(members: list[Alarm]) -> Alarm | None:
    """The member the fault-management system named as the parent (TMF642 ``parentAlarm``) of most
    others, itself without a parent in the group; None when no member names a parent among them."""
    ids = {m.pk for m in members}
    parents = {
        child: [p for p in found if p in ids] for child, found in linked(members, ("parentAlarm",)).items()
    }
    named = Counter(p for found in parents.values() for p in found)
    tops = [m for m in members if named[m.pk] and not parents.get(m.pk)]
    return max(tops, key=lambda m: named[m.pk], default=None)  # members are oldest first: ties go to it


def _root_from_history(members: list[Alarm]) -> tuple[Alarm, float | None, int, str]:
    """(root, support, past incidents, reason): the alarm the others usually follow in history, else
    the earliest."""
    codes = {a.error_code_id for a in members if a.error_code_id}
    best, support, history = None, None, 0
    if len(codes) > 1:
        table = precedence(codes)
        for code in codes:
            pairs = [table.get((code, other), (0, 0)) for other in codes if other != code]
            led, both = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
            if both >= MIN_HISTORY and (support is None or led / both > support):
                best, support, history = code, led / both, both
    if best is not None and support is not None and support >= MIN_SUPPORT:
        root = next(a for a in members if a.error_code_id == best)
        return root, support, history, AlarmGroup.RootReason.HISTORY
    return members[0], None, 0, AlarmGroup.RootReason.EARLIEST


def open_tickets(group_ids) -> list[int]:
    """Open a ticket for each group an enabled rule matches and that has none yet; returns those groups."""
    rules = list(AlarmGroupRule.objects.filter(enabled=True))
    if not rules or not group_ids:
        return []
    opened = []
    for group in AlarmGroup.objects.filter(pk__in=group_ids, ticket__isnull=True).select_related(
        "site", "element", "root__error_code"
    ):
        rule = next((r for r in rules if r.matches(group)), None)
        if rule is None:
            continue
        alarms = list(group.alarms.order_by("raised_at", "id").values_list("id", "raw_code"))
        codes = list(dict.fromkeys(code for _, code in alarms))
        document = {
            "external_id": f"alarm-group-{group.pk}",
            "title": group.summary(),
            "description": f"Opened by the alarm rule {rule.name!r}.",
            "priority": PRIORITY.get(SEVERITY_RANK.get(group.severity, 0), "low"),
            "opened_at": group.opened_at.isoformat(),
            "site": group.site.code if group.site_id else None,
            "element": group.element.serial if group.element_id else None,
            "error_codes": [c for c in codes if c][:64],
            # The group's alarms are the ticket's, wherever on the site: named, they are model input.
            "alarms": [f"{OWN_ALARM_PATH}{pk}" for pk, _ in alarms[:MAX_ALARMS]],
        }
        [result] = tickets_upsert(documents=[document], source=rule.source)
        if result.status != "rejected":
            AlarmGroup.objects.filter(pk=group.pk, ticket__isnull=True).update(ticket_id=result.id)
            opened.append(group.pk)
    return opened


def expire_groups() -> int:
    """Groups left without alarms (retention deleted them) go too."""
    stale = timezone.now() - window()
    return AlarmGroup.objects.filter(alarms__isnull=True, updated_at__lt=stale).delete()[0]
