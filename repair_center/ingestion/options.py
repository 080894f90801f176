"""The command-line options that say how to read a ticket file, shared by ``import_tickets`` and
``predict`` so that the options that imported an export also score the next one; ``--value-map`` and
``--encoding`` serve ``import_repairs`` and ``import_alarms`` too."""

from collections.abc import Sequence

from django.core.management.base import CommandError

from repair_center.documents import FIELDS
from repair_center.ingestion.mapping import parse_mapping
from repair_center.ingestion.ticket_rows import MAPPING_PREFIXES, split_mapping
from repair_center.ingestion.value_map import ValueMap, parse_value_map


def add_reading_arguments(parser) -> None:
    """--map, --missing, --value-map, --date-format and --encoding."""
    parser.add_argument(
        "--map",
        action="append",
        metavar="FIELD=COLUMN",
        help="Read FIELD from COLUMN (repeatable). FIELD is a document field, attributes.NAME for an "
        "extra field, or, for an event log (one row per event, folded by external_id), event.kind, "
        "event.at, event.code or event.attrs.NAME. See docs/data.md.",
    )
    parser.add_argument(
        "--missing",
        action="append",
        default=[],
        metavar="VALUE",
        help="A cell equal to VALUE is blank (an export's null marker such as '?' or NULL); repeatable.",
    )
    add_value_map_argument(
        parser,
        "status:7=closed for a system's numeric state or priority:Dringend=high",
        "a document field, attributes.NAME, event.kind or event.code",
    )
    parser.add_argument(
        "--date-format",
        default="",
        metavar="FORMAT",
        help="Read opened_at, resolved_at and event times in this strptime format (as UTC), e.g. "
        "'%%d-%%m-%%Y %%H:%%M', or epoch / epoch_ms for a Unix time in seconds / milliseconds; "
        "default: ISO 8601.",
    )
    add_encoding_argument(parser)


def add_value_map_argument(parser, example: str, fields: str) -> None:
    """--value-map, with an ``example`` of the command's own and the ``fields`` it maps, in words."""
    parser.add_argument(
        "--value-map",
        action="append",
        default=[],
        metavar="FIELD:SOURCE=TARGET",
        help=f"Read FIELD's value SOURCE as TARGET (repeatable; case does not matter), e.g. {example}; "
        f"an empty TARGET blanks the value. FIELD is {fields}.",
    )


def add_encoding_argument(parser) -> None:
    parser.add_argument(
        "--encoding",
        default="",
        metavar="NAME",
        help="Read a CSV or JSON file in this encoding (cp932, gbk, euc-kr, cp1251, latin-1, ...); "
        "default: UTF-8, or what the file's start shows: a UTF-16 or UTF-32 byte-order mark or NUL "
        "bytes, or (CSV) Windows-1252 when it is not UTF-8.",
    )


def reading_mapping(options: dict) -> dict[str, str]:
    """The --map entries as {field: column}, checked (CommandError naming a wrong one)."""
    try:
        mapping = parse_mapping(options["map"], FIELDS, prefixes=MAPPING_PREFIXES)
        split_mapping(mapping)
    except ValueError as e:
        raise CommandError(str(e)) from e
    return mapping


def reading_value_map(options: dict, fields: Sequence[str] | None = None) -> ValueMap:
    """The --value-map entries by field (a ticket's, or one of ``fields``), checked (CommandError
    naming a wrong one)."""
    try:
        return parse_value_map(options["value_map"], fields)
    except ValueError as e:
        raise CommandError(str(e)) from e
