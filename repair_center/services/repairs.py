"""Writing repair-centre records: idempotent upserts keyed on the RMA id."""

import hashlib
import json
from collections.abc import Sequence
from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from repair_center.models import RepairRecord, Ticket
from repair_center.services.tickets import ItemResult
from ticketai.storable import printable, text_problem

FIELDS = (
    "rma_id",
    "unit_kind",
    "unit_serial",
    "ticket_source",
    "ticket_external_id",
    "reported_fault_code",
    "finding",
    "repair_action",
    "received_on",
    "closed_on",
)
_LENGTHS = {
    "rma_id": 64,
    "unit_kind": 32,
    "unit_serial": 120,
    "ticket_source": 64,
    "ticket_external_id": 200,
    "reported_fault_code": 64,
    "repair_action": 200,
}
_FINDINGS = set(RepairRecord.Finding.values)
_UPDATED_FIELDS = [*FIELDS[1:], "ticket", "content_hash", "updated_at"]


def parse_repair(data: Any) -> tuple[dict, dict[str, list[str]]]:
    """Validate one repair row; returns (clean values, errors as {field: [message]})."""
    if not isinstance(data, dict):
        return {}, {"non_field_errors": ["a repair record must be an object"]}
    errors: dict[str, list[str]] = {}
    unknown = sorted(printable(str(k)) for k in set(data) - set(FIELDS))
    if unknown:
        errors["non_field_errors"] = [f"unknown fields: {', '.join(unknown)}"]
    clean: dict[str, Any] = {}
    for name, limit in _LENGTHS.items():
        value = data.get(name)
        if value is None:
            value = ""
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            errors[name] = ["must be a string"]
            continue
        value = str(value).strip()
        if text_problem(value):
            errors[name] = [text_problem(value)]
        elif len(value) > limit:
            errors[name] = [f"must be at most {limit} characters (got {len(value)})"]
        clean[name] = value
    if not clean.get("rma_id") and "rma_id" not in errors:
        errors["rma_id"] = ["this field is required"]

    finding = data.get("finding") or RepairRecord.Finding.PENDING
    if not isinstance(finding, str) or finding.strip().lower() not in _FINDINGS:
        errors["finding"] = [f"{str(finding)[:40]!r} is not one of {', '.join(sorted(_FINDINGS))}"]
    else:
        clean["finding"] = finding.strip().lower()

    for name in ("received_on", "closed_on"):
        value = data.get(name)
        if value is None or value == "":
            clean[name] = None
            continue
        try:
            clean[name] = value if isinstance(value, date) else date.fromisoformat(str(value).strip())
        except ValueError:
            errors[name] = [f"{str(value)[:40]!r} is not a YYYY-MM-DD date"]
    if (
        not errors
        and clean["received_on"]
        and clean["closed_on"]
        and clean["closed_on"] < clean["received_on"]
    ):
        errors["closed_on"] = ["is before received_on"]
    return clean, errors


def _content_hash(clean: dict) -> str:
    payload = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in clean.items()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def repairs_upsert(*, rows: Sequence[Any]) -> list[ItemResult]:
    """Validate and upsert repair records keyed on rma_id, linking each to its ticket when known.

    A bad row is rejected with field errors and the good ones are written, in one transaction; a
    row identical to the stored record (and its ticket link) is left unchanged.
    """
    for attempt in range(3):
        try:
            return _upsert(rows)
        except IntegrityError:
            # A concurrent writer created one of our rma_ids; reading again sees it as an update.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def _upsert(rows: Sequence[Any]) -> list[ItemResult]:
    results: list[ItemResult] = []
    valid: list[tuple[int, dict]] = []
    for i, data in enumerate(rows):
        clean, errors = parse_repair(data)
        if errors:
            rma_id = data.get("rma_id") if isinstance(data, dict) else None
            echoed = None if rma_id is None else printable(str(rma_id))[:64]
            results.append(ItemResult(i, echoed, "rejected", errors=errors))
        else:
            valid.append((i, clean))

    keys = {(c["ticket_source"], c["ticket_external_id"]) for _, c in valid if c["ticket_external_id"]}
    tickets: dict[tuple[str, str], int] = {}
    by_source: dict[str, set[str]] = {}
    for source, external_id in keys:
        by_source.setdefault(source, set()).add(external_id)
    for source, ids in by_source.items():
        for pk, external_id in Ticket.objects.filter(source=source, external_id__in=ids).values_list(
            "id", "external_id"
        ):
            tickets[(source, external_id)] = pk

    records = {
        r.rma_id: r
        for r in RepairRecord.objects.select_for_update().filter(rma_id__in=[c["rma_id"] for _, c in valid])
    }
    now = timezone.now()
    created: dict[str, RepairRecord] = {}
    updated: dict[str, RepairRecord] = {}
    outcomes: list[tuple[int, str, str]] = []
    for i, clean in valid:
        rma_id = clean["rma_id"]
        ticket_id = tickets.get((clean["ticket_source"], clean["ticket_external_id"]))
        content_hash = _content_hash(clean)
        record = created.get(rma_id) or records.get(rma_id)
        if record is None:
            record = RepairRecord(**clean, ticket_id=ticket_id, content_hash=content_hash)
            created[rma_id] = record
            outcomes.append((i, rma_id, "created"))
        elif record.content_hash == content_hash and record.ticket_id == ticket_id:
            outcomes.append((i, rma_id, "unchanged"))
        else:
            for name, value in clean.items():
                setattr(record, name, value)
            record.ticket_id = ticket_id
            record.content_hash = content_hash
            record.updated_at = now
            if rma_id not in created:
                updated[rma_id] = record
            outcomes.append((i, rma_id, "updated"))

    RepairRecord.objects.bulk_create(list(created.values()))
    if updated:
        RepairRecord.objects.bulk_update(list(updated.values()), _UPDATED_FIELDS)
    stored = {**records, **created}
    results.extend(ItemResult(i, rma_id, status, id=stored[rma_id].id) for i, rma_id, status in outcomes)
    results.sort(key=lambda r: r.index)
    return results


def repair_edit(*, record_id: int, body: dict, partial: bool) -> ItemResult:
    """Merge ``body`` into the stored record (partial) or replace it; rma_id stays.

    Read and written under the record's row lock, so an edit made meanwhile is not written back as
    it was. Raises RepairIdentityError when the body tries to change the rma_id."""
    with transaction.atomic():
        record = RepairRecord.objects.select_for_update().get(pk=record_id)
        if "rma_id" in body and body["rma_id"] != record.rma_id:
            raise RepairIdentityError({"rma_id": ["cannot be changed; it identifies the record"]})
        stored = {name: getattr(record, name) for name in FIELDS}
        row = {**stored, **body} if partial else {**body, "rma_id": record.rma_id}
        [result] = repairs_upsert(rows=[row])
    return result


class RepairIdentityError(ValueError):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors
