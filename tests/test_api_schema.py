"""The OpenAPI schema: generated without warnings, valid OpenAPI 3, and true to the bulk contract."""

import json

from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.validation import validate_schema


def test_the_schema_generates_without_warnings_and_validates(tmp_path, db):
    GENERATOR_STATS.reset()  # warnings are counted per process; count only this generation's
    out = tmp_path / "schema.json"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", str(out)
    )
    schema = json.loads(out.read_text())
    assert "/api/v1/tickets/bulk/" in schema["paths"]


def _schema(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_the_served_schema_is_public_and_valid_openapi_3(anon_client):
    schema = _schema(anon_client)
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)
    token_auth = schema["components"]["securitySchemes"]["tokenAuth"]
    assert (token_auth["type"], token_auth["in"], token_auth["name"]) == ("apiKey", "header", "Authorization")
    assert '"Token"' in token_auth["description"]


def test_the_schema_describes_the_bulk_contract(anon_client):
    schema = _schema(anon_client)
    post = schema["paths"]["/api/v1/tickets/bulk/"]["post"]
    request_ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    response_ref = post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    components = schema["components"]["schemas"]
    request = components[request_ref.rsplit("/", 1)[-1]]
    response = components[response_ref.rsplit("/", 1)[-1]]
    assert set(request["properties"]) == {"source", "create_missing", "tickets"}
    assert request["required"] == ["tickets"]
    assert set(response["properties"]) == {"created", "updated", "unchanged", "rejected", "results"}
    item = components[response["properties"]["results"]["items"]["$ref"].rsplit("/", 1)[-1]]
    assert set(item["properties"]) == {"index", "external_id", "status", "id", "errors"}
    assert set(item["required"]) == {"index", "external_id", "status"}


def test_every_ticket_filter_is_documented(anon_client):
    schema = _schema(anon_client)
    params = {p["name"] for p in schema["paths"]["/api/v1/tickets/"]["get"]["parameters"]}
    assert params >= {
        "site",
        "region",
        "status",
        "priority",
        "error_code",
        "source",
        "opened_after",
        "opened_before",
        "updated_since",
        "resolution",
        "search",
        "ordering",
        "page",
        "page_size",
    }


def test_the_docs_page_is_served(anon_client):
    response = anon_client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_the_docs_page_loads_swagger_ui_from_our_own_static_files(anon_client):
    html = anon_client.get("/api/docs/").content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle" in html
    assert "cdn.jsdelivr.net" not in html


def test_the_schema_describes_working_a_ticket(anon_client):
    schema = _schema(anon_client)
    paths, components = schema["paths"], schema["components"]["schemas"]
    transition = paths["/api/v1/tickets/{id}/transition/"]["post"]
    assert set(transition["responses"]) >= {"200", "400", "409"}
    request = components[
        transition["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    ]
    actions = components[request["properties"]["action"]["$ref"].split("/")[-1]]["enum"]
    assert actions == ["acknowledge", "start", "hold", "resolve", "close", "cancel", "reopen"]
    assert "revision" in request["properties"]
    assert "409" in paths["/api/v1/tickets/{id}/assign/"]["post"]["responses"]
    assert {"get", "post"} <= set(paths["/api/v1/tickets/{id}/notes/"])
    assert "get" in paths["/api/v1/tickets/{id}/history/"]
    assert "/api/v1/assignment-groups/" in paths
    ticket = components["Ticket"]["properties"]
    assert {"assignee", "assignment_group", "status_change_reason", "sla"} <= set(ticket)
    statuses = components[ticket["status"]["allOf"][0]["$ref"].split("/")[-1]]["enum"]
    assert "held" in statuses


def test_the_schema_lists_the_tmf621_operations(anon_client):
    paths = _schema(anon_client)["paths"]
    operations = {
        (path, method, op["operationId"])
        for path, item in paths.items()
        if path.startswith("/tmf-api/troubleTicket/")
        for method, op in item.items()
    }
    assert operations == {
        ("/tmf-api/troubleTicket/v4/troubleTicket", "get", "listTroubleTicket"),
        ("/tmf-api/troubleTicket/v4/troubleTicket", "post", "createTroubleTicket"),
        ("/tmf-api/troubleTicket/v4/troubleTicket/{id}", "get", "retrieveTroubleTicket"),
        ("/tmf-api/troubleTicket/v4/troubleTicket/{id}", "patch", "patchTroubleTicket"),
        ("/tmf-api/troubleTicket/v4/hub", "post", "registerListener"),
        ("/tmf-api/troubleTicket/v4/hub/{id}", "delete", "unregisterListener"),
        ("/tmf-api/troubleTicket/v4/connector/{name}/listener/{event}", "post", "listenToTroubleTicketEvent"),
    }
    listing = paths["/tmf-api/troubleTicket/v4/troubleTicket"]["get"]
    assert {"fields", "offset", "limit", "status", "severity", "lastUpdate.gt"} <= {
        p["name"] for p in listing["parameters"]
    }
    assert {"X-Total-Count", "X-Result-Count"} <= set(listing["responses"]["200"]["headers"])


def test_the_schema_lists_the_tmf642_operations(anon_client):
    paths = _schema(anon_client)["paths"]
    operations = {
        (path, method, op["operationId"])
        for path, item in paths.items()
        if path.startswith("/tmf-api/alarm/")
        for method, op in item.items()
    }
    assert operations == {
        ("/tmf-api/alarm/v4/alarm", "get", "listAlarm"),
        ("/tmf-api/alarm/v4/alarm", "post", "createAlarm"),
        ("/tmf-api/alarm/v4/alarm/{id}", "get", "retrieveAlarm"),
        ("/tmf-api/alarm/v4/alarm/{id}", "patch", "patchAlarm"),
        ("/tmf-api/alarm/v4/alarm/bulk", "post", "createAlarmsInBulk"),
        ("/tmf-api/alarm/v4/clearAlarms", "post", "createClearAlarms"),
        ("/tmf-api/alarm/v4/ackAlarms", "post", "createAckAlarms"),
        ("/tmf-api/alarm/v4/listener/{event}", "post", "listenToAlarmEvent"),
    }
    listing = paths["/tmf-api/alarm/v4/alarm"]["get"]
    assert {"fields", "offset", "limit", "state", "perceivedSeverity", "alarmChangedTime.gt"} <= {
        p["name"] for p in listing["parameters"]
    }
    assert {"X-Total-Count", "X-Result-Count"} <= set(listing["responses"]["200"]["headers"])
