"""Writing tickets: the one upsert path shared by the bulk API, the file importer and connectors."""

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db import IntegrityError, connection, transaction
from django.db.models import JSONField, Q
from django.utils import timezone

from repair_center.documents import BUILT_IN_EVENT_KINDS, DocumentError, TicketDoc, parse_ticket
from repair_center.models import NetworkElement, Site, Ticket, TicketChange, TicketErrorCode, TicketEvent
from repair_center.services import alarm_refs, correlation, history
from repair_center.services.catalogue import (
    CodeMapper,
    create_missing_resolutions,
    record_unknown_event_kinds,
    record_unmapped,
    resolution_names,
    several_codes_error,
    spelled_alike,
    spelled_like_several,
)
from repair_center.services.resolution import engineer_labels, keep_engineer_label
from repair_center.signals import tickets_changed
from ticketai import broker
from ticketai.storable import printable

Outcome = Literal["created", "updated", "unchanged", "rejected"]
OUTCOMES: tuple[Outcome, ...] = ("created", "updated", "unchanged", "rejected")


@dataclass(slots=True)
class ItemResult:
    index: int
    external_id: str | None
    status: Outcome
    id: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index, "external_id": self.external_id, "status": self.status}
        if self.id is not None:
            data["id"] = self.id
        if self.errors:
            data["errors"] = self.errors
        return data


@dataclass(slots=True)
class UpsertSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    changed_ids: list[int] = field(default_factory=list)

    def add(self, results: Iterable[ItemResult]) -> None:
        for result in results:
            setattr(self, result.status, getattr(self, result.status) + 1)
            if result.status in ("created", "updated") and result.id is not None:
                self.changed_ids.append(result.id)

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in OUTCOMES}


def tickets_upsert(
    *, documents: Sequence[Any], source: str, create_missing: bool = False
) -> list[ItemResult]:
    """Validate and upsert canonical ticket documents keyed on (source, external_id).

    Each item is judged on its own: a bad one is rejected with field errors and the good ones are
    written, all in one transaction. A document identical to the stored one is left unchanged.
    """
    results: list[ItemResult | None] = [None] * len(documents)
    parsed: list[tuple[int, TicketDoc]] = []
    for i, data in enumerate(documents):
        try:
            parsed.append((i, parse_ticket(data, default_source=source)))
        except DocumentError as e:
            external_id = data.get("external_id") if isinstance(data, dict) else None
            # Echoed as printable text: a lone surrogate in the answer would make the answer a 500.
            echoed = printable(str(external_id))[:200] if external_id is not None else None
            results[i] = ItemResult(i, echoed, "rejected", errors=e.errors)

    # A key repeated in one call is applied in order: later copies go to later rounds.
    while parsed:
        seen: set[tuple[str, str]] = set()
        this_round, later = [], []
        for item in parsed:
            (later if item[1].key in seen else this_round).append(item)
            seen.add(item[1].key)
        for attempt in range(3):
            try:
                for i, result in _upsert_round(this_round, create_missing=create_missing):
                    results[i] = result
                break
            except IntegrityError:
                # A concurrent writer created one of our keys between our read and our insert;
                # the transaction rolled back, so reading again sees it as an update.
                if attempt == 2:
                    raise
        parsed = later
    done = [r for r in results if r is not None]
    changed = [r.id for r in done if r.status in ("created", "updated") and r.id is not None]
    if changed:
        # After commit, so listeners (recommendations in ml) never see rows that were rolled back.
        transaction.on_commit(lambda: tickets_changed.send(sender=Ticket, ticket_ids=changed))
    return done


@dataclass(slots=True)
class _Refs:
    """What a round's documents refer to, by the codes they use: site ids, (element id, vendor)
    by serial or name, and resolution ids."""

    sites: dict[str, int]
    elements: dict[str, tuple[int, str]]
    resolutions: dict[str, int]
    alarms: dict[str, alarm_refs.Found]  # the stored alarms the documents name
    # Spellings no code is, but two or more are but for case and spacing: never guessed.
    ambiguous: dict[str, list[str]] = field(default_factory=dict)

    def errors(self, doc: TicketDoc) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if doc.site and doc.site not in self.sites:
            errors["site"] = [f"unknown site code {doc.site!r}; load sites first or use create-missing"]
        if doc.resolution in self.ambiguous:
            errors["resolution"] = [several_codes_error(doc.resolution, self.ambiguous[doc.resolution])]
        elif doc.resolution and doc.resolution not in self.resolutions:
            errors["resolution"] = [
                f"{doc.resolution!r} is not in the resolution catalogue; add it or use create-missing"
            ]
        return errors

    def vendor(self, doc: TicketDoc) -> str:
        if not (doc.element or doc.site):  # placed by the alarm it names, if any
            return alarm_refs.place(doc.alarms, self.alarms)[2]
        return self.elements.get(doc.element, (None, ""))[1]


