"""Hostile input against every write operation of the API, table-driven (SECURITY.md, threat 9).

Each class of bad input (``BAD`` in hostile_input_support.py: lone surrogates, NUL, invalid UTF-8,
deep nesting, huge strings and bodies, NaN and infinities, negative and huge numbers, impossible
dates and offsets, repeated keys, wrong types) goes to every write operation of the API (the rows of
``OPERATIONS`` in hostile_input_operations.py). The answer must be a 4xx with a reason, never a 5xx;
where a batch carries the bad item, that item is refused with its reason and the good items of the
same batch are stored. The importers and the pages that take a POST get the same treatment in
test_hostile_input_files.py and test_hostile_input_pages.py.

The tables are checked against what exists: a write operation of the OpenAPI schema, a page that
takes a POST, or an ``import_*`` command without a row fails ``test_every_*_has_a_row``, as the
permission matrix does for routes.
"""

import json
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.hostile_input_operations import OPERATIONS, Op
from tests.hostile_input_support import BAD, MARK, client_as, committed_world

pytestmark = pytest.mark.slow  # an exhaustive matrix: every write path against every hostile input


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    yield from committed_world(django_db_blocker)


def _set(body: Any, path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        body = body[int(part)] if isinstance(body, list) else body[part]
    body[int(leaf) if isinstance(body, list) else leaf] = value


def _url(world, path: str, op: Op, **override) -> str:
    return path.format(**{**op.url(world), **override})


def _send(world, method: str, path: str, op: Op, body: bytes | None, **url):
    client = client_as(world, op.role)
    kwargs = {} if body is None else {"data": body, "content_type": "application/json"}
    return getattr(client, method.lower())(_url(world, path, op, **url), **kwargs)


def _write_cases() -> list:
    cases = []
    for (method, path), op in OPERATIONS.items():
        if op.body is None:
            continue
        for name, bad in BAD.items():
            if bad.per_item and not op.carrier(bad.carrier):
                continue
            if name == "empty-body" and (op.empty_ok or method == "PATCH"):
                continue
            cases.append(pytest.param(method, path, name, id=f"{method} {path} {name}"))
    return cases


def _reason(response) -> str:
    """The reason a refused request was given, as text; empty when there is none."""
    try:
        return json.dumps(response.json())
    except ValueError:
        return ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"), [pytest.param(*key, id=" ".join(key)) for key, op in OPERATIONS.items() if op.body]
)
def test_the_good_body_of_each_row_is_accepted(world, method, path):
    # Each row's refusals below mean something only if its good body is accepted.
    op = OPERATIONS[(method, path)]
    response = _send(world, method, path, op, json.dumps(op.body(world)).encode())
    assert 200 <= response.status_code < 300, response.content[:500]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "case"), _write_cases())
def test_hostile_input_to_a_write_operation_is_refused_with_a_reason(world, method, path, case, settings):
    op, bad = OPERATIONS[(method, path)], BAD[case]
    if bad.status == 413:
        settings.TICKETAI_MAX_REQUEST_BYTES = 64 * 1024  # over the limit without sending 20 MiB
    body = op.body(world)
    carrier = op.carrier(bad.carrier) if bad.per_item else op.text
    _set(body, carrier, bad.value if bad.per_item else MARK)
    payload = json.dumps(body).encode()
    if bad.raw is not None:
        payload = bad.raw(payload, carrier.rsplit(".", 1)[-1])
    if bad.status == 413 and len(json.dumps(op.body(world))) >= 64 * 1024:
        pytest.fail("the good body is over the test's request limit")

    response = _send(world, method, path, op, payload)

    assert response.status_code < 500, response.content[:500]
    if op.stored and bad.per_item:
        # A batch: the bad item is refused with its reason, the good ones are stored.
        assert response.status_code == 200, response.content[:500]
        answer = response.json()
        errors = answer["results"][1].get("errors") if "results" in answer else answer["errors"].get("1")
        assert errors, answer
        assert op.stored(world) == 2
        return
    if bad.status:
        assert response.status_code == bad.status, response.content[:300]
    else:
        assert 400 <= response.status_code < 500, response.content[:500]
    assert _reason(response) not in ("", "{}", "[]"), response.content[:300]
    if op.stored:
        assert op.stored(world) == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"), [pytest.param(*key, id=" ".join(key)) for key in OPERATIONS if "{" in key[1]]
)
def test_an_id_no_row_can_have_in_the_path_is_a_404(world, method, path):
    op = OPERATIONS[(method, path)]
    names = {name: 2**70 for name in op.url(world)}
    body = None if op.body is None else json.dumps(op.body(world)).encode()
    response = _send(world, method, path, op, body, **names)
    assert response.status_code == 404, response.content[:300]


# --- The tables cover what exists ------------------------------------------------------------------


def _schema_writes() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("post", "put", "patch", "delete")
    }


def test_every_write_operation_of_the_api_has_a_row():
    missing = sorted(_schema_writes() - set(OPERATIONS))
    assert not missing, "write operations without a row in OPERATIONS: " + ", ".join(
        " ".join(m) for m in missing
    )


def test_every_row_is_a_write_operation():
    assert not set(OPERATIONS) - _schema_writes(), sorted(set(OPERATIONS) - _schema_writes())


def test_every_class_of_bad_input_reaches_some_row():
    carriers = {
        kind for op in OPERATIONS.values() for kind in ("text", "number", "date", "json") if op.carrier(kind)
    }
    assert {bad.carrier for bad in BAD.values()} - {"body", "unsigned"} <= carriers
    assert any(op.unsigned for op in OPERATIONS.values())
