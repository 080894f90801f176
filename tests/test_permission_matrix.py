"""Who may reach what (issue 7): every route the URL resolver knows, against every role.

The table, ``MATRIX``, has one row per route (API, pages, admin, probes, metrics, schema, sign-in):
how to build a concrete URL, the methods to try and the exact answer for each role. Its rows are
written in tests/permission_matrix_api_rows.py (probes and APIs) and
tests/permission_matrix_page_rows.py (pages and the admin site), in the terms of
tests/permission_matrix_support.py (roles, recurring expectations, the world the URLs point at).
A route added later without a row fails ``test_every_route_has_a_row``. Each cell is its own test
(``test_cell[GET api:ticket-detail agent_site_a_on_b]``), except the six views the admin generates
for every registered model, asked one test per model and role (``test_admin_views_of_each_model``).

Roles and how they authenticate:

- ``anonymous``: nothing.
- ``engineer``, ``admin``: a ``Token`` on API rows, a browser session (force_login) on page rows.
- ``integration``: a ``Token`` everywhere. Integrations are token-only API principals
  (``create_api_token --create-user`` gives them no password), so on pages their token is ignored
  and they are sent to sign in like anyone anonymous.
- ``agent_site_a``: ``Authorization: Agent <token>`` of an agent enrolled at site A, on site A's
  objects. ``agent_site_a_on_b``: the same agent on site B's objects (site B's detail and placement,
  its bundle, predictions naming site B). Rows that name no site send it the same request. Agents
  authenticate only on the edge API; everywhere else they count as anonymous.
- ``fault_management``: a ``Token`` of a fault-management system, which may post alarms (TMF642) and
  nothing else. Rows written before the role existed give six answers and its seventh is derived
  (``_fault_management``): 403 on the API, what integrations get on pages and public routes. The
  alarm rows give all seven.

Expected values: a status code, or a redirect given as the path it goes to (``LOGIN``,
``ADMIN_LOGIN``, or a path; ``*`` at the end matches any path under it). A body that fails
validation is enough where the status shows the permission check passed (400 = allowed).
"""

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from ml.models import EdgeAgent, EdgePrediction
from tests.permission_matrix_api_rows import API_ROWS
from tests.permission_matrix_page_rows import PAGE_ROWS, admin_model_rows
from tests.permission_matrix_support import (
    ANONYMOUS_DENIED,
    API,
    PAGE,
    PUBLIC,
    ROLES,
    Row,
    api,
    client_as,
    committed_world,
)

pytestmark = pytest.mark.slow  # an exhaustive matrix: every route against every role


MATRIX: dict[str, Row] = API_ROWS | PAGE_ROWS


def _format_rows(rows: dict[str, Row]) -> dict[str, Row]:
    """The router's ``.json`` twin of each route: same view, same permissions, read only."""

    def with_suffix(row):
        if callable(row.formats):
            return row.formats
        return lambda w, s: row.url(w, s).rstrip("/") + ".json"

    return {
        f"{key}.<format>": api(with_suffix(row), GET=row.methods["GET"])
        for key, row in rows.items()
        if row.formats
    }


MATRIX |= _format_rows(MATRIX) | admin_model_rows()


def _routes(resolver=None, prefix="", namespace=None):
    """(key, pattern) for every route: namespaced name, ``.<format>`` for suffix twins, else the pattern."""
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(n for n in (namespace, entry.namespace) if n) or None
            yield from _routes(entry, prefix + str(entry.pattern), inner)
            continue
        assert isinstance(entry, URLPattern)
        pattern = prefix + str(entry.pattern)
        if entry.name is None:
            yield pattern, pattern
            continue
        key = f"{namespace}:{entry.name}" if namespace else entry.name
        converters = getattr(entry.pattern, "converters", {})
        if "format" in converters or "format" in entry.pattern.regex.groupindex:
            key += ".<format>"
        yield key, pattern


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    yield from committed_world(django_db_blocker, tmp_path_factory)


def _cells() -> list:
    cells = []
    for key, row in MATRIX.items():
        for method, (_, expected) in row.methods.items():
            assert len(expected) in (len(ROLES) - 1, len(ROLES)), f"{method} {key}: one expectation per role"
            if not row.group:
                cells += [pytest.param(key, method, role, id=f"{method} {key} {role}") for role in ROLES]
    return cells


def _answer(response) -> int | str:
    """The status, or for a redirect the path it goes to (what the table writes)."""
    if response.status_code == 302:
        return urlsplit(response["Location"]).path
    return response.status_code


