from repair_center.models.access import ApiToken
from repair_center.models.alarms import Alarm, AlarmGroup, AlarmGroupRule, TicketAlarm
from repair_center.models.catalogue import (
    RESOLUTION_CODE_LENGTH,
    ErrorCode,
    ErrorCodeAlias,
    ResolutionAlias,
    ResolutionCode,
    UnmappedCode,
    UnmappedEventKind,
)
from repair_center.models.connectors import Connector, ConnectorRun
from repair_center.models.repairs import RepairRecord
from repair_center.models.sites import NetworkElement, Site
from repair_center.models.tickets import Ticket, TicketErrorCode, TicketEvent
from repair_center.models.workflow import AssignmentGroup, TicketChange, WorkNote

__all__ = [
    "RESOLUTION_CODE_LENGTH",
    "Alarm",
    "AlarmGroup",
    "AlarmGroupRule",
    "ApiToken",
    "AssignmentGroup",
    "Connector",
    "ConnectorRun",
    "ErrorCode",
    "ErrorCodeAlias",
    "NetworkElement",
    "RepairRecord",
    "ResolutionAlias",
    "ResolutionCode",
    "Site",
    "Ticket",
    "TicketAlarm",
    "TicketChange",
    "TicketErrorCode",
    "TicketEvent",
    "UnmappedCode",
    "UnmappedEventKind",
    "WorkNote",
]
