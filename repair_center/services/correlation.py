"""Alarms become ticket events: a ticket on a network element or site gets the alarms of that element
(and, marked ``"scope": "site"``, of the rest of its site) raised in the correlation window before it
opened, and any raised later until it is resolved, each as a raise and, once cleared, a clear.

Two paths keep the sequence current. ``tickets_upsert`` calls ``alarm_events_for`` inside its
transaction, so a new or changed ticket is stored with its alarms at once (and recommended once).
When alarms arrive or change later, the task ``correlate_alarms`` calls ``recorrelate`` for the
tickets they touch, which rewrites a changed sequence, moves the ticket to a new revision with a
history row, and sends ``tickets_changed``, so the recommendation is computed again.

Correlated events carry ``attrs["alarm"]`` (the alarm id); a document sent back with them (an
export re-imported, a PATCH of the stored document) has them dropped and made again from the alarms.
Events of alarms deleted by retention stay on the ticket.

A ticket opened from an alarm may name it (services/alarm_refs.py): the alarms a ticket names are
its own, given whatever their element and time (``"scope": "ticket"``) and never marked unrelated.

Alarms raised before another ticket on the same element (or site) was resolved belong to that
earlier incident and are left out, except an element alarm still raised when this ticket opened: the
fix did not clear it, so it is part of the state the new ticket starts from (a precursor raised while
the other ticket was open, say).

An element alarm that was not active when the ticket opened (cleared before it, or raised after it)
and whose probable-cause family (its curated code's domain, else its X.733 probable cause, as
alarm grouping uses) is none of the ticket's families (those of the ticket's error codes and of the
element alarms active at its opening) is most likely another incident's: an earlier fault's alarm
that had come and gone, or a new fault on the same element while the ticket was open. It is
attached all the same, marked ``"unrelated": true``, shown on the ticket and left out of the model
input (edge_agent/serialization.py, version 4). A ticket with no such family (no mapped code, no
alarm active at its opening) has nothing to tell another incident by: none of its alarms is marked.

A threshold-crossing alarm's reading (TMF642 ``crossedThresholdInformation``: ``indicatorName`` and a
numeric ``observedValue``, kept in ``Alarm.extra``) goes onto its raise event as ``attrs[name] =
value``, as a ticket that carries its alarms inline records it (``rx_dbm``: -32.5): an optical power or
a battery voltage tells a dirty fibre from a dead laser, a flat battery from a mains failure.
So do the ``name=value`` pairs of its ``alarmDetails``, where element managers write their additional
information (``process=rrc_mgr sector=3``): which process crashed, which parameter mismatched, which
sector dropped. Numbers become numbers; other words in the text are left out.
"""

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from repair_center.documents import MAX_EVENTS
from repair_center.models import Alarm, ErrorCode, Ticket, TicketChange, TicketErrorCode, TicketEvent
from repair_center.services import alarm_refs
from repair_center.signals import tickets_changed

MARK = "alarm"
# Event attributes correlation writes itself: a reading named like one of them is not taken.
OWN_ATTRS = frozenset({MARK, "scope", "severity", "object", "unrelated"})
# (at, kind, raw_code, error_code_id, attrs): an event row without its ticket and position.
EventRow = tuple[datetime, str, str, int | None, dict]


@dataclass(frozen=True, slots=True)
class Span:
    """What correlation needs of a ticket."""

    id: int
    element_id: int | None
    site_id: int | None
    opened_at: datetime | None
    until: datetime | None  # alarms raised after this are not the ticket's (resolved); None: open
    code_ids: frozenset[int] = frozenset()  # the ticket's error codes (catalogue ids): its families
    alarm_ids: frozenset[int] = frozenset()  # the stored alarms the ticket names (models.TicketAlarm)

    @classmethod
    def of(cls, ticket: Ticket, code_ids: Iterable[int | None] = (), alarm_ids: Iterable[int] = ()) -> "Span":
        until = ticket.resolved_at
        if until is None and not ticket.is_open:
            until = ticket.status_changed_at or ticket.updated_at
        ids = frozenset(c for c in code_ids if c)
        return cls(
            ticket.pk, ticket.element_id, ticket.site_id, ticket.opened_at, until, ids, frozenset(alarm_ids)
        )

    @property
    def placed(self) -> bool:
        """Whether the ticket has a window of alarms: an opening, and an element or a site."""
        return self.opened_at is not None and bool(self.element_id or self.site_id)