def _matches(got, expected) -> bool:
    if isinstance(expected, str) and expected.endswith("*"):
        return isinstance(got, str) and got.startswith(expected[:-1])
    return got == expected


def _ask(world, key: str, method: str, role: str):
    """(what the route answered, what the table expects, the response) for one cell."""
    row = MATRIX[key]
    body, expected = row.methods[method]
    site = world.site_b if role == "agent_site_a_on_b" else world.site_a
    url = row.url(world, site)
    if callable(body):
        body = body(world, site)
    call = getattr(client_as(world, role, row.kind), method.lower())
    if method == "GET":
        response = call(url)
    elif row.kind == API:
        response = call(url, body, format="json")
    else:
        response = call(url, body or {})
    return _answer(response), _expected(key, row, expected, role), response


def _expected(key: str, row: Row, expected: tuple, role: str):
    if role == "fault_management" and len(expected) < len(ROLES):
        return _fault_management(key, row, expected)
    return expected[ROLES.index(role)]


def _fault_management(key: str, row: Row, expected: tuple):
    """What a fault-management token gets where the row predates the role: a token-only principal
    like an integration on pages and public routes; on the API, refused (403) wherever a role is
    needed, and 401 where only agents authenticate (the edge API)."""
    integration = expected[ROLES.index("integration")]
    if row.kind == PAGE or key in PUBLIC or integration == 401:
        return integration
    return 403


@pytest.mark.parametrize(("key", "method", "role"), _cells())
def test_cell(world, db, key, method, role):
    got, expected, response = _ask(world, key, method, role)
    assert _matches(got, expected), (
        f"{method} {response.request['PATH_INFO']} as {role}: expected {expected}, got {got}: "
        f"{response.content[:300]!r}"
    )


# The admin's per-model views (generated rows, six per registered model) are asked one test per
# model and role: the same cells, a fifth of the test items, which keeps the module fast.
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("model", sorted({row.group for row in MATRIX.values() if row.group}))
def test_admin_views_of_each_model(world, db, model, role):
    keys = [key for key, row in MATRIX.items() if row.group == model]
    answers = {key: _ask(world, key, "GET", role)[:2] for key in keys}
    wrong = {
        key: f"expected {expected}, got {got}"
        for key, (got, expected) in answers.items()
        if not _matches(got, expected)
    }
    assert not wrong, f"{model} admin as {role}: {wrong}"


def test_every_route_has_a_row():
    routes = list(_routes())
    keys = [key for key, _ in routes]
    assert len(keys) == len(set(keys)), "two routes share a key; give one a name"
    missing = [
        f"route {pattern} ({key}) has no row in the permission matrix"
        for key, pattern in routes
        if key not in MATRIX
    ]
    assert not missing, "\n".join(missing)


def test_every_row_is_a_route():
    stale = set(MATRIX) - {key for key, _ in _routes()} - {"static"}  # static files are not routes
    assert not stale, f"rows for routes that no longer exist: {sorted(stale)}"


def test_anonymous_reaches_only_sign_in_health_and_the_schema():
    reachable = {
        f"{method} {key}"
        for key, row in MATRIX.items()
        for method, (_, expected) in row.methods.items()
        if expected[0] not in ANONYMOUS_DENIED and key not in PUBLIC
    }
    assert not reachable, f"the table lets anonymous callers reach: {sorted(reachable)}"


def test_an_agent_acting_for_another_site_leaves_that_site_untouched(world, db):
    agent_b = EdgeAgent.objects.get(pk=world.agents[world.site_b.code].pk)
    client = client_as(world, "agent_site_a_on_b", API)
    prediction = {
        "idempotency_key": "pm-1",
        "source": "pm",
        "external_id": "PM-1",
        "model_version": "b1",
        "resolution": "PM_FIX",
        "confidence": 0.9,
        "latency_ms": 1.0,
        "predicted_at": datetime.now(UTC).isoformat(),
        "site": world.site_b.code,
    }
    response = client.post("/api/v1/edge/predictions/", {"predictions": [prediction]}, format="json")
    assert response.status_code == 403
    assert client.get(f"/api/v1/edge/bundles/{world.bundles[world.site_b.code].version}/").status_code == 403
    assert not EdgePrediction.objects.filter(site=world.site_b).exists()
    assert client.post("/api/v1/edge/heartbeat/", {"backlog": 9}, format="json").status_code == 200
    after = EdgeAgent.objects.get(pk=agent_b.pk)
    assert (after.backlog, after.last_seen) == (agent_b.backlog, agent_b.last_seen)
    assert EdgeAgent.objects.get(pk=world.agents[world.site_a.code].pk).backlog == 9
