"""Mapping raw vendor codes onto the curated catalogue, and recording the ones nobody knows yet."""

from collections import Counter
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import F, Q

from repair_center.models import (
    ErrorCode,
    ErrorCodeAlias,
    ResolutionAlias,
    ResolutionCode,
    TicketErrorCode,
    TicketEvent,
    UnmappedCode,
    UnmappedEventKind,
)


class CodeMapper:
    """Resolves raw codes to ErrorCode ids: curated code first, then the vendor's alias, then any
    vendor's alias when only one vendor uses that raw code. Loaded once per import batch."""

    def __init__(self) -> None:
        self.curated: dict[str, int] = dict(ErrorCode.objects.values_list("code", "id"))
        self.by_vendor: dict[tuple[str, str], int] = {}
        by_raw: dict[str, set[int]] = {}
        for vendor, raw_code, code_id in ErrorCodeAlias.objects.values_list(
            "vendor", "raw_code", "error_code_id"
        ):
            self.by_vendor[(vendor.lower(), raw_code)] = code_id
            by_raw.setdefault(raw_code, set()).add(code_id)
        self.unambiguous: dict[str, int] = {raw: ids.pop() for raw, ids in by_raw.items() if len(ids) == 1}

    def map(self, raw_code: str, vendor: str = "") -> int | None:
        if raw_code in self.curated:
            return self.curated[raw_code]
        if vendor:
            found = self.by_vendor.get((vendor.lower(), raw_code))
            if found is not None:
                return found
        return self.unambiguous.get(raw_code)


def record_unmapped(occurrences: Counter[tuple[str, str]]) -> None:
    """Count raw codes that map to nothing, so admins can curate them; never drops them."""
    if not occurrences:
        return
    UnmappedCode.objects.bulk_create(
        [UnmappedCode(vendor=vendor, raw_code=raw) for vendor, raw in occurrences],
        ignore_conflicts=True,
    )
    if connection.vendor == "postgresql":
        # One statement for the whole batch: an alarm storm carries dozens of unknown codes at once.
        vendors, raws, counts = zip(*((v, r, n) for (v, r), n in occurrences.items()), strict=True)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {UnmappedCode._meta.db_table} AS u SET occurrences = u.occurrences + c.n, "  # noqa: S608
                "last_seen = now() FROM unnest(%s::text[], %s::text[], %s::int[]) AS c(vendor, raw_code, n) "
                "WHERE u.vendor = c.vendor AND u.raw_code = c.raw_code",
                [list(vendors), list(raws), list(counts)],
            )
        return
    for (vendor, raw), count in occurrences.items():
        UnmappedCode.objects.filter(vendor=vendor, raw_code=raw).update(occurrences=F("occurrences") + count)


def record_unknown_event_kinds(occurrences: Counter[str]) -> None:
    """Count event kinds outside the built-in list, so admins can review them; the events keep them."""
    if not occurrences:
        return
    UnmappedEventKind.objects.bulk_create(
        [UnmappedEventKind(kind=kind) for kind in occurrences], ignore_conflicts=True
    )
    for kind, count in occurrences.items():
        UnmappedEventKind.objects.filter(kind=kind).update(occurrences=F("occurrences") + count)


def resolution_ids() -> dict[str, int]:
    return dict(ResolutionCode.objects.values_list("code", "id"))


def resolution_names() -> dict[str, int]:
    """Resolution ids by every name a fix goes by: its code and its aliases."""
    return {**dict(ResolutionAlias.objects.values_list("alias", "resolution_id")), **resolution_ids()}


def resolution_key(code: str) -> str:
    """A resolution code as hand-typed exports vary it: case, runs of spaces and underscores do not
    matter (``Replace SFP``, ``replace  sfp`` and ``REPLACE_SFP`` are one fix); hyphens and other
    punctuation do (``Re-seat`` is not ``Reseat``)."""
    return " ".join(code.replace("_", " ").split()).casefold()


def spelled_alike(values: Iterable[str], names: dict[str, int]) -> dict[str, int]:
    """Of ``values`` that are not names themselves, those spelled like the names of exactly one fix
    (by ``resolution_key``), with its id. One spelled like two fixes stays unknown."""
    matches = _spelled_like(values, names)
    return {value: names[found[0]] for value, found in matches.items() if len({names[n] for n in found}) == 1}