def window() -> timedelta:
    return timedelta(minutes=settings.TICKETAI_CORRELATION_WINDOW_MINUTES)


def is_correlated(attrs: dict | None) -> bool:
    return isinstance(attrs, dict) and MARK in attrs


# What correlation reads of an alarm.
ALARM_FIELDS = (
    "id",
    "element_id",
    "site_id",
    "raised_at",
    "cleared_at",
    "raw_code",
    "error_code_id",
    "perceived_severity",
    "probable_cause",
    "alarmed_object",
    "details",
    "extra",
)
# (ticket id, element id, site id, resolved at): a fix that ends an earlier incident.
Fix = tuple[int, int | None, int | None, datetime]


def alarm_events_for(spans: Sequence[Span]) -> dict[int, list[EventRow]]:
    """The correlated events of each ticket (by id), from the alarms stored now; one query."""
    named = set().union(*(s.alarm_ids for s in spans))
    placed = [s for s in spans if s.placed]
    if not (placed or named):
        return {}
    query = Q(pk__in=named)
    fixes: list[Fix] = []
    if placed:
        earliest = min(s.opened_at for s in placed) - window()
        latest = None if any(s.until is None for s in placed) else max(s.until for s in placed)
        in_window = (
            Q(element_id__in={s.element_id for s in placed if s.element_id})
            | Q(site_id__in={s.site_id for s in placed if s.site_id})
        ) & Q(raised_at__gte=earliest)
        if latest is not None:
            in_window &= Q(raised_at__lte=latest)
        query |= in_window
        fixes = _fixes(placed, earliest)
    alarms = list(Alarm.objects.filter(query).order_by("raised_at", "id").values(*ALARM_FIELDS))
    code_ids = {a["error_code_id"] for a in alarms if a["error_code_id"]}.union(*(s.code_ids for s in spans))
    domains = dict(ErrorCode.objects.filter(pk__in=code_ids).values_list("id", "domain"))
    return choose(spans, alarms, domains=domains, fixes=fixes, before=window())


def choose(
    spans: Sequence[Span],
    alarms: Sequence[dict],
    *,
    domains: dict[int, str],
    fixes: Iterable[Fix],
    before: timedelta,
) -> dict[int, list[EventRow]]:
    """The correlated events of each ticket, from these alarms (``ALARM_FIELDS`` dicts), the domains
    of their curated codes and the fixes of other tickets; no database access, so a benchmark can
    replay a saved world under the rule as it stands.

    The alarms a ticket names are its own: always given (``"scope": "ticket"``), never marked."""
    spans = [s for s in spans if s.placed or s.alarm_ids]
    by_id: dict[int, dict] = {}
    by_element: dict[int, list[dict]] = {}
    by_site: dict[int, list[dict]] = {}
    for alarm in sorted(alarms, key=lambda a: (a["raised_at"], a["id"])):
        by_id[alarm["id"]] = alarm
        if alarm["element_id"]:
            by_element.setdefault(alarm["element_id"], []).append(alarm)
        if alarm["site_id"]:
            by_site.setdefault(alarm["site_id"], []).append(alarm)
    fixed = _last_fixes([s for s in spans if s.placed], fixes)
    out: dict[int, list[EventRow]] = {}
    for span in spans:
        chosen: list[tuple[dict, str]] = [(by_id[i], "ticket") for i in span.alarm_ids if i in by_id]
        if not span.placed:
            rows = [row for alarm, scope in chosen for row in _events(alarm, scope, until=span.until)]
            if rows:
                out[span.id] = rows
            continue
        start = span.opened_at - before
        element_start = max(start, fixed.get(("element", span.id), start))
        site_start = max(start, fixed.get(("site", span.id), start))
        candidates = {a["id"]: a for a in by_element.get(span.element_id, []) + by_site.get(span.site_id, [])}
        for alarm in sorted(candidates.values(), key=lambda a: (a["raised_at"], a["id"])):
            if alarm["id"] in span.alarm_ids:
                continue
            on_element = span.element_id is not None and alarm["element_id"] == span.element_id
            if alarm["raised_at"] < start:
                continue
            if alarm["raised_at"] < (element_start if on_element else site_start) and not (
                on_element and _active_at(alarm, span.opened_at)
            ):
                continue  # the earlier incident's, unless its fix left it standing at this opening
            if span.until is not None and alarm["raised_at"] > span.until:
                continue
            chosen.append((alarm, "element" if on_element else "site"))
        chosen.sort(key=lambda item: (item[0]["raised_at"], item[0]["id"]))
        families = {domains[c] for c in span.code_ids if c in domains} | {
            _family(alarm, domains)
            for alarm, scope in chosen
            if scope == "ticket" or (scope == "element" and _active_at(alarm, span.opened_at))
        }
        rows: list[EventRow] = []
        for alarm, scope in chosen:
            unrelated = (
                bool(families)  # a ticket with no codes and no alarm at its opening: nothing to tell by
                and scope == "element"
                and not _active_at(alarm, span.opened_at)
                and _family(alarm, domains) not in families
            )
            rows.extend(_events(alarm, scope, unrelated=unrelated, until=span.until))
        if rows:
            out[span.id] = rows
    return out


