"""Any JSON given to the canonical document parser ends in a DocumentError or a valid document,
never another exception (SECURITY.md, findings 1, 4 and 9).

"Valid" means what every write path relies on: each string is text PostgreSQL can store, the
content hash can be computed, the errors can be sent back as UTF-8, and the document parses again
to itself. JSON here is what Python's decoder accepts, so NaN, infinities, lone surrogates, NUL,
huge integers and deep nesting are all in play (the file importers decode with it too).
"""

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repair_center.documents import EVENT_FIELDS, FIELDS, DocumentError, parse_ticket
from repair_center.models import Ticket, TicketEvent
from ticketai.storable import text_problem

pytestmark = pytest.mark.slow  # property-based fuzzing

FUZZ = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Text with the hostile characters over-represented: NUL, lone surrogates, separators, BOMs.
TEXT = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.sampled_from("\x00\ud800\udfff\ufeff \t\n,;\"'é😀aZ09-_."), max_size=12),
    st.sampled_from(
        [
            "",
            " ",
            "critical",
            "P1",
            "resolved",
            "In Progress",
            "alarm_raised",
            "nan",
            "2026-01-01T00:00:00Z",
            "2026-13-45T00:00:00Z",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-23:59",
        ]
    ),
)
NUMBER = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
SCALAR = st.one_of(st.none(), st.booleans(), NUMBER, TEXT)
ANY_JSON = st.recursive(
    SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=20,
)
# Shaped like documents, so the fuzz reaches the checks behind the type checks.
EVENT = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "at": st.one_of(TEXT, NUMBER, st.none()),
            "kind": st.one_of(st.sampled_from(TicketEvent.Kind.values), ANY_JSON),
            "code": st.one_of(TEXT, ANY_JSON),
            "attrs": ANY_JSON,
        },
    ),
    st.dictionaries(st.sampled_from([*EVENT_FIELDS, "extra"]), ANY_JSON, max_size=5),
    ANY_JSON,
)
FIELD_VALUES = {
    "external_id": st.one_of(TEXT, NUMBER),
    "source": TEXT,
    "status": st.one_of(st.sampled_from(Ticket.Status.values), TEXT, ANY_JSON),
    "priority": st.one_of(st.sampled_from(Ticket.Priority.values), TEXT, NUMBER),
    "opened_at": st.one_of(TEXT, NUMBER, st.none()),
    "resolved_at": st.one_of(TEXT, NUMBER, st.none()),
    "error_codes": st.one_of(st.lists(TEXT, max_size=5), ANY_JSON),
    "events": st.one_of(st.lists(EVENT, max_size=4), ANY_JSON),
}
DOCUMENT = st.fixed_dictionaries(
    {}, optional={field: FIELD_VALUES.get(field, st.one_of(TEXT, NUMBER, ANY_JSON)) for field in FIELDS}
)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _judge(data) -> None:
    try:
        doc = parse_ticket(data, default_source="fuzz")
    except DocumentError as e:
        # The errors go back to the client as UTF-8 JSON: nothing in them may be unencodable.
        json.dumps(e.errors, ensure_ascii=False, allow_nan=False).encode("utf-8")
        assert e.errors and all(isinstance(m, str) for ms in e.errors.values() for m in ms)
        return
    document = doc.to_json()
    for text in _strings(document):
        assert not text_problem(text), repr(text)
    for number in (n for n in _numbers(document)):
        assert math.isfinite(number)
    assert len(doc.content_hash()) == 64
    assert parse_ticket(document, default_source="fuzz") == doc  # what we store parses to itself


def _numbers(value):
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)


@FUZZ
@given(ANY_JSON)
def test_any_json_value_is_a_document_error_or_a_valid_document(data):
    _judge(data)


@FUZZ
@given(DOCUMENT)
def test_any_document_shaped_object_is_a_document_error_or_a_valid_document(data):
    _judge(data)


@FUZZ
@given(DOCUMENT.map(lambda d: {"external_id": "FUZZ-1", "title": "t", **d}))
def test_a_document_with_an_identity_is_judged_the_same_way(data):
    _judge(data)
