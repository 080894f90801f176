"""Hostile input against every write endpoint and every importer, table-driven (SECURITY.md, threat 9).

Each class of bad input (lone surrogates, NUL, invalid UTF-8, deep nesting, huge strings and
bodies, NaN and infinities, negative and huge numbers, impossible dates and offsets, repeated keys,
wrong types; for files also oversized CSV fields, unterminated quotes, BOMs and mixed line ends)
goes to every write operation of the API and every importer. The answer must be a 4xx with a
reason, never a 5xx; where a batch carries the bad item, that item is refused with its reason and
the good items of the same batch are stored.

The tables are checked against what exists: a write operation of the OpenAPI schema, a page that
takes a POST, or an ``import_*`` command without a row fails ``test_every_*_has_a_row``, as the
permission matrix does for routes.
"""

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.management import call_command, get_commands
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from ml.fleet import edge
from ml.models import (
    EdgePrediction,
    EnrolmentToken,
    Feedback,
    ModelVersion,
    TrainingRun,
    WebhookDelivery,
    WebhookSubscription,
)
from repair_center.models import Alarm, ApiToken, AssignmentGroup, RepairRecord, Site, Ticket, WorkNote
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

pytestmark = pytest.mark.slow  # an exhaustive matrix: every write path against every hostile input

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


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
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
    [raised] = alarms_upsert(documents=[_alarm("HI-A-1")])
    w.alarm = keep(Alarm.objects.get(pk=raised.id))
    w.repair = keep(RepairRecordFactory(rma_id="HI-RMA-1"))
    w.webhook = keep(
        WebhookSubscription.objects.create(url="https://93.184.215.14/h", events=["feedback.recorded"])
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


def _client(world, role: str) -> APIClient:
    client = APIClient()
    # One handler for the module: a new one scans every static file (WhiteNoise) on its first request.
    client.handler = world.handler
    if role == "agent":
        client.credentials(HTTP_AUTHORIZATION=world.agent_auth)
    elif role != "anonymous":
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")
    return client


# --- Write operations of the API ----------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _ticket(external_id: str, **fields) -> dict:
    return {
        "external_id": external_id,
        "title": "link down",
        "opened_at": "2026-01-02T03:04:05Z",
        "events": [{"at": "2026-01-02T03:04:05Z", "kind": "alarm_raised", "attrs": {"port": 1}}],
        **fields,
    }


def _prediction(key: str) -> dict:
    return {
        "idempotency_key": key,
        "source": "hi",
        "external_id": f"T-{key}",
        "model_version": "b1",
        "resolution": "HI_FIX",
        "confidence": 0.5,
        "latency_ms": 1.0,
        "predicted_at": _now(),
    }


@dataclasses.dataclass(frozen=True)
class Op:
    role: str
    body: Callable | None  # (world) -> a body the operation accepts; None: it takes no body
    text: str = ""  # where each kind of bad value goes, as a dotted path into the body
    number: str = ""
    unsigned: bool = False  # a negative number is invalid there too
    date: str = ""
    json: str = ""
    stored: Callable | None = None  # batches: (world) -> how many good items of the batch are stored
    empty_ok: bool = False  # every field is optional: an empty body is a valid request
    url: Callable = lambda w: {}  # (world) -> the path's arguments

    def carrier(self, kind: str) -> str:
        if kind == "unsigned":
            return self.number if self.unsigned else ""
        return getattr(self, kind)


def _bulk(w) -> dict:
    return {"source": "hi-bulk", "tickets": [_ticket("B-0"), _ticket("B-1"), _ticket("B-2")]}


def _bulk_stored(w) -> int:
    return Ticket.objects.filter(source="hi-bulk", external_id__in=["B-0", "B-2"]).count()


def _predictions(w) -> dict:
    return {"predictions": [_prediction("p-0"), _prediction("p-1"), _prediction("p-2")]}


def _predictions_stored(w) -> int:
    return EdgePrediction.objects.filter(agent=w.agent, idempotency_key__in=["p-0", "p-2"]).count()


def _site(w, **fields) -> dict:
    return {"code": "HI-NEW", "name": "new site", "latitude": 1.5, **fields}


def _what_if(w) -> dict:
    return {
        "site": w.site.pk,
        "profile": {"cpu_ghz": 2.0},
        "candidates": [
            {
                "name": "c1",
                "role": "student",
                "precision": "int8",
                "size_bytes": 1000,
                "latency_ms": 5,
                "accuracy": 0.9,
                "serve_memory_mb": 100,
                "full_train_examples_per_s": 10,
                "full_train_memory_mb": 500,
                "head_train_examples_per_s": 100,
            }
        ],
    }


TICKET = {"text": "title", "date": "opened_at", "json": "events.0.attrs"}
ALARM = {"text": "alarmDetails", "date": "alarmRaisedTime", "json": "comment"}


def _alarm(external_id: str) -> dict:
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


ID = {"url": lambda w: {"id": w.ticket.pk}}

OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/api/v1/tickets/"): Op("integration", lambda w: _ticket("S-1"), **TICKET),
    ("PUT", "/api/v1/tickets/{id}/"): Op(
        "integration", lambda w: _ticket("HI-1", source="hi"), **TICKET, **ID
    ),
    ("PATCH", "/api/v1/tickets/{id}/"): Op("integration", lambda w: _ticket("HI-1"), **TICKET, **ID),
    ("POST", "/api/v1/tickets/bulk/"): Op(
        "integration",
        _bulk,
        text="tickets.1.title",
        date="tickets.1.opened_at",
        json="tickets.1.events.0.attrs",
        stored=_bulk_stored,
    ),
    ("POST", "/api/v1/recommendations/"): Op("engineer", lambda w: _ticket("D-1"), **TICKET),
    ("POST", "/api/v1/tickets/{ticket_id}/feedback/"): Op(
        "engineer",
        lambda w: {"action": "reject", "notes": "wrong"},
        text="notes",
        url=lambda w: {"ticket_id": w.ticket.pk},
    ),
    ("POST", "/api/v1/repair-records/"): Op(
        "admin",
        lambda w: {"rma_id": "R-1", "unit_serial": "SN1", "received_on": "2026-01-02"},
        text="unit_serial",
        date="received_on",
    ),
    ("PUT", "/api/v1/repair-records/{id}/"): Op(
        "admin",
        lambda w: {"unit_serial": "SN2", "received_on": "2026-01-02"},
        text="unit_serial",
        date="received_on",
        url=lambda w: {"id": w.repair.pk},
        empty_ok=True,
    ),
    ("PATCH", "/api/v1/repair-records/{id}/"): Op(
        "admin",
        lambda w: {"unit_serial": "SN3", "received_on": "2026-01-02"},
        text="unit_serial",
        date="received_on",
        url=lambda w: {"id": w.repair.pk},
    ),
    ("POST", "/api/v1/sites/"): Op("admin", _site, text="name", number="latitude"),
    ("PUT", "/api/v1/sites/{id}/"): Op(
        "admin",
        lambda w: _site(w, code="HI-SITE"),
        text="name",
        number="latitude",
        url=lambda w: {"id": w.site.pk},
    ),
    ("PATCH", "/api/v1/sites/{id}/"): Op(
        "admin",
        lambda w: {"name": "renamed", "latitude": 2.0},
        text="name",
        number="latitude",
        url=lambda w: {"id": w.site.pk},
    ),
    ("POST", "/api/v1/elements/"): Op(
        "admin",
        lambda w: {"serial": "HI-EL-2", "site": "HI-SITE", "name": "e", "installed_on": "2026-01-02"},
        text="name",
        date="installed_on",
    ),
    ("PUT", "/api/v1/elements/{id}/"): Op(
        "admin",
        lambda w: {"serial": "HI-EL-1", "site": "HI-SITE", "name": "e", "installed_on": "2026-01-02"},
        text="name",
        date="installed_on",
        url=lambda w: {"id": w.element.pk},
    ),
    ("PATCH", "/api/v1/elements/{id}/"): Op(
        "admin",
        lambda w: {"name": "e2", "installed_on": "2026-01-02"},
        text="name",
        date="installed_on",
        url=lambda w: {"id": w.element.pk},
    ),
    ("POST", "/api/v1/error-codes/"): Op(
        "admin", lambda w: {"code": "HI_NEW", "description": "d"}, text="description"
    ),
    ("PUT", "/api/v1/error-codes/{id}/"): Op(
        "admin",
        lambda w: {"code": "HI_ALARM", "description": "d"},
        text="description",
        url=lambda w: {"id": w.error_code.pk},
    ),
    ("PATCH", "/api/v1/error-codes/{id}/"): Op(
        "admin", lambda w: {"description": "d"}, text="description", url=lambda w: {"id": w.error_code.pk}
    ),
    ("POST", "/api/v1/error-code-aliases/"): Op(
        "admin", lambda w: {"vendor": "v", "raw_code": "R-NEW", "code": "HI_ALARM"}, text="raw_code"
    ),
    ("PUT", "/api/v1/error-code-aliases/{id}/"): Op(
        "admin",
        lambda w: {"vendor": "v", "raw_code": "R-2", "code": "HI_ALARM"},
        text="raw_code",
        url=lambda w: {"id": w.alias.pk},
    ),
    ("PATCH", "/api/v1/error-code-aliases/{id}/"): Op(
        "admin", lambda w: {"raw_code": "R-3"}, text="raw_code", url=lambda w: {"id": w.alias.pk}
    ),
    ("POST", "/api/v1/resolution-codes/"): Op(
        "admin",
        lambda w: {"code": "HI_NEW_FIX", "title": "t", "steps": "s", "typical_duration_minutes": 5},
        text="steps",
        number="typical_duration_minutes",
        unsigned=True,
    ),
    ("PUT", "/api/v1/resolution-codes/{id}/"): Op(
        "admin",
        lambda w: {"code": "HI_FIX", "title": "t", "steps": "s", "typical_duration_minutes": 5},
        text="steps",
        number="typical_duration_minutes",
        unsigned=True,
        url=lambda w: {"id": w.resolution.pk},
    ),
    ("PATCH", "/api/v1/resolution-codes/{id}/"): Op(
        "admin",
        lambda w: {"steps": "s", "typical_duration_minutes": 5},
        text="steps",
        number="typical_duration_minutes",
        unsigned=True,
        url=lambda w: {"id": w.resolution.pk},
    ),
    ("POST", "/api/v1/webhooks/"): Op(
        "admin",
        lambda w: {"name": "n", "url": "https://93.184.215.14/x", "events": ["feedback.recorded"]},
        text="name",
    ),
    ("PUT", "/api/v1/webhooks/{id}/"): Op(
        "admin",
        lambda w: {"name": "n", "url": "https://93.184.215.14/y", "events": ["feedback.recorded"]},
        text="name",
        url=lambda w: {"id": w.webhook.pk},
    ),
    ("PATCH", "/api/v1/webhooks/{id}/"): Op(
        "admin", lambda w: {"name": "n2"}, text="name", url=lambda w: {"id": w.webhook.pk}
    ),
    ("POST", "/api/v1/placement/what-if/"): Op(
        "engineer", _what_if, text="candidates.0.name", number="profile.cpu_ghz", unsigned=True, empty_ok=True
    ),
    ("POST", "/api/v1/edge/enrol/"): Op(
        "anonymous",
        lambda w: {"token": w.enrolment_raw, "name": "n", "capabilities": {"cores": 2}},
        text="name",
        json="capabilities",
    ),
    ("POST", "/api/v1/edge/heartbeat/"): Op(
        "agent",
        lambda w: {"backlog": 1, "model_version": "b1", "status": {"ok": True}},
        text="model_version",
        number="backlog",
        unsigned=True,
        json="status",
        empty_ok=True,
    ),
    ("POST", "/api/v1/edge/predictions/"): Op(
        "agent",
        _predictions,
        text="predictions.1.external_id",
        number="predictions.1.confidence",
        unsigned=True,
        date="predictions.1.predicted_at",
        stored=_predictions_stored,
    ),
    ("POST", "/api/v1/edge/reports/"): Op(
        "agent", lambda w: {"kind": "head_kept", "metrics": {"accuracy": 0.9}}, text="kind", json="metrics"
    ),
    ("POST", "/api/v1/edge/etl/"): Op(
        "agent",
        lambda w: {
            "tickets": [_ticket("E-0", resolution="A"), _ticket("E-1", title="fibre cut", resolution="B")],
            "dims": 2,
        },
        text="tickets.1.title",
        number="dims",
        unsigned=True,
        json="tickets.1.events.0.attrs",
    ),
    # No body: the path is all the input there is.
    # Working a ticket (issue 18) and the teams it is assigned to.
    ("POST", "/api/v1/tickets/{id}/transition/"): Op(
        "integration",
        lambda w: {"action": "hold", "reason": "waiting for a spare", "revision": w.ticket.revision},
        text="reason",
        number="revision",
        unsigned=True,
        **ID,
    ),
    ("POST", "/api/v1/tickets/{id}/assign/"): Op(
        "integration",
        lambda w: {"group": w.group.name, "revision": w.ticket.revision},
        text="group",
        number="revision",
        unsigned=True,
        **ID,
    ),
    ("POST", "/api/v1/tickets/{id}/notes/"): Op(
        "integration", lambda w: {"text": "crew on site", "visibility": "internal"}, text="text", **ID
    ),
    ("POST", "/api/v1/assignment-groups/"): Op(
        "admin", lambda w: {"name": "HI new crew", "description": "d"}, text="description"
    ),
    ("PUT", "/api/v1/assignment-groups/{id}/"): Op(
        "admin",
        lambda w: {"name": "HI crew", "description": "d"},
        text="description",
        url=lambda w: {"id": w.group.pk},
    ),
    ("PATCH", "/api/v1/assignment-groups/{id}/"): Op(
        "admin", lambda w: {"description": "d"}, text="description", url=lambda w: {"id": w.group.pk}
    ),
    # TMF621 (docs/connect.md): create, merge-patch, and listeners.
    ("POST", "/tmf-api/troubleTicket/v4/troubleTicket"): Op(
        "integration",
        lambda w: {
            "externalId": "hi:TT-1",
            "name": "n",
            "description": "d",
            "severity": "Major",
            "ticketType": "incident",
            "creationDate": "2026-01-01T00:00:00Z",
        },
        text="name",
        date="creationDate",
    ),
    ("PATCH", "/tmf-api/troubleTicket/v4/troubleTicket/{id}"): Op(
        "integration", lambda w: {"note": [{"text": "crew on site"}]}, text="note.0.text", **ID
    ),
    ("POST", "/tmf-api/troubleTicket/v4/hub"): Op(
        "integration", lambda w: {"callback": "https://93.184.215.14/listener", "query": ""}, text="query"
    ),
    ("DELETE", "/tmf-api/troubleTicket/v4/hub/{id}"): Op("integration", None, url=lambda w: {"id": w.hub.pk}),
    ("DELETE", "/api/v1/assignment-groups/{id}/"): Op("admin", None, url=lambda w: {"id": w.group.pk}),
    ("DELETE", "/api/v1/tickets/{id}/"): Op("integration", None, url=lambda w: {"id": w.ticket.pk}),
    ("DELETE", "/api/v1/repair-records/{id}/"): Op("admin", None, url=lambda w: {"id": w.repair.pk}),
    ("DELETE", "/api/v1/sites/{id}/"): Op("admin", None, url=lambda w: {"id": w.site.pk}),
    ("DELETE", "/api/v1/elements/{id}/"): Op("admin", None, url=lambda w: {"id": w.element.pk}),
    ("DELETE", "/api/v1/error-codes/{id}/"): Op("admin", None, url=lambda w: {"id": w.error_code.pk}),
    ("DELETE", "/api/v1/error-code-aliases/{id}/"): Op("admin", None, url=lambda w: {"id": w.alias.pk}),
    ("DELETE", "/api/v1/resolution-codes/{id}/"): Op("admin", None, url=lambda w: {"id": w.resolution.pk}),
    ("DELETE", "/api/v1/webhooks/{id}/"): Op("admin", None, url=lambda w: {"id": w.webhook.pk}),
    ("POST", "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver/"): Op(
        "admin", None, url=lambda w: {"id": w.webhook.pk, "delivery_id": w.delivery.pk}
    ),
    ("POST", "/api/v1/models/{id}/shadow/"): Op("admin", None, url=lambda w: {"id": w.version.pk}),
    # TMF642 alarms (issue 19).
    ("POST", "/tmf-api/alarm/v4/alarm"): Op("integration", lambda w: _alarm("HI-A-2"), **ALARM),
    ("POST", "/tmf-api/alarm/v4/alarm/bulk"): Op(
        "integration",
        lambda w: {"alarms": [_alarm(f"HI-B-{n}") for n in range(3)]},
        text="alarms.1.alarmDetails",
        date="alarms.1.alarmRaisedTime",
        json="alarms.1.comment",
        stored=lambda w: Alarm.objects.filter(external_id__in=["HI-B-0", "HI-B-2"]).count(),
    ),
    ("PATCH", "/tmf-api/alarm/v4/alarm/{id}"): Op(
        "integration",
        lambda w: {"alarmDetails": "fan swapped", "alarmChangedTime": _now(), "comment": [{"comment": "ok"}]},
        text="alarmDetails",
        date="alarmChangedTime",
        json="comment",
        url=lambda w: {"id": w.alarm.pk},
    ),
    ("POST", "/tmf-api/alarm/v4/clearAlarms"): Op(
        "integration",
        lambda w: {
            "alarmClearedTime": _now(),
            "clearSystemId": "noc",
            "clearUserId": "hi",
            "alarmPattern": [{"externalAlarmId": "HI-A-1", "alarmedObject": {"id": "HI-EL-1"}}],
        },
        text="clearUserId",
        date="alarmClearedTime",
        json="alarmPattern.0.alarmedObject",
    ),
    ("POST", "/tmf-api/alarm/v4/ackAlarms"): Op(
        "integration",
        lambda w: {
            "ackTime": _now(),
            "ackSystemId": "noc",
            "ackUserId": "hi",
            "alarmPattern": [{"externalAlarmId": "HI-A-1", "alarmedObject": {"id": "HI-EL-1"}}],
        },
        text="ackUserId",
        date="ackTime",
        json="alarmPattern.0.alarmedObject",
    ),
    ("DELETE", "/api/v1/models/{id}/shadow/"): Op("admin", None, url=lambda w: {"id": w.version.pk}),
}