def _family(alarm: dict, domains: dict[int, str]) -> str:
    """The alarm's probable-cause family: its curated code's domain, else its X.733 probable cause."""
    return domains.get(alarm["error_code_id"]) or alarm["probable_cause"][:64]


def _active_at(alarm: dict, moment: datetime) -> bool:
    return alarm["raised_at"] <= moment and (alarm["cleared_at"] is None or alarm["cleared_at"] >= moment)


def code_ids_of(ticket_ids: Iterable[int]) -> dict[int, list[int | None]]:
    """The stored error codes (catalogue ids) of each ticket, for Span.of."""
    out: dict[int, list[int | None]] = {}
    for ticket_id, code_id in TicketErrorCode.objects.filter(ticket_id__in=list(ticket_ids)).values_list(
        "ticket_id", "error_code_id"
    ):
        out.setdefault(ticket_id, []).append(code_id)
    return out


def _fixes(spans: Sequence[Span], earliest: datetime) -> list[Fix]:
    """The fixes (resolutions) on the spans' elements and sites between ``earliest`` and the last opening."""
    return list(
        Ticket.objects.filter(
            Q(element_id__in={s.element_id for s in spans if s.element_id})
            | Q(site_id__in={s.site_id for s in spans if s.site_id})
        )
        .filter(resolved_at__gte=earliest, resolved_at__lt=max(s.opened_at for s in spans))
        .values_list("id", "element_id", "site_id", "resolved_at")
    )


def _last_fixes(spans: Sequence[Span], fixes: Iterable[Fix]) -> dict[tuple[str, int], datetime]:
    """When another ticket on the same element (and site) was last resolved before each ticket opened.

    Alarms raised before that fix belong to the earlier incident, not to this ticket, unless (on the
    element) still raised at its opening."""
    by_scope: dict[tuple[str, int], list[tuple[datetime, int]]] = {}
    for ticket_id, element_id, site_id, resolved_at in fixes:
        if element_id:
            by_scope.setdefault(("element", element_id), []).append((resolved_at, ticket_id))
        if site_id:
            by_scope.setdefault(("site", site_id), []).append((resolved_at, ticket_id))
    out: dict[tuple[str, int], datetime] = {}
    for span in spans:
        for scope, key in (("element", span.element_id), ("site", span.site_id)):
            before = [
                at
                for at, ticket_id in by_scope.get((scope, key), ())
                if ticket_id != span.id and at < span.opened_at
            ]
            if key and before:
                out[(scope, span.id)] = max(before)
    return out


