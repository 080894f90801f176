"""The write operations of the API, one row each, and where each kind of bad value goes in their
bodies (``test_hostile_input_api.py`` sends them; a write operation without a row fails there)."""

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

from ml.models import EdgePrediction
from repair_center.models import Alarm, Ticket
from tests.hostile_input_support import alarm_document


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
    # The bad item is an abstained answer (tests/test_edge_abstention_forwarded.py has bad abstentions).
    abstained = {**_prediction("p-1"), "abstained": True, "abstain_reason": "The model is unsure."}
    return {"predictions": [_prediction("p-0"), abstained, _prediction("p-2")]}


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
    ("POST", "/tmf-api/alarm/v4/alarm"): Op("integration", lambda w: alarm_document("HI-A-2"), **ALARM),
    ("POST", "/tmf-api/alarm/v4/alarm/bulk"): Op(
        "integration",
        lambda w: {"alarms": [alarm_document(f"HI-B-{n}") for n in range(3)]},
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
    ("POST", "/tmf-api/alarm/v4/listener/{event}"): Op(
        "integration",
        lambda w: {"eventId": "hi-ev", "event": {"alarm": alarm_document("HI-L-1")}},
        text="event.alarm.alarmDetails",
        date="event.alarm.alarmRaisedTime",
        json="event.alarm.comment",
        url=lambda w: {"event": "alarmCreateEvent"},
    ),
    ("POST", "/tmf-api/troubleTicket/v4/connector/{name}/listener/{event}"): Op(
        "integration",
        lambda w: {
            "eventId": "hi-ev",
            "event": {
                "troubleTicket": {
                    "id": "HI-TT-9",
                    "name": "n",
                    "severity": "Major",
                    "status": "inProgress",
                    "creationDate": "2026-01-01T00:00:00Z",
                    "lastUpdate": "2026-01-01T00:05:00Z",
                }
            },
        },
        text="event.troubleTicket.name",
        date="event.troubleTicket.creationDate",
        url=lambda w: {"name": w.connector.name, "event": "troubleTicketCreateEvent"},
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
