"""What the hostile-input tests share (SECURITY.md, threat 9): the classes of bad input and the world
the rows write to.

The tests are split by what they send bad input to: the API's write operations
(``test_hostile_input_api.py``, rows in ``hostile_input_operations.py``), the importers
(``test_hostile_input_files.py``) and the pages that take a POST (``test_hostile_input_pages.py``).
"""

import dataclasses
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from django.test import override_settings
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from rest_framework.test import APIClient

from ml.fleet import edge
from ml.models import WebhookDelivery, WebhookSubscription
from repair_center.models import Alarm, ApiToken, AssignmentGroup, Connector, Ticket
from repair_center.services.alarms import alarms_upsert
from repair_center.services.tickets import tickets_upsert
from tests.factories import (
    ErrorCodeAliasFactory,
    ErrorCodeFactory,
    ModelVersionFactory,
    NetworkElementFactory,
    RepairRecordFactory,
    ResolutionCodeFactory,
    SiteFactory,
    UserFactory,
)

MARK = "HOSTILE-MARK"  # stands for the bad value in the JSON text, for what json.dumps cannot write


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


# --- The classes of bad input ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Bad:
    """A bad value for one kind of field (text, number, date, json) or a bad body (carrier "body")."""

    carrier: str
    value: Any = None
    raw: Callable[[bytes, str], bytes] | None = None  # the body's JSON text -> the bytes to send
    status: int | None = None  # when it must be exactly this (413); else any 4xx

    @property
    def per_item(self) -> bool:
        return self.carrier != "body"


def _replace_mark(replacement: bytes) -> Callable[[bytes, str], bytes]:
    return lambda body, key: body.replace(f'"{MARK}"'.encode(), replacement, 1)


BAD: dict[str, Bad] = {
    "lone-surrogate": Bad("text", "x\ud800y"),
    "nul": Bad("text", "x\x00y"),
    "huge-string": Bad("text", "x" * 1_100_000),
    "wrong-type": Bad("text", {"not": ["a string"]}),
    "deep-nesting": Bad("json", _nested(200)),
    "nan": Bad("number", "nan"),
    "infinity": Bad("number", "-Infinity"),
    "negative": Bad("unsigned", -5),
    "huge-number": Bad("number", 1e308),
    "impossible-date": Bad("date", "2026-13-45T00:00:00Z"),
    "impossible-offset": Bad("date", "2026-01-01T00:00:00+99:00"),
    "year-1-in-utc": Bad("date", "0001-01-01T00:00:00+01:00"),
    # Whole bodies: nothing of the request may be stored.
    "invalid-utf8": Bad("body", raw=_replace_mark(b'"caf\xe9 \xff\xfe"')),
    "nan-literal": Bad("body", raw=_replace_mark(b"NaN")),
    "infinity-literal": Bad("body", raw=_replace_mark(b"-Infinity")),
    "duplicate-key": Bad(
        "body",
        raw=lambda body, key: body.replace(
            f'"{key}": "{MARK}"'.encode(), f'"{key}": "first", "{key}": "second"'.encode(), 1
        ),
    ),
    "deep-body": Bad("body", raw=lambda body, key: b"[" * 100_000 + b"]" * 100_000),
    "huge-body": Bad("body", raw=lambda body, key: b'{"x": "' + b"x" * 70_000 + b'"}', status=413),
    "not-an-object": Bad("body", raw=lambda body, key: b'["a", "list"]'),
    "empty-body": Bad("body", raw=lambda body, key: b""),
}


# --- The world the rows write to, committed once for the module ---------------------------------


def committed_world(django_db_blocker):
    """What a module's ``world`` fixture (module scope) yields: committed first, deleted at the end."""
    made: list = []

    def keep(obj):
        made.append(obj)
        return obj

    fast_hashing = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    with fast_hashing, django_db_blocker.unblock():
        try:
            yield _build_world(keep)
        finally:
            for obj in reversed(made):
                type(obj).objects.filter(pk=obj.pk).delete()


def _build_world(keep) -> SimpleNamespace:
    w = SimpleNamespace()
    w.site = keep(SiteFactory(code="HI-SITE"))
    w.element = keep(NetworkElementFactory(site=w.site, serial="HI-EL-1"))
    w.error_code = keep(ErrorCodeFactory(code="HI_ALARM"))
    w.alias = keep(ErrorCodeAliasFactory(raw_code="HI-RAW", error_code=w.error_code))
    w.resolution = keep(ResolutionCodeFactory(code="HI_FIX"))
    [result] = tickets_upsert(
        documents=[{"external_id": "HI-1", "title": "hostile world", "site": w.site.code}], source="hi"
    )
    w.ticket = keep(Ticket.objects.get(pk=result.id))
    w.group = keep(AssignmentGroup.objects.create(name="HI crew"))
    [raised] = alarms_upsert(documents=[alarm_document("HI-A-1")])
    w.alarm = keep(Alarm.objects.get(pk=raised.id))
    w.repair = keep(RepairRecordFactory(rma_id="HI-RMA-1"))
    w.webhook = keep(
        WebhookSubscription.objects.create(url="https://93.184.215.14/h", events=["feedback.recorded"])
    )
    w.connector = keep(  # a TMF621 system whose hub notifies TicketAI's listener
        Connector.objects.create(
            name="hi-tt", preset="tmf621", base_url="https://93.184.215.14/tmf-api/troubleTicket/v4"
        )
    )
    w.hub = keep(
        WebhookSubscription.objects.create(
            url="https://93.184.215.14/tmf", kind="tmf621", events=["TroubleTicketCreateEvent"]
        )
    )
    w.delivery = WebhookDelivery.objects.create(
        subscription=w.webhook, event="feedback.recorded", status="failed"
    )
    w.version = keep(ModelVersionFactory(base_model="hi", data_fingerprint="h" * 64))
    enrolment, w.agent_token = edge.enrolment_token_issue(site=w.site)
    keep(enrolment)
    w.agent, raw = edge.agent_enrol(token=w.agent_token, name="hi-agent", capabilities={})
    keep(w.agent)
    w.agent_auth = f"Agent {raw}"
    unused, w.enrolment_raw = edge.enrolment_token_issue(site=w.site)  # what the enrol row spends
    keep(unused)
    w.users = {
        role: keep(UserFactory(username=f"hi-{role}", roles=[role], is_superuser=role == "admin"))
        for role in ("engineer", "integration", "admin")
    }
    w.tokens = {role: ApiToken.issue(user=user, name="hostile")[1] for role, user in w.users.items()}
    w.handler = APIClient().handler
    crontab = keep(CrontabSchedule.objects.create(minute="0", hour="2"))
    w.task = keep(PeriodicTask.objects.create(name="hi-retrain", task="ml.tasks.hi_probe", crontab=crontab))
    return w


def client_as(world, role: str) -> APIClient:
    client = APIClient()
    # One handler for the module: a new one scans every static file (WhiteNoise) on its first request.
    client.handler = world.handler
    if role == "agent":
        client.credentials(HTTP_AUTHORIZATION=world.agent_auth)
    elif role != "anonymous":
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")
    return client


def alarm_document(external_id: str) -> dict:
    return {
        "externalAlarmId": external_id,
        "sourceSystemId": "hi-fm",
        "alarmedObject": {"id": "HI-EL-1"},
        "state": "raised",
        "alarmType": "Equipment Alarm",
        "perceivedSeverity": "major",
        "probableCause": "HI-RAW",
        "alarmRaisedTime": "2026-01-02T03:04:05Z",
        "alarmDetails": "fan failure",
        "comment": [{"comment": "seen before"}],
    }