@dataclass(slots=True)
class _Stored:
    """The round's tickets already stored, locked for the round: (id, content hash, revision) by
    key, their tracked fields by id, and the labels engineers set on them."""

    existing: dict[tuple[str, str], tuple[int, str, int]]
    rows: dict[int, dict]
    labels: dict


# A ticket to write: the item's index, its document as stored, and the row.
_Write = tuple[int, TicketDoc, Ticket]

_UPDATED_FIELDS = [
    "title",
    "description",
    "status",
    "priority",
    "opened_at",
    "resolved_at",
    "site_id",
    "element_id",
    "element_ref",
    "resolution_id",
    "resolution_notes",
    "attributes",
    "resolved_by",
    "source_status",
    "content_hash",
    "revision",
    "updated_at",
]


@transaction.atomic
def _upsert_round(items: list[tuple[int, TicketDoc]], *, create_missing: bool):
    """One round of items with distinct keys: judged, written with their codes, events and change
    history, in one transaction."""
    if not items:
        return []
    docs = [doc for _, doc in items]
    refs = _Refs(
        sites=_site_ids(docs, create_missing=create_missing),
        elements=_element_refs(docs),
        resolutions=resolution_names(),
        alarms=alarm_refs.resolve(ref for doc in docs for ref in doc.alarms),
    )
    _read_resolutions(refs, docs, create_missing=create_missing)
    stored = _lock_stored(docs)
    now = timezone.now()
    out, to_create, to_update = _judge(items, refs, stored, now=now)
    kept = _write_tickets(to_create, to_update)
    named = {t.id: doc.alarms for _, doc, t in to_create + to_update if doc.alarms}
    alarm_refs.write(named, refs.alarms, replacing=[t.id for _, _, t in to_update])
    if waiting := alarm_refs.waiting_names(named.items(), refs.alarms):
        # An alarm stored while this write is open cannot find these names: look again after commit.
        # Robust: with the broker down the names wait for the next change of their alarm.
        transaction.on_commit(
            lambda: broker.enqueue("repair_center.tasks.claim_named_alarms", waiting), robust=True
        )
    unmapped, unknown_kinds = _write_codes_and_events(
        to_create + to_update, refs, kept, updated={t.id for _, _, t in to_update}
    )
    if to_update:
        pairs = [(stored.rows[t.id], t) for _, _, t in to_update]
        _insert_rows(TicketChange, history.CHANGE_COLUMNS, history.source_change_rows(pairs, now=now))
    record_unmapped(unmapped)
    record_unknown_event_kinds(unknown_kinds)
    out.extend((i, ItemResult(i, doc.external_id, "created", id=t.id)) for i, doc, t in to_create)
    out.extend((i, ItemResult(i, doc.external_id, "updated", id=t.id)) for i, doc, t in to_update)
    return out


def _site_ids(docs: Sequence[TicketDoc], *, create_missing: bool) -> dict[str, int]:
    """Site ids by code; with ``create_missing``, unknown codes become sites that need curation."""
    site_codes = {d.site for d in docs if d.site}
    sites = dict(Site.objects.filter(code__in=site_codes).values_list("code", "id"))
    missing_sites = site_codes - set(sites)
    if missing_sites and create_missing:
        Site.objects.bulk_create(
            [Site(code=code, name=code, needs_curation=True) for code in missing_sites], ignore_conflicts=True
        )
        sites = dict(Site.objects.filter(code__in=site_codes).values_list("code", "id"))
    return sites


def _element_refs(docs: Sequence[TicketDoc]) -> dict[str, tuple[int, str]]:
    """(element id, vendor) by serial and by name; a serial wins over another element's name."""
    element_refs = {d.element for d in docs if d.element}
    elements: dict[str, tuple[int, str]] = {}
    for pk, serial, name, vendor in NetworkElement.objects.filter(
        Q(serial__in=element_refs) | Q(name__in=element_refs)
    ).values_list("id", "serial", "name", "vendor"):
        if name:
            elements.setdefault(name, (pk, vendor))
        elements[serial] = (pk, vendor)
    return elements


