"""How a ticket becomes model input text: structure first, free text last.

Pure Python with no Django or torch imports: the edge agent carries it, and central imports it
from here (ml.core.serialization re-exports it), so the two cannot disagree. Bump SERIALIZATION_VERSION
on any change: bundles record the version they were trained with and refuse a mismatch.

Version 2 layout (one line, sections in this order, so truncation drops free text first):

    [site] code=S-0042 region=north climate=coastal tier=cell-site
    [unit] kind=radio-unit vendor=nordlink sw=R22.1 age=6y
    [attrs] category=Network impact=2_-_Medium
    [codes] CPRI_LINK_DOWN SW_CRASH
    [events] -2h05m software_upgrade | -4m alarm_raised SFP_RX_LOW rx_dbm~-20 | ? Resolved
    [text] <title>. <description>

Event times are relative to the ticket's opening (or its last event when it has none), rounded
to readable buckets, so the encoder sees both the order and the spacing of events; an event
without a time shows "?". Attributes (the export's extra fields) and scalar event attributes
become ``name=value`` tokens; numbers are bucketed to two significant digits (``name~value``),
so nearby readings share a token.

Version 3 leaves out events marked ``"scope": "site"`` (alarms correlated from elsewhere on the
ticket's site): they are context for the people working the ticket (the ticket page shows them) but
evidence about other equipment, often about other incidents at a busy site, so the model reads only
the ticket's own events and the alarms of its own element. Of a correlated alarm's attributes only
the severity is input: its alarm id, scope and alarmed object are bookkeeping (a database id, where
it was found, an equipment name the unit section already gives).

Version 4 also leaves out correlated alarms marked ``"unrelated": true``: alarms of the ticket's own
element that were not active when it opened (cleared before, or raised after) and belong to none of
its probable-cause families (repair_center/services/correlation.py). They are most likely other
incidents' on the same element; the ticket page still shows them.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

SERIALIZATION_VERSION = 4
MAX_EVENTS = 24
MAX_TEXT_CHARS = 1200
MAX_ATTRIBUTES = 32
MAX_EVENT_ATTRS = 8
MAX_VALUE_CHARS = 40


def _parse(value: object) -> datetime | None:
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


# attrs of an event correlated from the alarm stream (repair_center.services.correlation) that say
# where it came from, not what happened: never model input.
CORRELATION_KEYS = ("alarm", "scope", "object", "unrelated")


def is_model_input(event: Mapping[str, Any]) -> bool:
    """False for a correlated alarm from elsewhere on the ticket's site, or marked unrelated (another
    incident's, most likely): shown on the ticket, not fed to the model."""
    attrs = event.get("attrs")
    if not (isinstance(attrs, Mapping) and "alarm" in attrs):
        return True
    return attrs.get("scope") != "site" and attrs.get("unrelated") is not True


def _event_attrs(attrs: Mapping[str, Any]) -> Mapping[str, Any]:
    if "alarm" not in attrs:
        return attrs
    return {name: value for name, value in attrs.items() if name not in CORRELATION_KEYS}


def _clean(text: object) -> str:
    return " ".join(str(text or "").split())


def _token(text: object) -> str:
    """One whitespace-free token, so ``name=value`` pairs stay whole for word models."""
    return "_".join(str(text).split())[:MAX_VALUE_CHARS]


def bucket(value: float) -> str:
    """-19.5 -> '-20', 1234 -> '1200', 0.0123 -> '0.012': two significant digits, so readings
    that differ by noise share a token and the spread of real values still shows."""
    if value == 0 or value != value or value in (float("inf"), float("-inf")):
        return "0" if value == 0 else "nan"
    rounded = float(f"{value:.2g}")
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:g}"


def pair(name: str, value: object) -> str:
    """``name=value`` for text, ``name~bucket`` for a number, '' for anything else (nested, null)."""
    if isinstance(value, bool):
        return f"{_token(name)}={'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"{_token(name)}~{bucket(float(value))}"
    if isinstance(value, str) and value.strip():
        return f"{_token(name)}={_token(value)}"
    return ""


def _pairs(values: Mapping[str, Any], limit: int) -> list[str]:
    pairs = (pair(name, values[name]) for name in sorted(values, key=str))
    return [p for p in pairs if p][:limit]


def serialize(
    ticket: Mapping[str, Any],
    *,
    context: Mapping[str, Any] | None = None,
    code_map: Mapping[str, str] | None = None,
    include_text: bool = True,
    include_structure: bool = True,
) -> str:
    """Serialise a canonical ticket document (plus optional site/unit context) into model input.

    ``code_map`` maps raw vendor codes to curated codes (unmapped codes pass through unchanged).
    ``context`` may hold code, region, climate, tier, kind, vendor, software_version, age_years;
    the document's own site code wins over the context's.
    """
    code_map = code_map or {}
    parts: list[str] = []
    if include_structure:
        ctx = context or {}
        code = ticket.get("site") or ctx.get("code")  # an edge agent knows its own site
        site = [f"code={_token(code)}"] if code else []
        site += [f"{key}={_token(ctx[key])}" for key in ("region", "climate", "tier") if ctx.get(key)]
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
        attributes = ticket.get("attributes") or {}
        if isinstance(attributes, Mapping) and attributes:
            rendered_attributes = _pairs(attributes, MAX_ATTRIBUTES)
            if rendered_attributes:
                parts.append("[attrs] " + " ".join(rendered_attributes))

        codes: Sequence[str] = ticket.get("error_codes") or ()
        if codes:
            parts.append("[codes] " + " ".join(code_map.get(c, c) for c in codes))

        events = [e for e in ticket.get("events") or () if is_model_input(e)][-MAX_EVENTS:]
        if events:
            times = [_parse(e.get("at")) for e in events]
            anchor = _parse(ticket.get("opened_at")) or next((t for t in reversed(times) if t), None)
            rendered = []
            for event, at in zip(events, times, strict=True):
                when = relative_time((at - anchor).total_seconds()) if at and anchor else "?"
                code = event.get("code")
                piece = f"{when} {_token(event.get('kind', ''))}"
                if code:
                    piece += f" {code_map.get(code, code)}"
                attrs = event.get("attrs")
                if isinstance(attrs, Mapping) and attrs:
                    piece = " ".join([piece, *_pairs(_event_attrs(attrs), MAX_EVENT_ATTRS)])
                rendered.append(piece)
            parts.append("[events] " + " | ".join(rendered))

    if include_text:
        title = _clean(ticket.get("title"))
        description = _clean(ticket.get("description"))
        text = ". ".join(t for t in (title, description) if t)[:MAX_TEXT_CHARS]
        if text:
            parts.append("[text] " + text)
    return " ".join(parts) if parts else "[empty]"
