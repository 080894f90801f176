"""Writing alarms (TMF642): the one path for the API, the bulk path and the alarm connector.

Alarms are keyed on (source system, external alarm id). Bodies for the same key are merged in
order, a change older than the stored ``alarmChangedTime`` is ignored, and a body that changes
nothing leaves the row alone, so a fault-management system may resend freely. A whole batch is
written with one ``INSERT ... ON CONFLICT DO UPDATE``: that is what absorbs an alarm storm
(benchmarks/alarms.py).
"""

import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from repair_center.alarm_documents import AlarmError, parse_alarm
from repair_center.models import Alarm, AlarmGroup, NetworkElement, Site, Ticket, TicketAlarm
from repair_center.services.catalogue import CodeMapper, record_unmapped
from repair_center.services.tickets import ItemResult
from ticketai import broker
from ticketai.storable import json_problem, printable

logger = logging.getLogger(__name__)

# Every column a merge may change (all but the key, the id and created_at).
COLUMNS = [
    f.attname
    for f in Alarm._meta.concrete_fields
    if f.attname not in ("id", "source_system", "external_id", "created_at")
]
_DEFAULTS = {f.attname: f.get_default() for f in Alarm._meta.concrete_fields if f.attname in COLUMNS}
# Compared to tell an update from an unchanged resend (updated_at always moves).
_COMPARED = [c for c in COLUMNS if c != "updated_at"]


@dataclass(slots=True)
class _Item:
    index: int
    key: tuple[str, str]
    fields: dict[str, Any]


def alarms_upsert(*, documents: Sequence[Any]) -> list[ItemResult]:
    """Raise, change or clear alarms from TMF642 Alarm bodies; one ItemResult per body, in order.

    A body for a key not stored yet must carry every Alarm_Create attribute; one for a stored key
    is a change. Bad bodies are rejected on their own; the good ones are written together.
    """
    results: list[ItemResult | None] = [None] * len(documents)
    items: list[_Item] = []
    for i, data in enumerate(documents):
        try:
            fields = parse_alarm(data)
        except AlarmError as e:
            results[i] = ItemResult(i, _echo(data), "rejected", errors=e.errors)
            continue
        items.append(_Item(i, (fields.pop("source_system"), fields.pop("external_id")), fields))
    for i, result in _write_retrying(items):
        results[i] = result
    return [r for r in results if r is not None]


def alarm_change(*, alarm: Alarm, data: Any) -> ItemResult:
    """Apply a TMF642 Alarm_Update (JSON merge patch) to a stored alarm; raises AlarmError."""
    fields = parse_alarm(data, partial=True)
    if fields.pop("external_id", alarm.external_id) != alarm.external_id:
        raise AlarmError({"externalAlarmId": ["identifies the alarm and cannot be changed"]})
    [(_, result)] = _write_retrying([_Item(0, (alarm.source_system, alarm.external_id), fields)])
    return result


def _echo(data: Any) -> str | None:
    value = data.get("externalAlarmId") if isinstance(data, dict) else None
    return printable(str(value))[:200] if value is not None else None


def _write_retrying(items: list[_Item]) -> list[tuple[int, ItemResult]]:
    if not items:
        return []
    for attempt in range(3):
        try:
            return _write(items)
        except IntegrityError:
            # Another writer inserted one of our keys between our read and our insert; read again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def _write(items: list[_Item]) -> list[tuple[int, ItemResult]]:
    now = timezone.now()
    stored = _stored_rows({item.key for item in items})
    current: dict[tuple[str, str], dict] = {}
    outcomes: list[tuple[int, tuple[str, str], str, dict]] = []
    for item in items:
        before = current.get(item.key) or stored.get(item.key)
        after = _merge(before, item.fields, now=now)
        if isinstance(after, dict):
            current[item.key] = after
            outcomes.append((item.index, item.key, "updated" if before else "created", {}))
        else:
            outcomes.append((item.index, item.key, after, {} if after == "unchanged" else after))
    rows = {key: row for key, row in current.items() if row != stored.get(key)}
    _resolve(rows)
    written = _upsert_rows(rows, now=now)
    ids = {key: row["id"] for key, row in stored.items()} | written
    out = []
    for index, key, status, errors in outcomes:
        if errors:
            out.append((index, ItemResult(index, key[1], "rejected", errors=errors)))
        else:
            outcome = status if key in rows or status == "unchanged" else "unchanged"
            out.append((index, ItemResult(index, key[1], outcome, id=ids.get(key))))
    if written:
        changed = sorted(written.values())
        transaction.on_commit(lambda: _announce(changed))
    return out


