"""A JSON file's records, streamed one element at a time: a top-level array of objects, or an object
that holds one (an API's dump: ServiceNow's ``{"records": [...]}``, a REST ``{"result": [...]}``,
Jira's ``{"startAt": 0, "issues": [...]}``). Only the current element and one chunk are in memory.
"""

import codecs
import json
from collections.abc import Iterator
from typing import IO

from repair_center.ingestion import csv_records
from repair_center.ingestion.readers import (
    CHUNK_CHARS,
    MAX_LINE_BYTES,
    TOO_DEEP,
    FileUnreadable,
    Row,
    json_value,
    not_json,
    truncate,
)
from ticketai.storable import unique_keys

# The members API dumps keep their records under: ServiceNow (records, result), Jira (issues, values),
# Salesforce (records), Zendesk and Freshservice (tickets, results), PagerDuty (incidents), BMC
# Remedy (entries), TMF APIs' exports and most others (items, data, rows, alarms, repairs).
WRAPPERS = frozenset(
    {
        *("records", "result", "results", "issues", "values", "tickets", "incidents", "entries"),
        *("items", "data", "rows", "alarms", "repairs", "troubletickets", "objects"),
    }
)
NO_ARRAY = (
    "the JSON file holds an object, not a top-level array of records, and none of its members "
    f"is an array of records under a known name ({', '.join(sorted(WRAPPERS))})"
)


def open_file(handle: IO[bytes], encoding: str = "") -> tuple[Iterator[Row], str]:
    """The records of the JSON file at ``handle`` and how it was read, where that needs saying (an
    encoding other than UTF-8, the member holding the array). The encoding is ``encoding`` when one is
    given, else UTF-8 unless the file starts with a UTF-16 or UTF-32 byte-order mark or the NUL bytes
    of those encodings (RFC 8259 section 8.1: a JSON text's first characters are ASCII)."""
    start = handle.tell()
    sample = handle.read(4)
    handle.seek(start)
    try:
        codec = csv_records.text_encoding(sample, encoding) or "utf-8"
    except ValueError as e:
        raise FileUnreadable(str(e)) from None
    # Bytes that are not UTF-16 or UTF-32 may be ASCII ones, which surrogateescape cannot carry.
    errors = "ticketai.undecodable" if codec.startswith(("utf-16", "utf-32")) else "surrogateescape"
    scanner = open_array(codecs.getreader(codec)(handle, errors=errors))
    notes = [f"{csv_records.encoding_name(codec)}, not UTF-8"] if codec != "utf-8" else []
    notes += [f"the array under {scanner.wrapper!r}"] if scanner.wrapper else []
    return scanner.rows(), ", ".join(notes)


def open_array(text: IO[str]) -> "ArrayScanner":
    """A scanner at the first element of the file's array: the top-level one, else the first member
    of a top-level object whose value is an array. Raises FileUnreadable when there is none."""
    scanner = ArrayScanner(text, "")
    start = scanner._peek()
    if start == "\ufeff":
        scanner.pos += 1
        start = scanner._peek()
    if start == "":
        raise FileUnreadable("the JSON file is empty; expected an array of objects")
    if start == "[":
        scanner.pos += 1
        return scanner
    if start == "{":
        scanner.pos += 1
        scanner.wrapper = scanner._find_array()
        return scanner
    raise FileUnreadable("the JSON file must hold a top-level array of records, or an object holding one")


