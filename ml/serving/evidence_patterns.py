"""Evidence in telecom terms: what past tickets with the same codes and alarm sequence were fixed by.

At training time (ml.training.patterns) every training ticket's patterns are counted against its
resolution: each curated code it carries ("CPRI_LINK_DOWN"), and each ordered pair of different
event codes at most PAIR_WINDOW_MIN apart ("SFP_RX_LOW then CPRI_LINK_DOWN"). The table, bounded
to MAX_PATTERNS patterns and MAX_FIXES resolutions each, is stored beside the model as
``patterns.json``. At serving time the ticket's own patterns are looked up and stated for the
recommended fix:

    SFP_RX_LOW 4 min before CPRI_LINK_DOWN: 87% of the 213 past tickets with this pattern were
    fixed by REPLACE_SFP
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE = "patterns.json"
FORMAT = 1
PAIR_WINDOW_MIN = 120
MAX_PATTERNS = 2000
MAX_FIXES = 5
MIN_TICKETS = 3  # a pattern seen on fewer past tickets says nothing worth stating
MAX_STATEMENTS = 3


@dataclass(frozen=True, slots=True)
class Pattern:
    key: str  # "code:CPRI_LINK_DOWN" or "pair:SFP_RX_LOW>CPRI_LINK_DOWN"
    codes: tuple[str, ...]
    gap_minutes: int | None = None  # for a pair, on this ticket


def _time(value) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value or "").strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def ticket_patterns(document: dict, code_map: dict | None = None) -> list[Pattern]:
    """The patterns of one ticket, codes curated through ``code_map`` as the model reads them."""
    code_map = code_map or {}
    out: dict[str, Pattern] = {}
    timed = []
    for event in document.get("events") or []:
        if isinstance(event, dict) and event.get("code"):
            code = str(code_map.get(event["code"], event["code"]))
            out.setdefault(f"code:{code}", Pattern(f"code:{code}", (code,)))
            at = _time(event.get("at"))
            if at is not None:
                timed.append((at, code))
    for raw in document.get("error_codes") or []:
        code = str(code_map.get(raw, raw))
        out.setdefault(f"code:{code}", Pattern(f"code:{code}", (code,)))
    timed.sort(key=lambda item: item[0])
    for i, (first_at, first) in enumerate(timed):
        for then_at, then in timed[i + 1 :]:
            gap = (then_at - first_at).total_seconds() / 60
            if gap > PAIR_WINDOW_MIN:
                break
            key = f"pair:{first}>{then}"
            if then != first and key not in out:  # the first, closest occurrence is the one stated
                out[key] = Pattern(key, (first, then), round(gap))
    return list(out.values())


def load(directory: Path) -> dict:
    """The stored table {key: {"tickets": n, "fixes": {resolution: count}}}; {} when none."""
    path = Path(directory) / FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        return {}
    return data.get("patterns") or {}


def _gap(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def _share(fixed: int, tickets: int) -> str:
    if fixed == tickets:
        return f"all {tickets} past tickets"
    percent = max(1, min(99, round(100 * fixed / tickets)))
    return f"{percent}% of the {tickets} past tickets"


def statements(table: dict, document: dict, code_map: dict | None, resolution: str) -> list[dict]:
    """Up to MAX_STATEMENTS facts about ``resolution`` from past tickets sharing this ticket's
    patterns: alarm sequences before single codes, then the larger share, then more tickets."""
    found: list[dict[str, Any]] = []
    for pattern in ticket_patterns(document, code_map):
        row = table.get(pattern.key)
        if not row or int(row.get("tickets", 0)) < MIN_TICKETS:
            continue
        tickets, fixed = int(row["tickets"]), int((row.get("fixes") or {}).get(resolution, 0))
        if fixed == 0:
            continue
        if len(pattern.codes) == 2:
            first, then = pattern.codes
            gap = pattern.gap_minutes or 0
            when = f"{_gap(gap)} before {then}" if gap else f"with {then}"
            text = f"{first} {when}: {_share(fixed, tickets)} with this pattern were fixed by {resolution}"
        else:
            text = f"{pattern.codes[0]}: {_share(fixed, tickets)} with this code were fixed by {resolution}"
        found.append(
            {
                "pattern": pattern.key,
                "codes": list(pattern.codes),
                "gap_minutes": pattern.gap_minutes,
                "resolution": resolution,
                "tickets": tickets,
                "fixed": fixed,
                "share": round(fixed / tickets, 4),
                "statement": text,
            }
        )
    found.sort(key=lambda s: (len(s["codes"]) != 2, -s["share"], -s["tickets"], s["pattern"]))
    return found[:MAX_STATEMENTS]
