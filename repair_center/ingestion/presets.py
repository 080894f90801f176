"""Connector presets: how to page through ServiceNow, Jira and TMF621 servers and read their tickets.

A preset builds the request for a window (``since``, inclusive at the preset's time granularity)
and an ``offset`` in it, reads the items and whether more follow, and turns each item into a
canonical ticket document plus its update time. The pull loop that uses them
(services/connectors.py) restarts the window at the newest time it has stored, so an item that
changes between two requests moves behind the window and is read again, never skipped.
``field_mapping`` on the connector overrides any canonical field's remote field.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.utils.dateparse import parse_datetime

from repair_center.documents import parse_timestamp
from repair_center.ingestion.mapping import lookup
from repair_center.models import Ticket
from repair_center.tmf import troubleticket

S = Ticket.Status
# ServiceNow incident choices (the raw values the Table API answers without display values).
SERVICENOW_STATES = {
    "1": S.ACKNOWLEDGED,
    "2": S.IN_PROGRESS,
    "3": S.HELD,
    "6": S.RESOLVED,
    "7": S.CLOSED,
    "8": S.CANCELLED,
}
SERVICENOW_PRIORITIES = {"1": "critical", "2": "high", "3": "medium", "4": "low", "5": "low"}
# Jira statuses vary per project; their category does not.
JIRA_CATEGORIES = {"new": S.ACKNOWLEDGED, "indeterminate": S.IN_PROGRESS, "done": S.RESOLVED}
JIRA_PRIORITIES = {"highest": "critical", "high": "high", "medium": "medium", "low": "low", "lowest": "low"}


def cursor_time(value: Any, parsed: datetime | None = None) -> datetime:
    """``value`` (an update time as the remote wrote it, or a stored cursor) as an instant in the zone
    it was written in; ``parse_timestamp`` (``parsed``) reads the instant but keeps it in UTC."""
    parsed = parsed or parse_timestamp(value)
    written = parse_datetime(str(value).strip()) if isinstance(value, str) else None
    return parsed.astimezone(written.tzinfo) if written is not None and written.tzinfo else parsed


def cursor_text(value: datetime) -> str:
    """A cursor to store: UTC as ``...Z``, another zone with its offset (cursor_time reads both)."""
    if value.utcoffset() == timedelta(0):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


class PresetError(ValueError):
    """The remote's answer is not what the preset expects."""


@dataclass(frozen=True)
class Page:
    items: list
    more: bool  # whether the window holds items after these
    token: str | None = None  # a remote that pages by token (Jira Cloud): what asks for the next page


MISSING: Any = object()


def remote_value(item: dict, name: str) -> Any:
    """``item[name]``, or a dotted path into nested objects ("fields.status.name"); MISSING if absent."""
    found, value = lookup(item, name)
    return value if found else MISSING


def _blank_is_none(value):
    return None if value == "" else value


def adf_text(value: Any) -> Any:
    """Plain text of an Atlassian Document Format body (Jira REST v3); other values as they are."""
    if not isinstance(value, dict) or value.get("type") != "doc":
        return value
    blocks: list[str] = []

    def walk(node: Any, out: list[str]) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                out.append(str(node.get("text", "")))
            elif node.get("type") == "hardBreak":
                out.append("\n")
            for child in node.get("content") or ():
                walk(child, out)

    for block in value.get("content") or ():
        parts: list[str] = []
        walk(block, parts)
        blocks.append("".join(parts))
    return "\n".join(b for b in blocks if b)


