"""What a value must be for us to store it and show it again: the checks every write path shares.

PostgreSQL text and jsonb hold neither NUL (U+0000) nor unpaired UTF-16 surrogates (U+D800 to
U+DFFF, which UTF-8 cannot even encode), yet JSON carries both as ``\\u0000`` and ``\\ud800``
escapes that every decoder accepts. Caught here, such a value is a field error for its own item;
caught by the database or the encoder, it was a 500 for the whole batch (SECURITY.md, findings 1
and 4). JSON that agents and integrations write is also bounded in depth and size, so the admin
and the pages can still render it: a heartbeat nested 900 deep once made its agent's admin page,
the page used to revoke that agent, fail with a RecursionError (finding 5).
"""

import json
import math
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

NUL = "must not contain NUL characters"
SURROGATE = "must not contain unpaired surrogate characters (not valid Unicode)"
# What agents and integrations may write into a JSON field (a heartbeat's status, a report's
# metrics, capabilities, a connector's field mapping): deep and large enough for real metrics,
# shallow and small enough that the admin's JSON widget and the pages render it at once.
AGENT_JSON_DEPTH = 8
AGENT_JSON_BYTES = 64 * 1024
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str:
    """Why ``value`` cannot be stored as text, or '' when it can."""
    if "\x00" in value:
        return NUL
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE
    return ""


class DuplicateKey(ValueError):
    """A JSON object repeats a key."""


def unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """An ``object_pairs_hook`` for json.loads that refuses an object repeating a key.

    Parsers disagree on which copy wins (the first, the last, an error), so a repeated key is how
    one component is made to see a value another does not; json.loads silently keeps the last.
    """
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(f"the key {json.dumps(key)} appears twice in one object")
            seen.add(key)
    return result


def printable(value: str) -> str:
    """``value`` safe to echo in an error message: NUL and lone surrogates shown as U+FFFD.

    An answer that repeats a lone surrogate cannot be encoded as UTF-8 either, so echoing the
    offending input back verbatim would turn its 400 into a 500.
    """
    return _UNSTORABLE.sub("\ufffd", value) if text_problem(value) else value


def json_problem(value: Any, *, max_depth: int, max_bytes: int) -> str:
    """Why a decoded JSON value cannot be stored (depth, size, text, numbers), or '' when it can.

    Walked without recursion, so a value nested far beyond Python's stack is judged, not crashed on.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                return f"nested deeper than {max_depth} levels"
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
            if isinstance(item, dict):
                stack.extend((key, depth + 1) for key in item)
        elif isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return problem
        elif isinstance(item, float) and not math.isfinite(item):
            return "must not contain NaN or Infinity"
        elif item is not None and not isinstance(item, bool | int | float):
            return f"holds a {type(item).__name__}, which is not JSON"
    size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    if size > max_bytes:
        return f"larger than {max_bytes} bytes (got {size})"
    return ""


@deconstructible
class JsonLimits:
    """A validator for JSON fields (model, form or DRF): depth, size and storable text and numbers."""

    def __init__(self, max_depth: int = AGENT_JSON_DEPTH, max_bytes: int = AGENT_JSON_BYTES):
        self.max_depth = max_depth
        self.max_bytes = max_bytes

    def __call__(self, value: Any) -> None:
        problem = json_problem(value, max_depth=self.max_depth, max_bytes=self.max_bytes)
        if problem:
            raise ValidationError(problem, code="invalid")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonLimits) and (self.max_depth, self.max_bytes) == (
            other.max_depth,
            other.max_bytes,
        )

    def __hash__(self) -> int:
        return hash((self.max_depth, self.max_bytes))


agent_json = JsonLimits()
