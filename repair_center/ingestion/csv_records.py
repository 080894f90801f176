"""CSV records for csv.reader, each bounded in size: a record too large to read is followed to its
real end without keeping its text, and reported, and the next record starts where it should.

``scan`` follows a record's quoting. The states and transitions are those of Python's csv reader
with ``strict=False`` and the default dialect but for the separator (``,`` or the file's own,
``"`` quotes, ``""`` for a quote inside quotes, no escape character): a field is quoted only when
``"`` is its first character; after a closing quote anything but the separator or a line end
simply continues the field; a line end outside quotes ends the record. Only the bytes ``"``, the
separator, ``\\r`` and ``\\n`` matter, and they are ASCII, the same in the raw file whether it is
UTF-8 or Windows-1252, so the scan runs on bytes and jumps between them.
"""

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import IO, Any

START = 0  # at the start of a field (and of a record)
UNQUOTED = 1  # inside a field that did not start with a quote
QUOTED = 2  # inside a quoted field
AFTER_QUOTE = 3  # just after a quote inside a quoted field: '"' again, or the field closed
END = 4  # the record has ended

# The field separators an export may use: comma, and what spreadsheets write where the comma is the
# decimal mark (semicolon), tab-separated text, and pipes.
SEPARATORS = (",", ";", "\t", "|")
_UNQUOTED_STOPS = {
    sep.encode(): re.compile(rb"\r\n|[" + re.escape(sep.encode()) + rb"\r\n]") for sep in SEPARATORS
}
# How much of a CSV file's start says how it is written (separator, encoding).
SNIFF_BYTES = 64 * 1024
# A report's title lines above its header ("Incident report", "Generated 2026-12-01", blank lines): at
# most this many are looked past.
TITLE_LINES = 10
ENCODING_NAMES = {"utf-8": "UTF-8", "cp1252": "Windows-1252", "utf-16": "UTF-16", "utf-32": "UTF-32"}
ENCODING_NAMES |= {f"utf-{n}-{order}": f"UTF-{n}{order.upper()}" for n in (16, 32) for order in ("le", "be")}


def encoding_name(codec: str) -> str:
    """A codec as a person knows it: "UTF-8", "Windows-1252", else the codec's own name."""
    return ENCODING_NAMES.get(codec, codec)


SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# A character UTF-8 encodes in two to four bytes: a file holding one is UTF-8, whatever else it has.
_UTF8_CHARACTER = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")
_CHUNK_BYTES = 64 * 1024
# Quotes that never close make the rest of the file one record; after that many, it stays one.
MAX_RESCANS = 16
EXTRA_VALUES = ": a separator inside an unquoted value would shift every value after it; quote that value"
# The first rows (at most this many, and this many bytes) say whether a file leaves out empty cells at
# the end of a row (RowLengths): a window, so that reading stays one pass in bounded memory.
SURVEY_ROWS = 1000
SURVEY_BYTES = 4 * 1024 * 1024


def scan(data: bytes, state: int, separator: bytes = b",") -> tuple[int, int]:
    """Run ``data`` through the quoting states from ``state``, fields separated by ``separator``.

    Returns the state after it and how many bytes were consumed: all of them, or up to and
    including the line end that ended the record (then the state is END).
    """
    i, n = 0, len(data)
    while i < n:
        if state == QUOTED:
            j = data.find(b'"', i)
            if j < 0:
                return QUOTED, n
            state, i = AFTER_QUOTE, j + 1
        elif state in (START, AFTER_QUOTE) and data[i] == 0x22:
            # A field that opens with a quote, or '""' standing for one quote inside the quotes.
            state, i = QUOTED, i + 1
        else:  # START, UNQUOTED, or AFTER_QUOTE followed by anything but '"': outside quotes
            stop = _UNQUOTED_STOPS[separator].search(data, i)
            if stop is None:
                return UNQUOTED, n
            if stop.group() != separator:
                return END, stop.end()
            state, i = START, stop.end()
    return state, n


