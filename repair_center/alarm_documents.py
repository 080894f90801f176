"""TMF642 alarm bodies: parsed into model fields, and a stored alarm rendered back as TMF642 JSON.

Plain Python like documents.py (no DRF serializer): an alarm storm parses thousands of bodies a
second. Errors come back as ``{attribute: [message, ...]}``, keyed on the TMF642 names.
"""

import hashlib
from datetime import datetime
from typing import Any

from repair_center.documents import OWN_ALARM_PATH, parse_timestamp
from repair_center.models import Alarm
from ticketai.storable import json_problem, text_problem

# Alarm_Create's required attributes; externalAlarmId is optional in TMF642 (see alarm_key).
REQUIRED = (
    "alarmedObject",
    "state",
    "sourceSystemId",
    "alarmRaisedTime",
    "alarmType",
    "perceivedSeverity",
    "probableCause",
)
# TMF642 attribute -> (model field, max length); text attributes.
TEXT = {
    "sourceSystemId": ("source_system", 64),
    "externalAlarmId": ("external_id", 200),
    "alarmedObjectType": ("alarmed_object_type", 100),
    "alarmType": ("alarm_type", 64),
    "probableCause": ("probable_cause", 200),
    "specificProblem": ("specific_problem", 200),
    "ackUserId": ("ack_user", 150),
    "ackSystemId": ("ack_system", 150),
    "clearUserId": ("clear_user", 150),
    "clearSystemId": ("clear_system", 150),
    "alarmDetails": ("details", 4000),
}
TIMES = {
    "alarmRaisedTime": "raised_at",
    "alarmChangedTime": "changed_at",
    "alarmClearedTime": "cleared_at",
    "alarmReportingTime": "reported_at",
}
CHOICES = {
    "state": ("state", {v: v for v in Alarm.State.values}),
    "perceivedSeverity": ("perceived_severity", {v: v for v in Alarm.Severity.values}),
    "ackState": ("ack_state", {v: v for v in Alarm.AckState.values}),
}
# Kept as sent in Alarm.extra and given back on reads, with any attribute not named here.
EXTRA = (
    "affectedService",
    "comment",
    "correlatedAlarm",
    "crossedThresholdInformation",
    "parentAlarm",
    "place",
    "plannedOutageIndicator",
    "proposedRepairedActions",
    "reportingSystemId",
    "alarmEscalation",
    "isRootCause",
    "@baseType",
    "@schemaLocation",
    "@type",
)
READ_ONLY = ("id", "href")
EXTRA_DEPTH, EXTRA_BYTES = 6, 16 * 1024
KNOWN = set(REQUIRED) | set(TEXT) | set(TIMES) | set(CHOICES) | {"serviceAffecting"}


class AlarmError(ValueError):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


def parse_alarm(data: Any, *, partial: bool = False) -> dict[str, Any]:
    """Model field values for the attributes present in a TMF642 Alarm body; raises AlarmError.

    ``partial``: a change (PATCH, or a body for an alarm that exists), so nothing is required and
    sourceSystemId, externalAlarmId and alarmRaisedTime cannot be changed by it.
    """
    if not isinstance(data, dict):
        raise AlarmError({"non_field_errors": ["an alarm must be a JSON object"]})
    errors: dict[str, list[str]] = {}
    fields: dict[str, Any] = {}
    if not partial:
        for name in REQUIRED:
            if data.get(name) in (None, "", {}):
                errors.setdefault(name, []).append("is required")
    for name, (field, limit) in TEXT.items():
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            errors.setdefault(name, []).append("must be a string")
        elif len(value) > limit:
            errors.setdefault(name, []).append(f"at most {limit} characters (got {len(value)})")
        elif problem := text_problem(value):
            errors.setdefault(name, []).append(problem)
        else:
            fields[field] = value.strip()
    for name, field in TIMES.items():
        value = data.get(name)
        if value is None:
            continue
        try:
            fields[field] = parse_timestamp(value)
        except ValueError as e:
            errors.setdefault(name, []).append(str(e))
    for name, (field, allowed) in CHOICES.items():
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or value.strip().lower() not in allowed:
            errors.setdefault(name, []).append(f"must be one of {', '.join(sorted(allowed))}")
        else:
            fields[field] = allowed[value.strip().lower()]
    if "serviceAffecting" in data and data["serviceAffecting"] is not None:
        if not isinstance(data["serviceAffecting"], bool):
            errors.setdefault("serviceAffecting", []).append("must be true or false")
        else:
            fields["service_affecting"] = data["serviceAffecting"]
    _alarmed_object(data.get("alarmedObject"), fields, errors)
    # Attributes we do not model (and vendor extensions) are kept as sent, within limits.
    extra = {name: value for name, value in data.items() if name not in KNOWN and name not in READ_ONLY}
    if extra:
        if problem := json_problem(extra, max_depth=EXTRA_DEPTH, max_bytes=EXTRA_BYTES):
            errors.setdefault("non_field_errors", []).append(f"the other attributes: {problem}")
        else:
            fields["extra"] = extra
    if partial:
        for name in ("sourceSystemId", "alarmRaisedTime"):
            if name in data:
                errors.setdefault(name, []).append("identifies the alarm and cannot be changed")
    if errors:
        raise AlarmError(errors)
    if fields.get("perceived_severity") == Alarm.Severity.CLEARED:
        fields["state"] = Alarm.State.CLEARED  # X.733: a "cleared" severity is the clear
    if not partial and not fields.get("external_id"):
        fields["external_id"] = alarm_key(fields)
    return fields