def _events(
    alarm: dict, scope: str, *, unrelated: bool = False, until: datetime | None = None
) -> list[EventRow]:
    """The alarm's raise, and its clear unless that came at or after ``until`` (the ticket's resolution):
    a fault-management system clears what the fix cleared at or after the fix, which is not part of
    the ticket's story, and a model trained on it would learn what no open ticket can show yet.

    The raise carries the severity the alarm was raised with (the stored one: a clear by X.733's
    severity "cleared" changes the state only); the clear carries none, as a ticket's own clear
    events carry none."""
    attrs = {MARK: alarm["id"], "scope": scope, "object": alarm["alarmed_object"]}
    if unrelated:
        attrs["unrelated"] = True
    found = detail_pairs(alarm.get("details"))
    if reading := threshold_reading(alarm.get("extra")):
        found[reading[0]] = reading[1]
    if alarm["perceived_severity"] != Alarm.Severity.CLEARED:  # an alarm first seen cleared has no other
        found["severity"] = alarm["perceived_severity"]
    raised = (
        alarm["raised_at"],
        TicketEvent.Kind.ALARM_RAISED,
        alarm["raw_code"],
        alarm["error_code_id"],
        {**attrs, **found},
    )
    if alarm["cleared_at"] is None or (until is not None and alarm["cleared_at"] >= until):
        return [raised]
    cleared = (
        alarm["cleared_at"],
        TicketEvent.Kind.ALARM_CLEARED,
        alarm["raw_code"],
        alarm["error_code_id"],
        attrs,
    )
    return [raised, cleared]


# name=value in an alarm's details: at the start of the text or after a space, comma or semicolon, a
# name as an identifier (dots and dashes allowed), a value up to the next one.
PAIR = re.compile(r"(?<![^\s,;])([A-Za-z_][\w.-]{0,63})=([^\s,;=]{1,40})(?=[\s,;]|$)")
MAX_DETAIL_PAIRS = 6


def detail_pairs(details: object) -> dict[str, str | float]:
    """The ``name=value`` pairs of an alarm's ``alarmDetails`` (the first six; numbers as numbers),
    leaving out the names correlation writes itself."""
    if not isinstance(details, str):
        return {}
    found: dict[str, str | float] = {}
    for name, text in PAIR.findall(details):
        if name in OWN_ATTRS or name in found:
            continue
        found[name] = _number(text)
        if len(found) == MAX_DETAIL_PAIRS:
            break
    return found


def _number(text: str) -> str | float:
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def threshold_reading(extra: object) -> tuple[str, float] | None:
    """(indicator name, observed value) of a threshold-crossing alarm, or None: no
    ``crossedThresholdInformation``, no name, a name correlation uses itself, or a value that is not a
    finite number (TMF642 sends it as a string)."""
    info = extra.get("crossedThresholdInformation") if isinstance(extra, dict) else None
    if not isinstance(info, dict):
        return None
    name, value = info.get("indicatorName"), info.get("observedValue")
    if not isinstance(name, str) or not name.strip() or name.strip() in OWN_ATTRS:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return (name.strip()[:64], number) if math.isfinite(number) else None


def merge(inline: Sequence[EventRow], correlated: Sequence[EventRow], *, opened_at=None) -> list[EventRow]:
    """One time-ordered sequence: the ticket's own events, and the alarms' that it does not already
    hold (same time, kind and code); at most MAX_EVENTS, keeping the own events, the alarms the ticket
    names and the element's alarms (those not marked unrelated first) nearest to the opening first."""
    own = {(at, kind, code) for at, kind, code, _, _ in inline}
    extra = [row for row in correlated if (row[0], row[1], row[2]) not in own]
    room = MAX_EVENTS - len(inline)
    if len(extra) > room:
        anchor = opened_at or max(row[0] for row in extra)
        extra.sort(
            key=lambda row: (
                {"ticket": 0, "element": 1}.get(row[4].get("scope"), 2),
                bool(row[4].get("unrelated")),
                abs((row[0] - anchor).total_seconds()),
            )
        )
        extra = extra[: max(room, 0)]
    if any(row[0] is None for row in inline):
        # Events without a time have only their order: keep it whole, the alarms' after it.
        return [*inline, *sorted(extra, key=lambda r: (r[0], r[4][MARK]))]
    # Stable: the ticket's own order is kept among events of the same instant, before the alarms'.
    numbered = [(row[0], 0, i, row) for i, row in enumerate(inline)] + [
        (row[0], 1, i, row) for i, row in enumerate(sorted(extra, key=lambda r: (r[0], r[4][MARK])))
    ]
    return [row for *_, row in sorted(numbered, key=lambda item: item[:3])]


