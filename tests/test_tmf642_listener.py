"""TicketAI as a TMF642 listener: a fault-management system that serves TMF642 itself registers
TicketAI's callback at its hub (``manage.py tmf_subscribe``) and POSTs its alarm events to
``{callback}/listener/<event>``. Every event sent and every answer is checked against the TM Forum
specification (tests/specs/)."""

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.core.management import CommandError, call_command

from repair_center.models import Alarm, ApiToken, Connector
from tests.factories import NetworkElementFactory, SiteFactory, UserFactory
from tests.test_tmf642_alarms import alarm_body
from tests.tmf642_spec import validate

BASE = "/tmf-api/alarm/v4"


def event(kind: str, alarm: dict, event_id: str = "ev-1") -> dict:
    body = {
        "eventId": event_id,
        "eventTime": "2026-03-01T09:56:00Z",
        "eventType": kind[0].upper() + kind[1:],
        "event": {"alarm": alarm},
    }
    validate(body, kind[0].upper() + kind[1:])
    return body


# The alarm as the system's own resource: its id there, no externalAlarmId.
RAISED = {
    **{k: v for k, v in alarm_body(sourceSystemId="fm-east").items() if k != "externalAlarmId"},
    "id": 9001,
    "href": "https://fm.example/tmf-api/alarm/v4/alarm/9001",
    "alarmChangedTime": "2026-03-01T09:55:00Z",
}


@pytest.fixture
def element(db):
    return NetworkElementFactory(serial="RU-1001", vendor="nordlink", site=SiteFactory(code="S-NORTH-1"))


def _post(client, kind: str, body) -> dict:
    response = client.post(f"{BASE}/listener/{kind}", body, format="json")
    assert response.status_code == 201, response.content
    validate(response.json(), "EventSubscription")
    return response.json()


def test_an_alarm_raised_changed_and_cleared_on_the_fm_system_follows_it_here(
    fault_management_client, element
):
    answer = _post(fault_management_client, "alarmCreateEvent", event("alarmCreateEvent", RAISED))

    alarm = Alarm.objects.get()
    assert (alarm.source_system, alarm.external_id, alarm.element) == ("fm-east", "9001", element)
    assert answer["id"] == "ev-1" and answer["alarm"] == {
        "id": alarm.pk,
        "href": f"{BASE}/alarm/{alarm.pk}",
        "status": "created",
    }
    # About a stored alarm, an event may carry only what changed, with the alarm's id there.
    changed = {"id": 9001, "perceivedSeverity": "critical", "alarmChangedTime": "2026-03-01T09:57:00Z"}
    assert (
        _post(
            fault_management_client,
            "alarmAttributeValueChangeEvent",
            event("alarmAttributeValueChangeEvent", changed),
        )["alarm"]["status"]
        == "updated"
    )
    cleared = {  # the whole resource, as the system holds it now
        **RAISED,
        "perceivedSeverity": "critical",
        "state": "cleared",
        "alarmClearedTime": "2026-03-01T10:20:00Z",
        "alarmChangedTime": "2026-03-01T10:20:00Z",
    }
    _post(fault_management_client, "alarmStateChangeEvent", event("alarmStateChangeEvent", cleared, "ev-3"))
    again = _post(
        fault_management_client, "alarmStateChangeEvent", event("alarmStateChangeEvent", cleared, "ev-3")
    )
    assert again["alarm"]["status"] == "unchanged"  # a notification sent twice

    alarm.refresh_from_db()
    assert (alarm.state, alarm.perceived_severity) == ("cleared", "critical")
    assert alarm.cleared_at.isoformat() == "2026-03-01T10:20:00+00:00"
    # Dropped from the system's list: its history stays here for correlation.
    _post(fault_management_client, "alarmDeleteEvent", event("alarmDeleteEvent", {"id": 9001}))
    assert Alarm.objects.filter(pk=alarm.pk).exists()


def test_an_alarm_without_a_source_system_is_the_posting_systems(fault_management_client, element):
    raised = {key: value for key, value in RAISED.items() if key != "sourceSystemId"}
    _post(fault_management_client, "alarmCreateEvent", event("alarmCreateEvent", raised))
    assert Alarm.objects.get().source_system == "fm"  # the fault-management client's user name


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        ("alarmCreateEvent", {"eventId": "x"}, "must hold the alarm"),
        (
            "alarmCreateEvent",
            {"event": {"alarm": {"state": "raised"}}},
            "neither an externalAlarmId nor an id",
        ),
        (
            "alarmStateChangeEvent",
            {"event": {"alarm": {"id": 1, "state": "cleared"}}},
            "no alarm fm/1 is stored: an event about a new alarm needs every Alarm_Create attribute",
        ),
        ("alarmCreateEvent", {"event": {"alarm": {**RAISED, "perceivedSeverity": "loud"}}}, "must be one of"),
    ],
)
def test_an_event_this_listener_cannot_use_is_a_tmf_error(
    fault_management_client, element, kind, body, message
):
    response = fault_management_client.post(f"{BASE}/listener/{kind}", body, format="json")
    assert response.status_code == 400
    validate(response.json(), "Error")
    assert message in response.json()["message"]
    assert not Alarm.objects.exists()