def _read_resolutions(refs: _Refs, docs: Sequence[TicketDoc], *, create_missing: bool) -> None:
    """Resolution ids by the spellings the documents use: a code of the catalogue, or one spelled like
    exactly one code but for case and spacing (catalogue.resolution_key), read as that code. With
    ``create_missing`` the unknown ones become codes first, one for each such group of spellings."""
    used = Counter(d.resolution for d in docs if d.resolution)
    unknown = used.keys() - refs.resolutions.keys()
    if unknown and create_missing:
        refs.resolutions = create_missing_resolutions(Counter({code: used[code] for code in unknown}))
    refs.ambiguous = spelled_like_several(unknown, refs.resolutions)
    refs.resolutions = {**refs.resolutions, **spelled_alike(unknown, refs.resolutions)}


def _lock_stored(docs: Sequence[TicketDoc]) -> _Stored:
    """The documents' stored tickets, locked (SELECT ... FOR UPDATE) until the round commits."""
    existing: dict[tuple[str, str], tuple[int, str, int]] = {}
    rows: dict[int, dict] = {}
    by_source: dict[str, list[str]] = {}
    for d in docs:
        by_source.setdefault(d.source, []).append(d.external_id)
    for src, ids in by_source.items():
        for row in (
            Ticket.objects.select_for_update()
            .filter(source=src, external_id__in=ids)
            .values("id", "external_id", "content_hash", "revision", *history.TRACKED)
        ):
            existing[(src, row["external_id"])] = (row["id"], row["content_hash"], row["revision"])
            rows[row["id"]] = row
    # Labels set by engineers survive a source that sends the ticket again without one.
    labels = engineer_labels([found[0] for found in existing.values()])
    return _Stored(existing=existing, rows=rows, labels=labels)


def _judge(items, refs: _Refs, stored: _Stored, *, now) -> tuple[list, list[_Write], list[_Write]]:
    """Each item rejected (unknown references), unchanged (same content hash), or a ticket to
    create or to update at the next revision."""
    out: list[tuple[int, ItemResult]] = []
    to_create: list[_Write] = []
    to_update: list[_Write] = []
    for i, doc in items:
        errors = refs.errors(doc)
        if errors:
            out.append((i, ItemResult(i, doc.external_id, "rejected", errors=errors)))
            continue
        found = stored.existing.get(doc.key)
        source_status = doc.status
        # So does a status engineers set, until the source sends a status of its own.
        doc = history.keep_workflow_status(doc, stored.rows.get(found[0]) if found else None)
        label = stored.labels.get(found[0]) if found else None
        doc, resolved_by = keep_engineer_label(doc, label, refs.resolutions)
        fields = _ticket_fields(doc, refs, resolved_by=resolved_by, source_status=source_status)
        if found is None:
            ticket = Ticket(
                source=doc.source, external_id=doc.external_id, created_at=now, updated_at=now, **fields
            )
            to_create.append((i, doc, ticket))
        elif found[1] == fields["content_hash"]:
            out.append((i, ItemResult(i, doc.external_id, "unchanged", id=found[0])))
        else:
            ticket = Ticket(
                id=found[0],
                source=doc.source,
                external_id=doc.external_id,
                revision=found[2] + 1,
                updated_at=now,
                **fields,
            )
            to_update.append((i, doc, ticket))
    return out, to_create, to_update


def _ticket_fields(doc: TicketDoc, refs: _Refs, *, resolved_by, source_status) -> dict[str, Any]:
    element_id, _ = refs.elements.get(doc.element, (None, ""))
    site_id = refs.sites.get(doc.site)
    if not (doc.element or doc.site):  # a ticket opened from an alarm may name only the alarm
        element_id, site_id, _ = alarm_refs.place(doc.alarms, refs.alarms)
    return dict(
        title=doc.title,
        description=doc.description,
        status=doc.status,
        priority=doc.priority,
        opened_at=doc.opened_at,
        resolved_at=doc.resolved_at,
        site_id=site_id,
        element_id=element_id,
        element_ref=doc.element,
        resolution_id=refs.resolutions.get(doc.resolution),
        resolution_notes=doc.resolution_notes,
        attributes=doc.attributes,
        resolved_by=resolved_by,
        source_status=source_status,
        content_hash=doc.content_hash(),
    )


def _write_tickets(to_create: list[_Write], to_update: list[_Write]) -> dict[int, list]:
    """Inserts and updates the tickets and drops the updated ones' codes and events; returns the
    correlated events of updated tickets that are kept (read before they go)."""
    _insert_tickets([t for _, _, t in to_create])
    if not to_update:
        return {}
    Ticket.objects.bulk_update([t for _, _, t in to_update], _UPDATED_FIELDS)
    changed_ids = [t.id for _, _, t in to_update]
    kept = correlation.kept_events(changed_ids)  # before they go with the rest
    TicketErrorCode.objects.filter(ticket_id__in=changed_ids).delete()
    TicketEvent.objects.filter(ticket_id__in=changed_ids).delete()
    return kept


