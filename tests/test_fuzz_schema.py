"""Schemathesis against our own OpenAPI schema, as admin, on every operation: no 5xx and no
response that contradicts the schema. Bounded here; `python -m benchmarks.fuzz` runs the long one."""

import json

import pytest

from benchmarks.fuzz import fuzz, in_process_requests, load_schema, prepare_admin
from tests.factories import ml_catalogue

EXAMPLES = 3  # per operation and mode (valid, invalid): about a minute on two shared cores


def test_no_operation_answers_5xx_or_contradicts_the_schema(db, settings):
    rates = {scope: "100000/min" for scope in ("auth", "bulk", "recommendation", "edge")}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    ml_catalogue()  # real rows, so generated ids and codes sometimes hit something
    with in_process_requests():
        schema = load_schema()
        report = fuzz(schema, headers=prepare_admin(), max_examples=EXAMPLES)

    paths = {op.ok().path for op in schema.get_all_operations()}
    assert {"/api/v1/tickets/", "/api/v1/tickets/bulk/", "/api/v1/edge/heartbeat/"} <= paths
    assert report.operations == sum(1 for _ in schema.get_all_operations())
    assert report.requests >= report.operations
    assert report.failures == [], json.dumps(report.failures[:5], indent=2)
    assert not any(status.startswith("5") for status in report.statuses)
    # Both kinds were sent: accepted requests and rejected (invalid) ones.
    assert any(status.startswith("2") for status in report.statuses), report.statuses
    assert report.statuses.get("400", 0) > 0, report.statuses
    print(json.dumps({k: v for k, v in report.to_json().items() if k != "failures"}))


# Inputs the long fuzzer (benchmarks/fuzz.py) once turned into 500s, kept as regressions.
@pytest.mark.parametrize(
    "query",
    [
        {"opened_before": "0331-05-05T14:54:44-22:18"},  # offset PostgreSQL cannot store
        {"updated_since": "0025-04-24T08:15:14.8985+23:10"},
        {"opened_after": "0001-01-01T00:00:00+10:00"},  # before year 1 in UTC
        {"site": "\x00abc"},
        {"search": "a\x00b"},
    ],
)
def test_hostile_ticket_filters_are_400_or_empty_never_500(engineer_client, query):
    response = engineer_client.get("/api/v1/tickets/", query)
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 200:
        assert response.json()["count"] == 0


def test_a_nul_byte_in_a_form_field_is_400_not_500(admin_client_api):
    response = admin_client_api.post(
        "/api/v1/elements/", {"serial": "S-1", "site": "\x1c\x00x", "kind": "router"}
    )
    assert response.status_code == 400, response.content[:300]


# SECURITY.md finding 9: a number no id column holds, in a numeric filter. SQLite cannot bind
# 1.26e+44 (OverflowError, a 500); now the filter refuses it before any database sees it.
@pytest.mark.parametrize("url", ["/api/v1/repair-records/", "/api/v1/events/"])
@pytest.mark.parametrize("value", ["1.26e+44", "99999999999999999999999", "1.5", "-3", "nan"])
def test_an_id_filter_out_of_any_column_is_a_400(engineer_client, url, value):
    response = engineer_client.get(url, {"ticket": value})
    assert response.status_code == 400, response.content[:300]
    assert "ticket" in response.json()


def test_an_id_filter_refuses_an_out_of_range_number_before_the_database():
    from repair_center.filtersets import RepairRecordFilterSet
    from repair_center.models import RepairRecord

    filters = RepairRecordFilterSet({"ticket": "1.26e+44"}, queryset=RepairRecord.objects.none())
    assert not filters.is_valid() and "ticket" in filters.errors
