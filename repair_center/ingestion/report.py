"""What an import did, for the person who ran it: counts, how the file was read, and its rejects."""

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from repair_center import documents
from repair_center.services.catalogue import resolution_ids, resolution_names, spelled_alike
from repair_center.services.tickets import OUTCOMES, ItemResult

if TYPE_CHECKING:
    from repair_center.ingestion.files import TicketRow

KEPT_REJECTS = 20
KEPT_IGNORED = 50


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects: list[dict] = field(default_factory=list)  # the first KEPT_REJECTS, for display
    ignored_columns: set[str] = field(default_factory=set)
    read_as: str = ""  # how the file was read, where that needs saying: "semicolon-separated"
    trimmed: int = 0  # CSV rows without the empty cells at their end, read as blank (csv_records.RowLengths)
    undecodable: int = 0  # rows rejected because their bytes are not the file's encoding
    numbered: list[str] = field(default_factory=list)  # columns the header names twice, numbered
    # An event log's tickets over documents.MAX_EVENTS: how many, and the first few (ticket, left out)
    long_histories: int = 0
    long_history_examples: list[tuple[Any, int]] = field(default_factory=list)
    # Resolutions read as a code they are another name of (an alias, a spelling): (name, code)
    respelled: Counter[tuple[str, str]] = field(default_factory=Counter)
    recognised: list[str] = field(default_factory=list)  # read by a column's name: "'Key' as external_id"
    unread_keys: str = ""  # mapped JSON keys or paths no record had (recognise.KeyTracker)
    row_keyed: int = 0  # tickets keyed by file name and row: the file gave them no id
    row_keyed_example: str = ""
    repeated: int = 0  # rows whose id an earlier row of the same file had
    repeated_examples: list[tuple[Any, int]] = field(default_factory=list)  # (id, row)

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in OUTCOMES}

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + self.rejected

    def summary(self) -> str:
        return ", ".join(f"{name} {count}" for name, count in self.counts().items())

    def details(self, rejects_path=None) -> list[str]:
        """How the file was read, ignored columns and the first rejects, one line each, for a person."""
        lines = [f"read as {self.read_as}"] if self.read_as else []
        if self.trimmed:
            lines.append(
                f"{self.trimmed} rows hold fewer values than the header: this file leaves out the empty "
                "cells at the end of a row, so the columns they lack were read as blank"
            )
        if self.numbered:
            lines.append(
                f"columns the header names more than once, numbered: {', '.join(self.numbered[:10])}"
            )
        if self.recognised:
            lines.append(f"read by their names (--map overrides): {', '.join(self.recognised)}")
        if self.ignored_columns:
            lines.append(f"ignored columns: {', '.join(sorted(self.ignored_columns))}")
        if self.unread_keys:
            lines.append(self.unread_keys)
        lines.extend(self._keying())
        for entry in self.rejects:
            why = entry.get("reason") or "; ".join(f"{k}: {' '.join(v)}" for k, v in entry["errors"].items())
            lines.append(f"row {entry['row']} rejected: {why}")
        if self.rejected > len(self.rejects):
            more = self.rejected - len(self.rejects)
            lines.append(f"... and {more} more" + (f" (all in {rejects_path})" if rejects_path else ""))
        if self.long_histories:
            some = ", ".join(
                f"{ticket} ({count} older left out)" for ticket, count in self.long_history_examples
            )
            more = ", ..." if self.long_histories > len(self.long_history_examples) else ""
            lines.append(
                f"{self.long_histories} tickets have more than {documents.MAX_EVENTS} events in the log: "
                f"the latest {documents.MAX_EVENTS} of each were kept: {some}{more}"
            )
        if self.respelled:
            shown = ", ".join(
                f"{spelling!r} as {code!r} ({count})"
                for (spelling, code), count in self.respelled.most_common(10)
            )
            more = ", ..." if len(self.respelled) > 10 else ""
            lines.append(
                "resolutions read as the catalogue code they are another name of (an alias, or the same "
                "but for case or spacing): "
                f"{shown}{more}"
            )
        if self.undecodable:
            lines.append(
                f"{self.undecodable} rows are not in the encoding the file was read in: if it was saved in "
                "another one, give it with --encoding (cp932, gbk, euc-kr, cp1251, latin-1, ...)"
            )
        return lines

    def _keying(self) -> list[str]:
        """What a person must know about how the tickets were keyed: by row, or one id twice."""
        lines = []
        if self.row_keyed:
            lines.append(
                f"{self.row_keyed} tickets have no id in the file, so they are keyed by file name and row "
                f"({self.row_keyed_example}, ...): a changed or re-sorted export of this file imported "
                "again would overwrite them by position; map the export's ticket id with "
                "--map external_id=COLUMN"
            )
        if self.repeated:
            some = ", ".join(f"{key!r} (row {row})" for key, row in self.repeated_examples)
            more = ", ..." if self.repeated > len(self.repeated_examples) else ""
            lines.append(
                f"{self.repeated} rows repeat the id of an earlier row of this file, and each updated the "
                f"same record: {some}{more}; if that column is not the ticket's own id, map the right "
                "one with --map external_id=COLUMN"
            )
        return lines


class RejectsLog:
    """Counts rejected rows on the report and appends them to the rejects file, if one was given."""

    def __init__(self, path: str | Path | None, report: ImportReport):
        self.report = report
        self.handle: TextIO | None = open(path, "w", encoding="utf-8") if path else None  # noqa: SIM115

    def add(self, row: int, external_id: Any, *, reason: str = "", errors: dict | None = None, data=None):
        entry: dict[str, Any] = {"row": row, "external_id": external_id}
        if errors:
            entry["errors"] = errors
        else:
            entry["reason"] = reason
        entry["data"] = data
        self.report.rejected += 1
        self.report.undecodable += reason.startswith("not valid ")
        if len(self.report.rejects) < KEPT_REJECTS:
            self.report.rejects.append(entry)
        if self.handle:
            self.handle.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")

    def refuse(self, entry: "TicketRow") -> None:
        """A file item that could not be read: its reason, or its errors by field."""
        if isinstance(entry.error, dict):
            self.add(entry.row, entry.external_id, errors=entry.error, data=entry.data)
        else:
            self.add(entry.row, entry.external_id, reason=entry.error or "", data=entry.data)

    def close(self) -> None:
        if self.handle:
            self.handle.close()


def note_respelled(report: ImportReport, docs: Sequence[dict], results: Sequence[ItemResult]) -> None:
    """Count the written documents whose resolution was read as a code named another way: an alias,
    or a spelling that differs only in case and spacing."""
    used = Counter(
        docs[r.index]["resolution"]
        for r in results
        if r.status != "rejected" and isinstance(docs[r.index].get("resolution"), str)
    )
    codes = resolution_ids()
    if not used.keys() - codes.keys():
        return
    names = resolution_names()
    code_of = {pk: code for code, pk in codes.items()}
    alike = spelled_alike([name for name in used if name not in names], names)
    for name, count in used.items():  # in the order the file first uses them
        pk = None if name in codes else names.get(name) or alike.get(name)
        if pk is not None:
            report.respelled[(name, code_of[pk])] += count