class CsvSource:
    """Decoded lines for csv.reader, one record at a time, each at most ``max_record`` bytes.

    The source knows where the reader is: a line asked for after a record came back starts a
    record; any other line continues a quoted field (the reader asks for more only inside one).
    A record that would grow past the limit is followed to its real end without keeping its text
    (``scan`` above), and the reader is handed a line that closes it: that record comes back with
    ``problem`` set, and the next one starts where it should. Before this, the reader gave up on
    the field at its limit and started again mid-field: one oversized quoted field of 1,000
    lines became hundreds of junk tickets and swallowed the good row after it.
    """

    def __init__(
        self,
        handle: IO[bytes],
        *,
        max_line: int,
        max_record: int,
        separator: str = ",",
        encoding: str = "utf-8",
    ):
        if _is_wide(encoding):
            # Separators of two or four bytes: the scan below reads the text as UTF-8 instead.
            handle, encoding = io.BufferedReader(Transcoded(handle, encoding)), "utf-8"
        self.handle = handle
        self.separator, self.encoding = separator.encode("ascii"), encoding
        self.max_line, self.max_record = max_line, max_record
        self.offset = 0  # bytes handed out so far
        self.pending: list[bytes] = []  # the rest of a physical line split at lone CRs
        self.rescans = 0
        self.start_record()

    def start_record(self) -> None:
        self.lines = 0
        self.size = 0
        self.problem = ""
        self.unterminated = False  # a quote opened on the record's first line never closes
        self.resume_at: int | None = None  # just after the record's first line

    def __iter__(self):
        return self

    def _read(self, limit: int) -> bytes:
        if self.pending:
            return self.pending.pop(0)
        line = self.handle.readline(limit)
        if b"\r" in line:
            # Old Mac line ends among others: each lone CR ends a line, as csv.reader expects.
            self.pending = [part for part in _LONE_CR.split(line) if part]
            line = self.pending.pop(0)
        return line

    def __next__(self) -> str:
        continuation = self.lines > 0
        line = self._read(self.max_line + 1)
        if not line:
            if continuation:
                self.problem = self.problem or "unterminated quoted field: the file ends inside it"
                self.unterminated = True
            raise StopIteration
        self.lines += 1
        self.offset += len(line)
        overlong = len(line) > self.max_line and not line.endswith((b"\n", b"\r"))
        if self.lines == 1 and not overlong:
            self.resume_at = self.offset
        if overlong or self.size + len(line) > self.max_record:
            if not self.problem:
                self.problem = (
                    f"line longer than {self.max_line} bytes"
                    if overlong and not continuation
                    else f"record longer than {self.max_record} bytes"
                )
            if not self._skip(line, QUOTED if continuation else START):
                self.problem += "; its quoted field never ends"
                self.unterminated = True
            # Close what the reader holds: the quoted field it is in, then the record.
            return '"\n' if continuation else "\n"
        self.size += len(line)
        return line.decode(self.encoding, errors="surrogateescape")

    def _skip(self, data: bytes, state: int) -> bool:
        """Consume the rest of the record, following its quotes; False if the file ends first."""
        while True:
            state, used = scan(data, state, self.separator)
            if state == END:
                if used < len(data):
                    self.pending.insert(0, data[used:])
                    self.offset -= len(data) - used
                return True
            data = self._read(_CHUNK_BYTES)
            if not data:
                return state != QUOTED
            self.offset += len(data)

    def rewind(self) -> bool:
        """After a quote that never closes: read again from the line after the one that opened it."""
        if self.resume_at is None or self.rescans >= MAX_RESCANS:
            return False
        self.rescans += 1
        self.handle.seek(self.resume_at)
        self.offset, self.pending = self.resume_at, []
        return True


@dataclass(frozen=True, slots=True)
class CsvDialect:
    """How a CSV export is written: its field separator, its text encoding, and how many title
    lines come before its header."""

    separator: str = ","
    encoding: str = "utf-8"
    title_lines: int = 0

    def describe(self) -> str:
        """How the file was read where that is not the default (comma, UTF-8, header first), else ''."""
        parts = [f"{SEPARATOR_NAMES[self.separator]}-separated"] if self.separator != "," else []
        if self.encoding != "utf-8":
            parts.append(f"{encoding_name(self.encoding)}, not UTF-8")
        if self.title_lines:
            parts.append(f"header on line {self.title_lines + 1}, the lines above it skipped as a title")
        return ", ".join(parts)


