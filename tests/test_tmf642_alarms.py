"""TMF642 alarm ingestion at /tmf-api/alarm/v4/: every body sent and received is checked against
the TM Forum specification (tests/specs/)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from repair_center.models import Alarm, UnmappedCode
from repair_center.services.alarms import alarms_expire
from repair_center.tasks import expire_alarms
from tests.factories import ErrorCodeAliasFactory, ErrorCodeFactory, NetworkElementFactory, SiteFactory
from tests.tmf642_spec import validate

URL = "/tmf-api/alarm/v4/alarm"


def alarm_body(external_id="A-1", **fields) -> dict:
    body = {
        "externalAlarmId": external_id,
        "sourceSystemId": "oss-north",
        "alarmedObject": {"id": "RU-1001", "@referredType": "NetworkElement"},
        "state": "raised",
        "alarmType": "Communications Alarm",
        "perceivedSeverity": "major",
        "probableCause": "lossOfSignal",
        "specificProblem": "NL-4711",
        "alarmRaisedTime": "2026-03-01T09:55:00Z",
        **fields,
    }
    validate(body, "Alarm_Create")
    return body


@pytest.fixture
def element(db):
    return NetworkElementFactory(serial="RU-1001", vendor="nordlink", site=SiteFactory(code="S-NORTH-1"))


def test_it_raises_an_alarm_mapped_through_the_vendor_alias(integration_client, element):
    code = ErrorCodeFactory(code="CPRI_LINK_DOWN")
    ErrorCodeAliasFactory(vendor="nordlink", raw_code="NL-4711", error_code=code)

    response = integration_client.post(URL, alarm_body(), format="json")

    assert response.status_code == 201, response.content
    validate(response.json(), "Alarm")
    alarm = Alarm.objects.get()
    assert (alarm.element, alarm.site, alarm.error_code, alarm.raw_code) == (
        element,
        element.site,
        code,
        "NL-4711",
    )
    assert response.json()["id"] == alarm.pk and response.json()["href"] == f"{URL}/{alarm.pk}"


def test_sending_the_same_alarm_again_changes_nothing(integration_client, element):
    first = integration_client.post(URL, alarm_body(), format="json")
    again = integration_client.post(URL, alarm_body(), format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert Alarm.objects.count() == 1
    assert first.json()["alarmChangedTime"] == again.json()["alarmChangedTime"]


def test_an_alarm_without_an_external_id_is_keyed_on_what_it_is(integration_client, element):
    body = alarm_body()
    del body["externalAlarmId"]
    assert integration_client.post(URL, body, format="json").status_code == 201
    assert integration_client.post(URL, body, format="json").status_code == 200
    assert Alarm.objects.get().external_id.startswith("h:")


@pytest.mark.parametrize(
    "missing",
    [
        "alarmedObject",
        "state",
        "sourceSystemId",
        "alarmRaisedTime",
        "alarmType",
        "perceivedSeverity",
        "probableCause",
    ],
)
def test_it_rejects_an_alarm_without_a_required_attribute(integration_client, missing):
    body = alarm_body()
    del body[missing]

    response = integration_client.post(URL, body, format="json")

    assert response.status_code == 400
    validate(response.json(), "Error")
    assert missing in response.json()["errors"]
    assert not Alarm.objects.exists()


def test_a_patch_clears_the_alarm_and_a_late_older_change_is_ignored(integration_client, element):
    created = integration_client.post(URL, alarm_body(), format="json").json()
    clear = {
        "state": "cleared",
        "alarmClearedTime": "2026-03-01T10:20:00Z",
        "alarmChangedTime": "2026-03-01T10:20:00Z",
    }
    validate(clear, "Alarm_Update")

    response = integration_client.patch(
        f"{URL}/{created['id']}", json.dumps(clear), content_type="application/merge-patch+json"
    )
    assert response.status_code == 200, response.content
    validate(response.json(), "Alarm")
    assert response.json()["state"] == "cleared"
    assert response.json()["alarmClearedTime"] == "2026-03-01T10:20:00Z"

    late = {"perceivedSeverity": "critical", "alarmChangedTime": "2026-03-01T10:00:00Z"}
    assert integration_client.patch(f"{URL}/{created['id']}", late, format="json").status_code == 200
    alarm = Alarm.objects.get()
    assert (alarm.state, alarm.perceived_severity) == ("cleared", "major")


def test_a_cleared_severity_clears_the_alarm(integration_client, element):
    integration_client.post(URL, alarm_body(), format="json")
    body = alarm_body(perceivedSeverity="cleared", state="updated", alarmChangedTime="2026-03-01T10:05:00Z")
    assert integration_client.post(URL, body, format="json").status_code == 200
    alarm = Alarm.objects.get()
    assert alarm.state == "cleared" and alarm.cleared_at.isoformat() == "2026-03-01T10:05:00+00:00"
    # The row keeps the severity it was raised with; the TMF642 resource says "cleared", and only a
    # "cleared" filter finds it.
    assert alarm.perceived_severity == "major"
    assert integration_client.get(f"{URL}/{alarm.pk}").json()["perceivedSeverity"] == "cleared"
    found = {
        severity: [a["id"] for a in integration_client.get(URL, {"perceivedSeverity": severity}).json()]
        for severity in ("cleared", "major")
    }
    assert found == {"cleared": [alarm.pk], "major": []}


def test_a_clear_by_severity_that_raced_the_raise_keeps_the_raised_severity(integration_client, element):
    # Two batches at once: the clear's batch read no stored alarm, so it writes the whole row; the
    # raise's batch committed first. The upsert keeps the raised severity and takes the clear.
    from django.db import transaction

    from repair_center.alarm_documents import parse_alarm
    from repair_center.services import alarms as service

    clear = alarm_body(perceivedSeverity="cleared", state="cleared", alarmChangedTime="2026-03-01T10:05:00Z")
    fields = parse_alarm(clear)
    key = (fields.pop("source_system"), fields.pop("external_id"))
    row = service._merge(None, fields, now=timezone.now())
    integration_client.post(URL, alarm_body(), format="json")
    with transaction.atomic():
        service._resolve({key: row})
        service._copy_upsert({key: row}, now=timezone.now())
    alarm = Alarm.objects.get()
    assert (alarm.state, alarm.perceived_severity) == ("cleared", "major")


def test_an_alarm_cleared_by_state_reads_cleared_too_and_patterns_match_it_so(integration_client, element):
    integration_client.post(URL, alarm_body("A-1"), format="json")
    integration_client.post(URL, alarm_body("A-2"), format="json")
    clear = {"state": "cleared", "alarmClearedTime": "2026-03-01T10:05:00Z"}
    created = integration_client.get(URL, {"externalAlarmId": "A-1"}).json()[0]
    integration_client.patch(f"{URL}/{created['id']}", clear, format="json")
    assert integration_client.get(f"{URL}/{created['id']}").json()["perceivedSeverity"] == "cleared"
    task = {"alarmPattern": [{"perceivedSeverity": "major"}], "ackUserId": "jane", "ackSystemId": "noc"}
    response = integration_client.post("/tmf-api/alarm/v4/ackAlarms", task, format="json")
    assert response.status_code == 201, response.content
    acked = dict(Alarm.objects.values_list("external_id", "ack_state"))
    assert acked == {"A-1": "unacknowledged", "A-2": "acknowledged"}


def test_patching_an_alarm_that_does_not_exist_is_a_404(integration_client):
    response = integration_client.patch(f"{URL}/999999", {"state": "cleared"}, format="json")
    assert response.status_code == 404
    validate(response.json(), "Error")


def test_clear_alarms_clears_every_alarm_a_pattern_matches(integration_client, element):
    for i in range(3):
        integration_client.post(URL, alarm_body(f"A-{i}"), format="json")
    integration_client.post(URL, alarm_body("B-1", probableCause="powerProblem"), format="json")
    task = {
        "alarmClearedTime": "2026-03-01T11:00:00Z",
        "clearSystemId": "noc",
        "clearUserId": "jane",
        "alarmPattern": [{"probableCause": "lossOfSignal", "alarmedObject": {"id": "RU-1001"}}],
    }
    validate(task, "ClearAlarms_Create")

    response = integration_client.post("/tmf-api/alarm/v4/clearAlarms", task, format="json")

    assert response.status_code == 201, response.content
    validate(response.json(), "ClearAlarms")
    assert len(response.json()["clearedAlarm"]) == 3
    assert set(Alarm.objects.values_list("external_id", "state")) == {
        ("A-0", "cleared"),
        ("A-1", "cleared"),
        ("A-2", "cleared"),
        ("B-1", "raised"),
    }
    assert set(Alarm.objects.filter(state="cleared").values_list("clear_user", flat=True)) == {"jane"}


def test_ack_alarms_acknowledges_the_matched_alarms(integration_client, element):
    ids = [integration_client.post(URL, alarm_body(f"A-{i}"), format="json").json()["id"] for i in range(2)]
    task = {"ackSystemId": "noc", "ackUserId": "jane", "alarmPattern": [{"id": ids[0]}]}
    validate(task, "AckAlarms_Create")

    response = integration_client.post("/tmf-api/alarm/v4/ackAlarms", task, format="json")

    assert response.status_code == 201, response.content
    validate(response.json(), "AckAlarms")
    assert [ref["id"] for ref in response.json()["ackedAlarm"]] == [ids[0]]
    assert Alarm.objects.get(pk=ids[0]).ack_state == "acknowledged"
    assert Alarm.objects.get(pk=ids[1]).ack_state == "unacknowledged"


def test_a_pattern_on_an_attribute_it_cannot_match_is_a_400(integration_client):
    task = {"ackSystemId": "noc", "ackUserId": "jane", "alarmPattern": [{"comment": []}]}
    response = integration_client.post("/tmf-api/alarm/v4/ackAlarms", task, format="json")
    assert response.status_code == 400
    validate(response.json(), "Error")


@pytest.mark.parametrize("severity", ["ma\x00jor", "x" * 201])
def test_a_severity_pattern_no_alarm_could_hold_is_a_400(integration_client, severity):
    task = {"ackSystemId": "noc", "ackUserId": "jane", "alarmPattern": [{"perceivedSeverity": severity}]}
    response = integration_client.post("/tmf-api/alarm/v4/ackAlarms", task, format="json")
    assert response.status_code == 400, response.content
    validate(response.json(), "Error")


def test_the_list_filters_pages_and_counts(
    engineer_client, integration_client, element, django_assert_max_num_queries
):
    for i in range(5):
        severity = "critical" if i % 2 else "minor"
        changed = f"2026-03-01T10:0{i}:00Z"
        body = alarm_body(f"A-{i}", perceivedSeverity=severity, alarmChangedTime=changed)
        integration_client.post(URL, body, format="json")

    with django_assert_max_num_queries(6):
        response = engineer_client.get(URL, {"perceivedSeverity": "minor", "limit": 1, "offset": 1})
    assert response.status_code == 200
    validate(response.json(), "Alarm", many=True)
    assert [a["externalAlarmId"] for a in response.json()] == ["A-2"]
    assert (response["X-Total-Count"], response["X-Result-Count"]) == ("3", "1")

    newer = engineer_client.get(URL, {"alarmChangedTime.gt": "2026-03-01T10:02:00Z", "fields": "state"})
    assert [sorted(a) for a in newer.json()] == [["href", "id", "state"]] * 2

    bad = engineer_client.get(URL, {"alarmChangedTime.gt": "yesterday"})
    assert bad.status_code == 400
    validate(bad.json(), "Error")


def test_the_bulk_path_writes_the_good_alarms_of_a_batch_and_rejects_the_bad_one(integration_client, element):
    bodies = [alarm_body(f"S-{i}") for i in range(300)]
    bodies[7] = {**bodies[7], "perceivedSeverity": "apocalyptic"}
    bodies.append(alarm_body("S-0", state="cleared", alarmChangedTime="2026-03-01T10:30:00Z"))

    response = integration_client.post(f"{URL}/bulk", {"alarms": bodies}, format="json")

    assert response.status_code == 200, response.content
    assert {k: response.json()[k] for k in ("created", "updated", "rejected")} == {
        "created": 299,
        "updated": 1,
        "rejected": 1,
    }
    assert response.json()["results"][7]["errors"]["perceivedSeverity"]
    assert Alarm.objects.count() == 299
    assert Alarm.objects.get(external_id="S-0").state == "cleared"


def test_an_unknown_vendor_code_is_kept_for_curation(integration_client, element):
    integration_client.post(URL, alarm_body(specificProblem="NL-9999"), format="json")
    assert Alarm.objects.get().error_code is None
    assert UnmappedCode.objects.filter(vendor="nordlink", raw_code="NL-9999", occurrences=1).exists()


def test_a_fault_management_system_posts_alarms_and_reads_nothing(fault_management_client, element):
    assert fault_management_client.post(URL, alarm_body(), format="json").status_code == 201
    assert fault_management_client.get(URL).status_code == 403
    assert fault_management_client.get("/api/v1/tickets/").status_code == 403
    assert fault_management_client.post("/api/v1/tickets/", {}, format="json").status_code == 403


def test_alarms_past_the_retention_are_deleted(integration_client, element, settings):
    settings.TICKETAI_ALARM_RETENTION_DAYS = 7
    now = timezone.now()
    for i, age in enumerate((1, 6, 8, 30)):
        changed = (now - timedelta(days=age)).isoformat()
        integration_client.post(URL, alarm_body(f"R-{i}", alarmRaisedTime=changed), format="json")

    assert expire_alarms()["deleted"] == 2
    assert sorted(Alarm.objects.values_list("external_id", flat=True)) == ["R-0", "R-1"]
    assert alarms_expire() == 0


def test_a_body_that_is_not_json_is_a_tmf_error(integration_client):
    response = integration_client.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    validate(response.json(), "Error")
