"""How a ticket becomes model input text: structure first, free text last.

Pure Python with no Django or torch imports: the edge agent carries it, and central imports it
from here (ml.core.serialization re-exports it), so the two cannot disagree. Bump SERIALIZATION_VERSION
on any change: bundles record the version they were trained with and refuse a mismatch.

Version 1 layout (one line, sections in this order, so truncation drops free text first):

    [site] climate=coastal tier=cell-site [unit] kind=radio-unit vendor=nordlink sw=R22.1 age=6y
    [codes] CPRI_LINK_DOWN SW_CRASH
    [events] -2h05m software_upgrade | -4m alarm_raised SFP_RX_LOW | +0m alarm_raised CPRI_LINK_DOWN
    [text] <title>. <description>

Event times are relative to the ticket's opening (or its last event when it has none), rounded
to readable buckets, so the encoder sees both the order and the spacing of events.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

SERIALIZATION_VERSION = 1
MAX_EVENTS = 24
MAX_TEXT_CHARS = 1200


def _parse(value) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def relative_time(seconds: float) -> str:
    """-7265 s -> '-2h01m'; buckets coarsen with distance so similar spacings share tokens."""
    sign = "-" if seconds < 0 else "+"
    minutes = int(abs(seconds) // 60)
    if minutes < 60:
        return f"{sign}{minutes}m"
    if minutes < 24 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{sign}{hours}h{(rest // 15) * 15:02d}m"
    return f"{sign}{minutes // (24 * 60)}d"


def _clean(text: str) -> str:
    return " ".join(str(text or "").split())


def serialize(
    ticket: Mapping,
    *,
    context: Mapping | None = None,
    code_map: Mapping[str, str] | None = None,
    include_text: bool = True,
    include_structure: bool = True,
) -> str:
    """Serialise a canonical ticket document (plus optional site/unit context) into model input.

    ``code_map`` maps raw vendor codes to curated codes (unmapped codes pass through unchanged).
    ``context`` may hold climate, tier, kind, vendor, software_version, age_years.
    """
    code_map = code_map or {}
    parts: list[str] = []
    if include_structure:
        ctx = context or {}
        site = [f"{key}={_clean(ctx[key])}" for key in ("climate", "tier") if ctx.get(key)]
        unit = [
            f"{label}={_clean(ctx[key])}"
            for key, label in (("kind", "kind"), ("vendor", "vendor"), ("software_version", "sw"))
            if ctx.get(key)
        ]
        if ctx.get("age_years") is not None:
            unit.append(f"age={int(ctx['age_years'])}y")
        if site:
            parts.append("[site] " + " ".join(site))
        if unit:
            parts.append("[unit] " + " ".join(unit))

        codes: Sequence[str] = ticket.get("error_codes") or ()
        if codes:
            parts.append("[codes] " + " ".join(code_map.get(c, c) for c in codes))

        events = list(ticket.get("events") or ())[-MAX_EVENTS:]
        if events:
            times = [_parse(e.get("at")) for e in events]
            anchor = _parse(ticket.get("opened_at")) or next((t for t in reversed(times) if t), None)
            rendered = []
            for event, at in zip(events, times, strict=True):
                when = relative_time((at - anchor).total_seconds()) if at and anchor else "?"
                code = event.get("code")
                piece = f"{when} {event.get('kind', '')}"
                if code:
                    piece += f" {code_map.get(code, code)}"
                rendered.append(piece)
            parts.append("[events] " + " | ".join(rendered))

    if include_text:
        title = _clean(ticket.get("title"))
        description = _clean(ticket.get("description"))
        text = ". ".join(t for t in (title, description) if t)[:MAX_TEXT_CHARS]
        if text:
            parts.append("[text] " + text)
    return " ".join(parts) if parts else "[empty]"