@dataclass(frozen=True)
class Preset:
    name: str
    path: str  # appended to a base URL that names only the server
    mapping: dict[str, str]  # canonical field -> remote field (dotted for nested)
    updated: str  # the remote field with the update time
    granularity: timedelta  # of the remote's time filter
    transforms: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    own_names: bool = False  # a canonical field no mapping names is read by its own name (generic)
    hints: dict[int, str] = field(default_factory=dict)  # what an HTTP status most likely means here
    # The remote reads the time filter in the zone it writes update times in (a Jira user's time
    # zone): the update time, and so the cursor, keep that zone (cursor_time) for the next request.
    keeps_zone: bool = False

    def url(self, base_url: str) -> str:
        parts = urlsplit(base_url)
        if parts.path.rstrip("/").endswith(self.path.rstrip("/")):
            return base_url
        return urlunsplit(parts._replace(path=parts.path.rstrip("/") + self.path))

    def floor(self, when: datetime) -> datetime:
        # In whole microseconds: float seconds would floor 10.000 to 9.999.
        step = self.granularity // timedelta(microseconds=1)
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        floored = epoch + timedelta(microseconds=(when - epoch) // timedelta(microseconds=1) // step * step)
        return floored.astimezone(when.tzinfo)  # in the zone it came in (keeps_zone)

    def document(
        self, item: Any, overrides: dict[str, str], fields: tuple[str, ...]
    ) -> tuple[dict, datetime]:
        """(canonical document without source, update time); ValueError({field: [...]}) when unusable."""
        if not isinstance(item, dict):
            raise ValueError({"non_field_errors": ["a remote item must be a JSON object"]})
        mapping = {**self.mapping, **overrides}
        updated_field = mapping.get("updated_at", self.updated)
        value = remote_value(item, updated_field)
        try:
            if value is MISSING or value is None:
                raise ValueError("is missing")
            updated_at = parse_timestamp(value)
        except ValueError as e:
            raise ValueError(
                {"updated_at": [f"remote field {updated_field!r} {e}; it is needed for incremental pulls"]}
            ) from None
        if self.keeps_zone:
            updated_at = cursor_time(value, updated_at)
        document = {}
        for name in fields:
            remote = mapping.get(name, name if self.own_names else None)
            if remote is None or name == "source":  # the connector's name is the source
                continue
            value = remote_value(item, remote)
            if value is MISSING:
                continue
            transform = self.transforms.get(name)
            document[name] = transform(value) if transform and value is not None else value
        return document, updated_at

    def remote_fields(self, overrides: dict[str, str]) -> list[str]:
        """The remote fields the mapping reads, the connector's ``field_mapping`` included: a system
        that answers only the fields asked for (ServiceNow's ``sysparm_fields``, Jira's ``fields``)
        must be asked for those too."""
        mapping = {**self.mapping, **overrides}
        return sorted({value for value in mapping.values() if isinstance(value, str) and value})

    # Each preset's requests and answers. ``token``: the previous page's, for a remote that pages by
    # token (Page.token); the others page by ``offset``.
    def request(
        self,
        url: str,
        query: str,
        since: datetime | None,
        offset: int,
        limit: int,
        *,
        overrides: dict[str, str],
        token: str | None = None,
    ) -> str:
        raise NotImplementedError

    def page(self, payload: Any, headers, offset: int, limit: int) -> Page:
        raise NotImplementedError


def _with_params(url: str, params: list[tuple[str, str]]) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit(parts._replace(query=query))


def _total(headers, name: str = "X-Total-Count") -> int | None:
    value = headers.get(name)
    return int(value) if value is not None and str(value).isdigit() else None


class ServiceNow(Preset):
    def url(self, base_url: str) -> str:
        # A Table API URL names its own table (another than incident: problem, sn_customerservice_case).
        if "/api/now/table/" in urlsplit(base_url).path:
            return base_url
        return super().url(base_url)

    def request(self, url, query, since, offset, limit, *, overrides, token=None):
        conditions = [query.strip()] if query.strip() else []
        if since is not None:
            # Inclusive (>=): sys_updated_on has whole seconds, and ">" would skip a change made in the
            # same second as the last one stored. What comes back twice is stored as unchanged.
            conditions.append(f"sys_updated_on>={self.floor(since):%Y-%m-%d %H:%M:%S}")
        conditions += ["ORDERBYsys_updated_on", "ORDERBYsys_id"]
        fields = sorted({*self.remote_fields(overrides), "sys_id"})
        return _with_params(
            url,
            [
                ("sysparm_query", "^".join(conditions)),
                ("sysparm_fields", ",".join(fields)),
                ("sysparm_exclude_reference_link", "true"),
                ("sysparm_offset", str(offset)),
                ("sysparm_limit", str(limit)),
            ],
        )

    def page(self, payload, headers, offset, limit):
        if not isinstance(payload, dict) or not isinstance(payload.get("result"), list):
            raise PresetError('did not return {"result": [...]}')
        items = payload["result"]
        total = _total(headers)
        more = offset + len(items) < total if total is not None else len(items) >= limit
        return Page(items, more and bool(items))


class Jira(Preset):
    """Jira Cloud: ``GET /rest/api/3/search/jql``, paged by ``nextPageToken`` (the search with
    ``startAt``, ``/rest/api/3/search``, was removed from Jira Cloud in 2025 and answers 410 Gone)."""

    def url(self, base_url: str) -> str:
        # A base URL that names the removed search is read as its successor.
        parts = urlsplit(base_url)
        if parts.path.rstrip("/").endswith("/rest/api/3/search"):
            return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/jql"))
        return super().url(base_url)

    def jql(self, query: str, since: datetime | None) -> str:
        clauses = [f"({query.strip()})"] if query.strip() else []
        if since is not None:
            # JQL compares whole minutes in the user's time zone, the zone Jira writes "updated" in:
            # the cursor keeps it (keeps_zone), so the window starts where it should whatever the zone.
            clauses.append(f'updated >= "{self.floor(since):%Y-%m-%d %H:%M}"')
        return (" AND ".join(clauses) + " ORDER BY updated ASC, key ASC").strip()

    def remote_fields(self, overrides):
        # Jira answers the key and id, and of its fields only those asked for.
        names = super().remote_fields(overrides)
        return sorted(
            {name.split(".")[1] for name in names if name.startswith("fields.") and name.split(".")[1]}
        )

    def request(self, url, query, since, offset, limit, *, overrides, token=None):
        params = [("jql", self.jql(query, since)), ("fields", ",".join(self.remote_fields(overrides)))]
        params.append(("maxResults", str(limit)))
        if token is not None:
            params.append(("nextPageToken", token))
        return _with_params(url, params)

    def page(self, payload, headers, offset, limit):
        if not isinstance(payload, dict) or not isinstance(payload.get("issues"), list):
            raise PresetError('did not return {"issues": [...], "nextPageToken": ...}')
        items, token = payload["issues"], payload.get("nextPageToken")
        if token is not None and not isinstance(token, str):
            raise PresetError("answered a nextPageToken that is not a string")
        more = bool(items) and bool(token) and payload.get("isLast") is not True
        return Page(items, more, token if more else None)


class JiraDataCenter(Jira):
    """Jira Data Center and Server: ``GET /rest/api/2/search``, paged by ``startAt``."""

    def url(self, base_url: str) -> str:
        return Preset.url(self, base_url)

    def request(self, url, query, since, offset, limit, *, overrides, token=None):
        params = [("jql", self.jql(query, since)), ("fields", ",".join(self.remote_fields(overrides)))]
        return _with_params(url, [*params, ("startAt", str(offset)), ("maxResults", str(limit))])

    def page(self, payload, headers, offset, limit):
        if not isinstance(payload, dict) or not isinstance(payload.get("issues"), list):
            raise PresetError('did not return {"issues": [...], "total": n}')
        items = payload["issues"]
        total = payload.get("total")
        # Jira may cap maxResults below what was asked: "total" says whether more follow.
        more = offset + len(items) < total if isinstance(total, int) else len(items) >= limit
        return Page(items, more and bool(items))


class TMF621(Preset):
    def request(self, url, query, since, offset, limit, *, overrides, token=None):
        params = [(k, v) for k, v in parse_qsl(query.strip().lstrip("?"), keep_blank_values=True)]
        if since is not None:
            # lastUpdate.gt is exclusive: ask from just before the newest time stored (milliseconds).
            before = self.floor(since) - timedelta(milliseconds=1)
            params.append(("lastUpdate.gt", before.isoformat(timespec="milliseconds").replace("+00:00", "Z")))
        params += [("offset", str(offset)), ("limit", str(limit))]
        return _with_params(url, params)

    def page(self, payload, headers, offset, limit):
        if not isinstance(payload, list):
            raise PresetError("did not return a JSON array of TroubleTicket")
        total = _total(headers)
        more = offset + len(payload) < total if total is not None else len(payload) >= limit
        return Page(payload, more and bool(payload))

    def document(self, item, overrides, fields):
        if not isinstance(item, dict):
            raise ValueError({"non_field_errors": ["a remote item must be a JSON object"]})
        document, updated_at = super().document(item, overrides, fields)
        # The TMF621 attributes, read as TicketAI's own TMF621 API reads them.
        return {**troubleticket.document_fields(item), **document}, updated_at


def _jira(kind: type[Jira], name: str, path: str, hints: dict[int, str]) -> Jira:
    """Jira Cloud and Data Center answer issues in one shape."""
    return kind(
        name=name,
        path=path,
        hints=hints,
        mapping={
            "external_id": "key",
            "title": "fields.summary",
            "description": "fields.description",
            "status": "fields.status.statusCategory.key",
            "priority": "fields.priority.name",
            "opened_at": "fields.created",
            "resolved_at": "fields.resolutiondate",
            "resolution": "fields.resolution.name",
            "updated_at": "fields.updated",
        },
        updated="fields.updated",
        granularity=timedelta(minutes=1),
        keeps_zone=True,
        transforms={
            "description": lambda v: adf_text(v) if not isinstance(v, str) else v,
            "status": lambda v: JIRA_CATEGORIES.get(str(v).lower(), v),
            "priority": lambda v: JIRA_PRIORITIES.get(str(v).lower(), v),
        },
    )


# TicketAI's own contract (docs/api.md, "Connectors"): canonical names unless field_mapping says otherwise.
GENERIC = Preset(
    name="generic",
    path="",
    mapping={},
    updated="updated_at",
    granularity=timedelta(microseconds=1),
    own_names=True,
)

PRESETS: dict[str, Preset] = {
    "servicenow": ServiceNow(
        name="servicenow",
        path="/api/now/table/incident",
        mapping={
            "external_id": "number",
            "title": "short_description",
            "description": "description",
            "status": "state",
            "priority": "priority",
            "opened_at": "opened_at",
            "resolved_at": "resolved_at",
            "site": "location.name",
            "element": "cmdb_ci.name",
            "resolution": "close_code",
            "resolution_notes": "close_notes",
            "updated_at": "sys_updated_on",
        },
        updated="sys_updated_on",
        granularity=timedelta(seconds=1),
        transforms={
            "status": lambda v: SERVICENOW_STATES.get(str(v), v),
            "priority": lambda v: SERVICENOW_PRIORITIES.get(str(v), v),
            "opened_at": _blank_is_none,
            "resolved_at": _blank_is_none,
        },
    ),
    "jira": _jira(
        Jira,
        "jira",
        "/rest/api/3/search/jql",
        {404: "Jira Data Center and Server have no /rest/api/3/search/jql: the preset 'jira_dc' reads them"},
    ),
    "jira_dc": _jira(
        JiraDataCenter,
        "jira_dc",
        "/rest/api/2/search",
        {410: "Jira Cloud has removed this search: the preset 'jira' reads Jira Cloud"},
    ),
    "tmf621": TMF621(
        name="tmf621",
        path="/troubleTicket",
        # The rest (name, description, severity, status, dates, site, element) comes from the
        # TroubleTicket itself; the remote's id is its key there.
        mapping={"external_id": "id", "updated_at": "lastUpdate"},
        updated="lastUpdate",
        granularity=timedelta(milliseconds=1),
    ),
}