def _set(body: Any, path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        body = body[int(part)] if isinstance(body, list) else body[part]
    body[int(leaf) if isinstance(body, list) else leaf] = value


def _url(world, path: str, op: Op, **override) -> str:
    return path.format(**{**op.url(world), **override})


def _send(world, method: str, path: str, op: Op, body: bytes | None, **url):
    client = _client(world, op.role)
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


# --- Importers ------------------------------------------------------------------------------------
# Each file holds a good row, the bad one, and another good row; the bad row is rejected with a
# reason and both good rows are stored.

CSV_TICKETS = "external_id,title,opened_at,events\n"


def _ticket_csv(bad_row: bytes) -> bytes:
    return (CSV_TICKETS + "F-1,first,2026-01-01T00:00:00Z,\n").encode() + bad_row + b"F-3,third,,\n"


def _jsonl(bad_line: bytes) -> bytes:
    good = [json.dumps({"external_id": f"F-{n}", "title": "t", "rma_id": f"F-{n}"}).encode() for n in (1, 3)]
    return good[0] + b"\n" + bad_line + b"\n" + good[1] + b"\n"


def _json_array(bad_element: bytes) -> bytes:
    good = [json.dumps({"external_id": f"F-{n}", "title": "t", "rma_id": f"F-{n}"}).encode() for n in (1, 3)]
    return b"[" + good[0] + b",\n" + bad_element + b",\n" + good[1] + b"]"


def _bad_line(**fields) -> bytes:
    return json.dumps({"external_id": "F-2", "rma_id": "F-2", "title": "t", **fields}).encode()


FILE_CASES: dict[str, tuple[str, bytes]] = {
    # CSV
    "csv-invalid-utf8": (".csv", _ticket_csv(b"F-2,caf\xe9 \xff,,\n")),
    "csv-nul": (".csv", _ticket_csv(b"F-2,a\x00b,,\n")),
    "csv-oversized-field": (".csv", _ticket_csv(b'F-2,"' + b"x\n" * 600_000 + b'",,\n')),
    "csv-huge-string": (".csv", _ticket_csv(b"F-2," + b"x" * 600 + b",,\n")),
    "csv-impossible-date": (".csv", _ticket_csv(b"F-2,t,2026-13-45T00:00:00Z,\n")),
    "csv-impossible-offset": (".csv", _ticket_csv(b"F-2,t,2026-01-01T00:00:00+99:00,\n")),
    "csv-wrong-type": (".csv", _ticket_csv(b'F-2,t,,"{""not"": ""a list""}"\n')),
    "csv-too-many-values": (".csv", _ticket_csv(b"F-2,t,,,,extra\n")),
    "csv-unterminated-quote": (".csv", _ticket_csv(b'F-2,"never closed,,\n')),
    "csv-bom-and-mixed-newlines": (
        ".csv",
        b"\xef\xbb\xbf"
        + _ticket_csv(b"F-2,t,,,,extra\n").replace(b"\nF-1", b"\r\nF-1").replace(b",\nF-2", b",\rF-2"),
    ),
    # JSON lines and arrays
    "jsonl-lone-surrogate": (".jsonl", _jsonl(_bad_line(title="\ud800"))),
    "jsonl-nul": (".jsonl", _jsonl(_bad_line(title="a\x00b"))),
    "jsonl-invalid-utf8": (".jsonl", _jsonl(b'{"external_id": "F-2", "rma_id": "F-2", "title": "\xff"}')),
    "jsonl-deep-nesting": (
        ".jsonl",
        _jsonl(b'{"external_id": "F-2", "title": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ),
    "jsonl-huge-string": (".jsonl", _jsonl(_bad_line(title="x" * 200_000, unit_serial="x" * 200))),
    "jsonl-nan": (".jsonl", _jsonl(b'{"external_id": "F-2", "rma_id": "F-2", "title": NaN}')),
    "jsonl-infinity": (".jsonl", _jsonl(b'{"external_id": "F-2", "rma_id": "F-2", "title": -Infinity}')),
    "jsonl-duplicate-key": (
        ".jsonl",
        _jsonl(b'{"external_id": "F-2", "rma_id": "F-2", "title": "a", "title": "b"}'),
    ),
    "jsonl-wrong-type": (".jsonl", _jsonl(_bad_line(title={"not": "text"}, unit_serial=["x"]))),
    "jsonl-not-an-object": (".jsonl", _jsonl(b'["F-2", "t"]')),
    "jsonl-impossible-date": (
        ".jsonl",
        _jsonl(_bad_line(opened_at="0001-01-01T00:00:00+01:00", received_on="2026-02-30")),
    ),
    "json-array-lone-surrogate": (".json", _json_array(_bad_line(title="\udcff"))),
    "json-array-duplicate-key": (
        ".json",
        _json_array(b'{"external_id": "F-2", "rma_id": "F-2", "rma_id": "x"}'),
    ),
}
REPAIR_CASES = {"csv-impossible-date": b"rma_id,unit_serial,received_on\nF-1,a,\nF-2,b,2026-02-30\nF-3,c,\n"}


@dataclasses.dataclass(frozen=True)
class Importer:
    run: Callable  # (path) -> None
    stored: Callable  # () -> the keys stored
    cases: dict


def _import(command: str, *args: str):
    return lambda path: call_command(command, str(path), *args, "--rejects", str(path) + ".rejects")


def _catalogue(path):
    call_command("import_catalogue", str(path.parent))


CATALOGUE_HEADER = b"code,name,region,climate,tier,latitude,longitude\n"


def _sites(bad: bytes) -> bytes:
    return CATALOGUE_HEADER + b"C-1,one,,,,1.5,2.5\n" + bad + b"C-3,three,,,,,\n"


IMPORTERS: dict[str, Importer] = {
    "import_tickets": Importer(
        _import("import_tickets", "--source", "files"),
        lambda: set(Ticket.objects.filter(source="files").values_list("external_id", flat=True)),
        FILE_CASES,
    ),
    "import_repairs": Importer(
        _import("import_repairs"),
        lambda: set(RepairRecord.objects.filter(rma_id__startswith="F-").values_list("rma_id", flat=True)),
        {name: case for name, case in FILE_CASES.items() if not name.startswith("csv-")}
        | {name: (".csv", data) for name, data in REPAIR_CASES.items()},
    ),
    "import_catalogue": Importer(
        _catalogue,
        lambda: set(Site.objects.filter(code__startswith="C-").values_list("code", flat=True)),
        {
            "csv-nan": (".csv", _sites(b"C-2,two,,,,nan,1\n")),
            "csv-infinity": (".csv", _sites(b"C-2,two,,,,1,-inf\n")),
            "csv-huge-number": (".csv", _sites(b"C-2,two,,,,1e308,1\n")),
            "csv-negative": (".csv", _sites(b"C-2,two,,,,-91,1\n")),
            "csv-nul": (".csv", _sites(b"C-2,t\x00wo,,,,,\n")),
            "csv-invalid-utf8": (".csv", _sites(b"C-2,\xff,,,,,\n")),
            "csv-huge-string": (".csv", _sites(b"C-2," + b"x" * 300 + b",,,,,\n")),
            "csv-oversized-field": (".csv", _sites(b'C-2,"' + b"x\n" * 600_000 + b'",,,,,\n')),
            "csv-unterminated-quote": (".csv", _sites(b'C-2,"two,,,,,\n')),
        },
    ),
}


def _file_cases() -> list:
    return [
        pytest.param(importer, case, id=f"{importer} {case}")
        for importer, spec in IMPORTERS.items()
        for case in spec.cases
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(("importer", "case"), _file_cases())
def test_a_hostile_row_costs_only_itself_in_every_importer(tmp_path, importer, case):
    spec = IMPORTERS[importer]
    suffix, data = spec.cases[case]
    path = tmp_path / ("sites.csv" if importer == "import_catalogue" else f"hostile{suffix}")
    path.write_bytes(data)
    spec.run(path)
    good = {"import_catalogue": {"C-1", "C-3"}}.get(importer, {"F-1", "F-3"})
    assert spec.stored() == good
    if importer != "import_catalogue":
        rejects = [json.loads(line) for line in (tmp_path / f"{path.name}.rejects").read_text().splitlines()]
        assert rejects and all(r.get("reason") or r.get("errors") for r in rejects), rejects


# --- Pages that take a POST -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Form:
    url: Callable  # (world) -> path
    fields: dict  # field -> a good value; each is sent bad in turn ("{task}": the world's task id)
    unchanged: Callable  # (world) -> a value the bad post must not change


PAGES: dict[str, Form] = {
    "ticket-feedback": Form(
        lambda w: f"/tickets/{w.ticket.pk}/feedback/",
        {"action": "reject", "notes": "n", "resolution_code": ""},
        lambda w: Feedback.objects.count(),
    ),
    "model-promote": Form(
        lambda w: f"/models/{w.version.pk}/promote/",
        {"reason": "r"},
        lambda w: ModelVersion.objects.get(pk=w.version.pk).status,
    ),
    "model-rollback": Form(
        lambda w: f"/models/{w.version.pk}/rollback/",
        {"reason": "r"},
        lambda w: ModelVersion.objects.get(pk=w.version.pk).status,
    ),
    "training": Form(
        lambda w: "/training/", {"reason": "r", "epochs": "1"}, lambda w: TrainingRun.objects.count()
    ),
    "schedule": Form(
        lambda w: "/schedule/",
        {
            "task": "{task}",
            "t{task}-minute": "5",
            "t{task}-hour": "3",
            "t{task}-day_of_month": "*",
            "t{task}-month_of_year": "*",
            "t{task}-day_of_week": "*",
        },
        lambda w: list(PeriodicTask.objects.values_list("id", "crontab_id", "enabled")),
    ),
    "ticket-action": Form(
        lambda w: f"/tickets/{w.ticket.pk}/action/",
        {"action": "hold", "reason": "r", "confirmed": "yes"},
        lambda w: Ticket.objects.get(pk=w.ticket.pk).revision,
    ),
    "ticket-assign": Form(
        lambda w: f"/tickets/{w.ticket.pk}/assign/",
        {"group": "HI crew", "assignee": ""},
        lambda w: Ticket.objects.get(pk=w.ticket.pk).revision,
    ),
    "ticket-note": Form(
        lambda w: f"/tickets/{w.ticket.pk}/notes/",
        {"text": "n", "visibility": "internal"},
        lambda w: WorkNote.objects.count(),
    ),
    "fleet": Form(
        lambda w: "/fleet/", {"site": "HI-SITE", "note": "n"}, lambda w: EnrolmentToken.objects.count()
    ),
    "login": Form(lambda w: "/login/", {"username": "hi-admin", "password": "wrong"}, lambda w: None),
    "logout": Form(lambda w: "/logout/", {}, lambda w: None),
}
# A browser never sends bytes that are not UTF-8, nor a field twice: Django reads those as U+FFFD
# and as the last value, which the page then judges like any other text. NUL and oversized values
# are refused with a message, and change nothing.
FORM_VALUES = {"nul": "a\x00b", "huge": "x" * 200_000, "invalid-utf8": b"caf\xe9\xff", "twice": ["a", "b"]}
REFUSED = {"nul", "huge"}


def _form_cases() -> list:
    return [
        pytest.param(name, field, kind, id=f"{name} {field} {kind}")
        for name, form in PAGES.items()
        for field in form.fields or [""]
        for kind in FORM_VALUES
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(("form_name", "field", "kind"), _form_cases())
def test_hostile_form_values_never_make_a_page_fail(world, form_name, field, kind):
    form = PAGES[form_name]
    browser = Client()
    browser.force_login(world.users["admin"])
    before = form.unchanged(world)
    value = FORM_VALUES[kind]
    fields = {k.format(task=world.task.pk): v.format(task=world.task.pk) for k, v in form.fields.items()}
    field = field.format(task=world.task.pk)
    if isinstance(value, bytes):
        body = urlencode({k: v for k, v in fields.items() if k != field}).encode()
        body += (b"&" if body else b"") + field.encode() + b"=" + value
        response = browser.post(form.url(world), body, content_type="application/x-www-form-urlencoded")
    else:
        response = browser.post(form.url(world), {**fields, field: value} if field else {"x": value})
    assert response.status_code < 500, response.content[:300]
    if kind in REFUSED:
        assert form.unchanged(world) == before


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


def _posting_pages(resolver=None, namespace=None):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace != "admin" and "api" not in str(entry.pattern):
                yield from _posting_pages(entry, entry.namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            view = getattr(entry.callback, "view_class", None)
            if view is not None and hasattr(view, "post"):
                yield entry.name


def test_every_page_that_takes_a_post_has_a_row():
    # The admin's forms are Django's own (ModelForms over the same models and validators).
    missing = sorted(set(_posting_pages()) - set(PAGES))
    assert not missing, f"pages taking a POST without a row in PAGES: {missing}"
    assert not set(PAGES) - set(_posting_pages())


def test_every_importer_has_a_row():
    commands = {name for name, app in get_commands().items() if name.startswith("import_")}
    assert commands == set(IMPORTERS), commands ^ set(IMPORTERS)


def test_every_class_of_bad_input_reaches_some_row():
    carriers = {
        kind for op in OPERATIONS.values() for kind in ("text", "number", "date", "json") if op.carrier(kind)
    }
    assert {bad.carrier for bad in BAD.values()} - {"body", "unsigned"} <= carriers
    assert any(op.unsigned for op in OPERATIONS.values())
