"""The simulated world as a fault-management system sees it: a TMF642 alarm stream, and tickets that
carry no alarms of their own (the alarms reach them through correlation, services/correlation.py).

Each ticket's alarm events become TMF642 alarms on the ticket's element: a raise, and a clear of the
same code pairs with the latest raise still open. An alarm still raised when a resolved ticket was
fixed clears at its resolution, as the element reports once the fault is gone (the ticket's own
events end at its opening). A raise that recorded a reading (a number other
than the sector: rx_dbm, volt, uptime_h) sends it as TMF642 ``crossedThresholdInformation``, as an EMS
sends a threshold-crossing alarm's observed value; its other attributes (sector, process, parameter)
go as ``name=value`` pairs in ``alarmDetails``. The other events (changes, visits, weather, KPI
breaches) stay on the ticket. Ground truth for grouping: every alarm names the ticket (the incident)
and the hidden root cause it came from.
"""

import json
from pathlib import Path

from repair_center.simulator.catalogue import aliases, error_codes
from repair_center.simulator.generator import SimulationConfig, TicketGenerator
from repair_center.simulator.writer import write_catalogue

SOURCE_SYSTEM = "sim-oss"
ALARM_KINDS = ("alarm_raised", "alarm_cleared")
# X.733 probable causes by the curated code's first word: what an EMS would put next to its own code.
PROBABLE_CAUSE = {
    "CPRI": "lossOfSignal",
    "SFP": "transmitterFailure",
    "S1": "lossOfSignal",
    "MW": "lossOfSignal",
    "BATTERY": "powerProblem",
    "MAINS": "powerProblem",
    "RECTIFIER": "powerProblem",
    "HIGH": "temperatureUnacceptable",
    "FAN": "coolingSystemFailure",
    "GNSS": "timingProblem",
    "SYNC": "timingProblem",
    "VSWR": "antennaFailure",
    "RU": "equipmentMalfunction",
    "BB": "softwareError",
    "LICENSE": "softwareError",
    "CONFIG": "configurationOrCustomizationError",
}


# The severity an element manager gives an alarm: its curated code's (error_codes.csv), since the EMS
# rates the condition, not the ticket the alarm ends up on. A code outside the catalogue: X.733's
# "indeterminate".
SEVERITY_OF = {code: severity for code, _, severity, *_ in error_codes(drift=True)}


def split_ticket(doc: dict, truth: dict, curated_of: dict[str, str]) -> tuple[list[dict], dict, list[dict]]:
    """(TMF642 alarm messages in time order, the ticket without its alarm events, truth per alarm).

    ``curated_of`` maps vendor codes to curated ones, to pick the X.733 probable cause."""
    alarms: list[dict] = []
    open_by_code: dict[str, list[dict]] = {}  # raises not cleared yet, by code, oldest first
    for n, event in enumerate(doc["events"]):
        if event["kind"] not in ALARM_KINDS or not event.get("code"):
            continue
        code = event["code"]
        if event["kind"] == "alarm_raised":
            alarm = {
                "externalAlarmId": f"{doc['external_id']}-A{n:02d}",
                "sourceSystemId": SOURCE_SYSTEM,
                "alarmedObject": {"id": doc["element"], "@referredType": "NetworkElement"},
                "state": "raised",
                "alarmType": "Equipment Alarm",
                "perceivedSeverity": SEVERITY_OF.get(curated_of.get(code, code), "indeterminate"),
                "probableCause": _cause(curated_of.get(code, code)),
                "specificProblem": code,
                "alarmRaisedTime": event["at"],
            }
            attrs = event.get("attrs") or {}
            if reading := _reading(attrs):
                alarm["crossedThresholdInformation"] = reading
            if details := _details(attrs, reading):
                alarm["alarmDetails"] = details
            alarms.append(alarm)
            open_by_code.setdefault(code, []).append(alarm)
        elif open_by_code.get(code):
            alarms.append(_cleared(open_by_code[code].pop(), event["at"]))
    if at := doc.get("resolved_at"):  # the fix clears what is still raised, as a real EMS reports it
        alarms += [_cleared(raised, at) for still in open_by_code.values() for raised in still]
    ticket = {**doc, "events": [e for e in doc["events"] if e["kind"] not in ALARM_KINDS]}
    truth_rows = [
        {
            "externalAlarmId": a["externalAlarmId"],
            "ticket": doc["external_id"],
            "root_cause": truth["root_cause"],
        }
        for a in alarms
        if a["state"] == "raised"
    ]
    return alarms, ticket, truth_rows


def _cleared(raised: dict, at: str) -> dict:
    """The TMF642 message that clears alarm ``raised`` at ``at``, as X.733 element managers send it:
    the severity "cleared"."""
    return {
        **raised,
        "state": "cleared",
        "perceivedSeverity": "cleared",
        "alarmClearedTime": at,
        "alarmChangedTime": at,
    }


def _reading(attrs: dict) -> dict | None:
    """A raise's first numeric attribute but the sector, as TMF642 CrossedThresholdInformation."""
    for name, value in attrs.items():
        if name != "sector" and isinstance(value, int | float) and not isinstance(value, bool):
            return {"indicatorName": name, "observedValue": str(value)}
    return None


def _details(attrs: dict, reading: dict | None) -> str:
    """The raise's other attributes (the sector, the crashed process, the mismatched parameter) as
    ``name=value`` pairs in TMF642 ``alarmDetails``, where an EMS writes its additional information."""
    sent = reading["indicatorName"] if reading else None
    return " ".join(
        f"{name}={'_'.join(str(value).split())}"
        for name, value in attrs.items()
        if name != sent and isinstance(value, str | int | float) and str(value).strip()
    )


def _cause(code: str) -> str:
    return PROBABLE_CAUSE.get(code.split("_")[0], "equipmentMalfunction")


def _message_time(alarm: dict) -> str:
    return alarm.get("alarmChangedTime") or alarm["alarmRaisedTime"]


def write_alarm_stream(config: SimulationConfig, out: str | Path) -> dict[str, int]:
    """Write the catalogue, ``alarms.jsonl`` (TMF642 messages in time order), ``tickets.jsonl`` (no
    alarm events) and ``alarm_truth.jsonl`` into ``out``. The messages are sorted in memory."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    generator = TicketGenerator(config)
    write_catalogue(generator, out)
    curated_of = {raw: code for (_, code), raw in aliases(drift=config.drift is not None).items()}
    messages: list[dict] = []
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    counts = {"tickets": 0, "alarms": 0, "messages": 0}
    with (
        (out / "tickets.jsonl").open("w", encoding="utf-8", newline="\n") as tickets,
        (out / "alarm_truth.jsonl").open("w", encoding="utf-8", newline="\n") as truth_file,
    ):
        for doc, truth, _ in generator:
            alarms, ticket, truth_rows = split_ticket(doc, truth, curated_of)
            messages += alarms
            tickets.write(dumps(ticket) + "\n")
            truth_file.writelines(dumps(row) + "\n" for row in truth_rows)
            counts["tickets"] += 1
            counts["alarms"] += len(truth_rows)
    messages.sort(key=_message_time)
    with (out / "alarms.jsonl").open("w", encoding="utf-8", newline="\n") as stream:
        stream.writelines(dumps(m) + "\n" for m in messages)
    counts["messages"] = len(messages)
    return counts