class ArrayScanner:
    """Elements of a top-level JSON array, decoded one at a time with raw_decode over chunks.

    The buffer holds the current element plus at most one chunk; a malformed element is skipped
    with a string- and bracket-aware scan to the ',' or ']' that ends it.
    """

    def __init__(self, text: IO[str], buffer: str):
        self.text = text
        self.buffer = buffer
        self.pos = 0
        self.eof = False
        self.decoder = json.JSONDecoder(object_pairs_hook=unique_keys, parse_constant=not_json)
        self.wrapper = ""  # the member of a top-level object whose array this is

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.text.read(CHUNK_CHARS)
        if not chunk:
            self.eof = True
            return False
        self.buffer = self.buffer[self.pos :] + chunk
        self.pos = 0
        return True

    def _peek(self) -> str:
        """The next non-blank character (not consumed), or '' at the end of the file."""
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._fill():
                return ""

    def _find_array(self) -> str:
        """Move past the '[' of the object's first member named as in WRAPPERS whose value is an
        array of objects (or an empty one); its name. Other members (a count, a cursor, a single
        record's own lists) are passed."""
        while True:
            char = self._peek()
            if char != '"':
                if char in ("}", ""):
                    raise FileUnreadable(NO_ARRAY)
                raise FileUnreadable(
                    f"the JSON object is malformed: expected a member's name, found {char!r}"
                )
            name = self._value()
            if self._peek() != ":":
                raise FileUnreadable(f"the JSON object is malformed: expected ':' after {name!r}")
            self.pos += 1
            if self._peek() != "[" or not isinstance(name, str) or name.lower() not in WRAPPERS:
                self._value()
            else:
                self.pos += 1
                if self._peek() in ("{", "]"):
                    return name
                self._pass_array(name)
            char = self._peek()
            if char == ",":
                self.pos += 1
            elif char in ("}", ""):
                raise FileUnreadable(NO_ARRAY)
            else:
                raise FileUnreadable(
                    f"the JSON object is malformed: expected ',' after {name!r}, found {char!r}"
                )

    def _pass_array(self, name: str) -> None:
        """Pass the rest of an array that is not of objects (the cursor is on its first element)."""
        while True:
            self._peek()  # past blanks: raw_decode starts at a value
            self._value()
            char = self._peek()
            self.pos += 1
            if char == "]":
                return
            if char != ",":
                raise FileUnreadable(f"the JSON object is malformed: expected ',' or ']' in {name!r}")

    def _value(self):
        """The JSON value at the cursor, decoded and passed."""
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as e:
                if len(self.buffer) - self.pos <= MAX_LINE_BYTES and self._fill():
                    continue
                raise FileUnreadable(f"the JSON object is malformed before its array: {e.msg}") from None
            except (ValueError, RecursionError) as e:
                raise FileUnreadable(f"the JSON object is malformed before its array: {e}") from None
            self.pos = end
            return value

    def rows(self) -> Iterator[Row]:
        number = 0
        if self._peek() == "]":
            return
        while True:
            number += 1
            char = self._peek()
            if char == "":
                yield Row(number, None, "the file ends before the closing ']'")
                return
            if char == "]" and number > 1:
                return  # a trailing comma: forgiven
            yield self._element(number)
            while True:
                char = self._peek()
                if char == ",":
                    self.pos += 1
                    break
                if char == "]":
                    return
                if char == "":
                    yield Row(number + 1, None, "the file ends before the closing ']'")
                    return
                number += 1
                raw = truncate(self.buffer[self.pos : self.pos + 200])
                yield Row(number, None, f"expected ',' or ']' after an element, found {char!r}", raw=raw)
                self._skip()

    def _element(self, number: int) -> Row:
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.pos)
                break
            except json.JSONDecodeError as e:
                if len(self.buffer) - self.pos <= MAX_LINE_BYTES and self._fill():
                    continue
                if len(self.buffer) - self.pos > MAX_LINE_BYTES:
                    reason = f"element longer than {MAX_LINE_BYTES} bytes"
                else:
                    reason = f"invalid JSON: {e.msg} at offset {e.pos - self.pos}"
                raw = truncate(self.buffer[self.pos : self.pos + 2000])
                self._skip()
                return Row(number, None, reason, raw=raw)
            except RecursionError:
                raw = truncate(self.buffer[self.pos : self.pos + 200])
                self._skip()
                return Row(number, None, TOO_DEEP, raw=raw)
            except ValueError as e:  # a repeated key, or NaN / Infinity, which JSON does not have
                raw = truncate(self.buffer[self.pos : self.pos + 200])
                self._skip()
                return Row(number, None, f"invalid JSON: {e}", raw=raw)
        element = self.buffer[self.pos : end]
        self.pos = end
        data, reason = json_value(element, value)
        return Row(number, data, reason, raw="" if data is not None else truncate(element))

    def _skip(self) -> None:
        """Move to the ',' or ']' that ends the current (broken) element, or to the end of file."""
        depth = 0
        in_string = escaped = False
        while True:
            while self.pos < len(self.buffer):
                char = self.buffer[self.pos]
                if in_string:
                    if escaped:
                        escaped = False
                    elif char == "\\":
                        escaped = True
                    elif char == '"':
                        in_string = False
                elif char == '"':
                    in_string = True
                elif char in "[{":
                    depth += 1
                elif char in "]}":
                    if depth == 0 and char == "]":
                        return
                    depth = max(depth - 1, 0)
                elif char == "," and depth == 0:
                    return
                self.pos += 1
            if not self._fill():
                return
