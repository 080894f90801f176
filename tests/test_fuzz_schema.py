"""Schemathesis over our whole OpenAPI schema, as admin: no 5xx and no response that contradicts the
schema, in the examples, fuzzing and stateful phases (chains of calls along the links schemathesis
infers: a POST's id fed to the GET, PUT, PATCH and DELETE of what it made). Operations added later,
such as the TMF endpoints, are fuzzed as soon as the schema lists them. Bounded here; the long run,
with the coverage phase too, is `python -m benchmarks.fuzz` (RELIABILITY.md)."""

import json

import pytest

from benchmarks.fuzz import fuzz, load_schema, prepare_admin, prepare_agent, prepare_catalogue
from tests.factories import ml_catalogue

pytestmark = pytest.mark.slow  # fuzzes every operation of the schema

EXAMPLES = 2  # per operation and phase: about a minute on two shared cores


@pytest.mark.django_db(transaction=True)  # the engine calls the app from threads of its own
def test_no_operation_answers_5xx_or_contradicts_the_schema(settings):
    rates = {scope: "100000/min" for scope in ("auth", "bulk", "recommendation", "edge")}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    ml_catalogue()  # real rows, so generated ids and codes sometimes hit something
    prepare_catalogue()
    schema = load_schema(
        headers=prepare_admin(),
        agent_headers=prepare_agent(),  # the edge API answers agents only
        max_examples=EXAMPLES,
        phases=("examples", "fuzzing", "stateful"),
    )
    report = fuzz(schema)

    operations = {result.ok().label for result in schema.get_all_operations()}
    assert {
        "POST /api/v1/tickets/",
        "POST /api/v1/tickets/bulk/",
        "POST /api/v1/edge/heartbeat/",
    } <= operations
    assert report.operations == operations, sorted(operations - report.operations)
    tmf621 = "/tmf-api/troubleTicket/v4/"
    assert {op.replace(tmf621, "") for op in operations if tmf621 in op} == {
        "GET troubleTicket",
        "POST troubleTicket",
        "GET troubleTicket/{id}",
        "PATCH troubleTicket/{id}",
        "POST hub",
        "DELETE hub/{id}",
        "POST connector/{name}/listener/{event}",
    }
    assert report.errors == [], report.errors
    assert report.failures == [], json.dumps(report.failures[:5], indent=2)
    assert not any(status >= 500 for status in report.statuses)
    assert report.statuses[401] == 0, "every operation was called with credentials it accepts"
    # Both kinds were sent and answered as such: accepted requests and refused (invalid) ones.
    assert report.statuses[200] + report.statuses[201] > 0 and report.statuses[400] > 0, report.statuses
    # The stateful phase followed links and made requests of its own.
    assert report.transitions > 0 and report.requests["stateful"] > 0, report.to_json()
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
