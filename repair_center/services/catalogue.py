"""Mapping raw vendor codes onto the curated catalogue, and recording the ones nobody knows yet."""

from collections import Counter
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import F, Q

from repair_center.models import (
    ErrorCode,
    ErrorCodeAlias,
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


def resolution_key(code: str) -> str:
    """A resolution code as hand-typed exports vary it: case, runs of spaces and underscores do not
    matter (``Replace SFP``, ``replace  sfp`` and ``REPLACE_SFP`` are one fix); hyphens and other
    punctuation do (``Re-seat`` is not ``Reseat``)."""
    return " ".join(code.replace("_", " ").split()).casefold()


def spelled_alike(values: Iterable[str], codes: dict[str, int]) -> dict[str, int]:
    """Of ``values`` that are not codes themselves, those spelled like exactly one of ``codes`` (by
    ``resolution_key``), with that code's id. One spelled like two codes stays unknown."""
    matches = _spelled_like(values, codes)
    return {value: codes[found[0]] for value, found in matches.items() if len(found) == 1}


def spelled_like_several(values: Iterable[str], codes: dict[str, int]) -> dict[str, list[str]]:
    """Of ``values`` that are not codes themselves, those spelled like two codes or more, with them."""
    return {value: found for value, found in _spelled_like(values, codes).items() if len(found) > 1}


def several_codes_error(spelling: str, codes: Iterable[str]) -> str:
    listed = ", ".join(repr(code) for code in codes)
    return (
        f"{spelling!r} is spelled like several resolution codes ({listed}) but for case or spacing; "
        "give one of them exactly"
    )


def _spelled_like(values: Iterable[str], codes: dict[str, int]) -> dict[str, list[str]]:
    by_key: dict[str, list[str]] = {}
    for code in sorted(codes):
        by_key.setdefault(resolution_key(code), []).append(code)
    return {
        value: by_key[resolution_key(value)]
        for value in values
        if value not in codes and resolution_key(value) in by_key
    }


def find_resolution(code: str) -> ResolutionCode | None:
    """The catalogue's code ``code``, or the one code spelled like it (``spelled_alike``)."""
    exact = ResolutionCode.objects.filter(code=code).first()
    if exact is not None:
        return exact
    found = spelled_alike([code], resolution_ids())
    return ResolutionCode.objects.get(pk=found[code]) if found else None


def create_missing_resolutions(spellings: Counter[str]) -> dict[str, int]:
    """Add the unknown resolution codes among ``spellings`` (how often each is used) to the
    catalogue, flagged for curation: one code for the spellings that differ only as
    ``resolution_key`` allows, spelled as most of them are (the first in order on a tie)."""
    known = {resolution_key(code) for code in resolution_ids()}
    groups: dict[str, list[str]] = {}
    for spelling in sorted(spellings):
        if resolution_key(spelling) not in known:
            groups.setdefault(resolution_key(spelling), []).append(spelling)
    chosen = [max(group, key=lambda s: (spellings[s], -group.index(s))) for group in groups.values()]
    ResolutionCode.objects.bulk_create(
        [ResolutionCode(code=code, title=code, needs_curation=True) for code in chosen],
        ignore_conflicts=True,
    )
    return resolution_ids()


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
