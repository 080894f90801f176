"""Links between alarms that a fault-management system correlated itself: TMF642 ``parentAlarm`` (the
alarm this one is a consequence of) and ``correlatedAlarm``. Grouping follows them
(services/grouping.py), and so does a ticket's claim on the alarms it names (services/alarm_refs.py).
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.db.models import Q

from repair_center.documents import OWN_ALARM_HREF_RE
from repair_center.models import Alarm

LINKS = ("parentAlarm", "correlatedAlarm")


def linked(alarms: list[Alarm], names: Sequence[str]) -> dict[int, list[int]]:
    """The stored alarms each of these links to through TMF642 ``parentAlarm`` or ``correlatedAlarm``
    (``names``): an AlarmRef's ``id`` is the externalAlarmId the same fault-management system gave
    it, else its ``href`` may be TicketAI's own alarm. A link to an alarm not stored is not followed."""
    refs: dict[int, list[tuple[str, str, int | None]]] = {}
    for alarm in alarms:
        for name in names:
            value = (alarm.extra or {}).get(name)
            for ref in value if isinstance(value, list) else ():
                if isinstance(ref, dict):
                    own = OWN_ALARM_HREF_RE.search(str(ref.get("href") or ""))
                    key = (alarm.source_system, str(ref.get("id") or ""), int(own.group(1)) if own else None)
                    refs.setdefault(alarm.pk, []).append(key)
    if not refs:
        return {}
    every = [key for keys in refs.values() for key in keys]
    by_external, by_pk = {}, set()
    for pk, source, external_id in Alarm.objects.filter(
        Q(source_system__in={k[0] for k in every}, external_id__in={k[1] for k in every if k[1]})
        | Q(pk__in={k[2] for k in every if k[2] is not None})
    ).values_list("id", "source_system", "external_id"):
        by_external[(source, external_id)] = pk
        by_pk.add(pk)
    out: dict[int, list[int]] = {}
    for alarm_id, keys in refs.items():
        for source, external_id, own_pk in keys:
            found = by_external.get((source, external_id)) or (own_pk if own_pk in by_pk else None)
            if found is not None and found != alarm_id:
                out.setdefault(alarm_id, []).append(found)
    return out


def linked_with(alarm_ids: Iterable[int]) -> dict[int, set[int]]:
    """For each of these alarms, itself and every alarm the fault-management system links it with
    through any chain of links either way (a child's parent, and the parent's other children).

    Only the links of the alarms' own groups are followed: grouping puts an alarm into the group of
    the alarm it links to, so the group bounds the search. An alarm not grouped yet has only itself."""
    ids = set(alarm_ids)
    out = {alarm_id: {alarm_id} for alarm_id in ids}
    groups = set(Alarm.objects.filter(pk__in=ids, group__isnull=False).values_list("group_id", flat=True))
    if not groups:
        return out
    members = list(
        Alarm.objects.filter(group_id__in=groups)
        .filter(Q(pk__in=ids) | Q(extra__has_any_keys=LINKS))
        .only("id", "source_system", "extra")
    )
    neighbours: dict[int, set[int]] = defaultdict(set)
    for alarm_id, targets in linked(members, LINKS).items():
        for target in targets:
            neighbours[alarm_id].add(target)
            neighbours[target].add(alarm_id)
    for alarm_id, found in out.items():
        stack = [alarm_id]
        while stack:
            for other in neighbours.get(stack.pop(), ()):
                if other not in found:
                    found.add(other)
                    stack.append(other)
    return out