def sniff(handle: IO[bytes], encoding: str = "") -> CsvDialect:
    """How the CSV export at ``handle``'s position is written, from its start; the handle stays put.

    The separator is the one of ``SEPARATORS`` the header line uses most outside quotes
    (the comma on a tie or when there is none): a spreadsheet whose decimal mark is the comma (German,
    French, Spanish, ...) writes ``;``. A report may put a title above its header: lines of at most one
    value ("Incident report", a date, blank lines; at most ``TITLE_LINES``) followed by a line of two or
    more are its ``title_lines``, and the separator is read from the first line that has one.
    The encoding is ``encoding`` when one is given (``cp932``, ``gbk``: what no sample tells apart
    reliably), else UTF-8 unless the start is not UTF-8 and holds no character UTF-8 encodes either:
    then it is Windows-1252, what such programs write as "CSV".
    A UTF-8 file with a few bad bytes stays UTF-8, and the rows holding them are rejected.
    A UTF-16 or UTF-32 byte-order mark (a spreadsheet's "Unicode text") says the encoding whatever
    ``encoding`` says; without one, so do the NULs of the first bytes (text_encoding) where no
    ``encoding`` is given. An encoding Python does not know is a ValueError."""
    start = handle.tell()
    sample = handle.read(SNIFF_BYTES)
    handle.seek(start)
    complete = len(sample) < SNIFF_BYTES
    codec = text_encoding(sample, encoding)
    if _is_wide(codec):
        sample = _decoder(codec).decode(sample, final=complete).encode("utf-8", errors="surrogateescape")
    lines = sample.split(b"\n", TITLE_LINES + 1)
    counts: dict[str, int] = {}
    for line in lines[: TITLE_LINES + 1]:
        outside = line.split(b'"')[::2]  # the parts outside quotes
        counts = {sep: sum(part.count(sep.encode()) for part in outside) for sep in SEPARATORS}
        if any(counts.values()):
            break
    separator = max(SEPARATORS, key=lambda sep: counts.get(sep, 0))
    codec = codec or _encoding_of(sample)
    text_codec = "utf-8" if _is_wide(codec) else codec
    return CsvDialect(separator, codec, _title_lines(sample, separator, text_codec, complete))


def _title_lines(sample: bytes, separator: str, codec: str, complete: bool) -> int:
    """``title_rows`` of the records in ``sample`` (its complete lines: all of them if ``complete``)."""
    whole = sample if complete else sample[: sample.rfind(b"\n") + 1]
    records = csv.reader(
        io.StringIO(whole.decode(codec, errors="replace")), delimiter=separator, strict=False
    )
    try:
        return title_rows(records)
    except csv.Error:
        return 0


def filled(values: Iterable) -> list[str]:
    """The values of a record that are not blank, stripped: what the title and footer rules count."""
    return [text for text in (str(value).strip() for value in values) if text]


def title_rows(rows: Iterable[Sequence[str]]) -> int:
    """How many rows of at most one value (a report's title, blank lines) come before the first of
    two or more, when that one is within the first ``TITLE_LINES`` + 1 rows; else 0. A CSV file's
    records and a sheet's rows are read past a title by this one rule."""
    for number, row in enumerate(rows):
        if len(filled(row)) > 1:
            return number
        if number == TITLE_LINES:
            break
    return 0


def footer_rows(rows: Iterator, columns: int) -> Iterator:
    """``rows`` (readers.Row) as they come, with those that may be a report's footer marked
    (``footer``): rows of one value each ("Total: 2 records", "End of report"), at most
    ``TITLE_LINES`` of them, that end a file after a row of two or more. They stay rows: whoever
    reads them refuses one as a footer only if it is no valid record either (a last ticket may hold
    just its title). A longer run of one-value rows is records; so is every row of a file whose
    header has one column."""
    held: list = []
    after_record = long_run = False
    for row in rows:
        values = -1 if row.data is None else len(filled(row.data.values()))
        if columns > 1 and values == 1 and after_record and not long_run:
            held.append(row)
            if len(held) > TITLE_LINES:
                yield from held
                held, long_run = [], True
            continue
        yield from held
        held = []
        if values > 1:
            after_record, long_run = True, False
        yield row
    for row in held:
        yield replace(row, footer=True)


class RowLengths:
    """Rows of a CSV file that hold fewer values than its header, judged. Some programs leave out the
    empty cells at the end of every row; there, a short row's missing cells are blank (``trimmed``
    counts them, for the report). Anywhere else a short row has lost a value or a separator, or is
    half of a line broken inside an unquoted value, and its values would sit in the wrong columns:
    it is refused, with the counts. A file trims when, in its first rows (``SURVEY_ROWS``), short
    rows are not a lone exception (at least 2, and a tenth of the rows) and no row ends in an empty
    value, which such a program never writes. A footer (footer_rows) is left to its own rule."""

    def __init__(self, header: Sequence[str], separator: str = ","):
        self.header, self.separator = list(header), separator
        self.trims = False
        self.trimmed = 0

    def judged(self, rows: Iterator) -> Iterator:
        """``rows`` (readers.Row), each short one kept or refused as the file's first rows show."""
        window, size = [], 0
        for row in rows:
            window.append(row)
            size += sum(len(str(value)) for value in (row.data or {}).values())
            if len(window) >= SURVEY_ROWS or size >= SURVEY_BYTES:
                break
        records = [row for row in window if row.data is not None and not row.footer and row.values]
        short = [row for row in records if self._short(row)]
        self.trims = len(short) >= 2 and len(short) * 10 >= len(records)
        self.trims &= not any(self._ends_blank(row) for row in records)
        for row in itertools.chain(window, rows):
            yield self._judge(row)

    def _short(self, row) -> bool:
        return row.data is not None and not row.footer and 0 < row.values < len(self.header)

    def _ends_blank(self, row) -> bool:
        name = self.header[row.values - 1]
        return bool(name) and not str(row.data.get(name, "")).strip()

    def _judge(self, row):
        if not self._short(row):
            return row
        if self.trims and not self._ends_blank(row):
            self.trimmed += 1
            return row
        columns = len(self.header)
        if self.trims:
            why = "its last value is empty, and this file leaves out only the empty cells at a row's end"
        else:
            why = f"the file's other rows have all {columns}"
        reason = (
            f"{row.values} values for {columns} columns ({why}): a missing value or separator, or a line "
            "break inside an unquoted value, would put its values in the wrong columns"
        )
        raw = self.separator.join(str(value) for value in row.data.values())[:2000]
        return replace(row, data=None, reason=reason, raw=raw)


