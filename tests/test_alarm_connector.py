"""The TMF642 alarm connector against a real HTTP server on 127.0.0.1 that pages like TMF642:
``?alarmChangedTime.gt=&offset=&limit=``, oldest change first, and fails now and then."""

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from repair_center.models import Alarm, AlarmGroup, Connector
from repair_center.services import alarm_pull
from repair_center.services.connectors import pull_connector
from repair_center.services.grouping import group_alarms
from tests.factories import NetworkElementFactory, SiteFactory
from tests.tmf642_spec import validate

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def remote_alarm(n: int, changed: datetime, **fields) -> dict:
    body = {
        "id": n,
        "href": f"/tmf-api/alarm/v4/alarm/{n}",
        "externalAlarmId": f"X-{n}",
        "sourceSystemId": "ems-east",
        "alarmedObject": {"id": f"EL-{n % 7}"},
        "state": "raised",
        "alarmType": "Equipment Alarm",
        "perceivedSeverity": "minor",
        "probableCause": "equipmentMalfunction",
        "alarmRaisedTime": _iso(changed - timedelta(seconds=5)),
        "alarmChangedTime": _iso(changed),
        **fields,
    }
    validate(body, "Alarm")
    return body


class Tmf642Server:
    """Serves ``alarms`` filtered and paged as TMF642 does; ``fail`` holds request numbers to 503."""

    def __init__(self, alarms: list[dict]):
        self.alarms, self.fail, self.requests = alarms, set(), []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                server.requests.append(query)
                if len(server.requests) in server.fail:
                    self.send_response(503)
                    self.send_header("Retry-After", "0")
                    self.end_headers()
                    return
                rows = sorted(server.alarms, key=lambda a: (a["alarmChangedTime"], a["id"]))
                if "alarmChangedTime.gt" in query:
                    since = datetime.fromisoformat(query["alarmChangedTime.gt"].replace("Z", "+00:00"))
                    rows = [
                        a
                        for a in rows
                        if datetime.fromisoformat(a["alarmChangedTime"][:-1] + "+00:00") > since
                    ]
                if "perceivedSeverity" in query:  # TMF630 filtering: one of the comma-separated values
                    rows = [
                        a for a in rows if a["perceivedSeverity"] in query["perceivedSeverity"].split(",")
                    ]
                offset, limit = int(query.get("offset", 0)), int(query.get("limit", 100))
                body = json.dumps(rows[offset : offset + limit]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Total-Count", str(len(rows)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/tmf-api/alarm/v4/alarm"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def _local(settings, monkeypatch):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]
    settings.TICKETAI_CONNECTOR_BACKOFF_S = 0.01
    monkeypatch.setattr(alarm_pull, "PAGE_LIMIT", 4)  # many pages from a few alarms