def kept_events(ticket_ids: Iterable[int]) -> dict[int, list[EventRow]]:
    """Correlated events whose alarm no longer exists (retention deleted it): they stay on the ticket."""
    rows = list(
        TicketEvent.objects.filter(ticket_id__in=list(ticket_ids), attrs__has_key=MARK).values_list(
            "ticket_id", "at", "kind", "raw_code", "error_code_id", "attrs"
        )
    )
    if not rows:
        return {}
    alive = set(Alarm.objects.filter(pk__in={r[5][MARK] for r in rows}).values_list("pk", flat=True))
    kept: dict[int, list[EventRow]] = {}
    for ticket_id, at, kind, raw_code, code_id, attrs in rows:
        if attrs[MARK] not in alive:
            kept.setdefault(ticket_id, []).append((at, kind, raw_code, code_id, attrs))
    return kept


def tickets_touched(alarm_ids: Iterable[int]) -> list[int]:
    """Tickets whose window an alarm of these falls in, on its element or its site."""
    alarms = list(
        Alarm.objects.filter(pk__in=list(alarm_ids)).values_list("element_id", "site_id", "raised_at")
    )
    if not alarms:
        return []
    elements = {a[0] for a in alarms if a[0]}
    sites = {a[1] for a in alarms if a[1]}
    first, last = min(a[2] for a in alarms), max(a[2] for a in alarms)
    return list(
        Ticket.objects.filter(Q(element_id__in=elements) | Q(site_id__in=sites))
        .filter(opened_at__isnull=False, opened_at__lte=last + window())
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=first))
        .order_by("id")
        .values_list("id", flat=True)
    )


def recorrelate(ticket_ids: Iterable[int], *, now: datetime | None = None) -> list[int]:
    """Make these tickets' correlated events match the stored alarms; returns the tickets changed."""
    ids = sorted(set(ticket_ids))
    changed: list[int] = []
    for start in range(0, len(ids), 200):
        changed += _recorrelate_chunk(ids[start : start + 200], now=now or timezone.now())
    return changed


@transaction.atomic
def _recorrelate_chunk(ids: list[int], *, now: datetime) -> list[int]:
    tickets = list(Ticket.objects.select_for_update().filter(pk__in=ids).order_by("id"))
    current: dict[int, list[EventRow]] = {t.pk: [] for t in tickets}
    for ticket_id, at, kind, raw_code, code_id, attrs in (
        TicketEvent.objects.filter(ticket_id__in=ids)
        .order_by("ticket_id", "position")
        .values_list("ticket_id", "at", "kind", "raw_code", "error_code_id", "attrs")
    ):
        current[ticket_id].append((at, kind, raw_code, code_id, attrs))
    codes, named = code_ids_of(ids), alarm_refs.named_alarms(ids)
    fresh = alarm_events_for([Span.of(t, codes.get(t.pk, ()), named.get(t.pk, ())) for t in tickets])
    kept = kept_events(ids)
    changed, rows, history = [], [], []
    for ticket in tickets:
        inline = [row for row in current[ticket.pk] if not is_correlated(row[4])]
        merged = merge(inline, kept.get(ticket.pk, []) + fresh.get(ticket.pk, []), opened_at=ticket.opened_at)
        if merged == current[ticket.pk]:
            continue
        changed.append(ticket.pk)
        rows += [_event_row(ticket.pk, i, row) for i, row in enumerate(merged)]
        before = sum(is_correlated(r[4]) for r in current[ticket.pk])
        after = sum(is_correlated(r[4]) for r in merged)
        history.append(
            TicketChange(
                ticket=ticket,
                revision=ticket.revision + 1,
                action=TicketChange.Action.UPDATE,
                actor="system:alarms",
                changes={"alarm_events": {"from": before, "to": after}},
                reason="alarms correlated",
                changed_at=now,
            )
        )
    if not changed:
        return []
    TicketEvent.objects.filter(ticket_id__in=changed).delete()
    TicketEvent.objects.bulk_create(rows, batch_size=2000)
    for ticket_id in changed:
        # We hold the row lock, so the revision read above is still the row's.
        Ticket.objects.filter(pk=ticket_id).update(revision=F("revision") + 1, updated_at=now)
    TicketChange.objects.bulk_create(history)
    transaction.on_commit(lambda: tickets_changed.send(sender=Ticket, ticket_ids=changed))
    return changed


def _event_row(ticket_id: int, position: int, row: EventRow) -> TicketEvent:
    at, kind, raw_code, code_id, attrs = row
    return TicketEvent(
        ticket_id=ticket_id,
        position=position,
        at=at,
        kind=kind,
        raw_code=raw_code,
        error_code_id=code_id,
        attrs=attrs,
    )