def _codec(encoding: str) -> str:
    """Python's name of ``encoding`` ("utf-8" for "UTF8"), '' for none; ValueError if unknown."""
    if not encoding:
        return ""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r} (try utf-8, cp1252, latin-1, cp932, gbk)") from None


def _is_wide(encoding: str) -> bool:
    """UTF-16 and UTF-32: their separators are not single bytes, which the reader scans for."""
    return _codec(encoding).startswith(("utf-16", "utf-32"))


def _wide_bom(sample: bytes) -> str:
    """ "utf-32" or "utf-16" when ``sample`` starts with that encoding's byte-order mark, else ''."""
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    return "utf-16" if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else ""


# Which of a text's first four bytes are NUL when its first two characters are ASCII (RFC 4627
# section 3; RFC 8259 section 8.1 says a parser may tell UTF-16 and UTF-32 so).
_NUL_PATTERNS = {
    (True, True, True, False): "utf-32-be",
    (False, True, True, True): "utf-32-le",
    (True, False, True, False): "utf-16-be",
    (False, True, False, True): "utf-16-le",
}


def text_encoding(sample: bytes, encoding: str = "") -> str:
    """The encoding of a text that starts with ``sample``, where it is known before reading: a UTF-16
    or UTF-32 byte-order mark's, else ``encoding`` (Python's name of it), else UTF-16 or UTF-32 as
    the NUL bytes among the first four show (a header's or a JSON text's first characters are
    ASCII; no UTF-8 or Windows-1252 text starts with a NUL); else ''. ValueError for an unknown
    ``encoding``."""
    nuls = tuple(byte == 0 for byte in sample[:4])
    return _wide_bom(sample) or _codec(encoding) or _NUL_PATTERNS.get(nuls, "")


def _undecodable(error: UnicodeError) -> tuple[str, int]:
    # A lone surrogate, as bytes that are not UTF-8 decode to: the record is rejected as not valid
    # in its encoding, as a UTF-8 record with a bad byte is.
    assert isinstance(error, UnicodeDecodeError)
    return "\udcff", error.end


codecs.register_error("ticketai.undecodable", _undecodable)


def _decoder(codec: str) -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder(codec)(errors="ticketai.undecodable")


class Transcoded(io.RawIOBase):
    """The text of ``handle`` (bytes in ``codec``: UTF-16, UTF-32) as UTF-8 bytes, decoded as it is
    read, from ``handle``'s position on. Bytes that are not valid ``codec`` become a byte that is not
    valid UTF-8. Seeking back starts the decoding again (a quote that never closes: rare)."""

    def __init__(self, handle: IO[bytes], codec: str):
        self._handle, self._codec, self._start = handle, codec, handle.tell()
        self._restart()

    def _restart(self) -> None:
        self._handle.seek(self._start)
        self._decoder = _decoder(self._codec)
        self._pending, self._position, self._ended = b"", 0, False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._ended:
            chunk = self._handle.read(_CHUNK_BYTES)
            self._ended = not chunk
            text = self._decoder.decode(chunk, final=self._ended)
            self._pending = text.encode("utf-8", errors="surrogateescape")
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self._position += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("seek from the end of transcoded text")
        if offset < self._position:
            self._restart()
        buffer = bytearray(_CHUNK_BYTES)
        while self._position < offset and self.readinto(memoryview(buffer)[: offset - self._position]):
            pass
        return self._position


def _encoding_of(sample: bytes) -> str:
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as e:
        cut = e.reason == "unexpected end of data"  # the sample ends inside a character
        if not cut and not _UTF8_CHARACTER.search(sample):
            return "cp1252"
    return "utf-8"
