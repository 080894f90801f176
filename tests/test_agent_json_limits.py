"""JSON that agents and integrations write is bounded in depth and size (SECURITY.md, finding 5).

An agent once posted a heartbeat ``status`` nested 900 deep: the API stored it (201) and the admin
change page of that agent, the page used to revoke it, then failed with a RecursionError. Now such
JSON is a 400 naming the field, and what is accepted renders in the admin.
"""

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from rest_framework.test import APIClient

from ml.fleet import edge
from ml.models import EdgeAgent, EdgeReport, EnrolmentToken
from repair_center.models import Connector
from tests.factories import SiteFactory
from ticketai.storable import AGENT_JSON_BYTES, AGENT_JSON_DEPTH

pytestmark = pytest.mark.django_db


def _nested(depth: int) -> str:
    """JSON text of objects nested ``depth`` deep (written by hand: json.dumps would recurse)."""
    return '{"a": ' * depth + "1" + "}" * depth


def _agent() -> tuple[EdgeAgent, APIClient]:
    _, token = edge.enrolment_token_issue(site=SiteFactory())
    agent, raw = edge.agent_enrol(token=token, name="a", capabilities={})
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {raw}")
    return agent, client


def _post(client, url: str, body: str):
    return client.post(url, body.encode(), content_type="application/json")


@pytest.mark.parametrize(
    ("url", "field", "body"),
    [
        ("/api/v1/edge/heartbeat/", "status", '{"status": %s}'),
        ("/api/v1/edge/heartbeat/", "capabilities", '{"capabilities": %s}'),
        ("/api/v1/edge/reports/", "metrics", '{"kind": "head_retrained", "metrics": %s}'),
    ],
)
@pytest.mark.parametrize("depth", [AGENT_JSON_DEPTH + 1, 200, 900])
def test_json_nested_deeper_than_the_limit_is_a_400_naming_the_field(url, field, body, depth):
    agent, client = _agent()
    response = _post(client, url, body % _nested(depth))
    assert response.status_code == 400, response.content[:300]
    errors = response.json()
    if depth == 900 and "detail" in errors:
        # How deep the decoder gets depends on the stack it starts from (shallower under gunicorn,
        # where 900 levels decoded); deeper than that, the parser itself answers 400.
        assert errors["detail"] == "JSON parse error - nested too deep"
    else:
        assert f"nested deeper than {AGENT_JSON_DEPTH} levels" in json.dumps(errors[field])
    agent.refresh_from_db()
    assert (agent.last_status, agent.capabilities) == ({}, {})
    assert not EdgeReport.objects.exists()


def test_json_larger_than_the_limit_is_a_400():
    _, client = _agent()
    status = {"log": "x" * AGENT_JSON_BYTES}
    response = client.post("/api/v1/edge/heartbeat/", {"status": status}, format="json")
    assert response.status_code == 400
    assert f"larger than {AGENT_JSON_BYTES} bytes" in response.json()["status"][0]


def test_an_enrolment_with_hostile_capabilities_is_refused_and_leaves_the_token_unspent():
    enrolment, token = edge.enrolment_token_issue(site=SiteFactory())
    body = '{"token": "' + token + '", "name": "a", "capabilities": ' + _nested(900) + "}"
    response = _post(APIClient(), "/api/v1/edge/enrol/", body)
    assert response.status_code == 400, response.content[:300]
    enrolment.refresh_from_db()
    assert enrolment.used_at is None and not EdgeAgent.objects.exists()


def test_what_an_agent_may_write_renders_on_the_admin_pages_used_to_revoke_it(admin_user):
    agent, client = _agent()
    deepest = _nested(AGENT_JSON_DEPTH - 1)  # inside "status", the limit exactly
    largest = json.dumps({"log": "x" * (AGENT_JSON_BYTES - 100)})
    assert _post(client, "/api/v1/edge/heartbeat/", '{"status": ' + deepest + "}").status_code == 200
    assert _post(client, "/api/v1/edge/heartbeat/", '{"capabilities": ' + largest + "}").status_code == 200
    report = _post(client, "/api/v1/edge/reports/", '{"kind": "k", "metrics": ' + deepest + "}")
    assert report.status_code == 201
    browser = Client()
    browser.force_login(admin_user)
    for url in (
        f"/admin/ml/edgeagent/{agent.pk}/change/",
        f"/admin/ml/edgereport/{report.json()['id']}/change/",
        "/admin/ml/edgeagent/",
        "/admin/ml/edgereport/",
    ):
        page = browser.get(url)
        assert page.status_code == 200, (url, page.content[:300])
    assert EnrolmentToken.objects.count() == 1


def test_a_connector_field_mapping_is_bounded_like_agent_json():
    connector = Connector(name="remote", base_url="https://tickets.example.com/api/")
    connector.field_mapping = json.loads(_nested(AGENT_JSON_DEPTH + 1))
    with pytest.raises(ValidationError) as refused:
        connector.full_clean()
    assert "field_mapping" in refused.value.message_dict