def _announce(alarm_ids: list[int]) -> None:
    """After commit: group the alarms into incidents, and give the tickets they touch their events."""
    try:
        # Grouping first: a ticket a rule opens for a group then gets the alarms as it is written.
        broker.enqueue("repair_center.tasks.group_alarms", alarm_ids)
        broker.enqueue("repair_center.tasks.correlate_alarms", alarm_ids)
    except broker.BROKER_ERRORS:  # the alarms are stored; a broker outage must not fail the request
        logger.exception("could not queue correlation of %d alarms", len(alarm_ids))


def _stored_rows(keys: set[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    by_source: dict[str, list[str]] = {}
    for source, external_id in keys:
        by_source.setdefault(source, []).append(external_id)
    query = Q()
    for source, ids in by_source.items():
        query |= Q(source_system=source, external_id__in=ids)
    rows = (
        Alarm.objects.select_for_update().filter(query).values("id", "source_system", "external_id", *COLUMNS)
    )
    return {(row.pop("source_system"), row.pop("external_id")): row for row in rows}


def _merge(before: dict | None, incoming: dict, *, now: datetime) -> dict | str:
    """The row after ``incoming``; "unchanged" for a stale or empty change; or {attribute: [errors]}."""
    if before is None:
        needed = ("raised_at", "probable_cause", "alarmed_object", "perceived_severity")
        if any(field not in incoming for field in needed):
            return {"non_field_errors": ["no such alarm: a new alarm needs every Alarm_Create attribute"]}
        row = {**_DEFAULTS, **incoming}
        if row["changed_at"] is None:
            row["changed_at"] = max(t for t in (row["raised_at"], row["cleared_at"]) if t)
    else:
        changed_at = incoming.get("changed_at")
        # Without an alarmChangedTime, the body is as new as the newest time it carries.
        stamp = changed_at or incoming.get("cleared_at") or incoming.get("raised_at")
        if stamp is not None and stamp < before["changed_at"]:
            return "unchanged"  # an older change arriving late
        row = {**before, **incoming}
        if incoming.get("perceived_severity") == Alarm.Severity.CLEARED and before["perceived_severity"]:
            # X.733 clears by severity: the clear is the state, the row keeps the severity it was
            # raised with (a ticket's alarm event shows it; the TMF642 resource says "cleared").
            row["perceived_severity"] = before["perceived_severity"]
        if row == before:
            return "unchanged"
        if changed_at is None:
            row["changed_at"] = max(before["changed_at"], incoming.get("cleared_at") or now)
        if incoming.get("state") == Alarm.State.RAISED and "cleared_at" not in incoming:
            row["cleared_at"] = None  # raised again after a clear
    if row.get("state") == Alarm.State.CLEARED and not row.get("cleared_at"):
        row["cleared_at"] = row["changed_at"]
    return row


def _resolve(rows: dict[tuple[str, str], dict]) -> None:
    """Point each row at its element or site, and map its vendor codes onto the catalogue."""
    if not rows:
        return
    objects = {row["alarmed_object"] for row in rows.values()}
    places = {ref for row in rows.values() for ref in _place_refs(row.get("extra"))}
    elements: dict[str, tuple[int, int, str]] = {}
    for pk, site_id, serial, name, vendor in NetworkElement.objects.filter(
        Q(serial__in=objects) | Q(name__in=objects)
    ).values_list("id", "site_id", "serial", "name", "vendor"):
        if name:
            elements.setdefault(name, (pk, site_id, vendor))
        elements[serial] = (pk, site_id, vendor)
    sites = dict(Site.objects.filter(code__in=objects | places).values_list("code", "id"))
    mapper = CodeMapper()
    unmapped: Counter[tuple[str, str]] = Counter()
    for (source, _), row in rows.items():
        element_id, site_id, vendor = elements.get(row["alarmed_object"], (None, None, ""))
        if site_id is None:
            site_id = sites.get(row["alarmed_object"])
        if site_id is None:
            site_id = next((sites[ref] for ref in _place_refs(row.get("extra")) if ref in sites), None)
        row["element_id"], row["site_id"] = element_id, site_id
        vendor = vendor or source
        row["raw_code"], row["error_code_id"] = _map_code(mapper, row, vendor, unmapped)
    record_unmapped(unmapped)


def _place_refs(extra: dict | None) -> list[str]:
    places = (extra or {}).get("place")
    if not isinstance(places, list):
        return []
    return [
        value
        for place in places
        if isinstance(place, dict)
        for value in (place.get("id"), place.get("name"))
        if isinstance(value, str)
    ]


def _map_code(mapper: CodeMapper, row: dict, vendor: str, unmapped: Counter) -> tuple[str, int | None]:
    # The specific problem is the vendor's own code; the probable cause an X.733 category.
    candidates = [c[:64] for c in (row.get("specific_problem"), row.get("probable_cause")) if c]
    for raw in candidates:
        code_id = mapper.map(raw, vendor)
        if code_id is not None:
            return raw, code_id
    unmapped[(vendor[:64], candidates[0])] += 1
    return candidates[0], None


def _upsert_rows(rows: dict[tuple[str, str], dict], *, now: datetime) -> dict[tuple[str, str], int]:
    if not rows:
        return {}
    if connection.vendor == "postgresql":
        return _copy_upsert(rows, now=now)
    objects = [
        Alarm(
            source_system=source,
            external_id=external_id,
            created_at=now,
            **{c: row.get(c, _DEFAULTS[c]) for c in COLUMNS},
            updated_at=now,
        )
        for (source, external_id), row in rows.items()
    ]
    Alarm.objects.bulk_create(
        objects, update_conflicts=True, unique_fields=["source_system", "external_id"], update_fields=COLUMNS
    )
    return {(a.source_system, a.external_id): a.pk for a in objects}


_STAGED = ["source_system", "external_id", "created_at", *COLUMNS]


def _copy_upsert(rows: dict[tuple[str, str], dict], *, now: datetime) -> dict[tuple[str, str], int]:
    """COPY the rows into a session table, then one INSERT ... ON CONFLICT DO UPDATE from it.

    bulk_create spends most of a storm batch building and quoting parameters (measured: 0.8 s of
    1.5 s for 1,000 alarms); COPY sends the rows as they are. The update skips a row whose stored
    change is newer: two batches racing on a new alarm (its raise and its clear) cannot undo the clear.
    """
    quote = connection.ops.quote_name
    table = quote(Alarm._meta.db_table)
    names = ", ".join(quote(c) for c in _STAGED)
    updates = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in COLUMNS if c != "perceived_severity")
    # A clear by severity that raced its alarm's raise (another batch inserted it first) keeps the
    # raised severity, as _merge does for a stored alarm.
    severity = quote("perceived_severity")
    updates += (
        f", {severity} = CASE WHEN EXCLUDED.{severity} = 'cleared' AND a.{severity} <> 'cleared' "
        f"THEN a.{severity} ELSE EXCLUDED.{severity} END"
    )
    with connection.wrap_database_errors, connection.cursor() as cursor:
        cursor.execute(
            # Names from the model, no input in it:
            f"CREATE TEMP TABLE IF NOT EXISTS alarm_stage ON COMMIT DELETE ROWS AS "  # noqa: S608
            f"SELECT {names} FROM {table} WITH NO DATA"
        )
        cursor.execute("DELETE FROM alarm_stage")  # rows of an earlier call in the same transaction
        with cursor.cursor.copy(f"COPY alarm_stage ({names}) FROM STDIN") as copy:
            for (source, external_id), row in rows.items():
                values = {**_DEFAULTS, **row, "updated_at": now}
                values["extra"] = json.dumps(values["extra"])
                copy.write_row([source, external_id, now, *(values[c] for c in COLUMNS)])
        cursor.execute(
            f"INSERT INTO {table} AS a ({names}) SELECT {names} FROM alarm_stage "  # noqa: S608
            f"ON CONFLICT (source_system, external_id) DO UPDATE SET {updates} "
            f"WHERE a.changed_at <= EXCLUDED.changed_at RETURNING id, source_system, external_id"
        )
        ids = {(source, external_id): pk for pk, source, external_id in cursor.fetchall()}
    if len(ids) < len(rows):  # rows a newer change kept
        ids |= {key: row["id"] for key, row in _stored_rows(set(rows) - set(ids)).items()}
    return ids


# --- Operations on several alarms (POST /clearAlarms, /ackAlarms) ----------------------------------

# TMF642 attribute of an alarmPattern -> the lookup it filters on.
PATTERN_LOOKUPS = {
    "id": "pk",
    "externalAlarmId": "external_id",
    "sourceSystemId": "source_system",
    "alarmedObjectType": "alarmed_object_type",
    "alarmType": "alarm_type",
    "probableCause": "probable_cause",
    "specificProblem": "specific_problem",
    "perceivedSeverity": "perceived_severity",
    "state": "state",
    "ackState": "ack_state",
}


def pattern_query(patterns: Any) -> Q:
    """The alarms any of the TMF642 alarmPatterns matches (all of a pattern's attributes equal)."""
    if not isinstance(patterns, list) or not patterns:
        raise AlarmError({"alarmPattern": ["must be a non-empty list of Alarm patterns"]})
    if problem := json_problem(patterns, max_depth=4, max_bytes=64 * 1024):
        raise AlarmError({"alarmPattern": [problem]})
    query = Q(pk__in=[])
    for i, pattern in enumerate(patterns):
        if not isinstance(pattern, dict) or not pattern:
            raise AlarmError({"alarmPattern": [f"[{i}] must be an object with at least one attribute"]})
        match = Q()
        for name, value in pattern.items():
            if name == "alarmedObject" and isinstance(value, dict) and isinstance(value.get("id"), str):
                match &= Q(alarmed_object=value["id"])
            elif name in PATTERN_LOOKUPS and isinstance(value, str | int) and not isinstance(value, bool):
                if name == "id" and not (isinstance(value, int) or str(value).isdigit()):
                    raise AlarmError({"alarmPattern": [f"[{i}].id must be an alarm id"]})
                if isinstance(value, str) and value.isdigit() and name == "id":
                    value = int(value)
                if isinstance(value, int) and not 0 < value < 2**63:
                    raise AlarmError({"alarmPattern": [f"[{i}].id is out of range"]})
                if isinstance(value, str) and (len(value) > 200 or "\x00" in value):
                    raise AlarmError({"alarmPattern": [f"[{i}].{name} is not a value an alarm holds"]})
                if name == "perceivedSeverity":
                    match &= severity_query(str(value))
                else:
                    match &= Q(**{PATTERN_LOOKUPS[name]: value})
            else:
                names = ", ".join(["alarmedObject", *PATTERN_LOOKUPS])
                raise AlarmError({"alarmPattern": [f"[{i}].{str(name)[:60]}: patterns match on {names}"]})
        query |= match
    return query


def severity_query(value: str) -> Q:
    """Alarms whose TMF642 ``perceivedSeverity`` is ``value``. A cleared alarm's is "cleared" (the
    row keeps the severity it was raised with), so no other severity matches it."""
    if value == Alarm.Severity.CLEARED:
        return Q(state=Alarm.State.CLEARED) | Q(perceived_severity=value)
    return Q(perceived_severity=value) & ~Q(state=Alarm.State.CLEARED)


@transaction.atomic
def alarms_clear(*, patterns: Any, cleared_at: datetime, user: str, system: str) -> list[Alarm]:
    """Clear the raised alarms the patterns match; returns them."""
    alarms = list(Alarm.objects.select_for_update().filter(pattern_query(patterns)).exclude(state="cleared"))
    now = timezone.now()
    for alarm in alarms:
        alarm.state, alarm.cleared_at = Alarm.State.CLEARED, cleared_at
        alarm.clear_user, alarm.clear_system = user, system
        alarm.changed_at, alarm.updated_at = max(alarm.changed_at, cleared_at), now
    fields = ["state", "cleared_at", "clear_user", "clear_system", "changed_at", "updated_at"]
    Alarm.objects.bulk_update(alarms, fields)
    if alarms:
        ids = [a.pk for a in alarms]
        transaction.on_commit(lambda: _announce(ids))
    return alarms


@transaction.atomic
def alarms_ack(*, patterns: Any, acked_at: datetime, user: str, system: str) -> list[Alarm]:
    """Acknowledge the unacknowledged alarms the patterns match; returns them."""
    alarms = list(
        Alarm.objects.select_for_update().filter(pattern_query(patterns)).exclude(ack_state="acknowledged")
    )
    now = timezone.now()
    for alarm in alarms:
        alarm.ack_state, alarm.ack_user, alarm.ack_system = Alarm.AckState.ACKNOWLEDGED, user, system
        alarm.changed_at, alarm.updated_at = max(alarm.changed_at, acked_at), now
    Alarm.objects.bulk_update(alarms, ["ack_state", "ack_user", "ack_system", "changed_at", "updated_at"])
    return alarms


def alarms_expire(*, now: datetime | None = None) -> int:
    """Delete alarms unchanged for longer than TICKETAI_ALARM_RETENTION_DAYS; returns how many.

    Tickets keep the events made from them (correlation copies what it needs). The alarms an open
    ticket names, or those of a group a rule opened an open ticket for, stay until it is resolved: the
    ticket page shows the group from them, and a later clear or escalation must find them."""
    before = (now or timezone.now()) - timedelta(days=settings.TICKETAI_ALARM_RETENTION_DAYS)
    open_tickets = Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES)
    deleted = 0
    while True:  # in slices, so a large backlog never holds one long lock
        # Two subqueries, not one OR over joins, and no NULL in the NOT IN (a name still waiting for
        # its alarm): either would make SQL's NOT hide every alarm from the sweep.
        named = TicketAlarm.objects.filter(ticket__in=open_tickets, alarm__isnull=False).values("alarm_id")
        expired = (
            Alarm.objects.filter(changed_at__lt=before)
            .exclude(pk__in=named)
            .exclude(group__in=AlarmGroup.objects.filter(ticket__in=open_tickets).values("pk"))
        )
        ids = list(expired.values_list("pk", flat=True)[:5000])
        if not ids:
            return deleted
        deleted += Alarm.objects.filter(pk__in=ids).delete()[0]