def test_an_event_ticketai_does_not_listen_to_is_a_404(fault_management_client):
    response = fault_management_client.post(f"{BASE}/listener/commentAlarmsCreateEvent", {}, format="json")
    assert response.status_code == 404 and "alarmCreateEvent" in response.json()["message"]


def test_engineers_may_not_post_alarm_events(engineer_client, element):
    response = engineer_client.post(
        f"{BASE}/listener/alarmCreateEvent", event("alarmCreateEvent", RAISED), format="json"
    )
    assert response.status_code == 403 and not Alarm.objects.exists()


class FakeHub:
    """A TMF642 system's hub on 127.0.0.1: takes registrations and forgets them."""

    def __init__(self, token: str):
        self.subscriptions: dict[str, dict] = {}
        self.calls: list[tuple[str, str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: dict | None = None):
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                hub.calls.append(("POST", self.path, self.headers.get("Authorization", "")))
                if self.headers.get("Authorization") != f"Bearer {token}":
                    return self._answer(401, {"code": "401", "reason": "Unauthorized"})
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                ident = str(len(hub.subscriptions) + 1)
                hub.subscriptions[ident] = body
                self._answer(201, {"id": ident, **body})

            def do_DELETE(self):
                hub.calls.append(("DELETE", self.path, self.headers.get("Authorization", "")))
                found = hub.subscriptions.pop(self.path.rsplit("/", 1)[-1], None)
                self._answer(204 if found else 404)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/tmf-api/alarm/v4/hub"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.slow
def test_subscribed_at_a_fm_hub_ticketai_takes_the_events_it_sends(live_server, settings, element):
    """The whole loop over real HTTP: register at the hub, then the system notifies the callback."""
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]
    hub = FakeHub("hub-token")
    try:
        out, err = io.StringIO(), io.StringIO()
        callback = f"{live_server.url}{BASE}"
        call_command(
            "tmf_subscribe",
            hub.url,
            "--callback",
            callback,
            "--query",
            "eventType=AlarmCreateEvent",
            "--token",
            "hub-token",
            stdout=out,
            stderr=err,
        )
        ident = out.getvalue().strip()
        assert hub.subscriptions[ident] == {"callback": callback, "query": "eventType=AlarmCreateEvent"}
        validate(hub.subscriptions[ident], "EventSubscriptionInput")

        # The system notifies what its hub holds, with the token TicketAI gave it.
        _, token = ApiToken.issue(user=UserFactory(username="fm-east", roles=["fault_management"]))
        listener = hub.subscriptions[ident]["callback"] + "/listener/alarmCreateEvent"
        response = httpx.post(
            listener, json=event("alarmCreateEvent", RAISED), headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 201, response.text
        assert Alarm.objects.get().external_id == "9001"

        call_command(
            "tmf_subscribe", hub.url, "--remove", ident, "--token", "hub-token", stdout=out, stderr=err
        )
        assert hub.subscriptions == {} and "removed" in err.getvalue()
        with pytest.raises(CommandError, match="answered HTTP 401"):
            call_command("tmf_subscribe", hub.url, "--callback", callback, stdout=out, stderr=err)
    finally:
        hub.close()


@pytest.mark.parametrize(
    ("kind", "path", "hub"),
    [
        ("tmf642-alarms", "/tmf-api/alarm/v4/alarm", "/tmf-api/alarm/v4/hub"),
        ("tickets", "/tmf-api/troubleTicket/v4", "/tmf-api/troubleTicket/v4/hub"),
    ],
)
def test_subscribing_through_a_connector_uses_its_hub_and_its_sealed_credentials(
    db, settings, kind, path, hub
):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]
    remote = FakeHub("hub-token")
    try:
        root = remote.url.removesuffix("/tmf-api/alarm/v4/hub")
        preset = "tmf621" if kind == "tickets" else "generic"
        Connector.objects.create(
            name="fm-east", kind=kind, preset=preset, base_url=root + path, auth_token="hub-token"
        )
        out, err = io.StringIO(), io.StringIO()

        call_command(
            "tmf_subscribe",
            "--connector",
            "fm-east",
            "--callback",
            "https://ticketai.example/x",
            stdout=out,
            stderr=err,
        )

        assert remote.calls == [("POST", hub, "Bearer hub-token")]
        assert remote.subscriptions[out.getvalue().strip()]["callback"] == "https://ticketai.example/x"
    finally:
        remote.close()


def test_subscribing_through_a_connector_whose_secret_no_key_opens_says_so(db, settings):
    Connector.objects.create(
        name="fm-east", kind="tmf642-alarms", base_url="https://fm.example/a", auth_token="t"
    )
    settings.SECRET_KEY = "a-key-that-did-not-seal-it-" + "q" * 30
    with pytest.raises(CommandError, match="SECRET_KEY_FALLBACKS"):
        call_command("tmf_subscribe", "--connector", "fm-east", "--callback", "https://t.example/x")
    with pytest.raises(CommandError, match="no connector named 'nobody'"):
        call_command("tmf_subscribe", "--connector", "nobody", "--callback", "https://t.example/x")