def _alarmed_object(value: Any, fields: dict, errors: dict) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not value["id"].strip():
        errors.setdefault("alarmedObject", []).append("must be an object with an id (the element or site)")
        return
    ident = value["id"].strip()
    if len(ident) > 200 or text_problem(ident):
        errors.setdefault("alarmedObject", []).append("id: at most 200 storable characters")
        return
    fields["alarmed_object"] = ident
    referred = value.get("@referredType") or value.get("@type")
    if isinstance(referred, str) and not text_problem(referred) and "alarmed_object_type" not in fields:
        fields["alarmed_object_type"] = referred[:100]


def keyed_by_id(alarm: dict) -> dict:
    """A remote system's Alarm resource, with its ``id`` there as its externalAlarmId when it has
    none: the id that system's AlarmRefs (parentAlarm, correlatedAlarm) and later changes name it by."""
    ident = alarm.get("id")
    if alarm.get("externalAlarmId") or not isinstance(ident, str | int) or isinstance(ident, bool):
        return dict(alarm)
    return {**alarm, "externalAlarmId": str(ident).strip()} if str(ident).strip() else dict(alarm)


def alarm_key(fields: dict) -> str:
    """An externalAlarmId for a source that sends none: the same alarm raised again gets the same one."""
    parts = [
        fields.get("alarmed_object", ""),
        fields.get("probable_cause", ""),
        fields.get("specific_problem", ""),
        _iso(fields["raised_at"]) if fields.get("raised_at") else "",
    ]
    return "h:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def render_alarm(alarm: Alarm, *, href_base: str = OWN_ALARM_PATH.rstrip("/")) -> dict[str, Any]:
    """The stored alarm as a TMF642 Alarm resource."""
    body: dict[str, Any] = {
        "id": alarm.pk,
        "href": f"{href_base}/{alarm.pk}",
        "externalAlarmId": alarm.external_id,
        "sourceSystemId": alarm.source_system,
        "state": alarm.state,
        "ackState": alarm.ack_state,
        # TMF642: once cleared, an alarm's perceived severity is "cleared" (the row keeps the raised one).
        "perceivedSeverity": Alarm.Severity.CLEARED
        if alarm.state == Alarm.State.CLEARED
        else alarm.perceived_severity,
        "alarmType": alarm.alarm_type,
        "probableCause": alarm.probable_cause,
        "alarmedObject": {"id": alarm.alarmed_object},
        "alarmRaisedTime": _iso(alarm.raised_at),
        "alarmChangedTime": _iso(alarm.changed_at),
        "@type": "Alarm",
    }
    optional = {
        "specificProblem": alarm.specific_problem,
        "alarmedObjectType": alarm.alarmed_object_type,
        "alarmClearedTime": _iso(alarm.cleared_at),
        "alarmReportingTime": _iso(alarm.reported_at),
        "ackUserId": alarm.ack_user,
        "ackSystemId": alarm.ack_system,
        "clearUserId": alarm.clear_user,
        "clearSystemId": alarm.clear_system,
        "alarmDetails": alarm.details,
        "serviceAffecting": alarm.service_affecting,
    }
    body.update({k: v for k, v in optional.items() if v not in (None, "")})
    for name, value in (alarm.extra or {}).items():
        body.setdefault(name, value)
    return body
