"""Importing the catalogue (sites, elements, error codes, aliases, resolutions) from a folder of CSVs.

Each file is an idempotent upsert on its natural key (code, serial, vendor + raw_code): a row
equal to the stored one is unchanged, a bad row is rejected with its reasons and the rest load.
Files load in dependency order so that elements find their sites and aliases their codes.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from repair_center.ingestion import readers
from repair_center.ingestion.report import ImportReport, RejectsLog
from repair_center.models import (
    RESOLUTION_CODE_LENGTH,
    ErrorCode,
    ErrorCodeAlias,
    NetworkElement,
    ResolutionCode,
    Site,
)

BATCH_SIZE = 1000
CLIMATES = ("coastal", "hot", "cold", "urban")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}

Values = dict[str, Any]
Errors = dict[str, list[str]]


@dataclass(frozen=True)
class CatalogueFile:
    name: str
    model: type[models.Model]
    key: tuple[str, ...]
    columns: tuple[str, ...]
    clean: Callable[[dict, "_Lookups"], tuple[Values, Errors]]


class _Lookups:
    """Ids of sites and error codes, read once per batch for the rows that refer to them."""

    def site_ids(self, codes: set[str]) -> dict[str, int]:
        return dict(Site.objects.filter(code__in=codes).values_list("code", "id"))

    def code_ids(self, codes: set[str]) -> dict[str, int]:
        return dict(ErrorCode.objects.filter(code__in=codes).values_list("code", "id"))


def _text(row: dict, name: str, errors: Errors, limit: int, *, required: bool = False) -> str:
    value = (row.get(name) or "").strip()
    if required and not value:
        errors.setdefault(name, []).append("this field is required")
    elif len(value) > limit:
        errors.setdefault(name, []).append(f"must be at most {limit} characters (got {len(value)})")
    return value


def _choice(row: dict, name: str, errors: Errors, choices, default: str) -> str:
    value = (row.get(name) or "").strip().lower() or default
    if value not in choices:
        listed = ", ".join(choice for choice in choices if choice)
        errors.setdefault(name, []).append(f"{value[:40]!r} is not one of {listed}")
    return value


def _number(row: dict, name: str, errors: Errors, low: float, high: float, cast=float):
    value = (row.get(name) or "").strip()
    if not value:
        return None
    try:
        number = cast(value)
    except ValueError:
        errors.setdefault(name, []).append(f"{value[:40]!r} is not a number")
        return None
    if not low <= number <= high:
        errors.setdefault(name, []).append(f"must be between {low:g} and {high:g}")
    return number


def _clean_site(row: dict, _: _Lookups) -> tuple[Values, Errors]:
    errors: Errors = {}
    values = {
        "code": _text(row, "code", errors, 64, required=True),
        "name": _text(row, "name", errors, 200),
        "region": _text(row, "region", errors, 100),
        "climate": _choice(row, "climate", errors, ("", *CLIMATES), ""),
        "tier": _choice(row, "tier", errors, Site.Tier.values, Site.Tier.CELL_SITE),
        "latitude": _number(row, "latitude", errors, -90, 90),
        "longitude": _number(row, "longitude", errors, -180, 180),
        "needs_curation": False,
    }
    # Optional columns: a file without them leaves what the admin or an earlier file stored.
    if "address" in row:
        values["address"] = _text(row, "address", errors, 300)
    if "access_notes" in row:
        values["access_notes"] = (row.get("access_notes") or "").strip()
    return values, errors


def _clean_element(row: dict, _: _Lookups) -> tuple[Values, Errors]:
    errors: Errors = {}
    installed = (row.get("installed_on") or "").strip()
    installed_on = None
    if installed:
        try:
            installed_on = date.fromisoformat(installed)
        except ValueError:
            errors["installed_on"] = [f"{installed[:40]!r} is not a YYYY-MM-DD date"]
    values = {
        "serial": _text(row, "serial", errors, 120, required=True),
        "site": _text(row, "site", errors, 64, required=True),
        "name": _text(row, "name", errors, 120),
        "kind": _choice(row, "kind", errors, NetworkElement.Kind.values, NetworkElement.Kind.OTHER),
        "vendor": _text(row, "vendor", errors, 64),
        "model": _text(row, "model", errors, 120),
        "software_version": _text(row, "software_version", errors, 64),
        "installed_on": installed_on,
    }
    return values, errors


def _clean_error_code(row: dict, _: _Lookups) -> tuple[Values, Errors]:
    errors: Errors = {}
    values = {
        "code": _text(row, "code", errors, 64, required=True),
        "domain": _choice(row, "domain", errors, ErrorCode.Domain.values, ErrorCode.Domain.OTHER),
        "severity": _choice(row, "severity", errors, ErrorCode.Severity.values, ErrorCode.Severity.MAJOR),
        "description": (row.get("description") or "").strip(),
        "recommended_checks": (row.get("recommended_checks") or "").strip(),
    }
    return values, errors


def _clean_alias(row: dict, _: _Lookups) -> tuple[Values, Errors]:
    errors: Errors = {}
    values = {
        "vendor": _text(row, "vendor", errors, 64, required=True),
        "raw_code": _text(row, "raw_code", errors, 64, required=True),
        "error_code": _text(row, "code", errors, 64, required=True),
    }
    return values, errors


def _clean_resolution(row: dict, _: _Lookups) -> tuple[Values, Errors]:
    errors: Errors = {}
    visit = (row.get("needs_site_visit") or "").strip().lower()
    if visit not in _TRUE | _FALSE:
        errors["needs_site_visit"] = [f"{visit[:40]!r} is not true or false"]
    steps = "\n".join(line.strip() for line in (row.get("steps") or "").splitlines() if line.strip())
    values = {
        "code": _text(row, "code", errors, RESOLUTION_CODE_LENGTH, required=True),
        "title": _text(row, "title", errors, 200),
        "steps": steps,
        "needs_site_visit": visit in _TRUE,
        "typical_duration_minutes": _number(row, "typical_duration_minutes", errors, 0, 2**31 - 1, int),
        "needs_curation": False,
    }
    values["title"] = values["title"] or values["code"]
    return values, errors


FILES = (
    CatalogueFile(
        "sites.csv",
        Site,
        ("code",),
        ("code", "name", "region", "climate", "tier", "latitude", "longitude", "address", "access_notes"),
        _clean_site,
    ),
    CatalogueFile(
        "elements.csv",
        NetworkElement,
        ("serial",),
        ("serial", "site", "name", "kind", "vendor", "model", "software_version", "installed_on"),
        _clean_element,
    ),
    CatalogueFile(
        "error_codes.csv",
        ErrorCode,
        ("code",),
        ("code", "domain", "severity", "description", "recommended_checks"),
        _clean_error_code,
    ),
    CatalogueFile(
        "error_code_aliases.csv",
        ErrorCodeAlias,
        ("vendor", "raw_code"),
        ("vendor", "raw_code", "code"),
        _clean_alias,
    ),
    CatalogueFile(
        "resolutions.csv",
        ResolutionCode,
        ("code",),
        ("code", "title", "steps", "needs_site_visit", "typical_duration_minutes"),
        _clean_resolution,
    ),
)


def import_catalogue_dir(directory: str | Path) -> dict[str, ImportReport]:
    """Load the catalogue files present in ``directory``, in dependency order; reports by file name.

    Every present file's header is checked first, so a file that cannot be read stops the import
    before anything is written (FileUnreadable).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise readers.FileUnreadable(f"{directory}: not a directory")
    present = [spec for spec in FILES if (directory / spec.name).is_file()]
    if not present:
        names = ", ".join(spec.name for spec in FILES)
        raise readers.FileUnreadable(f"{directory}: none of {names} is there")
    for spec in present:
        header = readers.csv_columns(directory / spec.name)
        missing = [column for column in spec.key if column not in header]
        if spec.name == "error_code_aliases.csv" and "code" not in header:
            missing.append("code")
        if missing:
            raise readers.FileUnreadable(f"{spec.name}: the header lacks {', '.join(missing)}")
    return {spec.name: _import_file(directory / spec.name, spec) for spec in present}