@pytest.fixture
def server():
    remote = Tmf642Server([remote_alarm(n, T0 + timedelta(minutes=n // 3)) for n in range(20)])
    yield remote
    remote.close()


def _connector(server) -> Connector:
    return Connector.objects.create(name="ems-east", kind=Connector.Kind.ALARMS, base_url=server.url)


@pytest.mark.django_db
def test_it_imports_every_alarm_once_across_pages_of_equal_times(server):
    run = pull_connector(_connector(server).pk)

    assert run.status == "succeeded", run.error
    assert Alarm.objects.count() == 20
    assert run.created == 20 and run.rejected == 0
    assert Connector.objects.get().cursor == _iso(T0 + timedelta(minutes=6))


@pytest.mark.django_db
def test_the_connectors_query_narrows_the_alarms_it_pulls(server):
    for alarm in server.alarms[::4]:
        alarm["perceivedSeverity"] = "critical"
    connector = _connector(server)
    Connector.objects.filter(pk=connector.pk).update(query="perceivedSeverity=critical,major")
    run = pull_connector(connector.pk)

    assert (run.status, run.created) == ("succeeded", 5), run.error
    assert set(Alarm.objects.values_list("external_id", flat=True)) == {f"X-{n}" for n in range(0, 20, 4)}
    assert {q["perceivedSeverity"] for q in server.requests} == {"critical,major"}


@pytest.mark.django_db
def test_the_next_pull_asks_only_for_newer_changes_and_takes_clears(server):
    connector = _connector(server)
    pull_connector(connector.pk)
    server.alarms.append(
        remote_alarm(
            3, T0 + timedelta(hours=1), state="cleared", alarmClearedTime=_iso(T0 + timedelta(hours=1))
        )
    )
    server.alarms.append(remote_alarm(99, T0 + timedelta(hours=1)))
    server.requests.clear()

    run = pull_connector(connector.pk)

    assert run.status == "succeeded", run.error
    assert server.requests[0]["alarmChangedTime.gt"] == "2026-03-01T09:05:59.999000Z"
    assert (run.created, run.updated) == (1, 1)
    assert Alarm.objects.get(external_id="X-3").state == "cleared"
    assert Alarm.objects.count() == 21


@pytest.mark.django_db
def test_it_retries_a_failing_page_and_resumes_after_giving_up(server, settings):
    settings.TICKETAI_CONNECTOR_MAX_RETRIES = 1
    server.fail = {3, 4}  # the second page fails twice: the pull gives up after one retry
    connector = _connector(server)

    failed = pull_connector(connector.pk)
    assert failed.status == "failed" and failed.retries == 1
    kept = Alarm.objects.count()
    assert 0 < kept < 20

    resumed = pull_connector(connector.pk)
    assert resumed.status == "succeeded", resumed.error
    assert Alarm.objects.count() == 20
    assert resumed.created == 20 - kept


@pytest.mark.django_db
def test_a_remote_alarm_without_an_external_id_is_keyed_by_its_id_there_and_its_links_followed():
    # The fault-management server names its alarms by its own ids, in changes and in parentAlarm.
    # Two families on one site: only the link puts them in one group.
    site = SiteFactory(code="S-1")
    NetworkElementFactory(serial="PSU-1", site=site)
    NetworkElementFactory(serial="EL-1", site=site)
    mains = remote_alarm(7, T0, alarmedObject={"id": "PSU-1"}, probableCause="powerProblem")
    link = remote_alarm(8, T0 + timedelta(minutes=2), parentAlarm=[{"id": "7", "href": mains["href"]}])
    for alarm in (mains, link):
        del alarm["externalAlarmId"]
    del link["sourceSystemId"]  # the connector's system's
    remote = Tmf642Server([mains, link])
    try:
        connector = _connector(remote)
        assert pull_connector(connector.pk).created == 2
        cleared = T0 + timedelta(hours=1)
        remote.alarms[0] = {
            **mains,
            "state": "cleared",
            "alarmClearedTime": _iso(cleared),
            "alarmChangedTime": _iso(cleared),
        }
        run = pull_connector(connector.pk)
    finally:
        remote.close()

    assert (run.created, run.updated) == (0, 1)
    assert sorted(Alarm.objects.values_list("external_id", "state")) == [("7", "cleared"), ("8", "raised")]
    group_alarms(list(Alarm.objects.values_list("pk", flat=True)))
    [group] = AlarmGroup.objects.all()
    assert (group.size, group.root.external_id, group.root_reason) == (2, "7", "source")


@pytest.mark.django_db
def test_an_alarm_changed_in_the_future_does_not_carry_the_cursor_past_todays_changes():
    now = datetime.now(UTC)
    remote = Tmf642Server(
        [remote_alarm(1, now - timedelta(hours=1)), remote_alarm(2, now + timedelta(days=400))]
    )
    try:
        connector = _connector(remote)
        first = pull_connector(connector.id)
        remote.alarms[0] = remote_alarm(1, now + timedelta(seconds=1), state="cleared")
        second = pull_connector(connector.id)
    finally:
        remote.close()

    assert first.created == 2 and first.cursor_after <= _iso(datetime.now(UTC))
    assert second.updated == 1
    assert Alarm.objects.get(external_id="X-1").state == "cleared"
