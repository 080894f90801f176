"""How exports name a ticket's status and priority, read into TicketAI's (TMF621) values.

Ticketing systems each have their own words: ServiceNow's "3 - Moderate" and "On Hold", Jira's
"Highest", "Blocker" and "To Do", a service desk's "P2" or "Sev 1", an event log's "Awaiting User
Info". A ticket whose status or priority is in none of these lists is still refused, with the values
that are known, so a typo is not stored as a guess.
"""

import re

from repair_center.models import Ticket

_S, _P = Ticket.Status, Ticket.Priority  # short: the tables below are long

_STATUSES: dict[str, str] = {
    **{value.lower(): value for value in _S.values},
    **dict.fromkeys(
        ("new", "open", "opened", "to do", "todo", "queued", "submitted", "registered"), _S.ACKNOWLEDGED
    ),
    **dict.fromkeys(("unassigned", "created", "ack", "reopened", "re opened"), _S.ACKNOWLEDGED),
    **dict.fromkeys(
        ("in progress", "inprogress", "work in progress", "wip", "active", "assigned"), _S.IN_PROGRESS
    ),
    **dict.fromkeys(
        ("ongoing", "investigating", "under investigation", "in work", "working"), _S.IN_PROGRESS
    ),
    **dict.fromkeys(("waiting", "awaiting", "suspended", "deferred", "parked"), _S.PENDING),
    **dict.fromkeys(("on hold", "onhold", "hold", "held"), _S.HELD),
    **dict.fromkeys(("done", "fixed", "solved", "completed", "complete", "restored", "cleared"), _S.RESOLVED),
    **dict.fromkeys(("closed complete", "closed incomplete", "closed skipped", "archived"), _S.CLOSED),
    **dict.fromkeys(("canceled", "withdrawn", "rejected", "aborted", "void"), _S.CANCELLED),
}
# "Awaiting User Info", "Waiting for customer", "Closed/Resolved by Caller": the first word says it.
_STATUS_PREFIXES = (
    (("awaiting ", "waiting ", "pending "), _S.PENDING),
    (("on hold ",), _S.HELD),
    (("resolved ", "solved ", "fixed "), _S.RESOLVED),
    (("closed ", "closed/"), _S.CLOSED),
    (("cancelled ", "canceled "), _S.CANCELLED),
)

_PRIORITIES: dict[str, str] = {
    **{value.lower(): value for value in _P.values},
    **dict.fromkeys(
        ("urgent", "emergency", "highest", "blocker", "very high", "immediate", "top"), _P.CRITICAL
    ),
    **dict.fromkeys(("major", "important", "elevated"), _P.HIGH),
    **dict.fromkeys(("moderate", "normal", "standard", "average", "indeterminate"), _P.MEDIUM),
    **dict.fromkeys(("planning", "lowest", "minor", "trivial", "very low", "warning", "info"), _P.LOW),
    **dict.fromkeys(("informational", "cosmetic", "routine"), _P.LOW),
}
# A level: "P1", "Sev 2", "S3", "Severity 4", "Prio 1", "Priority 2" or a bare "1" (1 is the most urgent).
_LEVEL_RE = re.compile(r"^(?:p|s|sev|severity|prio|priority)?\s*([0-5])$")
_LEVELS = {0: _P.CRITICAL, 1: _P.CRITICAL, 2: _P.HIGH, 3: _P.MEDIUM, 4: _P.LOW, 5: _P.LOW}
# ServiceNow-style "3 - Moderate" is read by its word.
_NUMBER_PREFIX_RE = re.compile(r"^\d+\s*-\s*")


def _words(raw: str) -> str:
    """Lower case, with runs of spaces, '_', '-' and '.' as one space: "On_Hold" is "on hold"."""
    return " ".join(re.split(r"[\s_.\-]+", raw.strip().lower())).strip()


def status_of(raw: str) -> str | None:
    """The TMF621 status an export's word names, or None when it names none."""
    words = _words(_NUMBER_PREFIX_RE.sub("", raw.strip()))
    if words in _STATUSES:
        return _STATUSES[words]
    for prefixes, status in _STATUS_PREFIXES:
        if words.startswith(prefixes):
            return status
    return _STATUSES.get(words.replace(" ", ""))


def priority_of(raw: str) -> str | None:
    """The priority an export's word or level names, or None when it names none."""
    text = raw.strip().lower()
    level = _LEVEL_RE.match(text.replace("-", " ").replace("_", " ").strip())
    if level:
        return _LEVELS[int(level.group(1))]
    words = _words(_NUMBER_PREFIX_RE.sub("", text))
    return _PRIORITIES.get(words) or _PRIORITIES.get(words.replace(" ", ""))