def _write_codes_and_events(
    writes: list[_Write], refs: _Refs, kept: dict[int, list], *, updated: set[int]
) -> tuple[Counter, Counter]:
    """The written tickets' error codes and events, mapped to the catalogue for the element's
    vendor; returns the codes (by vendor) and event kinds the catalogue does not know, counted."""
    mapper = CodeMapper()
    unmapped: Counter[tuple[str, str]] = Counter()
    unknown_kinds: Counter[str] = Counter()
    code_rows: list[tuple] = []
    event_rows: list[tuple] = []
    for _, doc, ticket in writes:
        vendor = refs.vendor(doc)
        for position, raw in enumerate(doc.error_codes):
            code_id = mapper.map(raw, vendor)
            if code_id is None:
                unmapped[(vendor, raw)] += 1
            code_rows.append((ticket.id, position, raw, code_id))
    code_ids: dict[int, list[int | None]] = {}
    for ticket_id, _, _, code_id in code_rows:
        code_ids.setdefault(ticket_id, []).append(code_id)
    # The alarms of each ticket's element and site, and those it names (as stored just now, and of
    # the alarm groups it was opened for: a ticket stored before), join its events
    # (services/correlation.py).
    named = alarm_refs.named_alarms([t.id for _, d, t in writes if d.alarms or t.id in updated])
    alarm_events = correlation.alarm_events_for(
        [correlation.Span.of(t, code_ids.get(t.id, ()), named.get(t.id, ())) for _, _, t in writes]
    )
    for _, doc, ticket in writes:
        vendor = refs.vendor(doc)
        inline = []
        for event in doc.events:
            if correlation.is_correlated(event.attrs):
                continue  # made again from the alarms below
            if event.kind not in BUILT_IN_EVENT_KINDS:
                unknown_kinds[event.kind] += 1
            code_id = mapper.map(event.code, vendor) if event.code else None
            if event.code and code_id is None:
                unmapped[(vendor, event.code)] += 1
            inline.append((event.at, event.kind, event.code, code_id, event.attrs))
        correlated = kept.get(ticket.id, []) + alarm_events.get(ticket.id, [])
        events = correlation.merge(inline, correlated, opened_at=ticket.opened_at) if correlated else inline
        event_rows.extend((ticket.id, position, *event) for position, event in enumerate(events))
    _insert_rows(TicketErrorCode, _CODE_COLUMNS, code_rows)
    _insert_rows(TicketEvent, _EVENT_COLUMNS, event_rows)
    return unmapped, unknown_kinds


# --- Bulk inserts -------------------------------------------------------------------------------
# On PostgreSQL, rows go in with COPY: Django's bulk_create spends most of an import building and
# quoting parameters (about 4x slower at 1,000 tickets with 7,000 child rows per batch). Other
# databases (the embedded SQLite) keep bulk_create. Both write the same rows.

_CODE_COLUMNS = ("ticket_id", "position", "raw_code", "error_code_id")
_EVENT_COLUMNS = ("ticket_id", "position", "at", "kind", "raw_code", "error_code_id", "attrs")


def _copy(model, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _insert_rows(model, columns: Sequence[str], rows: list[tuple]) -> None:
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            [model(**dict(zip(columns, row, strict=True))) for row in rows], batch_size=2000
        )
        return
    json_at = {i for i, c in enumerate(columns) if isinstance(model._meta.get_field(c), JSONField)}
    if json_at:
        rows = (tuple(_json_text(v) if i in json_at else v for i, v in enumerate(row)) for row in rows)
    _copy(model, columns, rows)


def _json_text(value: Any) -> str:
    return "{}" if value == {} else json.dumps(value)


def _insert_tickets(tickets: list[Ticket]) -> None:
    """Insert new tickets and set their ids (from the table's sequence when using COPY)."""
    if not tickets:
        return
    if connection.vendor != "postgresql":
        Ticket.objects.bulk_create(tickets)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [Ticket._meta.db_table, len(tickets)],
        )
        for ticket, (pk,) in zip(tickets, cursor.fetchall(), strict=True):
            ticket.id = pk
    # Every concrete column goes in, so a new NOT NULL column cannot be forgotten here; JSON ones as text.
    fields = list(Ticket._meta.concrete_fields)
    json_at = {i for i, f in enumerate(fields) if isinstance(f, JSONField)}
    _copy(
        Ticket,
        [f.column for f in fields],
        (
            tuple(
                _json_text(getattr(t, f.attname)) if i in json_at else getattr(t, f.attname)
                for i, f in enumerate(fields)
            )
            for t in tickets
        ),
    )
    for ticket in tickets:
        ticket._state.adding = False
        ticket._state.db = connection.alias
