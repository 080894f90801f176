"""Which file column or key each field is read from: ``--map FIELD=COLUMN`` on the command line,
checked against the fields a record has, and applied to one record."""

import unicodedata
from typing import Any


def parse_mapping(
    items: list[str] | None, fields: tuple[str, ...], *, prefixes: tuple[str, ...] = ()
) -> dict[str, str]:
    """``["title=Summary", ...]`` from the command line as {canonical field: file column}."""
    mapping: dict[str, str] = {}
    for item in items or []:
        name, sep, column = item.partition("=")
        name, column = name.strip(), unicodedata.normalize("NFC", column.strip())  # as headers are read
        # FIELD= (no column) reads the field from nowhere: a column that happens to carry a field's
        # name (opened_at in a file whose dates are unusable) is then left alone.
        if not sep or not name:
            raise ValueError(f"--map {item!r}: give FIELD=COLUMN (or FIELD= to read it from no column)")
        mapping[name] = column
    check_mapping(mapping, fields, prefixes=prefixes)
    return mapping


def check_mapping(
    mapping: dict[str, str], fields: tuple[str, ...], *, prefixes: tuple[str, ...] = ()
) -> None:
    """Every mapped name is a field, or a prefix (``attributes.``) followed by a name."""
    unknown = sorted(
        name
        for name in mapping
        if name not in fields and not any(name.startswith(p) and len(name) > len(p) for p in prefixes)
    )
    if unknown:
        known = ", ".join([*fields, *(f"{p}NAME" for p in prefixes)])
        raise ValueError(f"unknown field(s) in the mapping: {', '.join(unknown)}; known: {known}")


def pick_fields(
    data: dict, mapping: dict[str, str], fields: tuple[str, ...], *, text: bool, taken: set[str] | None = None
) -> dict:
    """A record as {field: value}, each field from its mapped column or key (default: its own name).

    A column ``--map`` names (``taken``: the mapping's columns unless given) is read only where the
    mapping says: with ``--map resolution=priority`` the field ``priority`` does not also read the
    column ``priority``, which would put the label into the model's input. Other columns and keys
    are left out (the importer reports their names). With ``text`` (CSV), blank cells count as absent.
    """
    taken = set(mapping.values()) if taken is None else taken
    picked = {}
    for name in fields:
        if name not in mapping and name in taken:
            continue
        found, value = lookup(data, mapping.get(name, name))
        if found:
            if text and (value is None or value.strip() == ""):
                continue
            picked[name] = value
    return picked


def lookup(data: dict, column: str) -> tuple[bool, Any]:
    """(found, value) of ``column`` in a record: the key itself, else, in a nested record (a JSON
    export such as Jira's), a dotted path through its objects and lists: ``fields.status.name``,
    ``fields.components.0.name``."""
    if column in data:
        return True, data[column]
    if "." not in column:
        return False, None
    value: Any = data
    for part in column.split("."):
        if isinstance(value, list) and part.isascii() and part.isdigit() and int(part) < len(value):
            value = value[int(part)]  # a list by index: fields.components.0.name
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return False, None
    return True, value


def top_key(column: str, data: dict) -> str:
    """The record's own key ``column`` reads: itself, or the first part of a dotted path."""
    return column if column in data or "." not in column else column.split(".", 1)[0]


def near_misses(missing: list[str], header: list[str]) -> str:
    """'; did you mean ...' for mapped names that match a column but for case and spacing: names are
    matched exactly, so that two columns differing only in case stay two."""

    def key(name: str) -> str:
        return " ".join(unicodedata.normalize("NFC", name).casefold().split())

    near = {}
    for name in missing:
        found = [column for column in header if key(column) == key(name)]
        if len(found) == 1:
            near[name] = found[0]
    if not near:
        return ""
    return "; did you mean " + ", ".join(f"{column!r} for {name!r}" for name, column in near.items()) + "?"