def _import_file(path: Path, spec: CatalogueFile) -> ImportReport:
    report = ImportReport()
    header = readers.csv_columns(path)
    report.ignored_columns = set(header) - set(spec.columns) - {""}
    rejects = RejectsLog(None, report)
    lookups = _Lookups()
    batch: list[tuple[int, Values]] = []
    rows = readers.read_rows(path)
    try:
        for row in rows:
            if row.data is None:
                rejects.add(row.number, None, reason=row.reason, data=row.raw)
                continue
            values, errors = spec.clean(row.data, lookups)
            errors |= readers.footer_errors(row)  # "Total: 12 sites" under the last would be a site
            if errors:
                rejects.add(row.number, _key_text(spec, values), errors=errors, data=row.data)
                continue
            batch.append((row.number, values))
            if len(batch) >= BATCH_SIZE:
                _upsert_batch(spec, batch, lookups, report, rejects)
                batch = []
        if batch:
            _upsert_batch(spec, batch, lookups, report, rejects)
    finally:
        rows.close()
    report.trimmed = rows.lengths.trimmed if rows.lengths else 0
    return report


def _key_text(spec: CatalogueFile, values: Values) -> str:
    return ":".join(str(values.get(name, "")) for name in spec.key)


@transaction.atomic
def _upsert_batch(spec: CatalogueFile, batch, lookups: _Lookups, report: ImportReport, rejects) -> None:
    # Foreign keys by natural key: an element names its site, an alias its curated code.
    if spec.model is NetworkElement:
        sites = lookups.site_ids({values["site"] for _, values in batch})
        batch = _resolve(batch, "site", sites, "unknown site code {!r}; add it to sites.csv", rejects, spec)
    elif spec.model is ErrorCodeAlias:
        codes = lookups.code_ids({values["error_code"] for _, values in batch})
        batch = _resolve(
            batch, "error_code", codes, "unknown error code {!r}; add it to error_codes.csv", rejects, spec
        )

    existing = _existing(spec, [values for _, values in batch])
    now = timezone.now()
    has_updated_at = any(f.name == "updated_at" for f in spec.model._meta.fields)
    to_create: dict[tuple, models.Model] = {}
    to_update: dict[tuple, models.Model] = {}
    for _, values in batch:
        key = tuple(values[name] for name in spec.key)
        obj = to_create.get(key) or existing.get(key)
        if obj is None:
            to_create[key] = spec.model(**values)
            report.created += 1
        elif all(getattr(obj, name) == value for name, value in values.items()):
            report.unchanged += 1
        else:
            for name, value in values.items():
                setattr(obj, name, value)
            if has_updated_at:
                obj.updated_at = now
            if key not in to_create:
                to_update[key] = obj
            report.updated += 1
    spec.model.objects.bulk_create(list(to_create.values()))
    if to_update:
        fields = [name for name in batch[0][1] if name not in spec.key]
        spec.model.objects.bulk_update(
            list(to_update.values()), [*fields, "updated_at"] if has_updated_at else fields
        )


def _resolve(batch, name: str, ids: dict[str, int], message: str, rejects, spec) -> list:
    kept = []
    for number, values in batch:
        ref = values.pop(name)
        if ref in ids:
            values[f"{name}_id"] = ids[ref]
            kept.append((number, values))
        else:
            rejects.add(number, _key_text(spec, values), errors={name: [message.format(ref)]}, data=values)
    return kept


def _existing(spec: CatalogueFile, rows: list[Values]) -> dict[tuple, models.Model]:
    manager = spec.model.objects.select_for_update()
    if spec.key == ("vendor", "raw_code"):
        vendors = {values["vendor"] for values in rows}
        raws = {values["raw_code"] for values in rows}
        found = manager.filter(vendor__in=vendors, raw_code__in=raws)
    else:
        [name] = spec.key
        found = manager.filter(**{f"{name}__in": [values[name] for values in rows]})
    return {tuple(getattr(obj, name) for name in spec.key): obj for obj in found}