def spelled_like_several(values: Iterable[str], names: dict[str, int]) -> dict[str, list[str]]:
    """Of ``values`` that are not names themselves, those spelled like two fixes or more, with their names."""
    matches = _spelled_like(values, names)
    return {value: found for value, found in matches.items() if len({names[n] for n in found}) > 1}


def several_codes_error(spelling: str, codes: Iterable[str]) -> str:
    listed = ", ".join(repr(code) for code in codes)
    return (
        f"{spelling!r} is spelled like several resolution codes ({listed}) but for case or spacing; "
        "give one of them exactly"
    )


def _spelled_like(values: Iterable[str], names: dict[str, int]) -> dict[str, list[str]]:
    by_key: dict[str, list[str]] = {}
    for name in sorted(names):
        by_key.setdefault(resolution_key(name), []).append(name)
    return {
        value: by_key[resolution_key(value)]
        for value in values
        if value not in names and resolution_key(value) in by_key
    }


def resolution_id(name: str, names: dict[str, int]) -> int | None:
    """The id of the fix ``name`` names among ``names`` (``resolution_names()``): a code, an alias, or
    a spelling of exactly one fix's (``spelled_alike``)."""
    return names.get(name) or spelled_alike([name], names).get(name)


def find_resolution(name: str) -> ResolutionCode | None:
    """The fix ``name`` names: a code, an alias, or a spelling of exactly one fix's."""
    pk = resolution_id(name, resolution_names())
    return ResolutionCode.objects.get(pk=pk) if pk else None


# The advisory lock key under which new resolution codes are made ("TAIRES" in ASCII).
_NEW_RESOLUTIONS_LOCK = 0x544149524553


def create_missing_resolutions(spellings: Counter[str]) -> dict[str, int]:
    """Add the unknown resolution codes among ``spellings`` (how often each is used) to the
    catalogue, flagged for curation: one code for the spellings that differ only as
    ``resolution_key`` allows, spelled as most of them are (the first in order on a tie). Returns
    ``resolution_names()`` as they are then.

    Two imports at once could each make a code for their own spelling of one new fix, since neither
    sees the other's before it commits. On PostgreSQL the code-making is taken in turns: a
    transaction-scoped advisory lock, held until the caller's transaction commits, and the catalogue
    is read after it is taken, so the second import finds the first one's code."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_NEW_RESOLUTIONS_LOCK])
    known = {resolution_key(name) for name in resolution_names()}
    groups: dict[str, list[str]] = {}
    for spelling in sorted(spellings):
        if resolution_key(spelling) not in known:
            groups.setdefault(resolution_key(spelling), []).append(spelling)
    chosen = [max(group, key=spellings.__getitem__) for group in groups.values()]  # max keeps the first
    ResolutionCode.objects.bulk_create(
        [ResolutionCode(code=code, title=code, needs_curation=True) for code in chosen],
        ignore_conflicts=True,
    )
    return resolution_names()


@transaction.atomic
def remap_unmapped_codes() -> int:
    """After new aliases or codes were curated, point stored unmapped ticket codes and event codes at
    them, and drop the curation entries that now map. Returns how many code and event rows were re-mapped."""
    mapper = CodeMapper()
    updated = 0
    for model in (TicketErrorCode, TicketEvent):
        pending = (
            model.objects.filter(error_code__isnull=True)
            .exclude(raw_code="")
            .values_list("raw_code", "ticket__element__vendor")
            .distinct()
        )
        for raw_code, vendor in list(pending):
            code_id = mapper.map(raw_code, vendor or "")
            if code_id is None:
                continue
            rows = model.objects.filter(error_code__isnull=True, raw_code=raw_code)
            if vendor:
                rows = rows.filter(ticket__element__vendor=vendor)
            else:
                rows = rows.filter(Q(ticket__element__isnull=True) | Q(ticket__element__vendor=""))
            updated += rows.update(error_code_id=code_id)
    for unmapped in list(UnmappedCode.objects.all()):
        if mapper.map(unmapped.raw_code, unmapped.vendor) is not None:
            unmapped.delete()
    return updated
